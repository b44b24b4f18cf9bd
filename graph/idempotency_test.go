package graph_test

import (
	"sync"
	"testing"

	"github.com/riskreg/riskreg/internal/pgtest"
)

// TestConcurrentIdempotencyKey: 100 registerRisk and then 100 assessRisk
// with one idempotency key, sent at once to two servers on one database (two
// replicas), all answer the first call's result, and the log holds each
// command's events once.
func TestConcurrentIdempotencyKey(t *testing.T) {
	pool := pgtest.NewPool(t)
	servers := []*env{newEnvOn(t, pool), newEnvOn(t, pool)}
	staff := servers[0].token(t, "sam", staffRole)
	const n = 100
	send := func(query string, in map[string]any) []result {
		answers := make([]result, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				answers[i] = servers[i%2].post(t, staff, query, vars{"in": in})
			})
		}
		close(start)
		wg.Wait()
		return answers
	}

	in := riskInput("Concurrent once")
	in["idempotencyKey"] = "same-key"
	var ids, refs = map[string]int{}, map[string]int{}
	for _, a := range send(`mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id reference } }`, in) {
		var out struct {
			RegisterRisk struct{ ID, Reference string }
		}
		if len(a.Errors) > 0 {
			t.Errorf("registerRisk: %+v", a.Errors)
			continue
		}
		a.decode(t, &out)
		ids[out.RegisterRisk.ID]++
		refs[out.RegisterRisk.Reference]++
	}
	if len(ids) != 1 || len(refs) != 1 {
		t.Fatalf("%d answers gave ids %v and references %v, want one of each", n, ids, refs)
	}
	var id string
	for id = range ids {
	}

	assess := map[string]any{"id": id, "expectedVersion": 1, "kind": "INHERENT",
		"likelihood": 4, "impact": 4, "rationale": "high", "idempotencyKey": "same-assess"}
	versions := map[int]int{}
	for _, a := range send(`mutation($in: AssessRiskInput!) { assessRisk(input: $in) { version } }`, assess) {
		var out struct{ AssessRisk struct{ Version int } }
		if len(a.Errors) > 0 {
			t.Errorf("assessRisk: %+v", a.Errors)
			continue
		}
		a.decode(t, &out)
		versions[out.AssessRisk.Version]++
	}
	if len(versions) != 1 || versions[2] != n {
		t.Errorf("assessRisk versions %v, want %d times 2", versions, n)
	}
	var count int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM events").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 2 {
		t.Errorf("%d events recorded, want 2", count)
	}
}
