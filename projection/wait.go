package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/sleep"
)

// waitPoll is the longest pause between two looks at the checkpoints.
const waitPoll = 20 * time.Millisecond

// WaitFor waits until the named projections (the built-in ones when none is
// named) have applied the log up to pos, typically the position of the last
// event of a caller's own append, so that a query after it sees the caller's
// write. When ctx ends first, it returns ctx's error, wrapped; the error also
// matches ErrFailing when a projection it waited for is stopped at a failing
// event at or before pos (and so would not have got there soon).
func (r *Reader) WaitFor(ctx context.Context, pos eventstore.Position, names ...string) error {
	if len(names) == 0 {
		names = r.names
	}
	pause := time.Millisecond
	for {
		behind, err := r.behind(ctx, pos, names)
		switch {
		case ctx.Err() != nil:
			return r.waitEnded(ctx, pos, names)
		case err != nil:
			return err
		case len(behind) == 0:
			return nil
		}
		names = behind
		if !sleep.For(ctx, pause) {
			return r.waitEnded(ctx, pos, names)
		}
		pause = min(2*pause, waitPoll)
	}
}

// behind returns the named projections that have not reached pos.
func (r *Reader) behind(ctx context.Context, pos eventstore.Position, names []string) ([]string, error) {
	var behind []string
	for _, name := range names {
		cp, err := eventstore.LoadCheckpoint(ctx, r.pool, checkpointName(name))
		if err != nil {
			return nil, err
		}
		if cp.Compare(pos) < 0 {
			behind = append(behind, name)
		}
	}
	return behind, nil
}

// waitEnded is WaitFor's error when ctx ended while names were behind pos.
func (r *Reader) waitEnded(ctx context.Context, pos eventstore.Position, names []string) error {
	err := fmt.Errorf("projection: wait for %v to reach %s: %w", names, pos, ctx.Err())
	failing, ferr := r.failingBefore(context.WithoutCancel(ctx), pos, names)
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	if failing != nil {
		return fmt.Errorf("%w: %w", err, failing)
	}
	return err
}

// failingBefore returns an error matching ErrFailing when one of the named
// projections is stopped at an event at or before pos.
func (r *Reader) failingBefore(ctx context.Context, pos eventstore.Position, names []string) (failing, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rows, err := r.pool.Query(ctx, `SELECT name, error_position, last_error FROM rm_projections
		WHERE name = ANY($1) AND state = $2`, names, string(StateFailing))
	if err != nil {
		return nil, fmt.Errorf("projection: wait: %w", err)
	}
	var name, at, msg string
	_, err = pgx.ForEachRow(rows, []any{&name, &at, &msg}, func() error {
		p, err := eventstore.ParsePosition(at)
		if err == nil && !p.IsZero() && p.Compare(pos) <= 0 && failing == nil {
			failing = fmt.Errorf("%w: %s at position %s: %s", ErrFailing, name, p, msg)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projection: wait: %w", err)
	}
	return failing, nil
}
