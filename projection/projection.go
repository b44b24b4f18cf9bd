package projection

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Names of the built-in projections.
const (
	// NameRisks keeps the risk register and the heat map.
	NameRisks = "risks"
	// NameResponses keeps the strategic responses.
	NameResponses = "responses"
	// NameDecisions keeps the decisions, their subjects and their effects.
	NameDecisions = "decisions"
)

// A Projection keeps read-model tables up to date from the event log.
//
// Its tables hold one generation of rows per build of the read model (see
// docs/projections.md); the runner and the rebuild tell it which generation
// to read and write. It sees every event of the log exactly once per
// generation, in log order, in batches.
type Projection interface {
	// Name identifies the projection: its checkpoint, its lock, its row in
	// rm_projections and so the generation its views show.
	Name() string
	// Tables are the tables the projection writes, each with a generation
	// column. A rebuild clears their rows of generations that are not
	// active.
	Tables() []string
	// Prepare works out what events do to generation gen of the read model,
	// reading the rows it needs with q. It writes nothing: the caller writes
	// the returned changes and the checkpoint in one transaction. The events
	// follow the generation's checkpoint without a gap. An error caused by one
	// event should be an *EventError for it (see NewEventError), so that the
	// events before it can still be applied.
	Prepare(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent) (Changes, error)
}

// Changes are the writes that one call of Projection.Prepare worked out.
type Changes interface {
	// Write writes the changes to generation gen in tx.
	Write(ctx context.Context, tx pgx.Tx, gen int64) error
}

// bufferedProjection is a projection that a rebuild can fold over many
// batches in memory, writing each row once at the end (or when the buffer
// is full) instead of once per batch that touches it.
type bufferedProjection interface {
	newBuffer() projectionBuffer
}

// projectionBuffer holds what a rebuild folded and has not written yet.
type projectionBuffer interface {
	// add folds events into the buffer, reading with q the rows of
	// generation gen that it needs.
	add(ctx context.Context, q Querier, gen int64, events eventBatch) error
	// size returns the number of rows the buffer holds.
	size() int
	// appendOnly reports whether the rows are only ever added, never
	// replaced: then holding them back saves nothing.
	appendOnly() bool
	// take returns the writes of everything the buffer holds, in pieces of
	// at most chunk rows, and empties the buffer.
	take(chunk int) []Changes
}

// drainingBuffer is a projectionBuffer that holds rows no later event
// changes (a history's closed versions, say): a rebuild writes those as it
// goes, without the checkpoint, instead of keeping them until the buffer is
// full.
type drainingBuffer interface {
	projectionBuffer
	// drainable returns the number of such rows the buffer holds.
	drainable() int
	// drain returns their writes, in pieces of at most chunk rows, and
	// removes them from the buffer.
	drain(chunk int) []Changes
}

// Querier runs queries: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Builtin returns the projections behind the read models of the API, in the
// order of their names.
func Builtin() []Projection {
	return []Projection{Calendar(), Decisions(), Responses(), Risks()}
}

// Lookup returns the built-in projection called name.
func Lookup(name string) (Projection, error) {
	for _, p := range Builtin() {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (known: %s, %s, %s, %s)", ErrUnknownProjection, name, NameCalendar, NameDecisions, NameResponses, NameRisks)
}

var (
	// ErrInvalidInput is matched by errors about a malformed read: a bad
	// cursor, a page size out of range, an unknown enum value in a filter.
	ErrInvalidInput = errors.New("projection: invalid input")
	// ErrUnknownProjection is matched when a projection name is not known.
	ErrUnknownProjection = errors.New("projection: unknown projection")
	// ErrFailing is matched by WaitFor's error when a projection is stuck on
	// a failing event at or before the position waited for.
	ErrFailing = errors.New("projection: projection is stopped at a failing event")
	// ErrRebuildRunning is matched when another rebuild of a projection holds
	// its rebuild lock.
	ErrRebuildRunning = errors.New("projection: a rebuild of this projection is already running")
	// errFenced means that the checkpoint or generation a batch was worked
	// out against has moved on (a rebuild swapped generations, or another
	// runner took over): the batch is dropped and work restarts from the
	// stored checkpoint.
	errFenced = errors.New("projection: the read model moved on under this batch")
)

// EventError says that a projection could not apply one event of the log.
// The runner stops at that event, records it in the projection's status and
// retries it; it never skips it.
type EventError struct {
	Projection string // set by the runner
	Position   eventstore.Position
	EventID    uuid.UUID
	Type       string
	StreamID   string
	Err        error
}

// NewEventError returns an *EventError for e caused by err.
func NewEventError(e eventstore.RecordedEvent, err error) *EventError {
	return &EventError{Position: e.Position, EventID: e.ID, Type: e.Type, StreamID: e.StreamID, Err: err}
}

func (e *EventError) Error() string {
	return fmt.Sprintf("projection %s: event %s (%s on stream %s, position %s): %v",
		e.Projection, e.EventID, e.Type, e.StreamID, e.Position, e.Err)
}

// Unwrap returns the cause.
func (e *EventError) Unwrap() error { return e.Err }

// decode decodes the data of a stored event of the register.
func decode(e eventstore.RecordedEvent) (domain.Event, error) {
	d, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return nil, NewEventError(e, err)
	}
	return d, nil
}

// copyRows inserts rows into table with COPY.
func copyRows(ctx context.Context, tx pgx.Tx, table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("projection: copy into %s: %w", table, err)
	}
	return nil
}

// queuedChanges are Changes that can also be queued on a batch: a live
// batch of a few events then writes in the round trip of its fence and
// checkpoint (see applier.write).
type queuedChanges interface {
	Changes
	// queueable reports whether the changes are few enough to queue.
	queueable() bool
	// queue queues the writes to generation gen on b.
	queue(b *pgx.Batch, gen int64) error
}

// queueRows is the most rows a queueable write inserts: more go by COPY.
const queueRows = 64

// queueable reports whether every one of the changes is a queueable
// queuedChanges.
func (l changeList) queueable() bool {
	for _, c := range l {
		q, ok := c.(queuedChanges)
		if !ok || !q.queueable() {
			return false
		}
	}
	return true
}

func (l changeList) queue(b *pgx.Batch, gen int64) error {
	for _, c := range l {
		if err := c.(queuedChanges).queue(b, gen); err != nil {
			return err
		}
	}
	return nil
}

func (noChanges) queueable() bool               { return true }
func (noChanges) queue(*pgx.Batch, int64) error { return nil }

// queueInsert queues on b the insert of rows into table. A statement per
// row costs the server an executor start each (open the partition and its
// indexes, prepare the index expressions and checks), so the rows go in a
// few multi-row statements: pieces of 64, 32, ..., 1 rows (the binary digits
// of their number), so that each table has at most seven statements, each
// prepared once per connection.
func queueInsert(b *pgx.Batch, table string, columns []string, rows [][]any) {
	for len(rows) > 0 {
		n := min(1<<(bits.Len(uint(len(rows)))-1), queueRows)
		args := make([]any, 0, n*len(columns))
		for _, row := range rows[:n] {
			args = append(args, row...)
		}
		b.Queue(insertSQL(table, columns, n), args...)
		rows = rows[n:]
	}
}

// insertSQL returns the statement that inserts n rows of columns into
// table, each value a parameter.
func insertSQL(table string, columns []string, n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "INSERT INTO %s (", pgx.Identifier{table}.Sanitize())
	for i, c := range columns {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(pgx.Identifier{c}.Sanitize())
	}
	sb.WriteString(") VALUES ")
	for r := range n {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for i := range columns {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("$" + strconv.Itoa(r*len(columns)+i+1))
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

// queueDeleteKeys queues on b what deleteKeys does.
func queueDeleteKeys(b *pgx.Batch, table, column string, gen int64, keys []string) {
	if len(keys) == 0 {
		return
	}
	b.Queue(fmt.Sprintf("DELETE FROM %s WHERE slot = $1 AND generation = $2 AND %s = ANY($3)",
		pgx.Identifier{table}.Sanitize(), pgx.Identifier{column}.Sanitize()), slotOf(gen), gen, keys)
}

// deleteKeys deletes the rows of generation gen of table whose column holds
// one of keys.
func deleteKeys(ctx context.Context, tx pgx.Tx, table, column string, gen int64, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	sql := fmt.Sprintf("DELETE FROM %s WHERE slot = $1 AND generation = $2 AND %s = ANY($3)",
		pgx.Identifier{table}.Sanitize(), pgx.Identifier{column}.Sanitize())
	if _, err := tx.Exec(ctx, sql, planned(slotOf(gen), gen, keys)...); err != nil {
		return fmt.Errorf("projection: delete from %s: %w", table, err)
	}
	return nil
}

// slotOf returns the partition that generation gen lies in: every read-model
// table is split in two by slot = generation % 2, so that the active
// generation and a rebuild's shadow never share a partition.
func slotOf(gen int64) int16 { return int16(gen % 2) }

// partitionOf returns the partition of table that holds generation gen.
func partitionOf(table string, gen int64) string { return fmt.Sprintf("%s_%d", table, slotOf(gen)) }

// pgUUID returns id for a uuid column. (A uuid.UUID would be encoded through
// its driver.Valuer, as text.)
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// noChanges is the Changes of a batch that touches nothing of a read model.
type noChanges struct{}

func (noChanges) Write(context.Context, pgx.Tx, int64) error { return nil }
