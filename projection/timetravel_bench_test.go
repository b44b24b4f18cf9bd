package projection_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

var (
	benchTravelEvents  = flag.Int("bench-travel-events", 100_000, "events in the log for BenchmarkTimeTravel")
	benchTravelExplain = flag.Bool("bench-travel-explain", false, "log the plans of BenchmarkTimeTravel's statements")
	benchTravelRounds  = flag.Int("bench-travel-rounds", 10, "rounds of BenchmarkTimeTravel, each query 10 times a round")
)

// BenchmarkTimeTravel: the as-of reads of the API over loopback HTTP, one
// warm client, on a log of the projection benchmark's workload (read
// models built by a rebuild), against the same reads of the current
// register in the same rounds. Instants are drawn uniformly over the log's
// recordedAt; registerChanges spans 1/120 of the log (a month of ten
// years). Reported: p50 and p99 of each query, and the ratio of the p99 of
// risks as of T to the p99 of risks now. It also times a few folds of the
// log up to T (Reader.AsOf, in process: what asOf cost before) for scale.
func BenchmarkTimeTravel(b *testing.B) {
	pool, store := benchStore(b, 24)
	fillLog(b, pool, *benchTravelEvents)
	ctx := context.Background()
	res, err := projection.Rebuild(ctx, projection.RebuildConfig{Store: store, Projections: projection.Builtin(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("rebuild, history included: %d events in %s (%.0f events/s)", res.Events, res.Elapsed.Round(time.Millisecond),
		float64(res.Events)/res.Elapsed.Seconds())
	var first, last time.Time
	if err := pool.QueryRow(ctx, "SELECT min(recorded_at), max(recorded_at) FROM events").Scan(&first, &last); err != nil {
		b.Fatal(err)
	}
	tokens := auth.NewStore(pool, time.Now)
	tok, _, err := tokens.Create(ctx, "bench", []domain.Role{domain.RoleAuditor}, 0)
	if err != nil {
		b.Fatal(err)
	}
	reader := projection.NewReader(store)
	api := graph.NewServer(graph.Options{Register: register.New(store, time.Now), Store: store, Reader: reader,
		Tokens: tokens, Logger: quietLogger()})
	srv := httptest.NewServer(api)
	defer srv.Close()
	client := &http.Client{}
	rng := rand.New(rand.NewPCG(1, 2))
	span := last.Sub(first)
	instant := func() time.Time { return first.Add(time.Duration(rng.Int64N(int64(span)))) }

	const risks = `id reference title status band flagged version residual { score band } inherent { score }`
	queries := []struct {
		name  string
		query string
		vars  func() map[string]any
	}{
		{"risks-now", `{ risks(first: 50) { edges { node { ` + risks + ` } } } }`, nil},
		{"risks-asof", `query($t: Time) { risks(first: 50, asOf: $t) { edges { node { ` + risks + ` } } } }`,
			func() map[string]any { return map[string]any{"t": instant()} }},
		{"total-now", `{ risks(first: 20) { totalCount } }`, nil},
		{"total-red-owner-now", `{ risks(first: 20, filter: {band: RED, owner: "Head of IT"}) { totalCount } }`, nil},
		{"total-asof", `query($t: Time) { risks(first: 20, asOf: $t) { totalCount } }`,
			func() map[string]any { return map[string]any{"t": instant()} }},
		{"heatmap-now", `{ heatMap { cells { likelihood impact count } } }`, nil},
		{"heatmap-asof", `query($t: Time) { heatMap(asOf: $t) { cells { likelihood impact count } } }`,
			func() map[string]any { return map[string]any{"t": instant()} }},
		{"responses-now", `{ responses(first: 50) { edges { node { id title owner status dueDate version } } } }`, nil},
		{"responses-asof", `query($t: Time) { responses(first: 50, asOf: $t) { edges { node { id title owner status dueDate version } } } }`,
			func() map[string]any { return map[string]any{"t": instant()} }},
		{"responses-total-asof", `query($t: Time) { responses(first: 20, asOf: $t) { totalCount } }`,
			func() map[string]any { return map[string]any{"t": instant()} }},
		{"changes", `query($f: Time!, $t: Time) { registerChanges(from: $f, to: $t, first: 50) { totalCount
			edges { node { risk { id } before { status band } after { status band } events { type } decisions { kind } } } } }`,
			func() map[string]any {
				from := first.Add(time.Duration(rng.Int64N(int64(span - span/120))))
				return map[string]any{"f": from, "t": from.Add(span / 120)}
			}},
		{"movement", `query($f: Time!, $t: Time) { heatMapMovement(from: $f, to: $t) { risk { id } from { likelihood } to { likelihood } } }`,
			func() map[string]any {
				from := first.Add(time.Duration(rng.Int64N(int64(span - span/120))))
				return map[string]any{"f": from, "t": from.Add(span / 120)}
			}},
	}
	if *benchTravelExplain {
		for _, from := range []time.Time{first.Add(span / 2), last.Add(-span / 120)} {
			explain(b, pool, projection.MovesSQL(domain.RatingKindResidual), from, from.Add(span/120))
		}
		for _, at := range []time.Time{first.Add(span / 10), first.Add(span / 2), last} {
			sql, args, err := projection.RisksPageSQL(projection.RiskFilter{}, 50, "", &at, nil, true)
			if err != nil {
				b.Fatal(err)
			}
			explain(b, pool, sql, args...)
			from := at.Add(-span / 120)
			if sql, args, err = projection.RisksPageSQL(projection.RiskFilter{}, 50, "", &at, &from, true); err != nil {
				b.Fatal(err)
			}
			explain(b, pool, sql, args...)
		}
	}
	lat := make([][]time.Duration, len(queries))
	for b.Loop() {
		for range *benchTravelRounds {
			for i, q := range queries {
				for range 10 {
					var v map[string]any
					if q.vars != nil {
						v = q.vars()
					}
					t0 := time.Now()
					if err := travelPost(ctx, client, srv.URL, tok, q.query, v); err != nil {
						b.Fatalf("%s: %v", q.name, err)
					}
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		}
	}
	for i, q := range queries {
		if len(lat[i]) == 0 {
			continue
		}
		b.ReportMetric(pct(lat[i], 0.5), q.name+"-p50-ms")
		b.ReportMetric(pct(lat[i], 0.99), q.name+"-p99-ms")
	}
	if len(lat[0]) > 0 {
		b.ReportMetric(pct(lat[1], 0.99)/pct(lat[0], 0.99), "asof/now-p99")
	}
	var folds []time.Duration
	for range 3 {
		t0 := time.Now()
		if _, err := reader.AsOf(ctx, instant()); err != nil {
			b.Fatal(err)
		}
		folds = append(folds, time.Since(t0))
	}
	b.ReportMetric(pct(folds, 0.5), "fold-p50-ms")
	b.ReportMetric(0, "ns/op")
}

func pct(lat []time.Duration, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
}

// travelPost posts a query and fails on any error in the answer.
func travelPost(ctx context.Context, c *http.Client, url, token, query string, variables map[string]any) error {
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
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct{ Errors []json.RawMessage }
	if err := json.Unmarshal(out, &r); err != nil || len(r.Errors) > 0 || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, out)
	}
	return nil
}

// explain logs the plan of a statement run with args.
func explain(b *testing.B, pool *pgxpool.Pool, sql string, args ...any) {
	rows, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS) "+sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		b.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, strings.Join(lines, "\n"))
}
