package transparency

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/benchstat"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// Benchmarks of the Merkle log; see docs/benchmarks.md for the command and
// the results. Each compares with a baseline measured in the same run.

var (
	benchEvents = flag.Int("bench-log-events", 1_000_000, "events in the log of BenchmarkLog")
	benchRounds = flag.Int("bench-rounds", 6, "alternating rounds of BenchmarkAppendSingleIntegrated")
	benchParts  = flag.String("bench-log-parts", "integrate,proofs,verify", "the parts of BenchmarkLog to measure (the log is integrated once, unmeasured, when integrate is left out)")
)

var benchData = json.RawMessage(`{"title": "Supply chain disruption", "description": "Loss of a key supplier delays customs systems", "category": "Operational", "source": "Audit Plan 2021", "owner": "Director of Finance"}`)

func benchStore(b *testing.B, conns int32) *eventstore.Store {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	store, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	return store
}

// appendSingles appends n single-event appends to new streams from 32
// callers and returns the rate in events per second.
func appendSingles(b *testing.B, store *eventstore.Store, n int) float64 {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				_, err := store.Append(ctx, eventstore.StreamAppend{StreamID: "risk-" + uuid.NewString(), StreamType: "risk",
					Expected: eventstore.NoStream, Events: []eventstore.Event{{Type: "RiskRegistered", Data: benchData}}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkAppendSingleIntegrated runs AppendSingle (single-event appends
// to new streams, 32 callers) with the integrator and checkpoint signing
// (every 100 ms) running, in rounds alternating with the same workload
// without them, on two databases of the same server.
func BenchmarkAppendSingleIntegrated(b *testing.B) {
	with, without := benchStore(b, 40), benchStore(b, 40)
	key, _ := testKey(b)
	in, err := NewIntegrator(IntegratorConfig{Store: with, Key: key, CheckpointInterval: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	defer func() { cancel(); <-done }()
	const perRound = 3000
	for b.Loop() {
		var a, base []float64
		for r := range *benchRounds {
			if r%2 == 0 {
				a = append(a, appendSingles(b, with, perRound))
				base = append(base, appendSingles(b, without, perRound))
			} else {
				base = append(base, appendSingles(b, without, perRound))
				a = append(a, appendSingles(b, with, perRound))
			}
		}
		b.ReportMetric(benchstat.Mean(a), "integrated-events/s")
		b.ReportMetric(benchstat.Mean(base), "plain-events/s")
		b.ReportMetric(benchstat.MedianRatio(a, base), "ratio")
	}
	var size int64
	if err := with.Pool().QueryRow(ctx, "SELECT size FROM log_tree").Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("tree of %d leaves integrated while appending", size)
}

// BenchmarkLog writes a log of -bench-log-events events once, then
// measures: the integrator's rate over the written log against ReadAll of
// the same log; eventInclusion and logConsistency latencies (p50, p99);
// and audit verify of a bundle of the whole log against sha256sum of the
// same file.
func BenchmarkLog(b *testing.B) {
	ctx := context.Background()
	store := benchStore(b, 8)
	n := *benchEvents
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i*1000 >= int64(n) {
					return
				}
				events := make([]eventstore.Event, min(1000, n-int(i)*1000))
				for j := range events {
					events[j] = eventstore.Event{Type: "RiskUpdated", Data: benchData}
				}
				if _, err := store.Append(ctx, eventstore.StreamAppend{StreamID: fmt.Sprintf("risk-%d", i), StreamType: "risk",
					Expected: eventstore.NoStream, Events: events}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Logf("wrote %d events in %v", n, time.Since(start).Round(time.Millisecond))
	pool := store.Pool()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	key, v := testKey(b)
	parts := strings.Split(*benchParts, ",")
	for b.Loop() {
		// Integration against ReadAll, alternating, three rounds each.
		var integ, read []float64
		rounds := 3
		if !slices.Contains(parts, "integrate") {
			rounds = 1
		}
		for r := range rounds {
			measureRead := func() {
				t0 := time.Now()
				var pos eventstore.Position
				count := 0
				for {
					events, err := store.ReadAll(ctx, pos, 10_000, eventstore.Filter{})
					if err != nil {
						b.Fatal(err)
					}
					count += len(events)
					if len(events) < 10_000 {
						break
					}
					pos = events[len(events)-1].Position
				}
				read = append(read, float64(count)/time.Since(t0).Seconds())
			}
			measureIntegrate := func() {
				if _, err := pool.Exec(ctx, `DELETE FROM log_tiles; UPDATE log_tree SET size = 0, root = sha256(''::bytea);
					DELETE FROM checkpoints WHERE name = 'transparency:log'`); err != nil {
					b.Fatal(err)
				}
				in, err := NewIntegrator(IntegratorConfig{Store: store, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				ictx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); _ = in.Run(ictx) }()
				if err := WaitSize(ctx, pool, uint64(n), 2*time.Millisecond); err != nil {
					b.Fatal(err)
				}
				integ = append(integ, float64(n)/time.Since(t0).Seconds())
				cancel()
				<-done
			}
			if r%2 == 0 {
				measureIntegrate()
				measureRead()
			} else {
				measureRead()
				measureIntegrate()
			}
		}
		if rounds > 1 {
			b.ReportMetric(benchstat.Mean(integ), "integrated-events/s")
			b.ReportMetric(benchstat.Mean(read), "readall-events/s")
			b.ReportMetric(benchstat.MedianRatio(integ, read), "integrate/readall")
		}

		// Proofs over the whole log, as the API asks for them.
		if _, _, err := SignLatest(ctx, pool, key, ""); err != nil {
			b.Fatal(err)
		}
		if slices.Contains(parts, "proofs") {
			measureProofs(b, store, n)
		}
		if slices.Contains(parts, "verify") {
			measureBundleVerify(b, store, v)
		}
	}
}

// measureProofs measures EventInclusion and Consistency latencies over
// the log of n events of store.
func measureProofs(b *testing.B, store *eventstore.Store, n int) {
	b.Helper()
	ctx := context.Background()
	pool := store.Pool()
	l := NewLog(store)
	var ids []uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT array_agg(event_id) FROM (SELECT event_id FROM events TABLESAMPLE SYSTEM (1) LIMIT 1000) s`).Scan(&ids); err != nil {
		b.Fatal(err)
	}
	var incl, cons []time.Duration
	for _, id := range ids {
		t0 := time.Now()
		if _, _, err := l.EventInclusion(ctx, id, 0); err != nil {
			b.Fatal(err)
		}
		incl = append(incl, time.Since(t0))
		t0 = time.Now()
		if _, err := l.Consistency(ctx, uint64(rand.IntN(n)+1), 0); err != nil {
			b.Fatal(err)
		}
		cons = append(cons, time.Since(t0))
	}
	b.ReportMetric(pct(incl, 50), "inclusion-p50-ms")
	b.ReportMetric(pct(incl, 99), "inclusion-p99-ms")
	b.ReportMetric(pct(cons, 50), "consistency-p50-ms")
	b.ReportMetric(pct(cons, 99), "consistency-p99-ms")
}

// measureBundleVerify measures audit verify of a bundle of the whole log
// against sha256sum.
func measureBundleVerify(b *testing.B, store *eventstore.Store, v note.Verifier) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bundle.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ExportBundle(ctx, store, f, ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	verifyAgainstSHA256Sum(b, path, v)
}

// verifyAgainstSHA256Sum measures VerifyBundle of the bundle at path
// against sha256sum of the same file, alternating, 3 rounds each.
func verifyAgainstSHA256Sum(b *testing.B, path string, v note.Verifier) {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var ver, sum []float64
	for r := range 3 {
		measureVerify := func() {
			t0 := time.Now()
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			_, problems, err := VerifyBundle(f, v, nil)
			f.Close()
			if err != nil || len(problems) > 0 {
				b.Fatalf("verify: %v %v", problems, err)
			}
			ver = append(ver, float64(fi.Size())/time.Since(t0).Seconds()/1e6)
		}
		measureSum := func() {
			t0 := time.Now()
			if _, err := exec.LookPath("sha256sum"); err == nil {
				if out, err := exec.Command("sha256sum", path).CombinedOutput(); err != nil {
					b.Fatalf("sha256sum: %v %s", err, out)
				}
			} else {
				f, _ := os.Open(path)
				h := sha256.New()
				_, _ = io.Copy(h, f)
				f.Close()
			}
			sum = append(sum, float64(fi.Size())/time.Since(t0).Seconds()/1e6)
		}
		if r%2 == 0 {
			measureVerify()
			measureSum()
		} else {
			measureSum()
			measureVerify()
		}
	}
	b.ReportMetric(float64(fi.Size())/1e6, "bundle-MB")
	b.ReportMetric(benchstat.Mean(ver), "verify-MB/s")
	b.ReportMetric(benchstat.Mean(sum), "sha256sum-MB/s")
	b.ReportMetric(benchstat.MedianRatio(ver, sum), "verify/sha256sum")
}

// BenchmarkVerifyBundle measures audit verify of a bundle of
// -bench-log-events events like BenchmarkLog's (written in memory, with no
// database) against sha256sum of the same file.
func BenchmarkVerifyBundle(b *testing.B) {
	key, v := testKey(b)
	events := make([]eventstore.RecordedEvent, *benchEvents)
	recorded := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range events {
		e := &events[i]
		e.ID, e.StreamID, e.StreamType, e.Version = uuid.New(), fmt.Sprintf("risk-%d", i/1000), "risk", int64(i%1000+1)
		e.Type, e.SchemaVersion, e.Data = "RiskUpdated", 1, json.RawMessage(`{"owner": "Director of Finance", "title": "Supply chain disruption", "source": "Audit Plan 2021", "category": "Operational", "description": "Loss of a key supplier delays customs systems"}`)
		e.Metadata.Extra = json.RawMessage(`{}`)
		e.OccurredAt = recorded.Add(time.Duration(i) * 1234 * time.Nanosecond)
		e.RecordedAt = recorded.Add(time.Duration(i) * 1235 * time.Microsecond / 1000)
		e.RecordedAt = e.RecordedAt.Truncate(time.Microsecond)
		e.PrevHash = make([]byte, 32)
		if e.Version > 1 {
			e.PrevHash = events[i-1].Hash
		}
		h, err := eventstore.ChainHash(*e)
		if err != nil {
			b.Fatal(err)
		}
		e.Hash = h
	}
	path := filepath.Join(b.TempDir(), "bundle.jsonl")
	if err := os.WriteFile(path, bundleOf(b, key, events), 0o600); err != nil {
		b.Fatal(err)
	}
	events = nil
	for b.Loop() {
		verifyAgainstSHA256Sum(b, path, v)
	}
}

// pct returns the p-th percentile of ds in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return float64(s[max(i, 0)].Microseconds()) / 1000
}
