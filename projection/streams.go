package projection

import (
	"context"
	"fmt"
	"math"
	"slices"

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
	// event) and returns the row: a new one for the first event, r changed
	// in place for the others.
	apply func(r *R, e eventstore.RecordedEvent, d domain.Event) (*R, error)
	// history, when set, keeps every version of every row with its
	// validity interval in the log (see temporal.go).
	history *historyModel[R]
}

// foldState is what a fold has touched: the current rows of the streams,
// in the order they were first touched, and which of them were in the table.
type foldState[R any] struct {
	rows     map[string]*R
	order    []string
	existing map[string]bool
	// the versions folded, for the history (see temporal.go)
	hist historyState[R]
	// counted holds the counters each row counted in after its last event,
	// which are those it counts in before its next one.
	counted map[string][]counterKey
}

func newFoldState[R any]() *foldState[R] {
	return &foldState[R]{rows: make(map[string]*R), existing: make(map[string]bool), hist: newHistoryState[R](),
		counted: make(map[string][]counterKey)}
}

// fold applies events to the rows in st in order. Rows of streams st does
// not hold yet are loaded from generation gen first, unless load is false
// (the generation is known to hold none).
//
// Every event must be the next version of its stream: an event applied twice
// or skipped shows up as an *EventError here instead of a wrong row.
func (m streamModel[R]) fold(ctx context.Context, q Querier, gen int64, b eventBatch, st *foldState[R], load bool) error {
	if load {
		if err := m.loadMissing(ctx, q, gen, b.events, st); err != nil {
			return err
		}
	}
	for i, e := range b.events {
		if e.StreamType != m.streamType {
			continue
		}
		d, err := b.decode(i)
		if err != nil {
			return err
		}
		r := st.rows[e.StreamID]
		current := 0
		if r != nil {
			current = m.version(r)
		}
		if e.Version != int64(current)+1 {
			return NewEventError(e, fmt.Errorf("%w: version %d follows version %d in the read model",
				domain.ErrUnexpectedEvent, e.Version, current))
		}
		var before []counterKey
		if m.history != nil && m.history.counters != nil && r != nil {
			var ok bool
			if before, ok = st.counted[e.StreamID]; !ok {
				before = m.history.counters(r)
			}
		}
		next, err := m.apply(r, e, d)
		if err != nil {
			return NewEventError(e, err)
		}
		if r == nil { // a new stream (apply changes other rows in place)
			st.rows[e.StreamID] = next
			st.order = append(st.order, e.StreamID)
		}
		if m.history != nil {
			if after := m.history.record(&st.hist, e, current, before, next); after != nil {
				st.counted[e.StreamID] = after
			}
		}
	}
	return nil
}

// loadMissing loads from generation gen the rows of the streams of events
// that st does not hold yet.
func (m streamModel[R]) loadMissing(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent, st *foldState[R]) error {
	var missing []string
	seen := make(map[string]bool)
	for _, e := range events {
		if e.StreamType == m.streamType && !seen[e.StreamID] && st.rows[e.StreamID] == nil {
			seen[e.StreamID] = true
			missing = append(missing, e.StreamID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	loaded, err := m.load(ctx, q, gen, missing)
	if err != nil {
		return err
	}
	for _, id := range missing {
		if r := loaded[id]; r != nil {
			st.rows[id], st.existing[id] = r, true
			st.order = append(st.order, id)
		}
	}
	return nil
}

// load returns the rows of generation gen with the given ids, by id.
func (m streamModel[R]) load(ctx context.Context, q Querier, gen int64, ids []string) (map[string]*R, error) {
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE slot = $1 AND generation = $2 AND %s = ANY($3)", m.columns, m.table, m.key)
	found, err := queryAll(ctx, q, "load from "+m.table, m.scan, sql, planned(slotOf(gen), gen, ids)...)
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
	// more are the other tables the projection writes (its history).
	more []string
	// rows returns r's rows in generation gen, one slice per table.
	rows func(gen int64, r *R) ([][][]any, error)
}

func (p *streamProjection[R]) Name() string { return p.name }

func (p *streamProjection[R]) Tables() []string {
	names := make([]string, len(p.tables))
	for i, t := range p.tables {
		names[i] = t.name
	}
	return append(names, p.more...)
}

func (p *streamProjection[R]) Prepare(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent) (Changes, error) {
	st := newFoldState[R]()
	if err := p.fold(ctx, q, gen, batchOf(events), st, true); err != nil {
		return nil, err
	}
	if p.history == nil {
		return p.changes(st), nil
	}
	// The counters' values are written relative to those in the table, in
	// one statement: in one piece.
	st.hist.relative = true
	return changeList(append([]Changes{p.changes(st)}, p.history.take(&st.hist, math.MaxInt)...)), nil
}

// changeList writes changes one after the other.
type changeList []Changes

func (l changeList) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	for _, c := range l {
		if err := c.Write(ctx, tx, gen); err != nil {
			return err
		}
	}
	return nil
}

// changes returns the writes that replace the rows st touched.
func (p *streamProjection[R]) changes(st *foldState[R]) *streamChanges[R] {
	c := &streamChanges[R]{p: p, rows: make([]*R, 0, len(st.order)), existing: st.existing}
	for _, id := range st.order {
		if r := st.rows[id]; r != nil {
			c.rows = append(c.rows, r)
		}
	}
	return c
}

func (p *streamProjection[R]) decodes(streamType string) bool { return streamType == p.streamType }

// newBuffer implements bufferedProjection.
func (p *streamProjection[R]) newBuffer() projectionBuffer {
	return &streamBuffer[R]{p: p, st: newFoldState[R]()}
}

// streamChanges replaces the rows of the streams a batch touched.
type streamChanges[R any] struct {
	p        *streamProjection[R]
	rows     []*R
	existing map[string]bool // ids whose rows are in the tables already
}

// byTable returns the rows of generation gen to write, one slice per table,
// and the ids of the streams whose rows they replace.
func (c *streamChanges[R]) byTable(gen int64) (byTable [][][]any, replace []string, err error) {
	byTable = make([][][]any, len(c.p.tables))
	for _, r := range c.rows {
		if id := c.p.id(r); c.existing[id] {
			replace = append(replace, id)
		}
		rows, err := c.p.rows(gen, r)
		if err != nil {
			return nil, nil, err
		}
		for i := range byTable {
			byTable[i] = append(byTable[i], rows[i]...)
		}
	}
	return byTable, replace, nil
}

func (c *streamChanges[R]) queueable() bool { return len(c.rows) <= queueRows }

func (c *streamChanges[R]) queue(b *pgx.Batch, gen int64) error {
	byTable, replace, err := c.byTable(gen)
	if err != nil {
		return err
	}
	for i, t := range c.p.tables {
		queueDeleteKeys(b, t.name, c.p.key, gen, replace)
		queueInsert(b, partitionOf(t.name, gen), t.columns, byTable[i])
	}
	return nil
}

func (c *streamChanges[R]) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	byTable, replace, err := c.byTable(gen)
	if err != nil {
		return err
	}
	for i, t := range c.p.tables {
		if err := deleteKeys(ctx, tx, t.name, c.p.key, gen, replace); err != nil {
			return err
		}
		// Into the partition itself: a rebuild fills it detached (see
		// detachBulk).
		if err := copyRows(ctx, tx, partitionOf(t.name, gen), t.columns, byTable[i]); err != nil {
			return err
		}
	}
	return nil
}

// streamBuffer folds a rebuild's batches in memory, so that a row is
// written once however many batches touch it.
type streamBuffer[R any] struct {
	p       *streamProjection[R]
	st      *foldState[R]
	written bool // whether rows were taken: until then the generation is empty
}

func (b *streamBuffer[R]) add(ctx context.Context, q Querier, gen int64, events eventBatch) error {
	return b.p.fold(ctx, q, gen, events, b.st, b.written)
}

// size counts the rows and the open versions: the rest of the history is
// drained as the rebuild goes (see drain).
func (b *streamBuffer[R]) size() int {
	return len(b.st.rows) + len(b.st.hist.open)
}

func (b *streamBuffer[R]) drainable() int {
	if b.p.history == nil {
		return 0
	}
	return b.st.hist.final()
}

func (b *streamBuffer[R]) drain(chunk int) []Changes {
	if b.p.history == nil {
		return nil
	}
	return b.p.history.drain(&b.st.hist, chunk)
}

func (b *streamBuffer[R]) appendOnly() bool { return false }

func (b *streamBuffer[R]) take(chunk int) []Changes {
	all := b.p.changes(b.st)
	var out []Changes
	for rows := range slices.Chunk(all.rows, chunk) {
		out = append(out, &streamChanges[R]{p: b.p, rows: rows, existing: all.existing})
	}
	next := newFoldState[R]()
	if b.p.history != nil {
		// The counters' values stay known: the buffer counted every event
		// of the generation.
		out = append(out, b.p.history.take(&b.st.hist, chunk)...)
		next.hist = b.st.hist
	}
	b.st, b.written = next, true
	return out
}

// unexpected is the error of an event that cannot come where it does in its
// stream.
func unexpected(e eventstore.RecordedEvent) error {
	return fmt.Errorf("%w: %s at version %d of %s stream %s", domain.ErrUnexpectedEvent, e.Type, e.Version, e.StreamType, e.StreamID)
}
