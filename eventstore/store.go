package eventstore

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config tunes a Store. The zero value is usable: New fills in the defaults.
type Config struct {
	// MaxEventSize is the largest Data plus Metadata.Extra of one event, in
	// bytes. Default 1 MiB.
	MaxEventSize int
	// Writers is the number of goroutines that commit appends. Concurrent
	// appends are gathered into one transaction per writer (group commit),
	// with every stream's expected version still checked exactly. Two
	// writers keep one batch in PostgreSQL while the next is gathered and
	// sent, which matters most where cores are slow or busy; batches of
	// two writers never share a stream. Default 2.
	Writers int
	// MaxBatchEvents caps the events one group-commit transaction carries.
	// Default 1000.
	MaxBatchEvents int
	// Linger is how long, at most, a writer waits for its batch to grow
	// while another writer's batch is in PostgreSQL: it waits until its
	// batch is as large as the one in flight. Without it the second writer
	// sends the few appends that came in first and the writers take turns
	// with small batches, each paying a transaction and a WAL flush. When
	// no other batch is in flight a writer never waits. Default 200µs; a
	// negative value turns waiting off.
	Linger time.Duration
	// PollInterval is how often a subscriber reads the log when nothing woke
	// it. Subscribers are normally woken at once by appends in this process
	// and, through LISTEN/NOTIFY, in other processes. Default 500ms.
	PollInterval time.Duration
	// Upcasters maps old event schema versions to current ones on read.
	Upcasters *Upcasters
	// Logger receives the store's own warnings (lost connections, retries).
	// Default slog.Default().
	Logger *slog.Logger
	// ObserveAppend, when set, is called with the duration of every
	// successful Append, for metrics. It must be quick.
	ObserveAppend func(time.Duration)
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxEventSize < 0:
		return errors.New("eventstore: MaxEventSize must not be negative")
	case c.Writers < 0:
		return errors.New("eventstore: Writers must not be negative")
	case c.MaxBatchEvents < 0:
		return errors.New("eventstore: MaxBatchEvents must not be negative")
	case c.PollInterval < 0:
		return errors.New("eventstore: PollInterval must not be negative")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.MaxEventSize == 0 {
		c.MaxEventSize = 1 << 20
	}
	if c.Writers == 0 {
		c.Writers = 2
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = 1000
	}
	if c.Linger == 0 {
		c.Linger = 200 * time.Microsecond
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.Upcasters == nil {
		c.Upcasters = NewUpcasters()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Store is the event log in one PostgreSQL database. It is safe for
// concurrent use; Close stops its background goroutines.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
	log  *slog.Logger

	requests chan *appendRequest
	heads    headCache
	busy     *busyStreams
	quit     chan struct{}
	wg       sync.WaitGroup
	closeMu  sync.Once
	stopped  chan struct{} // closed when Close has stopped every goroutine
	stopOnce sync.Once

	appended  *signal      // broadcast after every commit and every NOTIFY
	committed atomic.Int64 // the newest transaction known to have committed events

	lastMu       sync.Mutex
	lastAppended Position      // the position of the last event this store appended
	notify       chan struct{} // one pending NOTIFY for other processes
	listenMu     sync.Once
}

// New returns a Store over pool, with the schema of package migrations
// already applied, and starts its writers.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Store{
		pool:     pool,
		cfg:      cfg,
		log:      cfg.Logger,
		requests: make(chan *appendRequest, queuedRequests),
		busy:     newBusyStreams(),
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
		appended: newSignal(),
		notify:   make(chan struct{}, 1),
	}
	for range cfg.Writers {
		s.wg.Go(s.writeLoop)
	}
	s.wg.Go(s.notifyLoop)
	return s, nil
}

// Close stops the store's goroutines. Appends in flight finish first; an
// append still waiting in the queue, and every later call, returns
// ErrClosed, with nothing recorded. It does not close the pool.
func (s *Store) Close() {
	s.closeMu.Do(func() { close(s.quit) })
	s.wg.Wait()
	s.stopOnce.Do(func() { close(s.stopped) })
}

// Pool returns the connection pool the store works on, for consumers that
// write their own tables in the same transaction as a checkpoint.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// LastAppended returns the position of the last event this store appended
// (the start of the log when none). A reader that waits until its read models
// reach it sees every write this process answered before.
func (s *Store) LastAppended() Position {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	return s.lastAppended
}

func (s *Store) noteAppended(p Position) {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	if p.Compare(s.lastAppended) > 0 {
		s.lastAppended = p
	}
}

// signal wakes every goroutine waiting on it, however often it fires.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel that is closed at the next broadcast.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
