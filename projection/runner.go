package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/sleep"
)

// Config tunes a Runner. Store is required; New fills in the other defaults.
type Config struct {
	// Store is the event log to follow. Give it register.Upcasters(), so that
	// the projections see current event schemas.
	Store *eventstore.Store
	// Projections are the projections to run. Default Builtin().
	Projections []Projection
	// BatchSize caps the events applied in one transaction while a
	// projection catches up. Live, each batch is what the subscription hands
	// over. Default 5,000.
	BatchSize int
	// BatchInterval is, live, the least time from the start of one batch of
	// a projection to the next: the events committed meanwhile join the next
	// batch, so that a busy log is applied in fewer, larger transactions
	// (each costs a few round trips to PostgreSQL whatever its size). It
	// adds at most that much to the projection's lag. Default 25ms; negative
	// for none.
	BatchInterval time.Duration
	// LockRetryInterval is how often a runner that waits for another
	// process's runner tries to take over. Default pglock.PingInterval.
	LockRetryInterval time.Duration
	// LockCheckInterval is how often the runner checks that its lock session
	// is alive, which also keeps the session from PostgreSQL's
	// idle_session_timeout (pglock.IdleTimeout): it must be well below that.
	// When the session is lost, the runner stops applying and waits for the
	// lock again. Default pglock.PingInterval.
	LockCheckInterval time.Duration
	// MinRetryDelay and MaxRetryDelay bound the wait before a failing event
	// is tried again: it doubles from MinRetryDelay after each failure, up
	// to MaxRetryDelay. Defaults 100ms and 1m.
	MinRetryDelay time.Duration
	MaxRetryDelay time.Duration
	// Holder names this process in the projections' status. Default
	// host name and process id.
	Holder string
	// Logger receives the runner's logs. Default slog.Default().
	Logger *slog.Logger
	// Spread shares the projections out among the processes that run them
	// on the same database: a runner takes a projection's lock only while
	// its process holds fewer than its fair share (the projections divided
	// by the processes, rounded up), and a process that holds more (it
	// started first) gives one up every few LockRetryIntervals until it
	// holds its share. Off, every process takes whatever lock is free.
	Spread bool
	// OnApplied, when set, is called after every committed batch with the
	// projection's name and the batch's events. It runs on the projection's
	// goroutine: it must be quick and must not modify the events.
	OnApplied func(projection string, events []eventstore.RecordedEvent)
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("projection: Config.Store is required")
	case c.BatchSize < 0:
		return errors.New("projection: BatchSize must not be negative")
	case c.LockRetryInterval < 0, c.LockCheckInterval < 0:
		return errors.New("projection: lock intervals must not be negative")
	case c.LockCheckInterval >= pglock.IdleTimeout:
		return fmt.Errorf("projection: LockCheckInterval must be below the lock sessions' idle timeout %s", pglock.IdleTimeout)
	case c.MinRetryDelay < 0, c.MaxRetryDelay < 0:
		return errors.New("projection: retry delays must not be negative")
	case c.MaxRetryDelay > 0 && c.MinRetryDelay > c.MaxRetryDelay:
		return errors.New("projection: MinRetryDelay must not exceed MaxRetryDelay")
	}
	seen := make(map[string]bool)
	for _, p := range c.Projections {
		if p == nil || p.Name() == "" {
			return errors.New("projection: every projection needs a name")
		}
		if seen[p.Name()] {
			return fmt.Errorf("projection: projection %q given twice", p.Name())
		}
		seen[p.Name()] = true
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Projections == nil {
		c.Projections = Builtin()
	}
	if c.BatchSize == 0 {
		c.BatchSize = 5000
	}
	if c.BatchInterval == 0 {
		c.BatchInterval = 25 * time.Millisecond
	}
	if c.LockRetryInterval == 0 {
		c.LockRetryInterval = pglock.PingInterval
	}
	if c.LockCheckInterval == 0 {
		c.LockCheckInterval = pglock.PingInterval
	}
	if c.MinRetryDelay == 0 {
		c.MinRetryDelay = 100 * time.Millisecond
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = time.Minute
	}
	c.MaxRetryDelay = max(c.MaxRetryDelay, c.MinRetryDelay)
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = host + ":" + strconv.Itoa(os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Runner keeps projections up to date with the event log, each on its own
// goroutine. Every projection runs in at most one process at a time: its
// runner holds a PostgreSQL advisory lock on the process's lock connection
// (one for all its projections), and runners in other processes wait to take
// over when it is gone.
type Runner struct {
	cfg     Config
	pool    *pgxpool.Pool
	log     *slog.Logger
	replica string // names this process's lock session
	held    held
	locks   lockSession
}

// NewRunner returns a Runner; Run starts it.
func NewRunner(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Runner{cfg: cfg, pool: cfg.Store.Pool(), log: cfg.Logger, replica: newReplicaID()}, nil
}

// Run runs every projection until ctx ends, then releases their locks and
// returns nil. Failures are logged, recorded in the projections' status and
// retried; Run returns early only when the store is closed.
func (r *Runner) Run(ctx context.Context) error {
	errs := make([]error, len(r.cfg.Projections))
	var wg sync.WaitGroup
	for i, p := range r.cfg.Projections {
		wg.Go(func() { errs[i] = r.run(ctx, p) })
	}
	wg.Wait()
	r.closeSession()
	return errors.Join(errs...)
}

// Status returns the status of the runner's projections (see ReadStatus).
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	names := make([]string, len(r.cfg.Projections))
	for i, p := range r.cfg.Projections {
		names[i] = p.Name()
	}
	return ReadStatus(ctx, r.pool, names...)
}

// run runs projection p until ctx ends: it waits for p's lock, follows the log
// while it holds it, and waits again when it loses it.
func (r *Runner) run(ctx context.Context, p Projection) error {
	log := r.log.With("projection", p.Name())
	pause := r.retryBackOff()
	for {
		err := ensureStatusRow(ctx, r.pool, p.Name())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("projection: cannot register the projection, retrying", "err", err)
		if !sleep.For(ctx, pause.NextBackOff()) {
			return nil
		}
	}
	if r.cfg.Spread && !sleep.For(ctx, jitter(r.cfg.LockRetryInterval)) {
		return nil
	}
	pause.Reset()
	for ctx.Err() == nil {
		session, err := r.session(ctx)
		if err != nil {
			log.Warn("projection: cannot connect for the lock, retrying", "err", err)
			sleep.For(ctx, pause.NextBackOff())
			continue
		}
		if !r.mayTake(ctx) {
			// Keep the session alive: it counts this process as a replica.
			if err := session.Confirm(ctx); err != nil {
				r.drop(session)
			}
			sleep.For(ctx, r.cfg.LockRetryInterval)
			continue
		}
		got, err := session.TryLock(ctx, lockKey("run", p.Name()))
		if err != nil {
			log.Warn("projection: lock session failed, reconnecting", "err", err)
			r.drop(session)
			sleep.For(ctx, pause.NextBackOff())
			continue
		}
		pause.Reset()
		if !got {
			sleep.For(ctx, r.cfg.LockRetryInterval)
			continue
		}
		log.Info("projection: took the lock", "holder", r.cfg.Holder)
		r.held.set(p.Name(), true)
		err = r.hold(ctx, p, session, log)
		r.held.set(p.Name(), false)
		// Give other processes' runners a chance at the lock before trying
		// again.
		r.release(ctx, session, p.Name())
		if errors.Is(err, eventstore.ErrClosed) {
			return err
		}
		sleep.For(ctx, r.cfg.LockRetryInterval)
	}
	return nil
}

// hold runs p while this process holds its lock on session, until ctx ends
// or the session is lost.
func (r *Runner) hold(ctx context.Context, p Projection, session *pglock.Session, log *slog.Logger) error {
	var h *holding
	err := session.Hold(ctx, r.cfg.LockCheckInterval, func(ctx context.Context) error {
		workCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		if r.cfg.Spread {
			go func() {
				for sleep.For(workCtx, r.releaseEvery()) {
					if r.shouldRelease(workCtx) {
						log.Info("projection: giving the lock up to spread the projections over the replicas", "held", namesOf(r.Held()))
						cancel()
						return
					}
				}
			}()
		}
		h = &holding{r: r, p: p, name: p.Name(), pid: session.PID(), fence: session.Fence(lockKey("run", p.Name())),
			log: log, nextAnalyze: analyzeFirst}
		err := h.follow(workCtx)
		cancel()
		h.analyzing.Wait()
		return err
	})
	if errors.Is(err, pglock.ErrLost) {
		log.Warn("projection: lost the lock; waiting to take it again", "err", err)
		return nil
	}
	stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stopCancel()
	if serr := h.setState(stopCtx, StateStopped); serr != nil {
		log.Warn("projection: cannot record the stop", "err", serr)
	}
	return err
}

// holding is a projection whose lock this runner holds.
type holding struct {
	r        *Runner
	p        Projection
	name     string
	pid      uint32       // the lock session's backend
	fence    pglock.Fence // the lock session's hold on the run lock
	log      *slog.Logger
	failures int // in a row

	applied     int            // events applied since the lock was taken
	nextAnalyze int            // the count of applied events to analyze at
	analyzing   sync.WaitGroup // the analysis running, if any
	busy        atomic.Bool    // an analysis is running
}

// noteApplied counts n events applied to generation gen and, at analyzeFirst
// events and each doubling after, has the generation's tables vacuumed and
// analyzed in the background (see analyzeFirst).
func (h *holding) noteApplied(ctx context.Context, gen int64, n int) {
	h.applied += n
	if h.applied < h.nextAnalyze || !h.busy.CompareAndSwap(false, true) {
		return
	}
	h.nextAnalyze = 2 * h.applied
	h.analyzing.Go(func() {
		defer h.busy.Store(false)
		if err := maintain(ctx, h.r.pool, h.p, gen, cmdVacuumAnalyze); err != nil && ctx.Err() == nil {
			h.log.Warn("projection: cannot update the read model's statistics", "err", err)
		}
	})
}

// follow applies the log to the projection's active generation, from its
// checkpoint: first in batches of up to BatchSize, then live through a
// subscription. On a failure it records the failure, waits and starts again
// from the checkpoint; it returns when ctx ends or the store is closed.
func (h *holding) follow(ctx context.Context) error {
	pause := h.r.retryBackOff()
	for ctx.Err() == nil {
		err := h.followOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, eventstore.ErrClosed):
			return err
		case errors.Is(err, pglock.ErrLost):
			h.log.Warn("projection: lost the lock; a batch was fenced off", "err", err)
			return nil
		case errors.Is(err, errFenced):
			h.log.Info("projection: the read model moved on (a rebuild swapped it in); continuing from its checkpoint", "reason", err)
			continue
		}
		h.failures++
		if h.failures == 1 {
			pause.Reset() // the first failure since the projection last moved on
		}
		h.recordFailure(ctx, err)
		sleep.For(ctx, pause.NextBackOff())
	}
	return nil
}

// followOnce follows the log from the projection's checkpoint until an error
// stops it.
func (h *holding) followOnce(ctx context.Context) error {
	r := h.r
	var gen int64
	if err := r.pool.QueryRow(ctx, `SELECT active_generation FROM rm_projections WHERE name = $1`, h.name).Scan(&gen); err != nil {
		return fmt.Errorf("projection %s: read the active generation: %w", h.name, err)
	}
	pos, err := eventstore.LoadCheckpoint(ctx, r.pool, checkpointName(h.name))
	if err != nil {
		return err
	}
	a := &applier{p: h.p, pool: r.pool, gen: gen, checkpoint: checkpointName(h.name), pos: pos, fence: liveFence(h.name, gen, h.fence)}
	state := StateCatchingUp
	if h.failures == 0 {
		if err := h.setState(ctx, state); err != nil {
			return err
		}
	}
	apply := func(ctx context.Context, events []eventstore.RecordedEvent) error {
		if err := a.apply(ctx, events); err != nil {
			return err
		}
		if h.failures > 0 {
			// The failing event went through: the projection recovered.
			h.failures = 0
			if err := h.setState(ctx, state); err != nil {
				h.log.Warn("projection: cannot record the recovery", "err", err)
			}
		}
		h.noteApplied(ctx, gen, len(events))
		if r.cfg.OnApplied != nil {
			r.cfg.OnApplied(h.name, events)
		}
		return nil
	}
	for {
		events, err := r.cfg.Store.ReadAll(ctx, a.pos, r.cfg.BatchSize, eventstore.Filter{})
		if err != nil {
			return err
		}
		if err := apply(ctx, events); err != nil {
			return err
		}
		if len(events) < r.cfg.BatchSize {
			break
		}
	}
	state = StateLive
	if h.failures == 0 {
		if err := h.setState(ctx, state); err != nil {
			return err
		}
	}
	return r.cfg.Store.Subscribe(ctx, a.pos, eventstore.Filter{}, eventstore.Paced(r.cfg.BatchInterval, apply))
}

// lockHeldBy is the condition that backend $2 holds the run lock of the
// projection whose key halves are $3 and $4.
const lockHeldBy = `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
	AND pid = $2 AND classid::bigint = $3 AND objid::bigint = $4)`

// statusArgs are the arguments $1 to $4 of a status update: the name and
// what lockHeldBy needs.
func (h *holding) statusArgs() []any {
	key := uint64(lockKey("run", h.name))
	return []any{h.name, int64(h.pid), int64(key >> 32), int64(key & 0xffffffff)}
}

// setState records that this process runs the projection in state. It
// records nothing once the lock is lost: the status belongs to whoever
// holds it.
func (h *holding) setState(ctx context.Context, state State) error {
	_, err := h.r.pool.Exec(ctx, `UPDATE rm_projections SET state = $5, holder = $6, failures = 0,
		updated_at = clock_timestamp() WHERE name = $1 AND `+lockHeldBy,
		append(h.statusArgs(), string(state), h.r.cfg.Holder)...)
	if err != nil {
		return fmt.Errorf("projection %s: record state: %w", h.name, err)
	}
	return nil
}

// recordFailure logs err and records it in the projection's status, with the
// failing event when err names one.
func (h *holding) recordFailure(ctx context.Context, err error) {
	var pos string
	var eventID any
	var ee *EventError
	if errors.As(err, &ee) {
		pos, eventID = ee.Position.String(), ee.EventID
		h.log.Error("projection: stopped at a failing event; retrying", "err", err, "position", pos,
			"event_id", ee.EventID.String(), "failures", h.failures)
	} else {
		h.log.Error("projection: failed; retrying", "err", err, "failures", h.failures)
	}
	_, uerr := h.r.pool.Exec(ctx, `UPDATE rm_projections SET state = $5, holder = $6, last_error = $7,
		error_position = $8, error_event_id = $9, error_at = clock_timestamp(), failures = $10,
		updated_at = clock_timestamp() WHERE name = $1 AND `+lockHeldBy,
		append(h.statusArgs(), string(StateFailing), h.r.cfg.Holder, err.Error(), pos, eventID, h.failures)...)
	if uerr != nil && ctx.Err() == nil {
		h.log.Warn("projection: cannot record the failure", "err", uerr)
	}
}

// retryBackOff returns the waits between retries after failures in a row:
// MinRetryDelay, doubling up to MaxRetryDelay, without jitter.
func (r *Runner) retryBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: r.cfg.MinRetryDelay, Multiplier: 2, MaxInterval: r.cfg.MaxRetryDelay}
}

// ensureStatusRow adds the status row of a projection that has none yet.
func ensureStatusRow(ctx context.Context, pool *pgxpool.Pool, name string) error {
	_, err := pool.Exec(ctx, `INSERT INTO rm_projections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, name)
	if err != nil {
		return fmt.Errorf("projection %s: register: %w", name, err)
	}
	return nil
}
