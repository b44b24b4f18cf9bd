package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/benchstat"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// Benchmarks run each workload next to a raw PostgreSQL baseline in the same
// iteration and report both rates and their ratio, so that the ratio holds on
// a noisy, shared machine. See docs/benchmarks.md for the command and results.

var benchWriters = flag.Int("bench-writers", 0, "the store's writers in BenchmarkAppendSingle (0: the default)")

var benchLinger = flag.Duration("bench-linger", 0, "the store's Linger in BenchmarkAppendSingle (0: the default, negative: off)")

var benchEvents = flag.Int("bench-events", 1_000_000, "events in the log for BenchmarkReadAll")

// benchPool opens a pool of size conns on a fresh database.
func benchPool(b *testing.B, conns int32) *pgxpool.Pool {
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
	// The baseline: a bare table of the events' row shape, with no index,
	// constraint or trigger. It lives only in this throwaway database.
	_, err = pool.Exec(context.Background(), `CREATE TABLE bench_plain (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY)`)
	if err != nil {
		b.Fatal(err)
	}
	return pool
}

const plainInsert = `INSERT INTO bench_plain (event_id, stream_id, stream_type, version, type, schema_version, data, metadata,
	actor, correlation_id, occurred_at, prev_hash, hash) VALUES ($1, $2, 'risk', 1, 'RiskRegistered', 1, $3, '{}', 'bench', $4, $5, $6, $7)`

var benchData = json.RawMessage(`{"title": "Supply chain disruption", "description": "Loss of a key supplier delays customs systems", "category": "Operational", "source": "Audit Plan 2021", "owner": "Director of Finance"}`)

// parallel runs op n times from workers goroutines and returns the rate per
// second of units (op returns how many units it did).
func parallel(b *testing.B, workers, n int, op func(ctx context.Context, i int) (int, error)) float64 {
	b.Helper()
	ctx := context.Background()
	var next, units atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				u, err := op(ctx, i)
				if err != nil {
					b.Error(err)
					return
				}
				units.Add(int64(u))
			}
		})
	}
	wg.Wait()
	return float64(units.Load()) / time.Since(start).Seconds()
}

// BenchmarkAppendSingle compares single-event appends to distinct streams
// from 32 concurrent callers with plain single-row INSERTs of the same row
// shape from 32 connections.
func BenchmarkAppendSingle(b *testing.B) {
	const callers, ops = 32, 8000
	pool := benchPool(b, callers+4)
	s, err := eventstore.New(pool, eventstore.Config{Writers: *benchWriters, Linger: *benchLinger})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	hash := make([]byte, 32)
	var plain, store []float64
	var plainCPU, storeCPU cpuUse
	for b.Loop() {
		// Alternate short rounds of each, so that both see the same noise.
		for range 4 {
			plain = append(plain, plainCPU.measure(b, pool, ops/4, func() float64 {
				return parallel(b, callers, ops/4, func(ctx context.Context, i int) (int, error) {
					_, err := pool.Exec(ctx, plainInsert, uuid.New(), uuid.NewString(), string(benchData), "corr", time.Now(), hash, hash)
					return 1, err
				})
			}))
			store = append(store, storeCPU.measure(b, pool, ops/4, func() float64 {
				return parallel(b, callers, ops/4, func(ctx context.Context, i int) (int, error) {
					_, err := s.Append(ctx, eventstore.StreamAppend{StreamID: uuid.NewString(), StreamType: "risk", Expected: eventstore.NoStream,
						Events: []eventstore.Event{{Type: "RiskRegistered", Data: benchData, Metadata: eventstore.Metadata{Actor: "bench", CorrelationID: "corr"}}}})
					return 1, err
				})
			}))
		}
	}
	report(b, plain, store, "insert")
	plainCPU.report(b, "insert")
	storeCPU.report(b, "store")
}

// BenchmarkAppendBatch compares appends of 100 events per call (4 callers)
// with INSERTs of the same 100 rows into the bare table.
func BenchmarkAppendBatch(b *testing.B) {
	const callers, ops, size = 4, 200, 100
	pool := benchPool(b, callers+4)
	s, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	hash := make([]byte, 32)
	var plain, store []float64
	for b.Loop() {
		plain = append(plain, parallel(b, callers, ops, func(ctx context.Context, i int) (int, error) {
			// The same 100 rows, sent as arrays in one INSERT, as the store does.
			ids, versions, datas := make([]uuid.UUID, size), make([]int64, size), make([]string, size)
			for j := range size {
				ids[j], versions[j], datas[j] = uuid.New(), int64(j+1), string(benchData)
			}
			_, err := pool.Exec(ctx, `INSERT INTO bench_plain (event_id, stream_id, stream_type, version, type, schema_version, data, metadata,
				actor, occurred_at, prev_hash, hash)
				SELECT id, $2, 'risk', v, 'RiskAssessed', 1, d::jsonb, '{}', 'bench', now(), $5, $5
				FROM unnest($1::uuid[], $3::bigint[], $4::text[]) AS u(id, v, d)`,
				ids, uuid.NewString(), versions, datas, hash)
			return size, err
		}))
		store = append(store, parallel(b, callers, ops, func(ctx context.Context, i int) (int, error) {
			events := make([]eventstore.Event, size)
			for j := range events {
				events[j] = eventstore.Event{Type: "RiskAssessed", Data: benchData, Metadata: eventstore.Metadata{Actor: "bench"}}
			}
			_, err := s.Append(ctx, eventstore.StreamAppend{StreamID: uuid.NewString(), StreamType: "risk", Expected: eventstore.NoStream, Events: events})
			return size, err
		}))
	}
	report(b, plain, store, "insert")
}

// BenchmarkReadAll compares paging through the whole log with ReadAll,
// decoding every event, with a raw COPY of the same rows to nowhere.
func BenchmarkReadAll(b *testing.B) {
	pool := benchPool(b, 4)
	ctx := context.Background()
	// Fill the log directly: the rows need not chain, only be read.
	for done := 0; done < *benchEvents; done += 100_000 {
		n := min(100_000, *benchEvents-done)
		_, err := pool.Exec(ctx, `INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, actor,
				correlation_id, occurred_at, prev_hash, hash)
			SELECT gen_random_uuid(), 'risk-' || ((i / 10) + $1), 'risk', (i % 10) + 1, 'RiskAssessed', 1, $2::jsonb, 'bench',
				'corr-' || i, now(), '\x00', sha256(i::text::bytea)
			FROM generate_series(0, $3 - 1) i`, done/10, string(benchData), n)
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		b.Fatal(err)
	}
	s, err := eventstore.New(pool, eventstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	var copyRates, readRates []float64
	for b.Loop() {
		start := time.Now()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (SELECT event_id, tx_id, seq, stream_id, stream_type, version, type,
			schema_version, data, metadata, actor, correlation_id, causation_id, decision_id, request_id, occurred_at, recorded_at,
			prev_hash, hash FROM events ORDER BY tx_id, seq) TO STDOUT`)
		conn.Release()
		if err != nil {
			b.Fatal(err)
		}
		copyRates = append(copyRates, float64(tag.RowsAffected())/time.Since(start).Seconds())

		start = time.Now()
		var after eventstore.Position
		n := 0
		for {
			events, err := s.ReadAll(ctx, after, 5000, eventstore.Filter{})
			if err != nil {
				b.Fatal(err)
			}
			n += len(events)
			if len(events) < 5000 {
				break
			}
			after = events[len(events)-1].Position
		}
		if n != *benchEvents {
			b.Fatalf("read %d events, want %d", n, *benchEvents)
		}
		readRates = append(readRates, float64(n)/time.Since(start).Seconds())
	}
	report(b, copyRates, readRates, "copy")
}

// report records the mean rates of the baseline and the store and the
// median of the ratios of rounds run side by side, which a burst of noise in
// one round moves least.
func report(b *testing.B, baseline, store []float64, baselineName string) {
	b.Helper()
	median := benchstat.MedianRatio(store, baseline)
	bl, st := benchstat.Mean(baseline), benchstat.Mean(store)
	b.ReportMetric(bl, baselineName+"-events/s")
	b.ReportMetric(st, "store-events/s")
	b.ReportMetric(median, "ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s %.0f events/s, store %.0f events/s, median ratio of %d rounds %.2f", baselineName, bl, st, len(store), median)
}

// cpuUse sums the CPU time that rounds of one side of a benchmark cost, in
// this process and in PostgreSQL, so that the two sides can be compared per
// event and not only by rate. PostgreSQL's share is read from /proc for the
// backends of the benchmark's database and the WAL writer, so it is only
// known when the server runs on this machine (else it stays zero).
type cpuUse struct {
	events    int
	goTicks   time.Duration
	pgTicks   time.Duration
	pgMissing bool
}

// measure runs round, which does events events, and adds the CPU it cost.
func (c *cpuUse) measure(b *testing.B, pool *pgxpool.Pool, events int, round func() float64) float64 {
	b.Helper()
	pids := backendPids(b, pool)
	go0 := processCPU()
	pg0, read0 := postgresCPU(pids)
	rate := round()
	go1 := processCPU()
	pg1, read1 := postgresCPU(pids)
	c.events += events
	c.goTicks += go1 - go0
	c.pgTicks += pg1 - pg0
	c.pgMissing = c.pgMissing || !read0 || !read1
	return rate
}

// report records the CPU per event of both processes.
func (c *cpuUse) report(b *testing.B, side string) {
	b.Helper()
	if c.events == 0 {
		return
	}
	goPer := float64(c.goTicks.Microseconds()) / float64(c.events)
	b.ReportMetric(goPer, side+"-go-us/event")
	if c.pgMissing {
		b.Logf("%s: Go process %.1f us CPU per event; PostgreSQL's CPU not readable here", side, goPer)
		return
	}
	pgPer := float64(c.pgTicks.Microseconds()) / float64(c.events)
	b.ReportMetric(pgPer, side+"-pg-us/event")
	b.Logf("%s: Go process %.1f us, PostgreSQL %.1f us CPU per event", side, goPer, pgPer)
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendPids returns the process ids of the server's backends for the
// pool's database and of its WAL writer.
func backendPids(b *testing.B, pool *pgxpool.Pool) []int {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() OR backend_type = 'walwriter'`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		b.Fatal(err)
	}
	return pids
}

// postgresCPU returns the CPU time the processes pids have used, read from
// /proc, and whether any of them could be read. (A zero total is no sign of
// an unreadable /proc: on a machine just started, fresh backends and the WAL
// writer have used less than a tick.)
func postgresCPU(pids []int) (time.Duration, bool) {
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	var total time.Duration
	read := false
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name may hold spaces: fields are counted after its ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(utime+stime) * tick
		read = true
	}
	return total, read
}
