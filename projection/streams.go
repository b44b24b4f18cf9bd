package projection

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// streamModel is a read model with one row per stream of one stream type,
// folded event by event like the domain aggregate of that stream.
type streamModel[R any] struct {
	streamType string
	table      string // the generational table of the rows, e.g. rm_risks_gen
	key        string // its key column besides generation, e.g. risk_id
	columns    string // the columns scan reads, in order
	scan       pgx.RowToFunc[*R]
	id         func(*R) string
	version    func(*R) int
	// apply folds one event into the row (nil before the stream's first
	// event) and returns the new row.
	apply func(r *R, e eventstore.RecordedEvent, d domain.Event) (*R, error)
}

// fold loads the rows of the streams that events touch from generation gen
// and applies the events to them in order. It returns the final state of every
// touched row, in the order the streams first appear, and the ids of the
// touched streams that had a row before.
//
// Every event must be the next version of its stream: an event applied twice
// or skipped shows up as an *EventError here instead of a wrong row.
func (m streamModel[R]) fold(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent) (rows []*R, existing []string, err error) {
	var ids []string
	seen := make(map[string]bool)
	for _, e := range events {
		if e.StreamType == m.streamType && !seen[e.StreamID] {
			seen[e.StreamID] = true
			ids = append(ids, e.StreamID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	state, err := m.load(ctx, q, gen, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if state[id] != nil {
			existing = append(existing, id)
		}
	}
	for _, e := range events {
		if e.StreamType != m.streamType {
			continue
		}
		d, err := decode(e)
		if err != nil {
			return nil, nil, err
		}
		r := state[e.StreamID]
		current := 0
		if r != nil {
			current = m.version(r)
		}
		if e.Version != int64(current)+1 {
			return nil, nil, NewEventError(e, fmt.Errorf("%w: version %d follows version %d in the read model",
				domain.ErrUnexpectedEvent, e.Version, current))
		}
		if state[e.StreamID], err = m.apply(r, e, d); err != nil {
			return nil, nil, NewEventError(e, err)
		}
	}
	rows = make([]*R, len(ids))
	for i, id := range ids {
		rows[i] = state[id]
	}
	return rows, existing, nil
}

// load returns the rows of generation gen with the given ids, by id.
func (m streamModel[R]) load(ctx context.Context, q Querier, gen int64, ids []string) (map[string]*R, error) {
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE generation = $1 AND %s = ANY($2)", m.columns, m.table, m.key)
	found, err := queryAll(ctx, q, "load from "+m.table, m.scan, sql, gen, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*R, len(ids))
	for _, r := range found {
		byID[m.id(r)] = r
	}
	return byID, nil
}

// table is a read-model table and the columns a projection writes to it.
type table struct {
	name    string
	columns []string
}

// streamProjection is a projection whose rows derive from one row of a
// streamModel each: when a batch touches a stream, the stream's rows in
// every table (keyed by the stream's id in the model's key column) are
// replaced.
type streamProjection[R any] struct {
	streamModel[R]
	name   string
	tables []table
	// rows returns r's rows in generation gen, one slice per table.
	rows func(gen int64, r *R) ([][][]any, error)
}

func (p *streamProjection[R]) Name() string { return p.name }

func (p *streamProjection[R]) Tables() []string {
	names := make([]string, len(p.tables))
	for i, t := range p.tables {
		names[i] = t.name
	}
	return names
}

func (p *streamProjection[R]) Prepare(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent) (Changes, error) {
	rows, existing, err := p.fold(ctx, q, gen, events)
	if err != nil || len(rows) == 0 {
		return noChanges{}, err
	}
	return &streamChanges[R]{p: p, rows: rows, existing: existing}, nil
}

// streamChanges replaces the rows of the streams a batch touched.
type streamChanges[R any] struct {
	p        *streamProjection[R]
	rows     []*R
	existing []string
}

func (c *streamChanges[R]) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	byTable := make([][][]any, len(c.p.tables))
	for _, r := range c.rows {
		rows, err := c.p.rows(gen, r)
		if err != nil {
			return err
		}
		for i := range byTable {
			byTable[i] = append(byTable[i], rows[i]...)
		}
	}
	for i, t := range c.p.tables {
		if err := deleteKeys(ctx, tx, t.name, c.p.key, gen, c.existing); err != nil {
			return err
		}
		if err := copyRows(ctx, tx, t.name, t.columns, byTable[i]); err != nil {
			return err
		}
	}
	return nil
}

// unexpected is the error of an event that cannot come where it does in its
// stream.
func unexpected(e eventstore.RecordedEvent) error {
	return fmt.Errorf("%w: %s at version %d of %s stream %s", domain.ErrUnexpectedEvent, e.Type, e.Version, e.StreamType, e.StreamID)
}
