package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/riskreg/riskreg/graph"
)

// TestExplorerOnlyWithIntrospection checks that a browser's GET /graphql
// gets the explorer while introspection is on, and the API's refusal
// without a token when it is off.
func TestExplorerOnlyWithIntrospection(t *testing.T) {
	for _, off := range []bool{false, true} {
		e := newEnv(t, func(o *graph.Options) { o.DisableIntrospection = off })
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/graphql", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		html := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
		if off && (resp.StatusCode != http.StatusUnauthorized || html) {
			t.Fatalf("introspection off: %d %s, want the API's 401", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !off && (resp.StatusCode != http.StatusOK || !html) {
			t.Fatalf("introspection on: %d %s, want the explorer", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
