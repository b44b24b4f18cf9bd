package graph_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// withExtensions is a GraphQL answer with its extensions.
type withExtensions struct {
	Extensions map[string]any `json:"extensions"`
}

// TestConsistencyToken: a mutation answers with its log position in a header
// and in its extensions; a query that sends it back is answered once the read
// models reached it, also by another replica (a second server on the same
// database); a malformed token is BAD_USER_INPUT and one the read models do
// not reach in time is CONSISTENCY_TIMEOUT.
func TestConsistencyToken(t *testing.T) {
	pool := pgtest.NewPool(t)
	short := func(o *graph.Options) { o.ConsistencyTimeout = 300 * time.Millisecond }
	a := newEnvOn(t, pool)
	b := newEnvOn(t, pool)
	staff := a.token(t, "sam", staffRole)
	register := `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`
	list := `query($s: String) { risks(filter: {search: $s}) { totalCount } }`

	var wg sync.WaitGroup
	var mu sync.Mutex
	stale := 0
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				title := fmt.Sprintf("pair %d-%d", w, i)
				res, ext := a.postExt(t, staff, register, vars{"in": riskInput(title)})
				if res.code() != "" {
					t.Errorf("register: %+v", res.Errors)
					return
				}
				token := res.Header.Get(graph.ConsistencyTokenHeader)
				if token == "" || ext[graph.ConsistencyTokenExtension] != token {
					t.Errorf("token header %q, extension %v", token, ext[graph.ConsistencyTokenExtension])
					return
				}
				var out struct{ Risks struct{ TotalCount int } }
				b.postExtDecode(t, staff, list, vars{"s": title}, &out, graph.ConsistentAfterHeader, token)
				if out.Risks.TotalCount != 1 {
					mu.Lock()
					stale++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if stale > 0 {
		t.Errorf("%d of 100 reads on the other server missed the write they carried the token of", stale)
	}

	// The token also rides in the request's extensions.
	res, _ := a.postExt(t, staff, register, vars{"in": riskInput("by extension")})
	token := res.Header.Get(graph.ConsistencyTokenHeader)
	body, _ := json.Marshal(map[string]any{"query": list, "variables": vars{"s": "by extension"},
		"extensions": map[string]any{graph.ConsistentAfterExtension: token}})
	var out struct{ Risks struct{ TotalCount int } }
	b.send(t, staff, body).decode(t, &out)
	if out.Risks.TotalCount != 1 {
		t.Errorf("read with the token in its extensions: %d risks, want 1", out.Risks.TotalCount)
	}

	// Queries carry no token.
	if q, ext := a.postExt(t, staff, list, vars{"s": "x"}); q.Header.Get(graph.ConsistencyTokenHeader) != "" || ext[graph.ConsistencyTokenExtension] != nil {
		t.Errorf("a query answered with a token: %q %v", q.Header.Get(graph.ConsistencyTokenHeader), ext)
	}
	if r, _ := b.postExt(t, staff, list, vars{"s": "x"}, graph.ConsistentAfterHeader, "not a token"); r.code() != graph.CodeBadUserInput {
		t.Errorf("malformed token: %+v, want BAD_USER_INPUT", r.Errors)
	}
	ahead := "7fffffffffffffff0000000000000001"
	if r, _ := newEnvOn(t, pool, short).postExt(t, staff, list, vars{"s": "x"}, graph.ConsistentAfterHeader, ahead); r.code() != graph.CodeConsistencyTimeout {
		t.Errorf("token beyond the log: %+v, want CONSISTENCY_TIMEOUT", r.Errors)
	}
}

// postExt posts and returns the answer and its extensions.
func (e *env) postExt(t testing.TB, token, query string, variables vars, header ...string) (result, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		t.Fatal(err)
	}
	r := e.send(t, token, body, header...)
	var ext withExtensions
	if err := json.Unmarshal(r.Raw, &ext); err != nil {
		t.Fatal(err)
	}
	return r, ext.Extensions
}

// postExtDecode is postExt that decodes the data into v and fails on errors.
func (e *env) postExtDecode(t testing.TB, token, query string, variables vars, v any, header ...string) {
	t.Helper()
	r, _ := e.postExt(t, token, query, variables, header...)
	r.decode(t, v)
}
