// Package regtest gives a test a whole register in a fresh database: the
// event store, the projections running, a reader, the command service and a
// clock the test moves by hand.
package regtest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// Clock is a clock that stands still until the test moves it. It is safe
// for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Env is a register in a database of its own.
type Env struct {
	T        testing.TB
	URL      string
	Pool     *pgxpool.Pool
	Store    *eventstore.Store
	Reader   *projection.Reader
	Register *register.Service
	Clock    *Clock
}

// Start is the clock's time when an Env starts: 2026-01-05 09:00 UTC.
var Start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// New returns an Env on a fresh migrated database, with the built-in
// projections running until the test ends. Without a database the test is
// skipped (see pgtest).
func New(t testing.TB) *Env {
	t.Helper()
	return OnDatabase(t, pgtest.NewDatabase(t))
}

// OnDatabase returns an Env on the migrated database at url, which may hold
// a log already (a benchmark's, written in bulk), with the built-in
// projections running from their checkpoints until the test ends.
func OnDatabase(t testing.TB, url string) *Env {
	t.Helper()
	e := &Env{T: t, URL: url, Clock: NewClock(Start)}
	e.Pool, e.Store = Open(t, url)
	e.Reader = projection.NewReader(e.Store)
	e.Register = register.New(e.Store, e.Clock.Now)
	r, err := projection.NewRunner(projection.Config{Store: e.Store, LockRetryInterval: 20 * time.Millisecond,
		LockCheckInterval: 50 * time.Millisecond, MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond,
		Logger: Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projection runner: %v", err)
		}
	})
	return e
}

// Open opens a pool and an event store on url, as one process would.
func Open(t testing.TB, url string) (*pgxpool.Pool, *eventstore.Store) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 12
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := app.NewStore(pool, eventstore.Config{PollInterval: 50 * time.Millisecond,
		Logger: Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		pool.Close()
	})
	return pool, store
}

// Logger discards everything.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Staff is a request of a staff member.
func Staff(key string) register.Request {
	return register.Request{Principal: domain.Principal{Subject: "sam", Roles: []domain.Role{domain.RoleStaff}}, IdempotencyKey: key}
}

// Clerk is a request of the clerk of body.
func Clerk(body domain.Body) register.Request {
	roles := map[domain.Body]domain.Role{domain.BodyAuditCommittee: domain.RoleAuditCommittee,
		domain.BodyPolicyCommission: domain.RolePolicyCommission, domain.BodyCouncil: domain.RoleCouncil}
	return register.Request{Principal: domain.Principal{Subject: "clerk", Roles: []domain.Role{roles[body]}}}
}

// CaughtUp waits until the projections applied this process's writes.
func (e *Env) CaughtUp() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Reader.WaitFor(ctx, e.Store.LastAppended()); err != nil {
		e.T.Fatal(err)
	}
}

// Risk registers a risk and assesses its inherent rating; it returns the
// risk as the register left it.
func (e *Env) Risk(title string, likelihood, impact int) register.Risk {
	e.T.Helper()
	ctx := context.Background()
	r, err := e.Register.RegisterRisk(ctx, Staff(""), domain.RiskDetails{Title: title,
		Description: "cause -> event -> consequence", Category: "Operational", Source: "Audit Plan 2026", Owner: "Director"})
	if err != nil {
		e.T.Fatal(err)
	}
	r, err = e.Register.AssessRisk(ctx, Staff(""), r.ID(), r.Version(), domain.RatingKindInherent, likelihood, impact, "initial")
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}
