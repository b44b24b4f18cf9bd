package projection

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
)

// RebuildConfig says what Rebuild rebuilds. Store and Projections are
// required; the zero values of the other fields are usable.
type RebuildConfig struct {
	// Store is the event log to rebuild from. Give it register.Upcasters().
	Store *eventstore.Store
	// Projections are the projections to rebuild, together.
	Projections []Projection
	// BatchSize caps the events applied in one transaction. Default 10,000.
	BatchSize int
	// Logger receives the rebuild's logs. Default slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called after every batch.
	Progress func(Progress)
}

// Validate reports settings that cannot work.
func (c RebuildConfig) Validate() error {
	if c.Store == nil {
		return errors.New("projection: RebuildConfig.Store is required")
	}
	if len(c.Projections) == 0 {
		return errors.New("projection: RebuildConfig.Projections names nothing to rebuild")
	}
	if c.BatchSize < 0 {
		return errors.New("projection: BatchSize must not be negative")
	}
	return Config{Store: c.Store, Projections: c.Projections}.Validate()
}

func (c *RebuildConfig) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 10_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Progress is how far a rebuild got.
type Progress struct {
	// Done counts the events applied to the shadow generations.
	Done int64
	// Total is the number of events in the log when the rebuild started, or
	// Done when more were appended meanwhile.
	Total   int64
	Elapsed time.Duration
}

// Rate returns the events applied per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA returns how long the rest should take at the rate so far; 0 when that
// cannot be told yet.
func (p Progress) ETA() time.Duration {
	rate := p.Rate()
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
}

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	// Events counts the events applied, the swap's catch-up included.
	Events int64
	// Position is the position the rebuilt read models were swapped in at.
	Position eventstore.Position
	// Generations maps each projection to its new active generation.
	Generations map[string]int64
	Elapsed     time.Duration
}

// shadow is the generation a rebuild fills for one projection.
type shadow struct {
	*applier       // fills generation gen of projection p
	active   int64 // the active generation when the rebuild started
	// detached are the tables whose partition of gen the rebuild fills
	// detached, without indexes (see bulkTables).
	detached []string
}

// Rebuild rebuilds projections from the start of the log into shadow
// generations of their tables, while the active generations keep serving
// reads and being kept up to date by their runners, and then swaps the
// shadows in, all in one transaction: readers see either the old read models
// or the new ones. Only one rebuild of a projection runs at a time; another
// one fails with ErrRebuildRunning. When Rebuild fails, the active
// generations stay as they were.
func Rebuild(ctx context.Context, cfg RebuildConfig) (RebuildResult, error) {
	if err := cfg.Validate(); err != nil {
		return RebuildResult{}, err
	}
	cfg.setDefaults()
	start := time.Now()
	pool := cfg.Store.Pool()
	ps := slices.SortedFunc(slices.Values(cfg.Projections), func(a, b Projection) int { return cmp.Compare(a.Name(), b.Name()) })

	session, err := pglock.Open(ctx, pool.Config().ConnConfig, "riskreg rebuild")
	if err != nil {
		return RebuildResult{}, err
	}
	defer session.Close()
	// Pinging keeps the session from its idle timeout while this process
	// runs; a rebuild that hangs loses its locks, and its builder fence.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() { _ = session.Watch(watchCtx, pglock.PingInterval) }()
	for _, p := range ps {
		if err := ensureStatusRow(ctx, pool, p.Name()); err != nil {
			return RebuildResult{}, err
		}
		got, err := session.TryLock(ctx, lockKey("rebuild", p.Name()))
		if err != nil {
			return RebuildResult{}, err
		}
		if !got {
			return RebuildResult{}, fmt.Errorf("%w: %s", ErrRebuildRunning, p.Name())
		}
	}

	builder := uuid.NewString()
	shadows := make([]*shadow, 0, len(ps))
	for _, p := range ps {
		s, err := startShadow(ctx, pool, p, builder, cfg.Logger)
		if s != nil {
			shadows = append(shadows, s)
		}
		if err != nil {
			abandon(pool, shadows, builder, cfg.Logger)
			return RebuildResult{}, err
		}
	}
	res, err := rebuild(ctx, cfg, pool, shadows, builder, start)
	if err != nil {
		abandon(pool, shadows, builder, cfg.Logger)
		return RebuildResult{}, err
	}
	for _, s := range shadows {
		if err := clearGeneration(ctx, pool, s.p, s.active); err != nil {
			// The swap is done; the old rows only take space until the next
			// rebuild clears them.
			cfg.Logger.Warn("projection: cannot clear the old generation", "projection", s.p.Name(), "err", err)
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// rebuild fills the shadows and swaps them in.
func rebuild(ctx context.Context, cfg RebuildConfig, pool *pgxpool.Pool, shadows []*shadow, builder string, start time.Time) (RebuildResult, error) {
	var total int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&total); err != nil {
		return RebuildResult{}, fmt.Errorf("projection: count events: %w", err)
	}
	done, err := fill(ctx, cfg, shadows, total, start)
	if err != nil {
		return RebuildResult{}, err
	}
	// Attaching the partitions filled detached builds their indexes: one
	// connection per projection, as for ANALYZE below.
	errs := make([]error, len(shadows))
	var wg sync.WaitGroup
	for i, s := range shadows {
		wg.Go(func() {
			if errs[i] = attachBulk(ctx, pool, s.detached, s.gen); errs[i] == nil {
				s.detached = nil
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return RebuildResult{}, err
	}
	// The partitions still hold the statistics of the generation before
	// last (see analyzeFirst): plan the swapped-in generation's reads on its
	// own. One connection per projection: ANALYZE waits on reading pages as
	// much as it computes.
	for i, s := range shadows {
		wg.Go(func() { errs[i] = maintain(ctx, pool, s.p, s.gen, cmdAnalyze) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return RebuildResult{}, err
	}
	pos, caughtUp, err := swap(ctx, cfg, pool, shadows, builder)
	if err != nil {
		return RebuildResult{}, err
	}
	res := RebuildResult{Events: done + caughtUp, Position: pos, Generations: make(map[string]int64)}
	for _, s := range shadows {
		res.Generations[s.p.Name()] = s.gen
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Done: res.Events, Total: max(total, res.Events), Elapsed: time.Since(start)})
	}
	return res, nil
}

// startShadow claims the next generation of p for the rebuild builder,
// clears the rows a failed rebuild may have left, and detaches the
// partitions it fills without indexes.
func startShadow(ctx context.Context, pool *pgxpool.Pool, p Projection, builder string, log *slog.Logger) (*shadow, error) {
	name := p.Name()
	// A rebuild that ended before its end (its process was killed) may have
	// left a partition detached.
	if err := reattachBulk(ctx, pool, p); err != nil {
		return nil, err
	}
	s := &shadow{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT active_generation FROM rm_projections WHERE name = $1 FOR UPDATE`, name).Scan(&s.active)
		if err != nil {
			return fmt.Errorf("projection %s: lock status row: %w", name, err)
		}
		_, err = tx.Exec(ctx, `UPDATE rm_projections SET building_generation = $2, builder = $3, updated_at = clock_timestamp()
			WHERE name = $1`, name, s.active+1, builder)
		if err != nil {
			return fmt.Errorf("projection %s: claim a generation: %w", name, err)
		}
		return eventstore.SaveCheckpoint(ctx, tx, rebuildCheckpointName(name), eventstore.Position{})
	})
	if err != nil {
		return nil, err
	}
	gen := s.active + 1
	if err := clearGeneration(ctx, pool, p, gen); err != nil {
		return nil, err
	}
	s.applier = &applier{p: p, pool: pool, gen: gen, checkpoint: rebuildCheckpointName(name),
		fence: rebuildFence(name, gen, builder), parallel: rebuildWriters}
	if _, ok := p.(bufferedProjection); !ok {
		return s, nil // applied page by page, as by its runner
	}
	s.detached, err = detachBulk(ctx, pool, p, gen, log)
	if err != nil {
		// abandon attaches what was detached.
		return s, err
	}
	return s, nil
}

// Rebuilds fold into memory (see bufferedProjection) at most
// rebuildBufferRows rows per projection before they write them, and write
// rebuildWriteRows rows per transaction, in up to rebuildWriters transactions
// per projection at once. Transactions stay short: one that runs holds back
// every reader of the global log (see eventstore.Position).
var (
	rebuildBufferRows = 500_000
	rebuildWriteRows  = 20_000
	rebuildWriters    = 3
)

// target is how fill applies the log to one shadow: page by page, or into a
// buffer written when full and at the end.
type target struct {
	*shadow
	buf   projectionBuffer    // nil: apply page by page
	limit int                 // the rows buf may hold
	last  eventstore.Position // of the last event added to buf
	done  atomic.Int64        // events added
	// draining, when not nil, reports the end of the writes of the rows
	// drained last (see drainingBuffer), which run while the fold goes on.
	draining chan error
}

func newTarget(s *shadow) *target {
	t := &target{shadow: s, last: s.pos}
	if b, ok := s.p.(bufferedProjection); ok {
		t.buf = b.newBuffer()
		t.limit = rebuildBufferRows
		if t.buf.appendOnly() {
			t.limit = rebuildWriteRows // nothing to gain from holding rows back
		}
	}
	return t
}

func (t *target) add(ctx context.Context, b eventBatch) error {
	events := b.events
	if t.buf == nil {
		return t.apply(ctx, events)
	}
	if err := t.buf.add(ctx, t.pool, t.gen, b); err != nil {
		var ee *EventError
		if errors.As(err, &ee) {
			ee.Projection = t.p.Name()
		}
		return err
	}
	if len(events) > 0 {
		t.last = events[len(events)-1].Position
	}
	if t.buf.size() >= t.limit {
		if !t.buf.appendOnly() && len(t.detached) > 0 {
			// The buffer spills: what it writes now, it reads back (and
			// replaces, and closes versions of) later, through the indexes.
			if err := t.drained(); err != nil {
				return err
			}
			if err := attachBulk(ctx, t.pool, t.detached, t.gen); err != nil {
				return err
			}
			t.detached = nil
		}
		return t.flush(ctx)
	}
	if d, ok := t.buf.(drainingBuffer); ok && d.drainable() >= rebuildWriteRows*rebuildWriters {
		if err := t.drained(); err != nil {
			return err
		}
		changes, done := d.drain(rebuildWriteRows), make(chan error, 1)
		t.draining = done
		go func() { done <- t.writeAll(ctx, changes) }()
	}
	return nil
}

// drained waits for the writes of the rows drained last.
func (t *target) drained() error {
	if t.draining == nil {
		return nil
	}
	err := <-t.draining
	t.draining = nil
	return err
}

// flush writes what the buffer holds, with the checkpoint.
func (t *target) flush(ctx context.Context) error {
	if err := t.drained(); err != nil {
		return err
	}
	if t.buf == nil || t.last == t.pos {
		return nil
	}
	return t.commit(ctx, t.buf.take(rebuildWriteRows), t.last)
}

// fill applies the log from its start to every shadow until it reaches the
// end of the log, and returns the number of events applied. One goroutine
// reads pages of the log, another decodes each page's events once and hands
// the page to every shadow's goroutine, so that reading, decoding, folding
// and writing overlap.
func fill(ctx context.Context, cfg RebuildConfig, shadows []*shadow, total int64, start time.Time) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	targets := make([]*target, len(shadows))
	pages := make([]chan eventBatch, len(shadows))
	for i, s := range shadows {
		targets[i], pages[i] = newTarget(s), make(chan eventBatch, 2)
	}
	var mu sync.Mutex
	var reported int64
	report := func() {
		if cfg.Progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done := targets[0].done.Load()
		for _, t := range targets[1:] {
			done = min(done, t.done.Load())
		}
		if done > reported {
			reported = done
			cfg.Progress(Progress{Done: done, Total: max(total, done), Elapsed: time.Since(start)})
		}
	}
	errs := make([]error, len(targets)+1)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			defer func() {
				// A drain still writing ends before fill returns.
				if err := t.drained(); err != nil && errs[i+1] == nil && ctx.Err() == nil {
					errs[i+1] = err
				}
			}()
			for events := range pages[i] {
				if err := t.add(ctx, events); err != nil {
					errs[i+1] = err
					cancel()
					return
				}
				t.done.Add(int64(len(events.events)))
				report()
			}
			if ctx.Err() == nil {
				errs[i+1] = t.flush(ctx)
			}
		})
	}
	raw := make(chan []eventstore.RecordedEvent, 1)
	ps := make([]Projection, len(shadows))
	for i, s := range shadows {
		ps[i] = s.p
	}
	wanted := decodedBy(ps)
	wg.Go(func() {
		defer func() {
			for _, ch := range pages {
				close(ch)
			}
		}()
		for events := range raw {
			b := decodeBatch(events, wanted)
			for _, ch := range pages {
				select {
				case ch <- b:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	errs[0] = readPages(ctx, cfg, raw)
	close(raw)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return targets[0].done.Load(), ctx.Err()
}

// readPages reads the log from its start in pages of cfg.BatchSize and sends
// each page to pages, until the end of the log or ctx ends.
func readPages(ctx context.Context, cfg RebuildConfig, pages chan<- []eventstore.RecordedEvent) error {
	var pos eventstore.Position
	for {
		events, err := cfg.Store.ReadAll(ctx, pos, cfg.BatchSize, eventstore.Filter{})
		if err != nil {
			if ctx.Err() != nil {
				return nil // a shadow failed; its error says why
			}
			return err
		}
		select {
		case pages <- events:
		case <-ctx.Done():
			return nil
		}
		if len(events) < cfg.BatchSize {
			return nil
		}
		pos = events[len(events)-1].Position
	}
}

// swap applies what the log gained since fill ended to the shadows and makes
// them the active generations, in one transaction that locks the
// projections' rows: runners wait for it, and then find their checkpoint
// moved and continue from the new one. It returns the position the shadows
// reached and how many events it applied.
func swap(ctx context.Context, cfg RebuildConfig, pool *pgxpool.Pool, shadows []*shadow, builder string) (eventstore.Position, int64, error) {
	names := make([]string, len(shadows))
	for i, s := range shadows {
		names[i] = s.p.Name()
	}
	pos := shadows[0].pos
	var applied int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Shadows are in name order, and so are the rows locked here.
		rows, err := tx.Query(ctx, `SELECT COALESCE(building_generation, 0), COALESCE(builder, '')
			FROM rm_projections WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names)
		if err != nil {
			return fmt.Errorf("projection: lock status rows: %w", err)
		}
		claims, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			Gen     int64
			Builder string
		}])
		if err != nil {
			return fmt.Errorf("projection: lock status rows: %w", err)
		}
		for i, s := range shadows {
			if i >= len(claims) || claims[i].Gen != s.gen || claims[i].Builder != builder {
				return fmt.Errorf("%w: another rebuild of %s took over", errFenced, s.p.Name())
			}
		}
		live := make([]eventstore.Position, len(shadows))
		for i, s := range shadows {
			if live[i], err = eventstore.LoadCheckpoint(ctx, tx, checkpointName(s.p.Name())); err != nil {
				return err
			}
		}
		// The runners cannot move on while this transaction holds their
		// rows, and every event they applied is readable here, so this loop
		// ends at or after each of their checkpoints.
		for {
			events, err := cfg.Store.ReadAll(ctx, pos, cfg.BatchSize, eventstore.Filter{})
			if err != nil {
				return err
			}
			for _, s := range shadows {
				if err := applyInTx(ctx, tx, s.p, s.gen, events); err != nil {
					return err
				}
			}
			applied += int64(len(events))
			if len(events) > 0 {
				pos = events[len(events)-1].Position
			}
			if len(events) < cfg.BatchSize {
				break
			}
		}
		for i, s := range shadows {
			if pos.Compare(live[i]) < 0 {
				return fmt.Errorf("projection %s: the rebuild reached %q, behind the live checkpoint %q", s.p.Name(), pos, live[i])
			}
		}
		_, err = tx.Exec(ctx, `UPDATE rm_projections SET active_generation = building_generation, building_generation = NULL,
			builder = NULL, updated_at = clock_timestamp() WHERE name = ANY($1)`, names)
		if err != nil {
			return fmt.Errorf("projection: swap generations: %w", err)
		}
		for _, s := range shadows {
			if err := eventstore.SaveCheckpoint(ctx, tx, checkpointName(s.p.Name()), pos); err != nil {
				return err
			}
		}
		return nil
	})
	return pos, applied, err
}

// abandon gives up the shadows of a failed rebuild: their generations stop
// being claimed and their rows are deleted, unless another rebuild took them
// over meanwhile.
func abandon(pool *pgxpool.Pool, shadows []*shadow, builder string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range shadows {
		tag, err := pool.Exec(ctx, `UPDATE rm_projections SET building_generation = NULL, builder = NULL,
			updated_at = clock_timestamp() WHERE name = $1 AND builder = $2`, s.p.Name(), builder)
		if err == nil && tag.RowsAffected() == 1 {
			err = clearGeneration(ctx, pool, s.p, s.gen)
		}
		if err == nil && tag.RowsAffected() == 1 {
			// Emptied, its indexes build at once.
			err = attachBulk(ctx, pool, s.detached, s.gen)
		}
		if err != nil {
			log.Warn("projection: cannot clear an abandoned shadow generation", "projection", s.p.Name(), "err", err)
		}
	}
}

// clearGeneration empties the partitions of p's tables that hold generation
// gen (partitions alternate: gen-2 and gen+2 lie there too). TRUNCATE waits
// for the statements that read the tables to end, and holds up the ones that
// come meanwhile, for a moment. Each partition is emptied in a transaction
// of its own: a reader that locks several of them (a page of risks and its
// counters) then never waits for a TRUNCATE that waits for it.
func clearGeneration(ctx context.Context, pool *pgxpool.Pool, p Projection, gen int64) error {
	for _, table := range p.Tables() {
		err := inTx(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '10s'"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "TRUNCATE "+pgx.Identifier{partitionOf(table, gen)}.Sanitize())
			return err
		})
		if err != nil {
			return fmt.Errorf("projection %s: clear generation %d: %w", p.Name(), gen, err)
		}
	}
	return nil
}
