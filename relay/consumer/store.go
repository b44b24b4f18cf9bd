package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/relay"
)

// MemoryStore remembers handled event ids in memory, the last limit of them.
// It forgets everything on restart: use it for tests and for consumers whose
// handling is idempotent anyway.
type MemoryStore struct {
	mu    sync.Mutex
	limit int
	seen  map[string]bool
	order []string // ring of the ids in seen, oldest at next
	next  int
	busy  map[string]*sync.Mutex
}

// NewMemoryStore returns a store of the last limit ids; 0 means 1,000,000.
func NewMemoryStore(limit int) *MemoryStore {
	if limit <= 0 {
		limit = 1_000_000
	}
	return &MemoryStore{limit: limit, seen: map[string]bool{}, busy: map[string]*sync.Mutex{}}
}

// Once implements Store. Concurrent calls for one id run fn once.
func (s *MemoryStore) Once(ctx context.Context, id string, fn func(context.Context) error) (bool, error) {
	s.mu.Lock()
	if s.seen[id] {
		s.mu.Unlock()
		return true, nil
	}
	m, ok := s.busy[id]
	if !ok {
		m = &sync.Mutex{}
		s.busy[id] = m
	}
	s.mu.Unlock()

	m.Lock()
	defer m.Unlock()
	s.mu.Lock()
	dup := s.seen[id]
	s.mu.Unlock()
	if dup {
		return true, nil
	}
	err := fn(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, id)
	if err != nil {
		return false, err
	}
	s.remember(id)
	return false, nil
}

func (s *MemoryStore) remember(id string) {
	if len(s.order) < s.limit {
		s.order = append(s.order, id)
	} else {
		delete(s.seen, s.order[s.next])
		s.order[s.next] = id
		s.next = (s.next + 1) % s.limit
	}
	s.seen[id] = true
}

// PostgresStore remembers handled event ids in the consumer's own PostgreSQL
// database, in table riskreg_consumer_handled, which NewPostgresStore
// creates if it is missing. It is never riskreg's database (NewPostgresStore
// refuses it): riskreg's database holds riskreg's log and migrations only,
// and a consumer runs elsewhere with credentials of its own.
//
// Once records the id in a transaction and runs the handler inside it; the
// handler can do its own work in the same transaction (see Tx), so that the
// work and the record commit together: each event takes effect exactly once.
type PostgresStore struct {
	pool  *pgxpool.Pool
	group string
}

// postgresSchema is the de-duplication table. Its primary key makes the
// insert of a duplicate wait for, then lose to, the first.
const postgresSchema = `CREATE TABLE IF NOT EXISTS riskreg_consumer_handled (
	consumer_group text        NOT NULL,
	event_id       text        NOT NULL,
	handled_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (consumer_group, event_id)
)`

// NewPostgresStore returns a store for a consumer group in the database of
// pool, creating its table if needed.
func NewPostgresStore(ctx context.Context, pool *pgxpool.Pool, group string) (*PostgresStore, error) {
	if group == "" {
		return nil, errors.New("consumer: a store needs a consumer group")
	}
	if err := relay.RefuseRiskregDatabase(ctx, pool); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, postgresSchema); err != nil {
		return nil, fmt.Errorf("consumer: create the de-duplication table: %w", err)
	}
	return &PostgresStore{pool: pool, group: group}, nil
}

type txKey struct{}

// Tx returns the transaction a PostgresStore runs the handler in.
func Tx(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	return tx, ok
}

// Once implements Store.
func (s *PostgresStore) Once(ctx context.Context, id string, fn func(context.Context) error) (dup bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("consumer: begin: %w", err)
	}
	defer func() {
		if err != nil || dup {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	tag, err := tx.Exec(ctx, `INSERT INTO riskreg_consumer_handled (consumer_group, event_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, s.group, id)
	if err != nil {
		return false, fmt.Errorf("consumer: record event %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return true, nil
	}
	if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("consumer: commit event %s: %w", id, err)
	}
	return false, nil
}

// Prune forgets the ids handled before olderThan ago. Keep them longer than
// a relay can lag or a broker redeliver.
func (s *PostgresStore) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM riskreg_consumer_handled
		WHERE consumer_group = $1 AND handled_at < now() - make_interval(secs => $2)`, s.group, olderThan.Seconds())
	if err != nil {
		return 0, fmt.Errorf("consumer: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}
