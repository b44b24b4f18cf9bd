package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/sleep"
)

// Log is the part of the event store a relay reads: the global log and the
// pool its checkpoints, lock and lag queries use. *eventstore.Store
// implements it; build the store with register.Upcasters(), so that events
// are published at their current schema versions.
type Log interface {
	Subscribe(ctx context.Context, after eventstore.Position, f eventstore.Filter,
		handle func(context.Context, []eventstore.RecordedEvent) error) error
	Pool() *pgxpool.Pool
}

// Config tunes a Relay. Name is required; New fills in the other defaults.
type Config struct {
	// Name identifies the relay across processes: its checkpoint is saved
	// under this name and its advisory lock is derived from it. Give every
	// target its own name (Publisher.Name does), and the same name to the
	// relays of different processes that publish to the same target.
	Name string
	// Target says where the relay publishes, for logs, status and metrics.
	// It must not contain credentials. Default: Name.
	Target string
	// Topic returns the Watermill topic of an event. Default: DefaultTopic.
	// A Publisher's Topic method fits.
	Topic func(streamType, eventType string) string
	// PublishTimeout bounds one publish, through the message's context.
	// Default 30s.
	PublishTimeout time.Duration
	// MinBackoff is the wait after the first failure to publish or read;
	// each further failure doubles it, up to MaxBackoff. Defaults 100ms and
	// 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// LockInterval is how often a standby relay tries to take the lock, and
	// how often the active one checks that its lock connection is alive,
	// which also keeps that connection from PostgreSQL's
	// idle_session_timeout (pglock.IdleTimeout): it must be well below that.
	// Default pglock.PingInterval.
	LockInterval time.Duration
	// LagInterval is how often the relay measures its lag. Default 5s.
	LagInterval time.Duration
	// Logger receives the relay's logs. Default slog.Default().
	Logger *slog.Logger
	// Source names this riskreg instance in every envelope it publishes
	// (Envelope.Source). Empty: none.
	Source string
	// Checkpoints, when set, is where the relay also publishes the signed
	// checkpoints of the Merkle log (table log_checkpoints), each once, in
	// order, following them with a cursor of its own
	// (Publisher.CheckpointPublisher gives one). Nil: it does not.
	Checkpoints *CheckpointTarget
	// CheckpointInterval is how often the relay looks for new checkpoints.
	// Default 2s.
	CheckpointInterval time.Duration
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("relay: Config.Name is required")
	case c.PublishTimeout < 0, c.MinBackoff < 0, c.MaxBackoff < 0, c.LockInterval < 0, c.LagInterval < 0, c.CheckpointInterval < 0:
		return errors.New("relay: durations in Config must not be negative")
	case c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff:
		return errors.New("relay: Config.MinBackoff must not exceed MaxBackoff")
	case c.Checkpoints != nil && (c.Checkpoints.Publisher == nil || c.Checkpoints.Topic == ""):
		return errors.New("relay: Config.Checkpoints needs a publisher and a topic")
	case c.LockInterval >= pglock.IdleTimeout:
		return fmt.Errorf("relay: Config.LockInterval must be below the lock sessions' idle timeout %s", pglock.IdleTimeout)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Target == "" {
		c.Target = c.Name
	}
	if c.Topic == nil {
		c.Topic = DefaultTopic
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 30 * time.Second
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	if c.LockInterval == 0 {
		c.LockInterval = pglock.PingInterval
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// DefaultSubjectPrefix is the start of every event's default topic.
const DefaultSubjectPrefix = "riskreg.events"

// DefaultTopic returns "riskreg.events.<streamType>.<eventType>", the NATS
// subject of an event.
func DefaultTopic(streamType, eventType string) string {
	return DefaultSubjectPrefix + "." + streamType + "." + eventType
}

// State is what a relay is doing.
type State string

// The states of a relay.
const (
	// StateStarting: Run has not yet been called, or is connecting.
	StateStarting State = "starting"
	// StateStandby: another process holds the lock; this relay waits.
	StateStandby State = "standby"
	// StateActive: this relay holds the lock and publishes.
	StateActive State = "active"
	// StateRetrying: this relay holds the lock, but the broker or the
	// database fails; it retries with backoff.
	StateRetrying State = "retrying"
	// StateStopped: Run returned.
	StateStopped State = "stopped"
)

// Status is a snapshot of a relay, for the API and metrics.
type Status struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	State  State  `json:"state"`
	// Position is the last event of the last batch this process published
	// and had acknowledged; "" before the first.
	Position string `json:"position"`
	// Published counts the events this process published (repeats
	// included); Failures the publish attempts that failed.
	Published uint64 `json:"published"`
	Failures  uint64 `json:"failures"`
	// LastError is the last failure, "" when the last attempt succeeded.
	LastError       string    `json:"lastError,omitempty"`
	LastPublishedAt time.Time `json:"lastPublishedAt,omitzero"`
	// LagEvents is the number of events in the log after the relay's saved
	// checkpoint, and LagSeconds the age of the oldest of them (0 when
	// none), as measured at LagMeasuredAt. A standby relay reports the
	// lag of the relay that holds the lock.
	LagEvents     int64     `json:"lagEvents"`
	LagSeconds    float64   `json:"lagSeconds"`
	LagMeasuredAt time.Time `json:"lagMeasuredAt,omitzero"`
}

// Relay publishes the event log to one target. Create it with New and call
// Run; Status may be called at any time from any goroutine.
type Relay struct {
	log     Log
	pub     message.Publisher
	cfg     Config
	logger  *slog.Logger
	lockKey int64
	running atomic.Bool

	published atomic.Uint64
	failures  atomic.Uint64

	mu     sync.Mutex
	status Status
}

// New returns a relay that publishes log's events to pub. The relay does not
// close pub.
func New(log Log, pub message.Publisher, cfg Config) (*Relay, error) {
	if log == nil || pub == nil {
		return nil, errors.New("relay: New needs a log and a publisher")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Relay{
		log:     log,
		pub:     pub,
		cfg:     cfg,
		logger:  cfg.Logger.With("relay", cfg.Name, "target", cfg.Target),
		lockKey: lockKey(cfg.Name),
		status:  Status{Name: cfg.Name, Target: cfg.Target, State: StateStarting},
	}, nil
}

// lockKey derives the advisory lock key of a relay from its name.
func lockKey(name string) int64 {
	return pglock.Key("riskreg relay\x00" + name)
}

// Name returns the relay's name, under which its checkpoint is saved.
func (r *Relay) Name() string { return r.cfg.Name }

// Status returns a snapshot of the relay.
func (r *Relay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Published = r.published.Load()
	s.Failures = r.failures.Load()
	return s
}

func (r *Relay) update(f func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.status)
}

func (r *Relay) setState(s State) {
	r.update(func(st *Status) { st.State = s })
}

// Run publishes until ctx ends, then returns nil. It waits for the lock
// while another process holds it, and retries every failure (broker down or
// refusing, database lost) with capped exponential backoff, starting again
// from the last saved checkpoint.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("relay: Run called twice at once")
	}
	defer r.running.Store(false)

	var wg sync.WaitGroup
	lagCtx, stopLag := context.WithCancel(ctx)
	wg.Go(func() { r.lagLoop(lagCtx) })
	defer func() {
		stopLag()
		wg.Wait()
		r.setState(StateStopped)
	}()

	failures := 0
	pause := r.backOff()
	for ctx.Err() == nil {
		progressed, err := r.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, eventstore.ErrClosed) {
			return fmt.Errorf("relay %s: %w", r.cfg.Name, err)
		}
		if progressed {
			failures = 0
			pause.Reset()
		}
		failures++
		r.logger.Warn("relay: stopped publishing; starting again from the checkpoint", "err", err, "failures", failures)
		r.update(func(s *Status) {
			s.State = StateRetrying
			s.LastError = err.Error()
		})
		if !sleep.For(ctx, pause.NextBackOff()) {
			break
		}
	}
	return nil
}

// backOff returns the waits between retries: MinBackoff, doubling up to
// MaxBackoff.
func (r *Relay) backOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: r.cfg.MinBackoff, Multiplier: 2, MaxInterval: r.cfg.MaxBackoff}
}

// session connects, waits for the lock and publishes until ctx ends or
// something fails. progressed reports whether it published anything.
func (r *Relay) session(ctx context.Context) (progressed bool, err error) {
	lc, err := pglock.Open(ctx, r.log.Pool().Config().ConnConfig, "riskreg relay "+r.cfg.Name)
	if err != nil {
		return false, fmt.Errorf("relay: connect for the lock: %w", err)
	}
	defer lc.Close()

	r.setState(StateStandby)
	if err := lc.Acquire(ctx, r.lockKey, r.cfg.LockInterval); err != nil {
		return false, err
	}
	r.logger.Info("relay: holds the lock; publishing")
	r.setState(StateActive)

	err = lc.Hold(ctx, r.cfg.LockInterval, func(ctx context.Context) error {
		var perr error
		progressed, perr = r.publish(ctx, lc)
		return perr
	})
	if ctx.Err() != nil {
		return progressed, nil
	}
	return progressed, err
}

// publish publishes the log from the relay's checkpoint, and the log's
// checkpoints when configured, until ctx ends or something fails; it holds
// the lock on lc meanwhile. progressed reports whether it published
// anything.
func (r *Relay) publish(ctx context.Context, lc *pglock.Session) (progressed bool, err error) {
	activeCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil) // stops the checkpoints' publisher before wg.Wait
	if r.cfg.Checkpoints != nil {
		wg.Go(func() {
			if err := r.followCheckpoints(activeCtx, lc); err != nil && activeCtx.Err() == nil {
				cancel(err)
			}
		})
	}

	pos, err := eventstore.LoadCheckpoint(activeCtx, lc, r.cfg.Name)
	if err != nil {
		return false, err
	}
	before := r.published.Load()
	// The subscription reads the next batch while this goroutine publishes
	// the current one; one batch waits at most. The checkpoint is saved
	// only after a batch was published.
	batches := make(chan []eventstore.RecordedEvent, 1)
	published := make(chan error, 1)
	go func() {
		for events := range batches {
			if err := r.handle(activeCtx, lc, events); err != nil {
				cancel(err)
				published <- err
				return
			}
		}
		published <- nil
	}()
	err = r.log.Subscribe(activeCtx, pos, eventstore.Filter{}, func(ctx context.Context, events []eventstore.RecordedEvent) error {
		select {
		case batches <- events:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(batches)
	if perr := <-published; perr != nil && err == nil {
		err = perr
	}
	progressed = r.published.Load() != before
	if ctx.Err() != nil {
		return progressed, nil
	}
	if cause := context.Cause(activeCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return progressed, cause
	}
	if err == nil {
		err = errors.New("relay: subscription ended")
	}
	return progressed, err
}

// handle publishes a batch of events in order, then saves the checkpoint
// after the last of them on the lock connection: if the lock was lost, the
// save fails and the relay stops. Before each event, it confirms that the
// lock connection is alive: a relay that was stopped for longer than
// pglock.IdleTimeout finds it gone and publishes nothing more (but the one
// event it may have been stopped right before: the relay stays at least
// once).
func (r *Relay) handle(ctx context.Context, lc *pglock.Session, events []eventstore.RecordedEvent) error {
	for _, e := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := lc.Confirm(ctx); err != nil {
			return err
		}
		msg, err := NewMessageFrom(e, r.cfg.Source)
		if err != nil {
			return err
		}
		if err := r.publishTo(ctx, r.pub, r.cfg.Topic(e.StreamType, e.Type), msg, false); err != nil {
			return err
		}
		r.published.Add(1)
	}
	last := events[len(events)-1].Position
	r.update(func(s *Status) {
		s.Position = last.String()
		s.LastPublishedAt = time.Now()
	})
	return eventstore.SaveCheckpoint(ctx, lc, r.cfg.Name, last)
}

// publishTo publishes msg with pub until the broker acknowledges it or ctx
// ends, waiting with capped exponential backoff between attempts. With
// finish, an attempt under way when ctx ends is not aborted but runs to its
// end (PublishTimeout at most), so that a relay being stopped knows whether
// the broker has the message.
func (r *Relay) publishTo(ctx context.Context, pub message.Publisher, topic string, msg *message.Message, finish bool) error {
	base := ctx
	if finish {
		base = context.WithoutCancel(ctx)
	}
	pause := r.backOff()
	for attempt := 1; ; attempt++ {
		m := msg
		if attempt > 1 {
			m = msg.Copy()
		}
		pctx, cancel := context.WithTimeout(base, r.cfg.PublishTimeout)
		m.SetContext(pctx)
		err := pub.Publish(topic, m)
		cancel()
		if err == nil {
			if attempt > 1 {
				r.logger.Info("relay: publishing again after failures", "attempts", attempt)
				r.update(func(s *Status) { s.State, s.LastError = StateActive, "" })
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.failures.Add(1)
		if attempt == 1 || attempt%10 == 0 {
			r.logger.Warn("relay: publish failed; retrying", "message_id", msg.UUID, "topic", topic, "attempt", attempt, "err", err)
		}
		r.update(func(s *Status) { s.State, s.LastError = StateRetrying, err.Error() })
		if !sleep.For(ctx, pause.NextBackOff()) {
			return ctx.Err()
		}
	}
}
