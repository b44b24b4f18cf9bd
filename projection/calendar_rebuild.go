package projection

import (
	"context"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
)

// newBuffer implements bufferedProjection: a rebuild folds the calendar in
// memory and writes each row once, instead of reading back and replacing the
// rows of every subject each page of the log touches.
func (calendarProjection) newBuffer() projectionBuffer { return &calendarBuffer{st: newCalState()} }

func newCalState() *calState {
	return &calState{risks: map[string]*calRisk{}, responses: map[string]*calResponse{},
		sessions: map[string]*calSession{}, existing: map[string]bool{}}
}

// calendarBuffer holds the calendar's rows a rebuild folded and has not
// written yet. The tabled items and the material changes are only ever
// added: they are drained as the rebuild goes.
type calendarBuffer struct {
	st      *calState
	written bool // whether rows were taken: until then the generation is empty
}

func (calendarProjection) decodes(streamType string) bool { return calendarReads(streamType) }

// calendarReads are the stream types whose events the calendar folds.
func calendarReads(streamType string) bool {
	switch streamType {
	case domain.StreamRisk, domain.StreamResponse, domain.StreamCalendar, domain.StreamSession:
		return true
	}
	return false
}

// calendarDecoded returns the data of the events of b that the calendar
// folds, and nil for the others.
func calendarDecoded(b eventBatch) ([]domain.Event, error) {
	decoded := make([]domain.Event, len(b.events))
	for i, e := range b.events {
		if !calendarReads(e.StreamType) {
			continue
		}
		d, err := b.decode(i)
		if err != nil {
			return nil, err
		}
		decoded[i] = d
	}
	return decoded, nil
}

func (b *calendarBuffer) add(ctx context.Context, q Querier, gen int64, events eventBatch) error {
	decoded, err := calendarDecoded(events)
	if err != nil {
		return err
	}
	if b.written {
		// Rows taken before are in the table: read those that the page
		// touches and the buffer does not hold.
		stored, err := loadCalState(ctx, q, gen, events.events, decoded)
		if err != nil {
			return err
		}
		merge(b.st.risks, stored.risks, b.st.existing)
		merge(b.st.responses, stored.responses, b.st.existing)
		merge(b.st.sessions, stored.sessions, b.st.existing)
	}
	for i, e := range events.events {
		if decoded[i] == nil {
			continue
		}
		if err := b.st.apply(gen, e, decoded[i]); err != nil {
			return NewEventError(e, err)
		}
	}
	return nil
}

// merge adds to rows the stored rows it does not hold, marked existing.
func merge[T any](rows, stored map[string]*T, existing map[string]bool) {
	for id, r := range stored {
		if _, ok := rows[id]; !ok {
			rows[id], existing[id] = r, true
		}
	}
}

func (b *calendarBuffer) size() int {
	return len(b.st.risks) + len(b.st.responses) + len(b.st.sessions) + len(b.st.items) + len(b.st.changes)
}

func (b *calendarBuffer) appendOnly() bool { return false }

func (b *calendarBuffer) drainable() int { return len(b.st.items) + len(b.st.changes) }

func (b *calendarBuffer) drain(chunk int) []Changes {
	var out []Changes
	for piece := range slices.Chunk(b.st.items, chunk) {
		out = append(out, &calAdd{table: "rm_cal_items_gen", columns: calItemCopyColumns, rows: piece})
	}
	for piece := range slices.Chunk(b.st.changes, chunk) {
		out = append(out, &calAdd{table: "rm_cal_changes_gen", columns: calChangeCopyColumns, rows: piece})
	}
	b.st.items, b.st.changes = nil, nil
	return out
}

// calAdd adds rows to a table of the calendar, into the partition itself:
// a rebuild fills it detached (see detachBulk).
type calAdd struct {
	table   string
	columns []string
	rows    [][]any
}

func (a *calAdd) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	return copyRows(ctx, tx, partitionOf(a.table, gen), a.columns, a.rows)
}

func (b *calendarBuffer) take(chunk int) []Changes {
	out := b.drain(chunk)
	st := b.st
	for _, rows := range pieces(st.risks, chunk) {
		out = append(out, &calWrite{st: &calState{risks: rows, existing: st.existing}})
	}
	for _, rows := range pieces(st.responses, chunk) {
		out = append(out, &calWrite{st: &calState{responses: rows, existing: st.existing}})
	}
	for _, rows := range pieces(st.sessions, chunk) {
		out = append(out, &calWrite{st: &calState{sessions: rows, existing: st.existing}})
	}
	b.st, b.written = newCalState(), true
	return out
}

// pieces splits rows into maps of at most chunk rows each, in key order.
func pieces[T any](rows map[string]*T, chunk int) []map[string]*T {
	var out []map[string]*T
	for ids := range slices.Chunk(slices.Sorted(maps.Keys(rows)), chunk) {
		piece := make(map[string]*T, len(ids))
		for _, id := range ids {
			piece[id] = rows[id]
		}
		out = append(out, piece)
	}
	return out
}

// calWrite writes the rows of a calState.
type calWrite struct{ st *calState }

func (w *calWrite) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	return w.st.Write(ctx, tx, gen)
}
