package transparency

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newStore returns a store on a fresh database.
func newStore(t testing.TB) *eventstore.Store {
	t.Helper()
	return storeOn(t, pgtest.NewDatabase(t))
}

// storeOn returns a store on the database at url, as another process would
// open it.
func storeOn(t testing.TB, url string) *eventstore.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := eventstore.New(pool, eventstore.Config{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return store
}

// appendN appends n events to stream, in appends of up to per events. It
// may run on any goroutine: a failure is reported with Error.
func appendN(t testing.TB, ctx context.Context, store *eventstore.Store, stream string, n, per int) {
	t.Helper()
	for done := 0; done < n; {
		k := min(per, n-done)
		events := make([]eventstore.Event, k)
		for i := range events {
			events[i] = eventstore.Event{Type: "RiskUpdated", Data: json.RawMessage(fmt.Sprintf(`{"n": %d}`, done+i))}
		}
		if _, err := store.Append(ctx, eventstore.StreamAppend{StreamID: stream, StreamType: "risk", Expected: eventstore.Any, Events: events}); err != nil {
			t.Error(err)
			return
		}
		done += k
	}
}

// runIntegrator runs an integrator on store until the test ends or the
// returned cancel is called.
func runIntegrator(t testing.TB, store *eventstore.Store, cfg IntegratorConfig) (*Integrator, context.CancelFunc) {
	t.Helper()
	cfg.Store = store
	if cfg.LockRetryInterval == 0 {
		cfg.LockRetryInterval = 20 * time.Millisecond
	}
	if cfg.LockCheckInterval == 0 {
		cfg.LockCheckInterval = 50 * time.Millisecond
	}
	in, err := NewIntegrator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := in.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("integrator: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return in, stop
}

// waitIntegrated waits until the stored tree holds every event of the log.
func waitIntegrated(t testing.TB, ctx context.Context, pool *pgxpool.Pool) uint64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := WaitSize(wctx, pool, uint64(n), 5*time.Millisecond); err != nil {
		t.Fatalf("the tree did not reach %d leaves: %v", n, err)
	}
	return uint64(n)
}

// allLeaves reads the log in global order and returns every leaf hash.
func allLeaves(t testing.TB, ctx context.Context, store *eventstore.Store) [][]byte {
	t.Helper()
	var leaves [][]byte
	var pos eventstore.Position
	for {
		events, err := store.ReadAll(ctx, pos, 5000, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range events {
			leaves = append(leaves, LeafHash(EntryOf(uint64(len(leaves)), &events[i]).Encode()))
		}
		if len(events) < 5000 {
			return leaves
		}
		pos = events[len(events)-1].Position
	}
}

// mth is the Merkle tree hash of RFC 6962 section 2.1, written out from the
// RFC independently of the libraries: the largest power of two smaller than
// n splits the leaves.
func mth(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		h := sha256.New()
		h.Write([]byte{1})
		h.Write(mth(leaves[:k]))
		h.Write(mth(leaves[k:]))
		return h.Sum(nil)
	}
}

var (
	zeroPos     eventstore.Position
	eventFilter eventstore.Filter
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
