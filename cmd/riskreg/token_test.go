package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riskreg/riskreg/internal/pgtest"
)

// graphqlPost posts query to serve's /graphql with token (none when "") and
// returns the status and the decoded answer.
func graphqlPost(t *testing.T, addr, token, query string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return resp.StatusCode, out
}

func TestTokenCommandsAndServe(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	token := strings.TrimSpace(mustRiskreg(t, "token", "create", "--subject", "sam", "--role", "staff", "--role", "auditor",
		"--expires", "1h", "--database-url", url))
	if !strings.HasPrefix(token, "rr_") || strings.Count(token, "\n") != 0 {
		t.Fatalf("token create printed %q, want one rr_ token", token)
	}
	id := strings.Split(token, "_")[1]
	list := mustRiskreg(t, "token", "list", "--database-url", url)
	if !strings.Contains(list, id) || !strings.Contains(list, "sam") || !strings.Contains(list, "staff,auditor") ||
		!strings.Contains(list, "active") || strings.Contains(list, token) {
		t.Errorf("token list:\n%s\nwant the id, subject, roles and state, never the token", list)
	}

	s := startServe(t, "--addr", "127.0.0.1:0", "--database-url", url)
	status, out := graphqlPost(t, s.addr, token, `{ me { subject roles } }`)
	if me, _ := out["data"].(map[string]any)["me"].(map[string]any); status != http.StatusOK || me["subject"] != "sam" {
		t.Errorf("me with the token: %d %v", status, out)
	}
	if status, out := graphqlPost(t, s.addr, "", `{ me { subject } }`); status != http.StatusUnauthorized || !strings.Contains(mustJSON(out), "UNAUTHENTICATED") {
		t.Errorf("me without a token: %d %v", status, out)
	}
	s.expectGet(t, "/healthz", http.StatusOK, "ok")
	if code, body := get(t, "http://"+s.addr+"/metrics"); code != http.StatusOK || !strings.Contains(body, "riskreg_graphql_operations_total") {
		t.Errorf("/metrics = %d, missing the GraphQL metrics", code)
	}

	mustRiskreg(t, "token", "revoke", id, "--database-url", url)
	if status, _ := graphqlPost(t, s.addr, token, `{ me { subject } }`); status != http.StatusUnauthorized {
		t.Errorf("me with a revoked token: %d, want 401", status)
	}
	if list := mustRiskreg(t, "token", "list", "--database-url", url); !strings.Contains(list, "revoked") {
		t.Errorf("token list after revoke:\n%s", list)
	}
	s.terminate(t)
	if strings.Contains(s.logs.String(), token) {
		t.Error("the server log contains the token")
	}

	if _, _, code := riskreg(t, "token", "create", "--subject", "x", "--role", "janitor", "--database-url", url); code != 2 {
		t.Errorf("token create with an unknown role exited %d, want 2", code)
	}
	if _, _, code := riskreg(t, "token", "revoke", "0000000000000000", "--database-url", url); code != 1 {
		t.Errorf("revoking an unknown token exited %d, want 1", code)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
