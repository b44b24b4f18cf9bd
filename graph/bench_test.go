package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/benchstat"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// benchClients is the number of concurrent HTTP clients.
const benchClients = 32

// runParallel runs op n times on workers goroutines and returns the rate per
// second and every call's latency.
func runParallel(b *testing.B, workers, n int, op func(ctx context.Context) error) (float64, []time.Duration) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(ctx); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds(), lat
}

func percentile(lat []time.Duration, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

// benchPost posts a query with a keep-alive client and fails on any error.
func benchPost(ctx context.Context, c *http.Client, url, token, query string, variables vars, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("answer %q: %w", b, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("errors: %+v", r.Errors)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// benchPool returns a pool on a new database with a connection for every
// client, for the API and the baseline alike (the default is 4).
func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = benchClients + 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

func benchHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: 2 * benchClients}}
}

// BenchmarkRegisterAssessVsInsert: registerRisk followed by assessRisk over
// loopback HTTP from 32 concurrent clients, each pair one operation, against
// plain single-row INSERTs from 32 connections, in alternating rounds of the
// same run. Two more workloads bound what the API could reach: the same pair
// through register.Service in process (the event-sourced command path without
// HTTP, GraphQL or the token look-up) and pairs of INSERTs, each committed
// before the next starts, as a pair of durable writes at its cheapest.
// Reported: the rates, the median per-round ratio of each workload to the
// INSERTs, and the API pairs' latency.
func BenchmarkRegisterAssessVsInsert(b *testing.B) {
	e := newEnvOn(b, benchPool(b))
	tok := e.token(b, "bench", domain.RoleStaff)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `CREATE TABLE bench_rows (id bigserial PRIMARY KEY, data jsonb NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	client := benchHTTPClient()
	const reg = `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id version } }`
	const assess = `mutation($in: AssessRiskInput!) { assessRisk(input: $in) { version band } }`
	apiPair := func(ctx context.Context) error {
		var r struct{ RegisterRisk struct{ ID string } }
		if err := benchPost(ctx, client, e.srv.URL, tok, reg, vars{"in": riskInput("Bench")}, &r); err != nil {
			return err
		}
		return benchPost(ctx, client, e.srv.URL, tok, assess, vars{"in": map[string]any{"id": r.RegisterRisk.ID,
			"expectedVersion": 1, "kind": "INHERENT", "likelihood": 3, "impact": 4, "rationale": "bench"}}, nil)
	}
	svc := register.New(e.store, time.Now)
	req := register.Request{Principal: domain.Principal{Subject: "bench", Roles: []domain.Role{domain.RoleStaff}}}
	servicePair := func(ctx context.Context) error {
		req := req
		req.RequestID = uuid.NewString()
		r, err := svc.RegisterRisk(ctx, req, domain.RiskDetails{Title: "Bench", Description: "cause -> event -> consequence",
			Category: "Operational", Source: "Audit Plan 2021", Owner: "Director"})
		if err != nil {
			return err
		}
		_, err = svc.AssessRisk(ctx, req, r.ID(), 1, domain.RatingKindInherent, 3, 4, "bench")
		return err
	}
	insert := func(ctx context.Context) error {
		_, err := e.pool.Exec(ctx, `INSERT INTO bench_rows (data) VALUES ($1)`, `{"title":"Bench"}`)
		return err
	}
	insertPair := func(ctx context.Context) error {
		if err := insert(ctx); err != nil {
			return err
		}
		return insert(ctx)
	}

	const rounds = 6
	per := max(b.N/rounds, 50)
	var apiRates, serviceRates, insertRates, insertPairRates []float64
	var lat []time.Duration
	b.ResetTimer()
	for range rounds {
		rate, l := runParallel(b, benchClients, per, apiPair)
		apiRates, lat = append(apiRates, rate), append(lat, l...)
		rate, _ = runParallel(b, benchClients, per, insert)
		insertRates = append(insertRates, rate)
		rate, _ = runParallel(b, benchClients, per, servicePair)
		serviceRates = append(serviceRates, rate)
		rate, _ = runParallel(b, benchClients, per, insertPair)
		insertPairRates = append(insertPairRates, rate)
	}
	b.StopTimer()
	b.ReportMetric(benchstat.Mean(apiRates), "pairs/s")
	b.ReportMetric(benchstat.Mean(insertRates), "inserts/s")
	b.ReportMetric(benchstat.MedianRatio(apiRates, insertRates), "ratio")
	b.ReportMetric(benchstat.MedianRatio(serviceRates, insertRates), "service-ratio")
	b.ReportMetric(benchstat.MedianRatio(insertPairRates, insertRates), "insert-pair-ratio")
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSubscriptionLatency: appends at 500 a second, one websocket
// subscriber; the time from the start of each append to its arrival.
func BenchmarkSubscriptionLatency(b *testing.B) {
	e := newEnv(b)
	tok := e.token(b, "bench", domain.RoleIntegration)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	url := "ws" + e.srv.URL[len("http"):]
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	write := func(m wsMessage) {
		if err := wsjson.Write(ctx, c, m); err != nil {
			b.Fatal(err)
		}
	}
	write(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + tok + `"}`)})
	var ack wsMessage
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack.Type != "connection_ack" {
		b.Fatalf("init: %v %+v", err, ack)
	}
	sub, _ := json.Marshal(map[string]any{"query": `subscription { events(types: ["BenchTick"]) { data } }`})
	write(wsMessage{ID: "1", Type: "subscribe", Payload: sub})

	n := b.N
	sent := make([]time.Time, n)
	var mu sync.Mutex
	received := make(chan []time.Duration, 1)
	go func() {
		var lat []time.Duration
		for len(lat) < n {
			var m wsMessage
			if err := wsjson.Read(ctx, c, &m); err != nil {
				received <- lat
				return
			}
			if m.Type != "next" {
				continue
			}
			at := time.Now()
			var p struct {
				Data struct {
					Events struct{ Data struct{ I int } }
				}
			}
			if json.Unmarshal(m.Payload, &p) != nil {
				continue
			}
			mu.Lock()
			lat = append(lat, at.Sub(sent[p.Data.Events.Data.I]))
			mu.Unlock()
		}
		received <- lat
	}()
	time.Sleep(100 * time.Millisecond) // the subscription is live

	b.ResetTimer()
	tick := time.NewTicker(2 * time.Millisecond) // 500 appends a second
	defer tick.Stop()
	for i := range n {
		<-tick.C
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		_, err := e.store.Append(ctx, eventstore.StreamAppend{StreamID: "bench-" + strconv.Itoa(i), StreamType: "bench",
			Expected: eventstore.NoStream, Events: []eventstore.Event{{Type: "BenchTick", Data: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	lat := <-received
	b.StopTimer()
	if len(lat) != n {
		b.Fatalf("received %d of %d events", len(lat), n)
	}
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// benchRisks is the size of the register for BenchmarkRisksPage.
const benchRisks = 10_000

// BenchmarkRisksPage: a risks(filter) page of 50 with responses and
// decisions, over a register of 10,000 risks (every third one RED, every
// fifth with a response).
func BenchmarkRisksPage(b *testing.B) {
	e := newEnv(b)
	tok := e.token(b, "bench", domain.RoleAuditor)
	seedRegister(b, e, benchRisks)
	// Time the reads, not the projections catching up with the seed.
	if err := projection.NewReader(e.store).WaitFor(context.Background(), e.store.LastAppended()); err != nil {
		b.Fatal(err)
	}
	client := benchHTTPClient()
	const q = `{ risks(filter: {band: RED}, first: 50) { totalCount edges { node { id title band responses { id status decisions { id } } decisions { id kind } } } } }`
	n := b.N
	b.ResetTimer()
	_, lat := runParallel(b, 1, n, func(ctx context.Context) error {
		var out struct{ Risks struct{ TotalCount int } }
		if err := benchPost(ctx, client, e.srv.URL, tok, q, nil, &out); err != nil {
			return err
		}
		if out.Risks.TotalCount != (benchRisks+2)/3 {
			return fmt.Errorf("totalCount %d", out.Risks.TotalCount)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// seedRegister appends n registered and assessed risks, and a proposed
// response for every fifth, straight to the store.
func seedRegister(b *testing.B, e *env, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	var batch []eventstore.StreamAppend
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := e.store.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	encode := func(events []domain.Event) []eventstore.Event {
		out := make([]eventstore.Event, len(events))
		for i, ev := range events {
			data, err := json.Marshal(ev)
			if err != nil {
				b.Fatal(err)
			}
			out[i] = eventstore.Event{Type: ev.EventType(), SchemaVersion: ev.SchemaVersion(), Data: data,
				Metadata: eventstore.Metadata{Actor: "seed"}}
		}
		return out
	}
	for i := range n {
		id := uuid.NewString()
		events, err := domain.RegisterRisk(id, fmt.Sprintf("R-%05d", i+1), domain.RiskDetails{Title: fmt.Sprint("Risk ", i),
			Description: "cause -> event -> consequence", Category: "Operational", Source: "Seed", Owner: "Director"})
		if err != nil {
			b.Fatal(err)
		}
		risk, err := domain.RiskFromHistory(id, events)
		if err != nil {
			b.Fatal(err)
		}
		l := 2
		if i%3 == 0 {
			l = 5
		}
		assessed, err := risk.Assess(domain.RatingKindInherent, l, 4, "seed", "seed", now)
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, eventstore.StreamAppend{StreamID: id, StreamType: domain.StreamRisk, Expected: eventstore.NoStream,
			Events: encode(append(events, assessed...))})
		if i%5 == 0 {
			for _, ev := range assessed {
				if err := risk.Apply(ev); err != nil {
					b.Fatal(err)
				}
			}
			rid := uuid.NewString()
			proposed, err := domain.ProposeResponse(rid, risk, domain.ResponseDetails{Title: "Treat", Option: domain.ResponseOptionReduce, Owner: "Director"})
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, eventstore.StreamAppend{StreamID: rid, StreamType: domain.StreamResponse, Expected: eventstore.NoStream,
				Events: encode(proposed)})
		}
		if len(batch) >= 200 {
			flush()
		}
	}
	flush()
}
