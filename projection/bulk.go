package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/internal/pglock"
)

// A rebuild writes the temporal read models' partitions, several times the
// rows of the rest, without their indexes, and builds the indexes once at
// the end: maintaining three B-trees row by row cost PostgreSQL more than
// writing the rows. A partition's indexes belong to the partitioned indexes
// of its table, so they cannot be dropped while it is attached: the rebuild
// detaches the shadow's (empty) partition, drops its indexes, fills it, and
// attaches it again, which builds every index the table defines, under the
// names the migrations gave them. Readers of the active generation never
// read the shadow's partition; only detaching waits for them, for a moment
// (see lockBriefly).

// bulkTables are the tables whose shadow partitions a rebuild fills without
// indexes.
// These are the tables that a rebuild only adds rows to, never reads or
// replaces rows of, unless its buffer spills (see target.add): the history
// and what is only ever added, and the current rows of risks and responses,
// written once at the end. Their writes go to the partition itself, not
// through its table.
var bulkTables = map[string]bool{
	"rm_risks_gen":             true,
	"rm_responses_gen":         true,
	"rm_risk_history_gen":      true,
	"rm_response_history_gen":  true,
	"rm_risk_counts_gen":       true,
	"rm_decisions_gen":         true,
	"rm_decision_subjects_gen": true,
	"rm_decision_effects_gen":  true,
	"rm_cal_items_gen":         true,
	"rm_cal_changes_gen":       true,
}

// rebuildMaintenanceMem is the maintenance_work_mem of the index builds at
// the end of a rebuild: a sort of a partition's keys in memory instead of
// on disk.
const rebuildMaintenanceMem = "256MB"

// detachTimeout caps how long a rebuild tries to detach a partition; after
// it, the rebuild fills the partition with its indexes.
var detachTimeout = 30 * time.Second

// detachBulk detaches the shadow's partitions of the bulk tables of p (gen
// is the shadow's generation; they are empty) and drops their indexes. It
// returns the tables it detached: a partition it could not detach in time
// stays attached, with its indexes, and is filled as it is.
func detachBulk(ctx context.Context, pool *pgxpool.Pool, p Projection, gen int64, log *slog.Logger) ([]string, error) {
	var detached []string
	for _, table := range p.Tables() {
		if !bulkTables[table] {
			continue
		}
		part := partitionOf(table, gen)
		err := lockBriefly(ctx, pool, detachTimeout, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s",
				pgx.Identifier{table}.Sanitize(), pgx.Identifier{part}.Sanitize()))
			return err
		})
		if isLockTimeout(err) {
			log.Warn("projection: cannot detach a shadow partition: filling it with its indexes", "partition", part, "err", err)
			continue
		}
		if err != nil {
			return detached, fmt.Errorf("projection %s: detach %s: %w", p.Name(), part, err)
		}
		detached = append(detached, table)
		if err := dropIndexes(ctx, pool, part); err != nil {
			return detached, fmt.Errorf("projection %s: %w", p.Name(), err)
		}
	}
	return detached, nil
}

// dropIndexes drops the indexes of the detached partition part, its primary
// key included.
func dropIndexes(ctx context.Context, pool *pgxpool.Pool, part string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT c.relname, COALESCE(k.conname, '')
			FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
			WHERE i.indrelid = $1::regclass`, pgx.Identifier{part}.Sanitize())
		if err != nil {
			return fmt.Errorf("list the indexes of %s: %w", part, err)
		}
		indexes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Index, Constraint string }])
		if err != nil {
			return fmt.Errorf("list the indexes of %s: %w", part, err)
		}
		for _, ix := range indexes {
			sql := "DROP INDEX " + pgx.Identifier{ix.Index}.Sanitize()
			if ix.Constraint != "" {
				sql = fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", pgx.Identifier{part}.Sanitize(), pgx.Identifier{ix.Constraint}.Sanitize())
			}
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("drop the indexes of %s: %w", part, err)
			}
		}
		return nil
	})
}

// attachBulk attaches the partitions of generation gen of tables again,
// which builds their indexes. It is a no-op for a partition that is
// attached.
func attachBulk(ctx context.Context, pool *pgxpool.Pool, tables []string, gen int64) error {
	for _, table := range tables {
		part := partitionOf(table, gen)
		err := lockBriefly(ctx, pool, 0, func(tx pgx.Tx) error {
			if ok, err := attached(ctx, tx, part); err != nil || ok {
				return err
			}
			if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '"+rebuildMaintenanceMem+"'"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%d)",
				pgx.Identifier{table}.Sanitize(), pgx.Identifier{part}.Sanitize(), slotOf(gen)))
			return err
		})
		if err != nil {
			return fmt.Errorf("projection: attach %s: %w", part, err)
		}
	}
	return nil
}

// reattachBulk attaches, emptied, the partitions of the bulk tables of p
// that a rebuild that ended before its end left detached.
func reattachBulk(ctx context.Context, pool *pgxpool.Pool, p Projection) error {
	for _, table := range p.Tables() {
		if !bulkTables[table] {
			continue
		}
		for gen := range int64(2) {
			part := partitionOf(table, gen)
			ok, err := attached(ctx, pool, part)
			if err != nil {
				return fmt.Errorf("projection %s: look for %s: %w", p.Name(), part, err)
			}
			if ok {
				continue
			}
			if _, err := pool.Exec(ctx, "TRUNCATE "+pgx.Identifier{part}.Sanitize()); err != nil {
				return fmt.Errorf("projection %s: clear %s: %w", p.Name(), part, err)
			}
			if err := attachBulk(ctx, pool, []string{table}, gen); err != nil {
				return err
			}
		}
	}
	return nil
}

// attached reports whether the partition part is attached to its table.
func attached(ctx context.Context, q pglock.Querier, part string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = $1::regclass)`,
		pgx.Identifier{part}.Sanitize()).Scan(&ok)
	return ok, err
}

// lockBriefly runs fn, which takes locks that readers and writers of the
// read models wait for (or that waits for theirs), in a transaction with a
// short lock_timeout, and runs it again after a pause while it times out,
// up to timeout (0: until ctx ends). Waiting for a lock queues every
// statement that comes after: a short wait keeps the readers answering.
func lockBriefly(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration, fn func(pgx.Tx) error) error {
	op := func() (struct{}, error) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '200ms'"); err != nil {
				return err
			}
			return fn(tx)
		})
		if err != nil && !isLockTimeout(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	_, err := backoff.Retry(ctx, op, backoff.WithMaxElapsedTime(timeout),
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2,
			RandomizationFactor: 0.5, MaxInterval: time.Second}))
	return err
}

// isLockTimeout reports whether err is PostgreSQL's lock_timeout.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == pgerrcode.LockNotAvailable
}
