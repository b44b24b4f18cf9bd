package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/migrations"
)

// binary is the riskreg command built for these tests.
var binary string

// buildFlags are the go build flags of binary: those the tests were built
// with (see race_test.go).
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "riskreg-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "riskreg")
	if out, err := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// command returns the riskreg command with args, in an environment that
// names no database of its own.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "RISKREG_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Dir = t.TempDir()
	return cmd
}

// riskreg runs the command to its end and returns its output and exit code.
func riskreg(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := command(t, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run riskreg %v: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func mustRiskreg(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := riskreg(t, args...)
	if code != 0 {
		t.Fatalf("riskreg %v exited %d:\n%s", args, code, stderr)
	}
	return stdout
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		wantCode int
		inStdout bool
	}{
		{nil, 2, false},
		{[]string{"help"}, 0, true},
		{[]string{"frobnicate"}, 2, false},
		{[]string{"migrate"}, 2, false},
		{[]string{"migrate", "sideways"}, 2, false},
		{[]string{"migrate", "down"}, 2, false},
		{[]string{"migrate", "down", "0"}, 2, false},
		{[]string{"serve", "extra"}, 2, false},
		{[]string{"serve", "--no-such-flag"}, 2, false},
	} {
		stdout, stderr, code := riskreg(t, tc.args...)
		if code != tc.wantCode {
			t.Errorf("riskreg %v exited %d, want %d", tc.args, code, tc.wantCode)
		}
		usage := stderr
		if tc.inStdout {
			usage = stdout
		}
		if !strings.Contains(usage, "Usage: riskreg") && !strings.Contains(usage, "migrate up") {
			t.Errorf("riskreg %v printed no usage; stdout:\n%s\nstderr:\n%s", tc.args, stdout, stderr)
		}
	}
	if stdout, _, _ := riskreg(t, "help"); !strings.Contains(stdout, "serve") || !strings.Contains(stdout, "migrate down N") {
		t.Errorf("help does not list the commands:\n%s", stdout)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatUint(uint64(latest), 10)
	count, err := migrations.Count()
	if err != nil {
		t.Fatal(err)
	}

	mustRiskreg(t, "migrate", "down", strconv.Itoa(count), "--database-url", url)
	if got := strings.TrimSpace(mustRiskreg(t, "migrate", "version", "--database-url", url)); got != "0" {
		t.Errorf("version after migrating all the way down = %q, want 0", got)
	}
	mustRiskreg(t, "migrate", "--database-url", url, "up")
	if got := strings.TrimSpace(mustRiskreg(t, "migrate", "version", "--database-url", url)); got != want {
		t.Errorf("version after up = %q, want %s", got, want)
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := startServe(t, "--addr", "127.0.0.1:0", "--database-url", url)
	s.expectGet(t, "/healthz", http.StatusOK, "ok")
	s.expectGet(t, "/readyz", http.StatusOK, "ready")
	// The web console at /: a browser is sent to sign in.
	if code, body := get(t, "http://"+s.addr+"/"); code != http.StatusOK || !strings.Contains(body, `<label for="token">Token</label>`) {
		t.Errorf("GET / = %d, want the console's sign-in page:\n%s", code, body)
	}
	if code, _ := get(t, "http://"+s.addr+"/graphql/explorer/explorer.js"); code != http.StatusOK {
		t.Errorf("GET the GraphQL explorer's script = %d", code)
	}
	s.terminate(t)
}

// With no database URL, serve runs its own durable PostgreSQL in --data-dir
// and stops it on SIGTERM; a second run finds the data again.
func TestServeEmbedded(t *testing.T) {
	t.Parallel()
	dataDir := embeddedDataDir(t)
	for range 2 {
		s := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", dataDir)
		s.expectGet(t, "/readyz", http.StatusOK, "ready")
		s.terminate(t)
		if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); !os.IsNotExist(err) {
			t.Errorf("embedded PostgreSQL still running after serve exited (postmaster.pid: %v)", err)
		}
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(pool, latest, func() error { return nil }, slog.New(slog.NewTextHandler(t.Output(), nil))))
	defer srv.Close()
	expect := func(status int, body string) {
		t.Helper()
		code, got := get(t, srv.URL+"/readyz")
		if code != status || !strings.Contains(got, body) {
			t.Errorf("/readyz = %d %q, want %d %q", code, got, status, body)
		}
	}
	expect(http.StatusOK, "ready")
	// As if the binary were newer than the schema.
	if _, err := pool.Exec(t.Context(), "UPDATE schema_migrations SET version = version - 1"); err != nil {
		t.Fatal(err)
	}
	expect(http.StatusServiceUnavailable, "schema version")
}

// server is a running "riskreg serve".
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	logs *bytes.Buffer // stderr after the "listening" line
}

// startServe starts "riskreg serve args..." and waits until it listens.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	// No drain: these tests stop serve with no load balancer to tell.
	cmd := command(t, append([]string{"serve", "--drain", "0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), logs: new(bytes.Buffer)}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // fails harmlessly once it has exited

	listening := make(chan string, 1)
	var early bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				listening <- line.Addr
				break
			}
			early.Write(sc.Bytes())
			early.WriteByte('\n')
		}
		_, _ = io.Copy(s.logs, stderr)
		s.done <- cmd.Wait()
	}()
	select {
	case s.addr = <-listening:
		return s
	case err := <-s.done:
		if strings.Contains(early.String(), "no PostgreSQL server binaries") {
			t.Skipf("skipping: %s", early.String())
		}
		t.Fatalf("serve exited before listening (%v):\n%s", err, early.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not listen within 2 minutes")
	}
	return nil
}

func (s *server) expectGet(t *testing.T, path string, status int, body string) {
	t.Helper()
	code, got := get(t, "http://"+s.addr+path)
	if code != status || got != body {
		t.Errorf("GET %s = %d %q, want %d %q", path, code, got, status, body)
	}
}

// terminate sends SIGTERM and expects serve to exit 0.
func (s *server) terminate(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM; log:\n%s", err, s.logs)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not exit within a minute of SIGTERM")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
