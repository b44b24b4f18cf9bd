package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/migrations"
	"github.com/riskreg/riskreg/projection"
)

// takeoverBound is how soon after a lock holder hangs or dies another
// replica must hold its projections and relays: PostgreSQL ends the hung
// holder's lock sessions after pglock.IdleTimeout (3 s), and the others try
// every second.
const takeoverBound = 5 * time.Second

// TestReplicasConsistency: three replicas started together on an empty
// database migrate it without harm and share the projections out; under a
// write load, a client that writes on one replica and reads on the next with
// the consistency token always sees its write; and 100 concurrent requests
// with one idempotency key, spread over the replicas, all get the first
// call's result.
func TestReplicasConsistency(t *testing.T) {
	db := pgtest.NewEmptyDatabase(t)
	c := newCluster(t, db, 3)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(mustRiskreg(t, "migrate", "version", "--database-url", db)); got != fmt.Sprint(latest) {
		t.Errorf("schema version after three replicas migrated together: %s, want %d", got, latest)
	}

	// The projections spread over the replicas: each holds at least its
	// floor share and at most its ceiling.
	n := len(projection.Builtin())
	floor, ceiling := n/3, (n+2)/3
	deadline := time.Now().Add(30 * time.Second)
	for {
		h := c.holdings()
		spread := len(h) == 3
		for _, held := range h {
			if n := projections(held); n < floor || n > ceiling {
				spread = false
			}
		}
		if spread {
			t.Logf("holdings: %v", h)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projections did not spread over the replicas within 30 s: %v", h)
		}
		time.Sleep(100 * time.Millisecond)
	}

	l := c.startLoad(4)
	ctx := context.Background()
	const pairs, workers = 500, 5
	var mu sync.Mutex
	stale := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range pairs / workers {
				title := fmt.Sprintf("pair %d-%d", w, i)
				_, token, a, err := c.register(ctx, w+i, title, "pair-"+title)
				if err != nil || len(a.Errors) > 0 || token == "" {
					t.Errorf("write %s: %v %+v (token %q)", title, err, a.Errors, token)
					return
				}
				if a.Extensions["consistencyToken"] != token {
					t.Errorf("write %s: token %q in the header, %v in the extensions", title, token, a.Extensions["consistencyToken"])
				}
				writer := c.upFrom(w + i).name
				next := w + i + 1
				if c.upFrom(next).name == writer {
					next++
				}
				q := `query($s: String) { risks(filter: {search: $s}) { totalCount } }`
				r, err := c.call(ctx, next, q, map[string]any{"s": title}, "X-Riskreg-Consistent-After", token)
				if err != nil || len(r.Errors) > 0 {
					t.Errorf("read %s: %v %+v", title, err, r.Errors)
					return
				}
				var out struct{ Risks struct{ TotalCount int } }
				_ = json.Unmarshal(r.Data, &out)
				mu.Lock()
				if out.Risks.TotalCount != 1 || r.replica == writer {
					stale++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d write-on-A-read-on-B pairs under load (%d writes by the load meanwhile): %d stale", pairs, l.ops.Load(), stale)
	if stale > 0 {
		t.Errorf("%d of %d reads with the consistency token missed the write", stale, pairs)
	}

	// Concurrent retries with one idempotency key, over the replicas.
	same := func(query string, in map[string]any) map[string]int {
		results := map[string]int{}
		var mu sync.Mutex
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				<-start
				a, err := c.post(ctx, c.replicas[i%3], query, map[string]any{"in": in})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					results["error: "+err.Error()]++
				case len(a.Errors) > 0:
					results["error: "+a.code()]++
				default:
					results[string(a.Data)]++
				}
			})
		}
		close(start)
		wg.Wait()
		return results
	}
	reg := same(`mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id reference version } }`,
		map[string]any{"title": "once", "description": "d", "category": "Operational", "source": "s", "owner": "o",
			"idempotencyKey": "same-key"})
	if len(reg) != 1 {
		t.Fatalf("100 concurrent registerRisk with one key answered %v, want one answer 100 times", reg)
	}
	var first struct{ RegisterRisk struct{ ID string } }
	for data := range maps.Keys(reg) {
		_ = json.Unmarshal([]byte(data), &first)
	}
	assess := same(`mutation($in: AssessRiskInput!) { assessRisk(input: $in) { id version } }`,
		map[string]any{"id": first.RegisterRisk.ID, "expectedVersion": 1, "kind": "INHERENT", "likelihood": 4,
			"impact": 4, "rationale": "r", "idempotencyKey": "same-assess"})
	if len(assess) != 1 {
		t.Errorf("100 concurrent assessRisk with one key answered %v, want one answer 100 times", assess)
	}
	if f := l.stop(); len(f) > 0 {
		t.Errorf("%d requests of the load failed, the first: %v", len(f), f[:min(len(f), 5)])
	}
}

// projections counts the projections in a replica's holdings.
func projections(held []string) int {
	n := 0
	for _, x := range held {
		if strings.HasPrefix(x, "projection/") {
			n++
		}
	}
	return n
}

// TestReplicasFailover: under a write load on three replicas, the holder of
// the relay (and of projections) is stopped (SIGSTOP) for RISKREG_TEST_FREEZE
// (default 4 s; docs/benchmarks.md has the 30 s runs) and another replica
// takes its work over within takeoverBound; after SIGCONT the old holder
// writes nothing more. Then the holder of the most projections is killed
// (SIGKILL) and replaced as fast, and every replica is restarted in turn with
// SIGTERM, with no request failing. At the end the read models equal a
// fresh replay of the log, and the broker holds every event once, in log
// order.
func TestReplicasFailover(t *testing.T) {
	freeze := envFlag(t, "RISKREG_TEST_FREEZE", 4*time.Second)
	db := pgtest.NewDatabase(t)
	c := newCluster(t, db, 3)
	c.waitHeld(30 * time.Second)
	l := c.startLoad(4)
	time.Sleep(2 * time.Second) // the undisturbed run, for the latency baseline

	// SIGSTOP the relay's holder.
	_, h := c.waitHeld(10 * time.Second)
	victim := c.holderOf(h, "relay/")
	t.Logf("holdings: %v; stopping %s", h, victim.name)
	baseFrom := time.Now().Add(-2 * time.Second)
	victim.up.Store(false) // the load balancer's health check takes it out
	stoppedAt := time.Now()
	c.signal(victim, syscall.SIGSTOP)
	took, after := c.waitHeld(takeoverBound + 10*time.Second)
	t.Logf("SIGSTOP %s: the others held everything after %s: %v", victim.name, took, after)
	if took > takeoverBound {
		t.Errorf("takeover after SIGSTOP took %s, want at most %s", took, takeoverBound)
	}
	time.Sleep(time.Until(stoppedAt.Add(freeze)))
	contAt := time.Now()
	c.signal(victim, syscall.SIGCONT)
	basep99, basen := l.p99(baseFrom, stoppedAt, "")
	freezep99, freezen := l.p99(stoppedAt, contAt, victim.name)
	t.Logf("list p99 on the healthy replicas: %s undisturbed (%d), %s during the %s freeze (%d)", basep99, basen, freezep99, freeze, freezen)
	subBase, subBasen := l.subscriptionP99(baseFrom, stoppedAt)
	subFreeze, subFreezen := l.subscriptionP99(stoppedAt, contAt)
	t.Logf("write-to-subscriber p99: %s undisturbed (%d writes), %s during the freeze (%d)", subBase, subBasen, subFreeze, subFreezen)
	// The old holder finds its lock sessions gone, and holds nothing.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(victim.current().logs.String(), "stopped publishing") {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not notice it lost the relay's lock after SIGCONT", victim.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim.up.Store(true)
	_, h = c.waitHeld(10 * time.Second)

	// SIGKILL the holder of the most projections.
	victim = c.replicas[0]
	for _, r := range c.replicas {
		if projections(h[r.name]) > projections(h[victim.name]) {
			victim = r
		}
	}
	c.kill(victim)
	took, after = c.waitHeld(takeoverBound + 10*time.Second)
	t.Logf("SIGKILL %s (%v): the others held everything after %s: %v", victim.name, h[victim.name], took, after)
	if took > takeoverBound {
		t.Errorf("takeover after SIGKILL took %s, want at most %s", took, takeoverBound)
	}
	c.start(victim)

	// A rolling restart.
	for _, r := range c.replicas {
		c.restart(r)
	}
	if failed := l.stop(); len(failed) > 0 {
		t.Errorf("%d requests failed (SIGSTOP, SIGKILL, rolling restart), the first: %v", len(failed), failed[:min(len(failed), 5)])
	}
	t.Logf("%d writes under the load", l.ops.Load())
	c.checkExact(t)
}

// checkExact checks, once the replicas caught up, that the broker holds
// every event of the log once and in log order, and that the read models
// equal a fresh replay.
func (c *cluster) checkExact(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, token, a, err := c.register(ctx, 0, "last", "last")
	if err != nil || len(a.Errors) > 0 {
		t.Fatalf("last write: %v %+v", err, a.Errors)
	}
	pool := openPool(t, c.db)
	logIDs := func() []string {
		rows, err := pool.Query(ctx, "SELECT event_id::text FROM events ORDER BY tx_id, seq")
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	// The broker is read before the log, each time: whatever the broker
	// holds was in the log by then, so an event appended meanwhile (by a
	// replica's background work) shows as one the broker lacks yet, not as
	// one the log lacks.
	var got, want []string
	for {
		if got, err = c.streamIDs(ctx); err != nil {
			t.Fatal(err)
		}
		want = logIDs()
		if len(got) >= len(want) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !reflect.DeepEqual(got, want) {
		i := firstDiff(got, want)
		t.Errorf("the broker holds %d messages, the log %d events; first difference at %d: %v against %v", len(got), len(want), i,
			got[i:min(len(got), i+3)], want[i:min(len(want), i+3)])
	} else {
		t.Logf("the broker holds each of the %d events once, in log order", len(want))
	}

	before := c.registerList(t, ctx, token)
	mustRiskreg(t, "replay", "--all", "--database-url", c.db)
	after := c.registerList(t, ctx, token)
	if len(before) < len(want)/2 || !reflect.DeepEqual(before, after) {
		t.Errorf("the read models (%d risks) differ from a fresh replay (%d risks)", len(before), len(after))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// registerList lists every risk of the register (its read model), after token.
func (c *cluster) registerList(t *testing.T, ctx context.Context, token string) []string {
	t.Helper()
	var all []string
	after := ""
	for {
		a, err := c.call(ctx, 0, `query($after: String) { risks(first: 500, after: $after) {
			edges { cursor node { id reference title status version band flagged } } pageInfo { hasNextPage } } }`,
			map[string]any{"after": after}, "X-Riskreg-Consistent-After", token)
		if err != nil || len(a.Errors) > 0 {
			t.Fatalf("list the register: %v %+v", err, a.Errors)
		}
		var out struct {
			Risks struct {
				Edges []struct {
					Cursor string
					Node   json.RawMessage
				}
				PageInfo struct{ HasNextPage bool }
			}
		}
		if err := json.Unmarshal(a.Data, &out); err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Risks.Edges {
			all = append(all, string(e.Node))
			after = e.Cursor
		}
		if !out.Risks.PageInfo.HasNextPage {
			return all
		}
	}
}

// TestServeOnNewerSchema: during a rolling upgrade, the first replica of the
// new release migrates the schema; a replica of the old release that starts
// (or restarts) then runs on it and is ready.
func TestServeOnNewerSchema(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pool := openPool(t, db)
	if _, err := pool.Exec(t.Context(), "UPDATE schema_migrations SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--addr", "127.0.0.1:0", "--database-url", db)
	s.expectGet(t, "/readyz", http.StatusOK, "ready")
	s.terminate(t)
}
