package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/projection"
)

// openPool opens a pool on url for the test.
func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// appendRisk registers and assesses a risk in the log at url.
func appendRisk(t *testing.T, url, id, reference string) {
	t.Helper()
	ctx := context.Background()
	store, err := app.NewStore(openPool(t, url), eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events, err := domain.RegisterRisk(id, reference, domain.RiskDetails{Title: "Loss of revenue data",
		Description: "Ageing servers", Category: "Financial", Source: "Audit Plan 2021", Owner: "Director of Finance"})
	if err != nil {
		t.Fatal(err)
	}
	risk, err := domain.RiskFromHistory(id, events)
	if err != nil {
		t.Fatal(err)
	}
	assessed, err := risk.Assess(domain.RatingKindInherent, 4, 5, "two outages", "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var stored []eventstore.Event
	for _, e := range append(events, assessed...) {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, eventstore.Event{Type: e.EventType(), SchemaVersion: e.SchemaVersion(), Data: data,
			Metadata: eventstore.Metadata{Actor: "alice"}})
	}
	if _, err := store.Append(ctx, eventstore.StreamAppend{StreamID: id, StreamType: domain.StreamRisk,
		Expected: eventstore.NoStream, Events: stored}); err != nil {
		t.Fatal(err)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	appendRisk(t, url, "risk-1", "R-0001")

	stdout, stderr, code := riskreg(t, "replay", "--all", "--database-url", url)
	if code != 0 {
		t.Fatalf("replay --all exited %d:\n%s", code, stderr)
	}
	if want := "rebuilt calendar (generation 2), decisions (generation 2), responses (generation 2), risks (generation 2) from 2 events"; !strings.Contains(stdout, want) {
		t.Errorf("replay --all printed %q, want %q", stdout, want)
	}
	// Not on a terminal: progress as log lines.
	if !strings.Contains(stderr, `"msg":"replay progress","events":2,"total":2`) {
		t.Errorf("replay logged no progress line:\n%s", stderr)
	}

	stdout = mustRiskreg(t, "replay", "--projection", "risks", "--database-url", url)
	if !strings.Contains(stdout, "rebuilt risks (generation 3) from 2 events") {
		t.Errorf("replay --projection risks printed %q", stdout)
	}
	pool := openPool(t, url)
	var ref, band string
	var gens []int64
	err := pool.QueryRow(context.Background(), `SELECT reference, band, (SELECT array_agg(active_generation ORDER BY name) FROM rm_projections)
		FROM rm_risks WHERE risk_id = 'risk-1'`).Scan(&ref, &band, &gens)
	if err != nil {
		t.Fatal(err)
	}
	if ref != "R-0001" || band != "RED" || len(gens) != 4 || gens[0] != 2 || gens[1] != 2 || gens[2] != 2 || gens[3] != 3 {
		t.Errorf("after the replays: risk %s %s, generations %v (calendar, decisions, responses, risks); want R-0001 RED, [2 2 2 3]", ref, band, gens)
	}
}

func TestReplayUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--all", "--projection", "risks"},
		{"replay", "--projection", "nope"},
		{"replay", "--all", "--batch-size", "0"},
		{"replay", "--all", "extra"},
	} {
		_, stderr, code := riskreg(t, args...)
		if code != 2 || !strings.Contains(stderr, "Usage: riskreg replay") {
			t.Errorf("riskreg %v exited %d, want 2 with the usage; stderr:\n%s", args, code, stderr)
		}
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	p := projection.Progress{Done: 250_000, Total: 1_000_000, Elapsed: 2 * time.Second}
	want := "replay [#######-----------------------]  25% 250,000/1,000,000 events  125,000 events/s  ETA 6s "
	if got := progressLine(p, 30); got != want {
		t.Errorf("progressLine = %q\nwant            %q", got, want)
	}
	if got := progressLine(projection.Progress{}, 4); got != "replay [####] 100% 0/0 events  0 events/s  ETA 0s " {
		t.Errorf("progressLine of an empty log = %q", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// serve keeps the read models up to date, and its runners stop with it.
func TestServeRunsProjections(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := startServe(t, "--addr", "127.0.0.1:0", "--database-url", url)
	appendRisk(t, url, "risk-1", "R-0001")
	pool := openPool(t, url)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM rm_risks WHERE version = 2").Scan(&n); err != nil {
			t.Fatal(err)
		}
		statuses, err := projection.ReadStatus(context.Background(), pool)
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, st := range statuses {
			if st.State == projection.StateLive && st.LagEvents == 0 {
				live++
			}
		}
		if n == 1 && live == len(statuses) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's projections did not apply the risk within 20s: %+v", statuses)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// /metrics reports every projection live and caught up.
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "riskreg_append_seconds_count") {
		t.Error("/metrics lacks riskreg_append_seconds")
	}
	for _, name := range []string{projection.NameRisks, projection.NameResponses, projection.NameDecisions} {
		for _, want := range []string{
			`riskreg_projection_lag_events{projection="` + name + `"} 0`,
			`riskreg_projection_live{projection="` + name + `"} 1`,
		} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}
	s.terminate(t)
	statuses, err := projection.ReadStatus(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range statuses {
		if st.State != projection.StateStopped || st.LagEvents != 0 {
			t.Errorf("status after serve stopped: %+v", st)
		}
	}
}
