package eventstore

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// maxCounterName bounds a counter's name.
const maxCounterName = 200

// prepareNumbered checks a numbered stream append with its provisional
// events (n = 0); the writer numbers them for real in the transaction.
func (s *Store) prepareNumbered(sa *StreamAppend) error {
	switch {
	case sa.Numbered.Counter == "" || len(sa.Numbered.Counter) > maxCounterName:
		return invalidf("stream %q: counter name empty or longer than %d bytes", sa.StreamID, maxCounterName)
	case sa.Numbered.Events == nil:
		return invalidf("stream %q: a numbered append needs its Events function", sa.StreamID)
	}
	events, err := sa.Numbered.Events(0)
	if err != nil {
		return err
	}
	sa.Events = events
	return nil
}

// numbered reports whether any request of batch takes a counter's value.
func numbered(batch []*appendRequest) bool {
	for _, r := range batch {
		if r.numbered() {
			return true
		}
	}
	return false
}

func (r *appendRequest) numbered() bool {
	for _, sa := range r.streams {
		if sa.Numbered != nil {
			return true
		}
	}
	return false
}

// counters are the values of the counters a batch numbers from, read and
// locked in its transaction, and advanced as requests are planned.
type counters struct {
	value map[string]int64
	moved map[string]bool
}

// queueLock adds to b, the batch that begins the transaction and locks the
// stream heads, the statement that reads and locks the counters of batch's
// numbered requests (in name order, so that writers never deadlock on them;
// a counter seen for the first time is created at 0, and the no-op update of
// an existing one locks its row). It returns the counters to fill in with
// readLocked, or nil when batch numbers nothing.
func queueLock(b *pgx.Batch, batch []*appendRequest) *counters {
	var names []string
	for _, r := range batch {
		for _, sa := range r.streams {
			if sa.Numbered != nil {
				names = append(names, sa.Numbered.Counter)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	b.Queue(`INSERT INTO event_counters (name, value) SELECT unnest($1::text[]), 0
		ON CONFLICT (name) DO UPDATE SET value = event_counters.value
		RETURNING name, value`, names)
	return &counters{value: map[string]int64{}, moved: map[string]bool{}}
}

// readLocked reads the counters' values from the rows of queueLock's
// statement.
func (c *counters) readLocked(rows pgx.Rows) error {
	var name string
	var value int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &value}, func() error {
		c.value[name] = value
		return nil
	}); err != nil {
		return fmt.Errorf("eventstore: lock counters: %w", err)
	}
	return nil
}

// number gives r's numbered streams their events for the counters' next
// values. The counters advance only when all of r's streams are numbered:
// a request that fails here takes no value.
func (s *Store) number(r *appendRequest, c *counters) error {
	next := map[string]int64{}
	for i, sa := range r.streams {
		if sa.Numbered == nil {
			continue
		}
		name := sa.Numbered.Counter
		n, ok := next[name]
		if !ok {
			n = c.value[name]
		}
		n++
		next[name] = n
		events, err := sa.Numbered.Events(n)
		if err != nil {
			return err
		}
		if len(events) != len(sa.Events) {
			return invalidf("stream %q: numbered events changed from %d to %d", sa.StreamID, len(sa.Events), len(events))
		}
		for j := range events {
			e := events[j]
			if e.ID == uuid.Nil {
				e.ID = sa.Events[j].ID
			}
			if e.ID != sa.Events[j].ID {
				return invalidf("stream %q: numbered event %d changed its id", sa.StreamID, j)
			}
			canonical, err := s.prepareEvent(&e, sa.Events[j].OccurredAt)
			if err != nil {
				return fmt.Errorf("stream %q event %d: %w", sa.StreamID, j, err)
			}
			events[j], r.canonical[i][j] = e, canonical
		}
		r.streams[i].Events = events
	}
	for name, n := range next {
		c.value[name] = n
		c.moved[name] = true
	}
	return nil
}

// queue adds the update of the counters that moved to b, the batch that
// commits the events numbered from them, and reports whether it did.
func (c *counters) queue(b *pgx.Batch) bool {
	if c == nil || len(c.moved) == 0 {
		return false
	}
	var names []string
	var values []int64
	for name := range c.moved {
		names = append(names, name)
		values = append(values, c.value[name])
	}
	b.Queue(`UPDATE event_counters c SET value = u.value
		FROM unnest($1::text[], $2::bigint[]) AS u(name, value) WHERE c.name = u.name`, names, values)
	return true
}
