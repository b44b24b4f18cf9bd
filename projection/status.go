package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
)

// State is what a projection's runner is doing.
type State string

// The states of a projection.
const (
	// StateStopped: no runner holds the projection's lock.
	StateStopped State = "stopped"
	// StateCatchingUp: a runner applies the log in large batches.
	StateCatchingUp State = "catching_up"
	// StateLive: a runner applies each new event as it is committed.
	StateLive State = "live"
	// StateFailing: the runner is stopped at an event it cannot apply and
	// retries it with backoff.
	StateFailing State = "failing"
)

// Status is where a projection stands, for the API and for metrics.
type Status struct {
	Name string
	// Position is the position of the last event applied to the active
	// generation.
	Position eventstore.Position
	// Generation is the active generation; BuildingGeneration the one a
	// rebuild is filling, or 0.
	Generation         int64
	BuildingGeneration int64
	State              State
	// Holder names the process whose runner holds the projection's lock
	// (or held it last, when State is StateStopped).
	Holder string
	// LagEvents is the number of events in the log after Position.
	LagEvents int64
	// Lag is how long ago the first event after Position was recorded: 0
	// when the projection is caught up.
	Lag time.Duration
	// LastError is the last failure's message ("" when it never failed);
	// ErrorPosition the position of the event it failed on, when the failure
	// was about one event; ErrorAt when it happened. Failures counts the
	// failures in a row; it is reset when the projection moves on.
	LastError     string
	ErrorPosition eventstore.Position
	ErrorAt       time.Time
	Failures      int
	UpdatedAt     time.Time
}

// ReadStatus returns the status of the named projections, or of every
// projection when none is named, in name order. It reads the database, so it
// sees the runners of every process.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, names ...string) ([]Status, error) {
	if len(names) == 0 {
		rows, err := pool.Query(ctx, `SELECT name FROM rm_projections ORDER BY name`)
		if err != nil {
			return nil, fmt.Errorf("projection: status: %w", err)
		}
		if names, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, fmt.Errorf("projection: status: %w", err)
		}
	}
	statuses := make([]Status, 0, len(names))
	for _, name := range names {
		s, err := readStatus(ctx, pool, name)
		if err != nil {
			return nil, err
		}
		statuses = append(statuses, s)
	}
	return statuses, nil
}

// readStatus reads the status of one projection.
func readStatus(ctx context.Context, pool *pgxpool.Pool, name string) (Status, error) {
	s := Status{Name: name}
	key := uint64(lockKey("run", name))
	var building pgtype.Int8
	var errorPos string
	var errorAt pgtype.Timestamptz
	var held bool
	var lagSeconds pgtype.Float8
	var state string
	// The lag is counted in the event log's own table: everything after the
	// projection's checkpoint, in log order.
	err := pool.QueryRow(ctx, `
		WITH cp AS (
			SELECT tx_id, seq FROM checkpoints WHERE name = $2
			UNION ALL SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM checkpoints WHERE name = $2))
		SELECT p.active_generation, p.building_generation, p.state, p.holder, p.last_error, p.error_position,
			p.error_at, p.failures, p.updated_at,
			EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
				AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND l.classid::bigint = $3 AND l.objid::bigint = $4),
			(SELECT count(*) FROM events e, cp WHERE (e.tx_id, e.seq) > (cp.tx_id, cp.seq)),
			(SELECT EXTRACT(EPOCH FROM clock_timestamp() - e.recorded_at)::float8 FROM events e, cp
				WHERE (e.tx_id, e.seq) > (cp.tx_id, cp.seq) ORDER BY e.tx_id, e.seq LIMIT 1)
		FROM rm_projections p WHERE p.name = $1`,
		name, checkpointName(name), int64(key>>32), int64(key&0xffffffff)).Scan(
		&s.Generation, &building, &state, &s.Holder, &s.LastError, &errorPos, &errorAt, &s.Failures, &s.UpdatedAt,
		&held, &s.LagEvents, &lagSeconds)
	if errors.Is(err, pgx.ErrNoRows) {
		return Status{}, fmt.Errorf("%w: %q has no status row", ErrUnknownProjection, name)
	}
	if err != nil {
		return Status{}, fmt.Errorf("projection %s: status: %w", name, err)
	}
	s.BuildingGeneration = building.Int64
	s.State = State(state)
	if !held {
		s.State = StateStopped
	}
	if s.ErrorPosition, err = eventstore.ParsePosition(errorPos); err != nil {
		return Status{}, fmt.Errorf("projection %s: status: %w", name, err)
	}
	if errorAt.Valid {
		s.ErrorAt = errorAt.Time.UTC()
	}
	s.UpdatedAt = s.UpdatedAt.UTC()
	if lagSeconds.Valid {
		s.Lag = max(time.Duration(lagSeconds.Float64*float64(time.Second)), 0)
	}
	if s.Position, err = eventstore.LoadCheckpoint(ctx, pool, checkpointName(name)); err != nil {
		return Status{}, err
	}
	return s, nil
}
