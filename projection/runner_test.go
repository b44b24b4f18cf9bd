package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// A random workload, applied by a runner that is stopped at random moments
// (mid-batch, mid-transaction) and restarted, ends with read models equal to
// a fold of the log from scratch: no event applied twice or skipped. (The
// projections check every event's stream version, so applying one twice or
// skipping one would also stop them with an error.)
func TestRestartMidStream(t *testing.T) {
	e := newEnv(t)
	e.work.V1Assessments = true
	e.steps(300)
	cfg := runnerConfig(e.store)
	cfg.BatchSize = 17
	rng := rand.New(rand.NewPCG(1, 2))
	var applied atomic.Int64
	cfg.OnApplied = func(name string, events []eventstore.RecordedEvent) {
		if name == projection.NameRisks {
			applied.Add(int64(len(events)))
		}
	}
	for round := range 12 {
		stop := start(t, cfg)
		if round%3 == 0 {
			e.steps(20) // the log grows while the runner runs
		}
		if round == 0 {
			// However slow the machine, at least one run stops after it
			// has committed something.
			waitFor(t, "the first batch", func() bool { return applied.Load() > 0 })
		}
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		stop()
	}
	if applied.Load() == 0 {
		t.Fatal("the runners applied nothing before they were stopped")
	}
	start(t, cfg)
	e.waitCaughtUp()
	e.assertFoldEqual()

	var total int64
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if applied.Load() != total {
		t.Errorf("the risks projection committed %d events over all its runs; the log holds %d", applied.Load(), total)
	}
	statuses, err := e.reader.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.State != projection.StateLive || s.LagEvents != 0 || s.Lag != 0 || s.Position != e.last || s.Failures != 0 {
			t.Errorf("status %+v, want live at %s without lag", s, e.last)
		}
	}
}

// Two runners, as in two processes, share the projections: one applies, the
// other waits; when the first one's lock session dies, the second takes over
// from its checkpoint.
func TestLockHandOver(t *testing.T) {
	e := newEnv(t)
	e.steps(40)
	_, storeB := openStore(t, e.url)
	cfgA, cfgB := runnerConfig(e.store), runnerConfig(storeB)
	cfgA.Holder, cfgB.Holder = "process-a", "process-b"
	var mu sync.Mutex
	appliedBy := make(map[string]map[uuid.UUID]string) // projection -> event -> holder
	record := func(holder string) func(string, []eventstore.RecordedEvent) {
		return func(name string, events []eventstore.RecordedEvent) {
			mu.Lock()
			defer mu.Unlock()
			if appliedBy[name] == nil {
				appliedBy[name] = make(map[uuid.UUID]string)
			}
			for _, ev := range events {
				if prev, ok := appliedBy[name][ev.ID]; ok {
					t.Errorf("%s applied event %s, which %s applied already", holder, ev.ID, prev)
				}
				appliedBy[name][ev.ID] = holder
			}
		}
	}
	cfgA.OnApplied, cfgB.OnApplied = record("process-a"), record("process-b")

	stopA := start(t, cfgA)
	e.waitCaughtUp()
	start(t, cfgB)
	e.steps(40)
	e.waitCaughtUp()
	time.Sleep(100 * time.Millisecond) // B had many chances to take the lock
	assertHolders(t, e, "process-a")
	mu.Lock()
	for name, events := range appliedBy {
		for id, holder := range events {
			if holder != "process-a" {
				t.Errorf("%s: event %s applied by %s while process-a held the lock", name, id, holder)
			}
		}
	}
	mu.Unlock()

	// Process A dies: PostgreSQL ends its sessions, and B takes over from
	// the checkpoints. (A may still commit a batch it was writing: the
	// checkpoint check of B's first batch keeps it from being applied twice.)
	killLockSessions(t, e)
	stopA()
	e.steps(40)
	e.waitCaughtUp()
	assertHolders(t, e, "process-b")
	e.assertFoldEqual()

	var total int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&total); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{projection.NameRisks, projection.NameResponses, projection.NameDecisions} {
		byB := 0
		for _, holder := range appliedBy[name] {
			if holder == "process-b" {
				byB++
			}
		}
		if len(appliedBy[name]) != total || byB == 0 {
			t.Errorf("%s: %d events applied (%d by process-b), the log holds %d", name, len(appliedBy[name]), byB, total)
		}
	}
}

// assertHolders checks that holder's runners hold every built-in projection.
func assertHolders(t *testing.T, e *env, holder string) {
	t.Helper()
	statuses, err := e.reader.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.Holder != holder || s.State != projection.StateLive {
			t.Errorf("%s: held by %q in state %s, want %q live", s.Name, s.Holder, s.State, holder)
		}
	}
}

// killLockSessions terminates the sessions that hold projection locks, as a
// lost connection would end them. (Waiting runners hold none.)
func killLockSessions(t *testing.T, e *env) {
	t.Helper()
	var killed int
	err := e.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.pid IN (SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'riskreg projections %')`).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(projection.Builtin()); killed != want {
		t.Fatalf("terminated %d lock sessions, want %d", killed, want)
	}
}

// poisoned is the risks projection with a handler that fails on events of
// type Poisoned until it is cured.
type poisoned struct {
	projection.Projection
	cured    atomic.Bool
	attempts atomic.Int64
	seen     atomic.Int64 // Poisoned events applied after the cure
}

func (p *poisoned) Prepare(ctx context.Context, q projection.Querier, gen int64, events []eventstore.RecordedEvent) (projection.Changes, error) {
	for _, e := range events {
		if e.Type != "Poisoned" {
			continue
		}
		if !p.cured.Load() {
			p.attempts.Add(1)
			return nil, projection.NewEventError(e, errors.New("cannot digest this"))
		}
		p.seen.Add(1)
	}
	return p.Projection.Prepare(ctx, q, gen, events)
}

// A projection that cannot apply an event stops right before it, records
// the error and the position in its status, retries with backoff, and after
// the cure applies that event and the ones after it, skipping none.
func TestFailingEventStopsAndRetries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.steps(30)
	before := e.last
	res, err := e.store.Append(ctx, eventstore.StreamAppend{StreamID: "poison-1", StreamType: "poison", Expected: eventstore.NoStream,
		Events: []eventstore.Event{{Type: "Poisoned", Data: json.RawMessage(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	poison := res.Last()
	risk, err := e.work.Register(ctx, "Registered after the poison", "It must not be skipped", "Financial", "Head of IT")
	if err != nil {
		t.Fatal(err)
	}

	p := &poisoned{Projection: projection.Risks()}
	cfg := runnerConfig(e.store)
	cfg.Projections = []projection.Projection{p}
	cfg.BatchSize = 1000 // the poison is in the middle of the first batch
	start(t, cfg)

	status := waitForStatus(t, e, projection.NameRisks, func(s projection.Status) bool {
		return s.State == projection.StateFailing && s.Failures >= 3
	})
	if status.ErrorPosition != poison.Position || status.Position != before || status.LagEvents != 2 ||
		status.ErrorAt.IsZero() || !strings.Contains(status.LastError, "cannot digest this") || !strings.Contains(status.LastError, poison.ID.String()) {
		t.Errorf("status of the failing projection: %+v; want stopped at %s after %s with the error", status, poison.Position, before)
	}
	if _, ok, err := e.reader.Risk(ctx, risk); ok || err != nil {
		t.Errorf("the risk registered after the poison is in the read model (%v, %v) while the poison blocks", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := e.reader.WaitFor(short, e.last, projection.NameRisks); !errors.Is(err, projection.ErrFailing) ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor past the poison = %v, want ErrFailing and the deadline", err)
	}
	tries := p.attempts.Load()
	time.Sleep(150 * time.Millisecond)
	if p.attempts.Load() <= tries {
		t.Error("the failing event is not retried")
	}

	p.cured.Store(true)
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.reader.WaitFor(waitCtx, e.last, projection.NameRisks); err != nil {
		t.Fatal(err)
	}
	if p.seen.Load() != 1 {
		t.Errorf("the poisoned event went through %d times after the cure, want once", p.seen.Load())
	}
	if _, ok, err := e.reader.Risk(ctx, risk); !ok || err != nil {
		t.Errorf("the risk registered after the poison is missing (%v, %v)", ok, err)
	}
	status = waitForStatus(t, e, projection.NameRisks, func(s projection.Status) bool { return s.State == projection.StateLive })
	if status.Failures != 0 || status.ErrorPosition != poison.Position || status.Position != e.last {
		t.Errorf("status after the cure: %+v", status)
	}
}

// The built-in projections refuse an event they do not know on a stream
// they keep, rather than leave it out of the register.
func TestUnknownEventOnRiskStreamStops(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.work.Register(ctx, "A risk", "Its stream gets an event of a later version of riskreg", "Financial", "Head of IT")
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.store.Append(ctx, eventstore.StreamAppend{StreamID: id, StreamType: "risk", Expected: eventstore.Exact(1),
		Events: []eventstore.Event{{Type: "RiskReopened", Data: json.RawMessage(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, runnerConfig(e.store))
	status := waitForStatus(t, e, projection.NameRisks, func(s projection.Status) bool { return s.State == projection.StateFailing })
	if status.ErrorPosition != res.Last().Position || !strings.Contains(status.LastError, "unknown event type") {
		t.Errorf("status: %+v", status)
	}
	// The other projections do not keep risk streams and go on.
	if err := e.reader.WaitFor(ctx, res.Last().Position, projection.NameResponses, projection.NameDecisions); err != nil {
		t.Error(err)
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// waitForStatus polls a projection's status until ok accepts it.
func waitForStatus(t *testing.T, e *env, name string, ok func(projection.Status) bool) projection.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		statuses, err := projection.ReadStatus(context.Background(), e.pool, name)
		if err != nil {
			t.Fatal(err)
		}
		if ok(statuses[0]) {
			return statuses[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s never became what the test waits for: %+v", name, statuses[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Read-your-writes: a query after WaitFor(position of my append) sees my
// write; without a runner, WaitFor waits until its context ends.
func TestWaitForAndStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.steps(20)
	statuses, err := e.reader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&total); err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.State != projection.StateStopped || s.LagEvents != total || s.Lag <= 0 || !s.Position.IsZero() || s.Generation != 1 {
			t.Errorf("status before any runner ran: %+v; want stopped, %d events behind", s, total)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := e.reader.WaitFor(short, e.last); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor with no runner = %v, want the context's deadline", err)
	}

	start(t, runnerConfig(e.store))
	for range 20 {
		id, err := e.work.Register(ctx, "Mine", "Read your writes", "Financial", "Head of IT")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.reader.WaitFor(ctx, e.last); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e.reader.Risk(ctx, id); !ok || err != nil {
			t.Fatalf("risk %s not readable after WaitFor(%s): %v", id, e.last, err)
		}
	}
	statuses, err = e.reader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.State != projection.StateLive || s.LagEvents != 0 || s.Position != e.last || s.LastError != "" {
			t.Errorf("status after catching up: %+v", s)
		}
	}
	if _, err := projection.ReadStatus(ctx, e.pool, "nope"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Errorf("ReadStatus(nope) = %v, want ErrUnknownProjection", err)
	}
}

func TestConfigValidate(t *testing.T) {
	e := newEnv(t)
	for _, cfg := range []projection.Config{
		{},
		{Store: e.store, BatchSize: -1},
		{Store: e.store, MinRetryDelay: time.Second, MaxRetryDelay: time.Millisecond},
		{Store: e.store, Projections: []projection.Projection{projection.Risks(), projection.Risks()}},
	} {
		if _, err := projection.NewRunner(cfg); err == nil {
			t.Errorf("NewRunner(%+v) accepted an impossible configuration", cfg)
		}
	}
	if _, err := projection.Rebuild(context.Background(), projection.RebuildConfig{Store: e.store}); err == nil {
		t.Error("Rebuild with no projection did not fail")
	}
}
