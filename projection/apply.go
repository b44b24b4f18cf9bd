package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
)

// checkpointName is the checkpoint of a projection's active generation.
func checkpointName(projection string) string { return "projection:" + projection }

// rebuildCheckpointName is the checkpoint of the generation a rebuild fills.
func rebuildCheckpointName(projection string) string { return "projection:" + projection + ":rebuild" }

// applier applies batches of events to one generation of one projection. Each
// batch commits with the generation's checkpoint in one transaction, so an
// event is applied exactly once whatever crashes.
type applier struct {
	p          Projection
	pool       *pgxpool.Pool
	gen        int64
	checkpoint string
	// pos is where the generation stands: the checkpoint as this applier
	// last saw it.
	pos eventstore.Position
	// fence checks, in the batch's transaction, that this applier still
	// owns the generation, and locks it against a swap.
	fence fence
	// parallel is how many transactions commit may run at once.
	parallel int
}

// apply applies events, which follow a.pos in the log. When an event cannot
// be applied, apply commits the events before it and returns an *EventError
// for it, so that the checkpoint stops right before the failing event.
func (a *applier) apply(ctx context.Context, events []eventstore.RecordedEvent) error {
	err := a.applyOnce(ctx, events)
	if err == nil || ctx.Err() != nil || errors.Is(err, errFenced) || errors.Is(err, pglock.ErrLost) {
		return err
	}
	var ee *EventError
	if errors.As(err, &ee) {
		ee.Projection = a.p.Name()
		if i := indexOf(events, ee.Position); i > 0 {
			if err := a.apply(ctx, events[:i]); err != nil {
				return err
			}
		}
		return ee
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err // not about the data (a lost connection, say): try the batch again later
	}
	// The database refused the batch's writes: find the event that breaks
	// them by halves, committing what comes before it.
	if len(events) == 1 {
		ee := NewEventError(events[0], err)
		ee.Projection = a.p.Name()
		return ee
	}
	mid := len(events) / 2
	if err := a.apply(ctx, events[:mid]); err != nil {
		return err
	}
	return a.apply(ctx, events[mid:])
}

// applyOnce applies events in one transaction. The projection reads before
// the transaction starts, so that the transaction (which holds back readers
// of the global log while it runs) is as short as it can be; the fence and
// the checkpoint check make that safe.
func (a *applier) applyOnce(ctx context.Context, events []eventstore.RecordedEvent) error {
	if len(events) == 0 {
		return nil
	}
	changes, err := a.p.Prepare(ctx, a.pool, a.gen, events)
	if err != nil {
		return err
	}
	return a.commit(ctx, []Changes{changes}, events[len(events)-1].Position)
}

// commit writes changes, each in a transaction of its own, and moves the
// checkpoint to last with the last of them. Every transaction checks the
// fence and the checkpoint first. Up to a.parallel of the transactions before
// the last run at once.
func (a *applier) commit(ctx context.Context, changes []Changes, last eventstore.Position) error {
	if len(changes) == 0 {
		changes = []Changes{noChanges{}}
	}
	head, tail := changes[:len(changes)-1], changes[len(changes)-1]
	if err := a.writeAll(ctx, head); err != nil {
		return err
	}
	if err := a.write(ctx, tail, &last); err != nil {
		return err
	}
	a.pos = last
	return nil
}

// writeAll writes changes, each in a transaction of its own, up to
// a.parallel at once, and leaves the checkpoint where it is.
func (a *applier) writeAll(ctx context.Context, changes []Changes) error {
	errs := make([]error, len(changes))
	sem := make(chan struct{}, max(a.parallel, 1))
	var wg sync.WaitGroup
	for i, c := range changes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = a.write(ctx, c, nil)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// write writes c in a transaction that checks the fence and that the
// checkpoint is still a.pos, and moves the checkpoint to *last unless last is
// nil.
//
// One round trip checks the fence and the checkpoint, and carries the writes
// of a live batch of a few events (queuedChanges) with the checkpoint: the
// batch's statements run in order, so a fenced batch fails at the fence and
// its writes roll back with the transaction. Such a batch also carries the
// transaction's BEGIN (see sendInTx): a live batch is two round trips, this
// one and the commit.
func (a *applier) write(ctx context.Context, c Changes, last *eventstore.Position) error {
	q, queued := c.(queuedChanges)
	if queued = queued && q.queueable(); queued {
		b := a.checks()
		if err := q.queue(b, a.gen); err != nil {
			return err
		}
		if last != nil {
			eventstore.QueueSaveCheckpoint(b, a.checkpoint, *last)
		}
		return sendInTx(ctx, a.pool, b)
	}
	return inTx(ctx, a.pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, a.checks()).Close(); err != nil {
			return err
		}
		if err := c.Write(ctx, tx, a.gen); err != nil {
			return err
		}
		if last == nil {
			return nil
		}
		return eventstore.SaveCheckpoint(ctx, tx, a.checkpoint, *last)
	})
}

// checks returns a batch of the statements that begin a transaction of the
// applier's: its settings, the fence and the check of the checkpoint.
func (a *applier) checks() *pgx.Batch {
	b := &pgx.Batch{}
	// Read models are derived and the checkpoint commits with them: a
	// crash that loses the last commits loses both, and they are applied
	// again. So the batch need not wait for the WAL flush.
	b.Queue("SET LOCAL synchronous_commit = off")
	// The writes are prepared statements; plan each for its values, as
	// the reads do (see planned): a generic plan cannot prune the
	// partitions when it is made.
	b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
	a.fence(b)
	eventstore.QueueLoadCheckpoint(b, a.checkpoint, func(stored eventstore.Position) error {
		if stored != a.pos {
			return fmt.Errorf("%w: checkpoint %s is at %q, the batch follows %q", errFenced, a.checkpoint, stored, a.pos)
		}
		return nil
	})
	return b
}

// sendInTx runs the statements of b in a transaction whose BEGIN goes in
// the same round trip, and commits it when every statement and every
// check of a result on b succeeded; otherwise it rolls it back. As with
// inTx, the commit is not cancelled with ctx.
func sendInTx(ctx context.Context, pool *pgxpool.Pool, b *pgx.Batch) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("projection: begin: %w", err)
	}
	// A connection left in a transaction (a failed rollback) is closed on
	// release, not reused.
	defer conn.Release()
	b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "BEGIN"}}, b.QueuedQueries...)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(rollbackCtx, "ROLLBACK")
		return err
	}
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	tag, err := conn.Exec(commitCtx, "COMMIT")
	if err != nil {
		return fmt.Errorf("projection: commit: %w", err)
	}
	if tag.String() != "COMMIT" { // the transaction had failed: PostgreSQL rolled it back
		return fmt.Errorf("projection: commit: %w", pgx.ErrTxCommitRollback)
	}
	return nil
}

// inTx runs fn in a transaction and commits it when fn succeeds. Once fn has
// succeeded, the commit is not cancelled with ctx: a runner that is told to
// stop right then knows whether its last batch committed.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("projection: begin: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(ctx) // a no-op after Commit
	}()
	if err := fn(tx); err != nil {
		return err
	}
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := tx.Commit(commitCtx); err != nil {
		return fmt.Errorf("projection: commit: %w", err)
	}
	return nil
}

// applyInTx applies events to generation gen of p inside tx, reading with tx
// too, so that batches applied one after the other in tx see each other.
func applyInTx(ctx context.Context, tx pgx.Tx, p Projection, gen int64, events []eventstore.RecordedEvent) error {
	changes, err := p.Prepare(ctx, tx, gen, events)
	if err != nil {
		return err
	}
	return changes.Write(ctx, tx, gen)
}

// indexOf returns the index of the event at pos, or -1.
func indexOf(events []eventstore.RecordedEvent, pos eventstore.Position) int {
	for i, e := range events {
		if e.Position == pos {
			return i
		}
	}
	return -1
}

// fence queues on a batch the statements that check, in the batch's
// transaction, that an applier still owns its generation, and lock the
// projection's row against a swap; their results fail the batch with
// errFenced (or pglock.ErrLost) when it does not.
type fence func(b *pgx.Batch)

// liveFence is the fence of a runner applying to the active generation gen
// while its lock session holds lock: it locks the projection's row (a swap
// locks it too, so a batch and a swap never interleave, and so does every
// other runner's batch), checks that the runner's session still holds the
// projection's lock (a runner that was stopped past pglock.IdleTimeout lost
// it, and its batch must not commit over its successor's) and that gen is
// still active.
func liveFence(name string, gen int64, lock pglock.Fence) fence {
	return func(b *pgx.Batch) {
		b.Queue(`SELECT active_generation FROM rm_projections WHERE name = $1 FOR NO KEY UPDATE`, name).QueryRow(func(row pgx.Row) error {
			var active int64
			if err := row.Scan(&active); err != nil {
				return fmt.Errorf("projection %s: lock status row: %w", name, err)
			}
			if active != gen {
				return fmt.Errorf("%w: generation %d of %s is active, not %d", errFenced, active, name, gen)
			}
			return nil
		})
		fenceSQL, fenceArgs := lock.Query()
		b.Queue(fenceSQL, fenceArgs...).QueryRow(func(row pgx.Row) error {
			var held bool
			if err := row.Scan(&held); err != nil {
				return fmt.Errorf("projection %s: check the run lock: %w", name, err)
			}
			if err := lock.Verdict(held); err != nil {
				return fmt.Errorf("projection %s: %w", name, err)
			}
			return nil
		})
	}
}

// rebuildFence is the fence of the rebuild with token builder filling
// generation gen: it checks that the rebuild still owns that generation.
// FOR KEY SHARE does not wait for a runner's batch (FOR NO KEY UPDATE), only
// for a swap or another rebuild taking over (FOR UPDATE).
func rebuildFence(name string, gen int64, builder string) fence {
	return func(b *pgx.Batch) {
		b.Queue(`SELECT building_generation IS NOT DISTINCT FROM $2 AND builder IS NOT DISTINCT FROM $3
			FROM rm_projections WHERE name = $1 FOR KEY SHARE`, name, gen, builder).QueryRow(func(row pgx.Row) error {
			var owned bool
			if err := row.Scan(&owned); err != nil {
				return fmt.Errorf("projection %s: lock status row: %w", name, err)
			}
			if !owned {
				return fmt.Errorf("%w: another rebuild of %s took over generation %d", errFenced, name, gen)
			}
			return nil
		})
	}
}
