package projection_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/benchstat"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/workload"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// Benchmarks: see docs/benchmarks.md for the command and the results. They
// report rates and latencies as metrics; ns/op means nothing here.

var (
	benchEvents = flag.Int("bench-events", 1_000_000, "events in the log for BenchmarkRebuild")
	benchBatch  = flag.Int("bench-batch", 10_000, "RebuildConfig.BatchSize for BenchmarkRebuild")
	benchOnly   = flag.String("bench-projections", "", "comma-separated projections BenchmarkRebuild rebuilds (default: every built-in one); "+
		"several such lists, separated by semicolons, are rebuilt one after the other from the same log (the ratio is the first's)")
	benchBound      = flag.Bool("bench-bound", false, "BenchmarkRebuild also times PostgreSQL copying the rebuilt rows into tables of the same indexes")
	benchLagSeconds = flag.Int("bench-lag-seconds", 10, "how long BenchmarkLiveLag appends")
	benchLagRate    = flag.Int("bench-lag-rate", 1000, "appends per second in BenchmarkLiveLag")
)

// benchStore opens a pool of conns connections and a store on a fresh
// database.
func benchStore(b *testing.B, conns int32) (*pgxpool.Pool, *eventstore.Store) {
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
	store, err := eventstore.New(pool, eventstore.Config{Upcasters: register.Upcasters(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	return pool, store
}

// bulkSink writes a workload's events straight into the events table with
// COPY, many per transaction. The events are valid domain events in valid
// stream order; their hashes are placeholders (nothing verifies them here).
type bulkSink struct {
	pool *pgxpool.Pool
	rows [][]any
	n    int
}

var bulkColumns = []string{"event_id", "stream_id", "stream_type", "version", "type", "schema_version", "data",
	"actor", "correlation_id", "causation_id", "decision_id", "occurred_at", "prev_hash", "hash"}

func (s *bulkSink) write(ctx context.Context, writes []workload.Write) error {
	hash := make([]byte, 32)
	now := time.Now()
	for _, w := range writes {
		for i := range w.Events {
			ev := w.Event(i)
			id := ev.ID
			if id == uuid.Nil {
				id = uuid.New()
			}
			m := ev.Metadata
			s.rows = append(s.rows, []any{pgtype.UUID{Bytes: id, Valid: true}, w.StreamID, w.StreamType, int64(w.Version + i + 1), ev.Type,
				int32(ev.SchemaVersion), []byte(ev.Data), m.Actor, orNil(m.CorrelationID), orNil(m.CausationID),
				orNil(m.DecisionID), now, hash, hash})
			s.n++
		}
	}
	if len(s.rows) >= 50_000 {
		return s.flush(ctx)
	}
	return nil
}

func (s *bulkSink) flush(ctx context.Context) error {
	if len(s.rows) == 0 {
		return nil
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"events"}, bulkColumns, pgx.CopyFromRows(s.rows))
	s.rows = s.rows[:0]
	return err
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// fillLog writes n events of a random register workload into the log.
func fillLog(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	sink := &bulkSink{pool: pool}
	w := workload.New(42, sink.write)
	for sink.n < n {
		if err := w.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := sink.flush(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	b.Logf("log: %d events: %d risks, %d responses, %d decisions", sink.n, len(w.Risks()), len(w.Responses()), len(w.Decisions()))
}

// BenchmarkRebuild compares a rebuild of every projection from the whole log
// with a raw COPY of the events table to nowhere, in the same iteration.
func BenchmarkRebuild(b *testing.B) {
	pool, store := benchStore(b, 16)
	fillLog(b, pool, *benchEvents)
	ctx := context.Background()
	// As riskreg replay does (the rebuild holds read models in memory).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	var copyRates, rebuildRates []float64
	for b.Loop() {
		start := time.Now()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (SELECT event_id, tx_id, seq, stream_id, stream_type,
			version, type, schema_version, data, metadata, actor, correlation_id, causation_id, decision_id, request_id,
			occurred_at, recorded_at, prev_hash, hash FROM events ORDER BY tx_id, seq) TO STDOUT`)
		conn.Release()
		if err != nil {
			b.Fatal(err)
		}
		copyRates = append(copyRates, float64(tag.RowsAffected())/time.Since(start).Seconds())

		for i, ps := range benchProjections(b) {
			cpu := readCPU()
			res, err := projection.Rebuild(ctx, projection.RebuildConfig{Store: store, Projections: ps,
				BatchSize: *benchBatch, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			used := readCPU().sub(cpu)
			if res.Events < int64(*benchEvents) {
				b.Fatalf("rebuilt from %d events, want %d", res.Events, *benchEvents)
			}
			rate := float64(res.Events) / res.Elapsed.Seconds()
			if i == 0 {
				rebuildRates = append(rebuildRates, rate)
			}
			names := make([]string, len(ps))
			for j, p := range ps {
				names[j] = p.Name()
			}
			b.Logf("copy %.0f events/s, rebuild of %s %.0f events/s (%s, %.3fx); CPU: this process %s, PostgreSQL %s",
				copyRates[len(copyRates)-1], strings.Join(names, "+"), rate, res.Elapsed.Round(time.Millisecond),
				rate/copyRates[len(copyRates)-1], used.self.Round(time.Millisecond), used.postgres.Round(time.Millisecond))
		}
		if *benchBound {
			copyBound(b, pool)
		}
	}
	c, r := benchstat.Mean(copyRates), benchstat.Mean(rebuildRates)
	b.ReportMetric(c, "copy-events/s")
	b.ReportMetric(r, "rebuild-events/s")
	b.ReportMetric(r/c, "ratio")
	b.ReportMetric(0, "ns/op")
}

// benchProjections returns the sets of projections -bench-projections
// names, each to rebuild together.
func benchProjections(b *testing.B) [][]projection.Projection {
	if *benchOnly == "" {
		return [][]projection.Projection{projection.Builtin()}
	}
	var sets [][]projection.Projection
	for set := range strings.SplitSeq(*benchOnly, ";") {
		var ps []projection.Projection
		for name := range strings.SplitSeq(set, ",") {
			p, err := projection.Lookup(name)
			if err != nil {
				b.Fatal(err)
			}
			ps = append(ps, p)
		}
		sets = append(sets, ps)
	}
	return sets
}

// cpuTimes is CPU time used by this process and by the processes of the
// PostgreSQL server, when it runs on this machine (/proc shows it).
type cpuTimes struct{ self, postgres time.Duration }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.self - o.self, c.postgres - o.postgres} }

// readCPU returns the CPU time used so far: by this process, and by every
// process called postgres with the children it reaped (the postmaster's
// include the backends that ended).
func readCPU() cpuTimes {
	var c cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil || !bytes.Contains(stat, []byte("(postgres)")) {
			continue
		}
		// Fields after the command: state ppid ... utime(14) stime(15)
		// cutime(16) cstime(17), counted from 1 with pid and comm.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		for _, i := range []int{14, 15, 16, 17} {
			ticks, _ := strconv.ParseInt(fields[i-3], 10, 64)
			c.postgres += time.Duration(ticks) * time.Second / 100 // USER_HZ
		}
	}
	return c
}

// copyBound times what the rebuild's writes cost PostgreSQL alone: for every
// partition of the active generations, a copy of its rows into a new table
// with the same indexes (INSERT ... SELECT), and the same into a table
// without them followed by the indexes' builds. It logs the times and the
// row counts, and drops the tables.
func copyBound(b *testing.B, pool *pgxpool.Pool) {
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
		JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname LIKE 'rm\_%\_gen' AND c.relname LIKE '%\_' || (SELECT min(active_generation % 2) FROM rm_projections)::text
		ORDER BY 1`)
	if err != nil {
		b.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	var indexed, plain, built time.Duration
	var total int64
	for _, t := range tables {
		id := pgx.Identifier{t}.Sanitize()
		run := func(sqls ...string) time.Duration {
			start := time.Now()
			for _, sql := range sqls {
				if _, err := pool.Exec(ctx, sql); err != nil {
					b.Fatalf("%s: %v", sql, err)
				}
			}
			return time.Since(start)
		}
		run("DROP TABLE IF EXISTS bound_indexed, bound_plain",
			"CREATE TABLE bound_indexed (LIKE "+id+" INCLUDING INDEXES)", "CREATE TABLE bound_plain (LIKE "+id+")")
		d := run("INSERT INTO bound_indexed SELECT * FROM " + id)
		indexed += d
		pd := run("INSERT INTO bound_plain SELECT * FROM " + id)
		plain += pd
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM bound_plain").Scan(&n); err != nil {
			b.Fatal(err)
		}
		total += n
		var defs []string
		rows, err := pool.Query(ctx, `SELECT replace(pg_get_indexdef(indexrelid), 'bound_indexed', 'bound_plain')
			FROM pg_index WHERE indrelid = 'bound_indexed'::regclass`)
		if err == nil {
			defs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			b.Fatal(err)
		}
		run("DROP TABLE bound_indexed")
		bd := run(defs...)
		built += bd
		run("DROP TABLE bound_plain")
		// Not b.Logf: the benchmark's log is cut after ten lines.
		fmt.Fprintf(os.Stderr, "bound: %s: %d rows, with indexes %s, without %s + indexes %s\n", t, n, d.Round(time.Millisecond),
			pd.Round(time.Millisecond), bd.Round(time.Millisecond))
	}
	fmt.Fprintf(os.Stderr, "bound: %d rows: copied with their indexes in %s, without them in %s plus %s to build them\n",
		total, indexed.Round(time.Millisecond), plain.Round(time.Millisecond), built.Round(time.Millisecond))
}

// lagWorker appends to risks of its own, so that workers never conflict:
// it registers a risk, assesses it, proposes a response to it and has the
// Council note it, round and round.
type lagWorker struct {
	id    int
	store *eventstore.Store
	risks []*domain.Risk
	n     int
}

// next appends the worker's next command's events and returns them.
func (w *lagWorker) next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	w.n++
	appendOne := func(a eventstore.StreamAppend) ([]eventstore.RecordedEvent, error) {
		res, err := w.store.Append(ctx, a)
		return res.Events, err
	}
	stored := func(events []domain.Event) []eventstore.Event {
		out := make([]eventstore.Event, len(events))
		for i, e := range events {
			out[i] = workload.Stored(e, eventstore.Metadata{Actor: "bench", CorrelationID: uuid.NewString()})
		}
		return out
	}
	switch w.n % 4 {
	case 1:
		id := uuid.NewString()
		events, err := domain.RegisterRisk(id, fmt.Sprintf("R-%d%06d", w.id+1, w.n), domain.RiskDetails{
			Title: "Supply chain disruption", Description: "Loss of a key supplier delays customs systems",
			Category: "Operational", Source: "Audit Plan 2021", Owner: "Director of Finance"})
		if err != nil {
			return nil, err
		}
		r, err := domain.RiskFromHistory(id, events)
		if err != nil {
			return nil, err
		}
		w.risks = append(w.risks, r)
		return appendOne(eventstore.StreamAppend{StreamID: id, StreamType: domain.StreamRisk,
			Expected: eventstore.NoStream, Events: stored(events)})
	case 2:
		r := w.risks[len(w.risks)-1]
		events, err := r.Assess(domain.RatingKindInherent, 1+w.n%5, 1+w.n/4%5, "bench", "bench", time.Now())
		if err != nil {
			return nil, err
		}
		recorded, err := appendOne(eventstore.StreamAppend{StreamID: r.ID(), StreamType: domain.StreamRisk,
			Expected: eventstore.Exact(int64(r.Version())), Events: stored(events)})
		if err == nil {
			err = r.Apply(events[0])
		}
		return recorded, err
	case 3:
		r := w.risks[len(w.risks)-1]
		id := uuid.NewString()
		events, err := domain.ProposeResponse(id, r, domain.ResponseDetails{Title: "Second supplier",
			Option: domain.ResponseOptionReduce, Owner: "Head of IT"})
		if err != nil {
			return nil, err
		}
		return appendOne(eventstore.StreamAppend{StreamID: id, StreamType: domain.StreamResponse,
			Expected: eventstore.NoStream, Events: stored(events)})
	default:
		r := w.risks[len(w.risks)-1]
		id := uuid.NewString()
		out, err := domain.RecordDecision(domain.DecisionCommand{DecisionID: id, Body: domain.BodyCouncil,
			Session: "Council, 2027", Kind: domain.DecisionKindNote, Text: "Noted.", RecordedBy: "clerk",
			RecordedAt: time.Now(), Subjects: []domain.SubjectRef{{ID: r.ID(), Kind: domain.SubjectKindRisk,
				ExpectedVersion: r.Version()}}},
			domain.SubjectStates{Risks: map[string]*domain.Risk{r.ID(): r}})
		if err != nil {
			return nil, err
		}
		return appendOne(eventstore.StreamAppend{StreamID: id, StreamType: domain.StreamDecision,
			Expected: eventstore.NoStream, Events: stored([]domain.Event{out.Recorded})})
	}
}

// BenchmarkLiveLag appends at a steady rate (one command, one event, per
// append, from 16 callers) while the runner of every projection follows the
// log, and measures for each event the time from its append's commit (when
// Append returned) to the moment the last of the built-in projections committed
// it. It also logs each projection's own lag, to tell which one lags.
func BenchmarkLiveLag(b *testing.B) {
	pool, appendStore := benchStore(b, 24)
	runnerStore, err := eventstore.New(pool, eventstore.Config{Upcasters: register.Upcasters(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer runnerStore.Close()

	var mu sync.Mutex
	applied := make(map[uuid.UUID]time.Time) // when the last projection applied it
	seen := make(map[uuid.UUID]int)
	// when each projection applied it, to tell which one lags
	appliedBy := make(map[string]map[uuid.UUID]time.Time)
	projections := len(projection.Builtin())
	for _, p := range projection.Builtin() {
		appliedBy[p.Name()] = make(map[uuid.UUID]time.Time)
	}
	cfg := projection.Config{Store: runnerStore, Logger: quietLogger(),
		OnApplied: func(name string, events []eventstore.RecordedEvent) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				appliedBy[name][e.ID] = now
				seen[e.ID]++
				if seen[e.ID] == projections {
					applied[e.ID] = now
				}
			}
		}}
	runner, err := projection.NewRunner(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	const callers = 16
	var lags []time.Duration
	lagsBy := make(map[string][]time.Duration)
	var appendsPerSecond []float64
	for b.Loop() {
		total := *benchLagSeconds * *benchLagRate
		committed := make(map[uuid.UUID]time.Time, total)
		var cmu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		interval := time.Second / time.Duration(*benchLagRate)
		start := time.Now()
		for c := range callers {
			wg.Go(func() {
				w := &lagWorker{id: c, store: appendStore}
				for {
					i := next.Add(1) - 1
					if i >= int64(total) {
						return
					}
					time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
					events, err := w.next(ctx)
					at := time.Now()
					if err != nil {
						b.Error(err)
						return
					}
					cmu.Lock()
					for _, e := range events {
						committed[e.ID] = at
					}
					cmu.Unlock()
				}
			})
		}
		wg.Wait()
		appendsPerSecond = append(appendsPerSecond, float64(total)/time.Since(start).Seconds())
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			n := 0
			for id := range committed {
				if _, ok := applied[id]; ok {
					n++
				}
			}
			mu.Unlock()
			if n == len(committed) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d events applied a minute after the last append", n, len(committed))
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		for id, at := range committed {
			lags = append(lags, max(applied[id].Sub(at), 0))
			for name, by := range appliedBy {
				lagsBy[name] = append(lagsBy[name], max(by[id].Sub(at), 0))
			}
		}
		mu.Unlock()
	}
	for _, p := range projection.Builtin() {
		l := lagsBy[p.Name()]
		slices.Sort(l)
		b.Logf("%s: lag p50 %s, p99 %s, max %s", p.Name(), quantile(l, 0.5), quantile(l, 0.99), l[len(l)-1])
	}
	slices.Sort(lags)
	q := func(p float64) time.Duration { return quantile(lags, p) }
	b.ReportMetric(benchstat.Mean(appendsPerSecond), "appends/s")
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d events: lag p50 %s, p99 %s, max %s at %.0f appends/s", len(lags), q(0.5), q(0.99), lags[len(lags)-1],
		benchstat.Mean(appendsPerSecond))
}

// quantile returns the p-quantile of sorted, which must not be empty.
func quantile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(int(p*float64(len(sorted))), len(sorted)-1)]
}
