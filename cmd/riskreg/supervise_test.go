package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tryGraphQL posts query with token and returns the status and the decoded
// answer, or status 0 when there was no JSON answer.
func tryGraphQL(ctx context.Context, addr, token, query string) (int, map[string]any) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return 0, nil
	}
	return resp.StatusCode, out
}

// SIGKILL of the embedded PostgreSQL's postmaster under a running serve:
// serve starts it again, answers again within 10 s, and the risk it
// acknowledged before the kill is still there.
func TestServeSurvivesPostmasterKill(t *testing.T) {
	t.Parallel()
	dataDir := embeddedDataDir(t)
	s := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	token := strings.TrimSpace(mustRiskreg(t, "token", "create", "--subject", "sam", "--role", "staff", "--data-dir", dataDir))

	status, out := tryGraphQL(t.Context(), s.addr, token, `mutation { registerRisk(input: {title: "Kept",
		description: "cause -> event -> consequence", category: "Operational", source: "Audit Plan", owner: "Director"}) { id reference } }`)
	risk := field(out, "data", "registerRisk")
	if status != http.StatusOK || risk == nil {
		t.Fatalf("registerRisk: %d %v", status, out)
	}

	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	query := `{ risk(id: "` + risk["id"].(string) + `") { reference } }`
	for {
		status, out = tryGraphQL(t.Context(), s.addr, token, query)
		got := field(out, "data", "risk")
		if status == http.StatusOK && got != nil {
			if got["reference"] != risk["reference"] {
				t.Errorf("after the restart the risk reads %v, want %v", got, risk)
			}
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("no answer within 10 s of the kill; last %d %v; log:\n%s", status, out, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("answering again %v after the kill", time.Since(killed).Round(time.Millisecond))

	// Writes go on with the next reference, and the read models (the
	// projection runners reconnected) show both risks.
	status, out = tryGraphQL(t.Context(), s.addr, token, `mutation { registerRisk(input: {title: "After",
		description: "cause -> event -> consequence", category: "Operational", source: "Audit Plan", owner: "Director"}) { reference } }`)
	if got := field(out, "data", "registerRisk"); status != http.StatusOK || got["reference"] != "R-0002" {
		t.Errorf("registerRisk after the restart: %d %v, want R-0002", status, out)
	}
	status, out = tryGraphQL(t.Context(), s.addr, token, `{ risks { totalCount } }`)
	if got := field(out, "data", "risks"); status != http.StatusOK || got["totalCount"] != 2.0 {
		t.Errorf("risks after the restart: %d %v, want totalCount 2", status, out)
	}
	s.expectGet(t, "/healthz", http.StatusOK, "ok")
	s.terminate(t)
}

// field returns the object at path in a decoded JSON answer, or nil.
func field(v map[string]any, path ...string) map[string]any {
	for _, name := range path {
		v, _ = v[name].(map[string]any)
	}
	return v
}

// embeddedDataDir returns a data directory for serve's embedded PostgreSQL
// in a temporary directory that the postgres account can reach, for when
// the tests run as root.
func embeddedDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "riskreg-data")
}
