package eventstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// Problem is one place where the log is not what its hash chain says.
type Problem struct {
	StreamID string
	Version  int64
	Reason   string
}

// Report is the outcome of Verify.
type Report struct {
	CheckedEvents int64
	Problems      []Problem
}

// OK reports whether the log checked is intact.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify recomputes the hash chain of one stream, or of every stream when
// streamID is empty, and returns every problem found: an event whose content
// does not match its hash, a broken link to the previous event, a gap in the
// versions, or a stream head that disagrees with the log's last event.
func (s *Store) Verify(ctx context.Context, streamID string) (Report, error) {
	heads, err := s.verifyHeads(ctx, streamID)
	if err != nil {
		return Report{}, err
	}
	q := &sqlwhere.Builder{}
	sql := "SELECT " + eventColumns + " FROM events e"
	if streamID != "" {
		q.Where("e.stream_id = %s", streamID)
		sql += " WHERE " + q.Conditions()
	}
	rows, err := s.pool.Query(ctx, sql+" ORDER BY e.stream_id, e.version", q.Args...)
	if err != nil {
		return Report{}, fmt.Errorf("eventstore: verify: %w", err)
	}
	defer rows.Close()

	var rep Report
	var cur string
	var next int64
	prev := genesisHash
	finish := func() {
		if cur == "" {
			return
		}
		h, ok := heads[cur]
		delete(heads, cur)
		switch {
		case !ok:
			rep.Problems = append(rep.Problems, Problem{cur, next - 1, "the stream has no head row"})
		case h.version != next-1:
			rep.Problems = append(rep.Problems, Problem{cur, next - 1, fmt.Sprintf("the stream head says version %d, the log ends at %d", h.version, next-1)})
		case !bytes.Equal(h.hash, prev):
			rep.Problems = append(rep.Problems, Problem{cur, next - 1, "the stream head's hash differs from the last event's hash"})
		}
	}
	sc := newEventScanner()
	for rows.Next() {
		e, err := sc.scan(rows)
		if err != nil {
			return Report{}, err
		}
		rep.CheckedEvents++
		if e.StreamID != cur {
			finish()
			cur, next, prev = e.StreamID, 1, genesisHash
		}
		if e.Version != next {
			rep.Problems = append(rep.Problems, Problem{cur, e.Version, fmt.Sprintf("version %d is missing", next)})
		}
		if !bytes.Equal(e.PrevHash, prev) {
			rep.Problems = append(rep.Problems, Problem{cur, e.Version, "the link to the previous event is broken"})
		}
		data, derr := canonicalJSON(e.Data)
		extra, xerr := canonicalJSON(e.Metadata.Extra)
		if derr != nil || xerr != nil || !bytes.Equal(chainHash(e.PrevHash, &e, data, extra), e.Hash) {
			rep.Problems = append(rep.Problems, Problem{cur, e.Version, "the content does not match the event's hash"})
		}
		next, prev = e.Version+1, e.Hash
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("eventstore: verify: %w", err)
	}
	finish()
	var orphans []string
	for id, h := range heads {
		if h.version > 0 {
			orphans = append(orphans, id)
		}
	}
	sort.Strings(orphans)
	for _, id := range orphans {
		rep.Problems = append(rep.Problems, Problem{id, heads[id].version, "the stream head has no events in the log"})
	}
	return rep, nil
}

func (s *Store) verifyHeads(ctx context.Context, streamID string) (map[string]*streamHead, error) {
	q := &sqlwhere.Builder{}
	sql := "SELECT stream_id, version, last_hash FROM streams"
	if streamID != "" {
		q.Where("stream_id = %s", streamID)
		sql += " WHERE " + q.Conditions()
	}
	rows, err := s.pool.Query(ctx, sql, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("eventstore: verify: %w", err)
	}
	defer rows.Close()
	heads := make(map[string]*streamHead)
	for rows.Next() {
		var id string
		h := &streamHead{}
		if err := rows.Scan(&id, &h.version, &h.hash); err != nil {
			return nil, fmt.Errorf("eventstore: verify: %w", err)
		}
		heads[id] = h
	}
	return heads, rows.Err()
}
