package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/internal/sleep"
	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// eventColumns are the columns scanEvent reads, from table alias e.
const eventColumns = `e.event_id, e.tx_id, e.seq, e.stream_id, e.stream_type, e.version, e.type, e.schema_version,
	e.data, e.metadata, e.actor, COALESCE(e.correlation_id, ''), COALESCE(e.causation_id, ''),
	COALESCE(e.decision_id, ''), COALESCE(e.request_id, ''), e.occurred_at, e.recorded_at, e.prev_hash, e.hash`

// eventScanner scans rows of eventColumns, reusing its destinations.
type eventScanner struct {
	e    RecordedEvent
	id   pgtype.UUID
	dest []any
}

// newEventScanner returns a scanner for eventColumns followed by columns
// scanned into extra.
func newEventScanner(extra ...any) *eventScanner {
	sc := &eventScanner{}
	e := &sc.e
	sc.dest = append([]any{
		&sc.id, &e.Position.tx, &e.Position.seq, &e.StreamID, &e.StreamType, &e.Version, &e.Type, &e.SchemaVersion,
		(*[]byte)(&e.Data), (*[]byte)(&e.Metadata.Extra), &e.Metadata.Actor, &e.Metadata.CorrelationID, &e.Metadata.CausationID,
		&e.Metadata.DecisionID, &e.Metadata.RequestID, &e.OccurredAt, &e.RecordedAt, &e.PrevHash, &e.Hash,
	}, extra...)
	return sc
}

// scan reads the current row.
func (sc *eventScanner) scan(rows pgx.Rows) (RecordedEvent, error) {
	if err := rows.Scan(sc.dest...); err != nil {
		return RecordedEvent{}, fmt.Errorf("eventstore: scan event: %w", err)
	}
	e := sc.e
	e.ID = sc.id.Bytes
	e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
	return e, nil
}

// ReadStreamOptions bounds a ReadStream.
type ReadStreamOptions struct {
	// FromVersion is the first version to return; 0 means 1.
	FromVersion int64
	// ToVersion is the last version to return; 0 means no bound.
	ToVersion int64
	// RecordedUntil, when not zero, returns only events recorded at or before
	// it: the stream as it stood then.
	RecordedUntil time.Time
	// Limit caps the number of events; 0 means no cap.
	Limit int
}

// ReadStream returns the events of one stream in version order, upcast to
// their current schema versions. A stream with no events returns none.
func (s *Store) ReadStream(ctx context.Context, streamID string, opts ReadStreamOptions) ([]RecordedEvent, error) {
	q := &sqlwhere.Builder{}
	q.Where("e.stream_id = %s", streamID)
	if opts.FromVersion > 1 {
		q.Where("e.version >= %s", opts.FromVersion)
	}
	if opts.ToVersion > 0 {
		q.Where("e.version <= %s", opts.ToVersion)
	}
	if !opts.RecordedUntil.IsZero() {
		q.Where("e.recorded_at <= %s", opts.RecordedUntil)
	}
	sql := "SELECT " + eventColumns + " FROM events e WHERE " + q.Conditions() + " ORDER BY e.version"
	if opts.Limit > 0 {
		sql += " LIMIT " + q.Arg(opts.Limit)
	}
	return s.queryEvents(ctx, sql, q.Args...)
}

// StreamVersion returns the current version of a stream: the number of its
// events, 0 when it has none.
func (s *Store) StreamVersion(ctx context.Context, streamID string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT version FROM streams WHERE stream_id = $1), 0)`, streamID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("eventstore: stream version: %w", err)
	}
	return v, nil
}

// StreamInfo returns a stream's type and current version; found is false
// when the stream has no events.
func (s *Store) StreamInfo(ctx context.Context, streamID string) (streamType string, version int64, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT stream_type, version FROM streams WHERE stream_id = $1 AND version > 0`, streamID).
		Scan(&streamType, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("eventstore: stream info: %w", err)
	}
	return streamType, version, true, nil
}

// EventsByID returns the stored events among ids, in log order, upcast to
// their current schema versions. Ids that are not stored are left out.
func (s *Store) EventsByID(ctx context.Context, ids []uuid.UUID) ([]RecordedEvent, error) {
	return s.queryEvents(ctx, "SELECT "+eventColumns+" FROM events e WHERE e.event_id = ANY($1) ORDER BY e.tx_id, e.seq", ids)
}

// Filter selects events of the global log. Its fields combine with AND; zero
// fields select everything.
type Filter struct {
	StreamID      string
	StreamType    string
	Types         []string // any of these event types
	CorrelationID string
	CausationID   string
	DecisionID    string
	Since         time.Time // recorded at or after
	Until         time.Time // recorded before
}

// ReadAll returns up to limit events of the global log after position after,
// in log order, upcast to their current schema versions. The order is the same
// on every read; see Position.
func (s *Store) ReadAll(ctx context.Context, after Position, limit int, f Filter) ([]RecordedEvent, error) {
	events, _, err := s.readAll(ctx, after, limit, f)
	return events, err
}

// readAll is ReadAll that also returns how far it looked: when fewer than
// limit events came back, every matching event up to horizon was returned, so
// a reader may continue after horizon.
func (s *Store) readAll(ctx context.Context, after Position, limit int, f Filter) ([]RecordedEvent, Position, error) {
	if limit <= 0 {
		return nil, after, invalidf("limit must be positive")
	}
	q := &sqlwhere.Builder{}
	q.Where("(e.tx_id, e.seq) > (%s, %s)", after.tx, after.seq)
	q.Where("e.tx_id < h.xmin")
	if f.StreamID != "" {
		q.Where("e.stream_id = %s", f.StreamID)
	}
	if f.StreamType != "" {
		q.Where("e.stream_type = %s", f.StreamType)
	}
	if len(f.Types) > 0 {
		q.Where("e.type = ANY(%s)", f.Types)
	}
	if f.CorrelationID != "" {
		q.Where("e.correlation_id = %s", f.CorrelationID)
	}
	if f.CausationID != "" {
		q.Where("e.causation_id = %s", f.CausationID)
	}
	if f.DecisionID != "" {
		q.Where("e.decision_id = %s", f.DecisionID)
	}
	if !f.Since.IsZero() {
		q.Where("e.recorded_at >= %s", f.Since)
	}
	if !f.Until.IsZero() {
		q.Where("e.recorded_at < %s", f.Until)
	}
	// The horizon comes from the statement's own snapshot, so it agrees with
	// the rows the statement sees. The left join keeps it when no row matches.
	sql := `WITH h AS (SELECT ` + horizonSQL + ` AS xmin)
		SELECT page.*, h.xmin FROM h LEFT JOIN LATERAL (
			SELECT ` + eventColumns + ` FROM events e WHERE ` + q.Conditions() + `
			ORDER BY e.tx_id, e.seq LIMIT ` + q.Arg(limit) + `) page ON true`
	rows, err := s.pool.Query(ctx, sql, q.Args...)
	if err != nil {
		return nil, after, fmt.Errorf("eventstore: read all: %w", err)
	}
	defer rows.Close()
	events := make([]RecordedEvent, 0, min(limit, 10_000))
	var xmin int64
	sc := newEventScanner(&xmin)
	for rows.Next() {
		if rows.RawValues()[0] == nil { // no event matched: only the horizon
			dest := make([]any, len(rows.FieldDescriptions()))
			dest[len(dest)-1] = &xmin
			if err := rows.Scan(dest...); err != nil {
				return nil, after, fmt.Errorf("eventstore: read all: %w", err)
			}
			continue
		}
		e, err := sc.scan(rows)
		if err != nil {
			return nil, after, err
		}
		if err := s.cfg.Upcasters.upcast(&e); err != nil {
			return nil, after, err
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("eventstore: read all: %w", err)
	}
	reached := after
	if len(events) > 0 {
		reached = events[len(events)-1].Position
	}
	if len(events) < limit {
		if h := horizonPosition(xmin); h.Compare(reached) > 0 {
			reached = h
		}
	}
	return events, reached, nil
}

// WaitVisible waits until ReadAll returns the event at pos, typically
// LastAppended: the global log shows an event only once every transaction
// that started before it in this database has ended (see Position), which is
// normally a matter of milliseconds. It returns ctx's error when ctx ends
// first.
func (s *Store) WaitVisible(ctx context.Context, pos Position) error {
	pause := time.Millisecond
	for {
		var xmin int64
		if err := s.pool.QueryRow(ctx, "SELECT "+horizonSQL).Scan(&xmin); err != nil {
			return fmt.Errorf("eventstore: wait visible: %w", err)
		}
		if pos.tx < xmin {
			return nil
		}
		if !sleep.For(ctx, pause) {
			return fmt.Errorf("eventstore: wait visible: %w", ctx.Err())
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// horizonSQL is the oldest transaction whose events a reader must wait for:
// the oldest transaction still running in the statement's snapshot, or the
// snapshot's xmax when none is. Transactions of other databases on the same
// server are passed over: a transaction never changes database, so they
// cannot write to this log, and a long one (say a CREATE DATABASE) must not
// hold this log's readers back. A running transaction whose database cannot
// be told (it ended meanwhile, or is a prepared one) is waited for.
const horizonSQL = `COALESCE(
	(SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) x
	 WHERE (x::text::bigint & 4294967295) NOT IN (
		SELECT backend_xid::text::bigint FROM pg_stat_activity
		WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())),
	pg_snapshot_xmax(pg_current_snapshot())::text::bigint)`

// queryEvents runs a query for eventColumns and upcasts what it returns.
func (s *Store) queryEvents(ctx context.Context, sql string, args ...any) ([]RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read: %w", err)
	}
	defer rows.Close()
	var events []RecordedEvent
	sc := newEventScanner()
	for rows.Next() {
		e, err := sc.scan(rows)
		if err != nil {
			return nil, err
		}
		if err := s.cfg.Upcasters.upcast(&e); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("eventstore: read: %w", err)
	}
	return events, nil
}
