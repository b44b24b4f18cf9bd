package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/eventstore"
)

// waitPoll is the longest pause between two looks at the checkpoints.
const waitPoll = 20 * time.Millisecond

// WaitFor waits until the named projections (the built-in ones when none is
// named) have applied the log up to pos, typically the position of the last
// event of a caller's own append, so that a query after it sees the caller's
// write. It returns ctx's error, wrapped, when ctx ends first, and an error
// matching ErrFailing when a projection is stopped at a failing event at or
// before pos.
func (r *Reader) WaitFor(ctx context.Context, pos eventstore.Position, names ...string) error {
	if len(names) == 0 {
		names = r.names
	}
	pause := time.Millisecond
	for {
		var behind []string
		for _, name := range names {
			cp, err := eventstore.LoadCheckpoint(ctx, r.pool, checkpointName(name))
			if err != nil {
				return err
			}
			if cp.Compare(pos) < 0 {
				behind = append(behind, name)
			}
		}
		if len(behind) == 0 {
			return nil
		}
		names = behind
		if pause == waitPoll {
			if err := r.failingBefore(ctx, pos, names); err != nil {
				return err
			}
		}
		if !sleep(ctx, pause) {
			return fmt.Errorf("projection: wait for %v to reach %s: %w", names, pos, ctx.Err())
		}
		pause = min(2*pause, waitPoll)
	}
}

// failingBefore returns an error matching ErrFailing when one of the named
// projections is stopped at an event at or before pos.
func (r *Reader) failingBefore(ctx context.Context, pos eventstore.Position, names []string) error {
	rows, err := r.pool.Query(ctx, `SELECT name, error_position, last_error FROM rm_projections
		WHERE name = ANY($1) AND state = $2`, names, string(StateFailing))
	if err != nil {
		return fmt.Errorf("projection: wait: %w", err)
	}
	var name, at, msg string
	var failing error
	_, err = pgx.ForEachRow(rows, []any{&name, &at, &msg}, func() error {
		p, err := eventstore.ParsePosition(at)
		if err == nil && !p.IsZero() && p.Compare(pos) <= 0 && failing == nil {
			failing = fmt.Errorf("%w: %s at position %s: %s", ErrFailing, name, p, msg)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("projection: wait: %w", err)
	}
	return failing
}
