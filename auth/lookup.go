package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/riskreg/riskreg/internal/pgretry"
)

// lookupTimeout bounds one query of gathered token look-ups. It is not tied
// to any one request, since it answers many.
const lookupTimeout = 10 * time.Second

// lookup is one token look-up waiting for its answer.
type lookup struct {
	id    string
	done  chan struct{} // closed when the fields below are set
	token Token
	hash  []byte
	found bool
	err   error
}

// lookUp reads the token with id, gathered with the look-ups of other
// requests: while one query runs, the look-ups that come meanwhile wait and
// go together in the next one, so that under load a query answers many
// requests instead of one. Every look-up is answered by a query sent after
// it was asked for, so a revocation committed before a request arrived is
// always seen.
func (s *Store) lookUp(ctx context.Context, id string) (*lookup, error) {
	l := &lookup{id: id, done: make(chan struct{})}
	s.mu.Lock()
	s.waiting = append(s.waiting, l)
	if !s.querying {
		s.querying = true
		go s.runLookups()
	}
	s.mu.Unlock()
	select {
	case <-l.done:
		return l, l.err
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: look up token: %w", ctx.Err())
	}
}

// runLookups answers the waiting look-ups, one query per gathering, until
// none are left.
func (s *Store) runLookups() {
	for {
		s.mu.Lock()
		batch := s.waiting
		s.waiting = nil
		if len(batch) == 0 {
			s.querying = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.answer(batch)
	}
}

// answer looks up the tokens of batch in one query and answers each look-up.
func (s *Store) answer(batch []*lookup) {
	ids := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, l := range batch {
		if !seen[l.id] {
			seen[l.id] = true
			ids = append(ids, l.id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	type row struct {
		token Token
		hash  []byte
	}
	var found map[string]row
	// A read: safe to send again on a fresh connection when the first
	// one was lost.
	err := pgretry.Read(ctx, func(ctx context.Context) error {
		found = make(map[string]row, len(ids))
		rows, err := s.pool.Query(ctx, selectTokens+` WHERE token_id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := s.scanOne(rows, &r.token, &r.hash); err != nil {
				return err
			}
			found[r.token.ID] = r
		}
		return rows.Err()
	})
	for _, l := range batch {
		if err != nil {
			l.err = fmt.Errorf("auth: look up token: %w", err)
		} else if r, ok := found[l.id]; ok {
			l.token, l.hash, l.found = r.token, r.hash, true
		}
		close(l.done)
	}
}
