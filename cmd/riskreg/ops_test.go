package main

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/migrations"
)

// The rough edges of the commands: each says what is wrong and how to do it
// right.
func TestCommandMessages(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)

	stdout, stderr, code := riskreg(t, "verify", "--stream", "no-such-stream", "--database-url", url)
	if code != 1 || !strings.Contains(stdout, "stream no-such-stream does not exist") || strings.Contains(stdout, "intact") {
		t.Errorf("verify of an unknown stream: exit %d, stdout %q, stderr %q; want exit 1 and 'does not exist'", code, stdout, stderr)
	}

	_, stderr, code = riskreg(t, "token", "revoke", "--database-url", url)
	if code != 2 || !strings.Contains(stderr, "token revoke needs the ID") || !strings.Contains(stderr, "Usage: riskreg token") {
		t.Errorf("token revoke without an id: exit %d, stderr %q; want 2 and a usage line", code, stderr)
	}

	count, err := migrations.Count()
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code = riskreg(t, "migrate", "down", strconv.Itoa(count+1), "--database-url", url)
	if code != 1 || !strings.Contains(stderr, "cannot roll back "+strconv.Itoa(count+1)+" migrations") ||
		!strings.Contains(stderr, "down "+strconv.Itoa(count)+" rolls back all of them") {
		t.Errorf("migrate down past the first: exit %d, stderr %q", code, stderr)
	}
	latest, _ := migrations.Latest()
	if got := strings.TrimSpace(mustRiskreg(t, "migrate", "version", "--database-url", url)); got != strconv.Itoa(int(latest)) {
		t.Errorf("a refused migrate down changed the version to %s", got)
	}
}

// token create gives a token 90 days by default; --expires takes days, Go
// durations and never, and refuses anything else.
func TestTokenLifetimes(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	create := func(expires ...string) string {
		t.Helper()
		args := append([]string{"token", "create", "--subject", "sam", "--role", "staff", "--database-url", url}, expires...)
		return strings.Split(strings.TrimSpace(mustRiskreg(t, args...)), "_")[1]
	}
	ids := map[string]string{create(): "90d", create("--expires", "30d"): "30d", create("--expires", "never"): "never"}
	for _, line := range strings.Split(mustRiskreg(t, "token", "list", "--database-url", url), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		created, err := time.Parse(time.RFC3339, f[4])
		if err != nil {
			t.Fatal(err)
		}
		var want string
		switch ids[f[0]] {
		case "90d":
			want = created.Add(90 * 24 * time.Hour).Format(time.RFC3339)
		case "30d":
			want = created.Add(30 * 24 * time.Hour).Format(time.RFC3339)
		case "never":
			want = "never"
		}
		if f[5] != want {
			t.Errorf("token %s (%s) expires %s, want %s", f[0], ids[f[0]], f[5], want)
		}
	}
	for _, bad := range []string{"0d", "-1h", "soon", "1.5d"} {
		if _, stderr, code := riskreg(t, "token", "create", "--subject", "sam", "--role", "staff", "--expires", bad, "--database-url", url); code != 2 ||
			!strings.Contains(stderr, "--expires") {
			t.Errorf("--expires %s: exit %d, stderr %q; want 2", bad, code, stderr)
		}
	}
}

// Only serve and migrate up create the embedded PostgreSQL's data
// directory; the other commands say where they looked and how to point them
// at the right one, and create nothing.
func TestOnlyServeAndMigrateUpCreateTheDataDir(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"token", "list"}, {"verify"}, {"migrate", "version"}, {"replay", "--all"}} {
		cmd := command(t, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		want := filepath.Join(cmd.Dir, "riskreg-data")
		if err == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "no riskreg database in "+want) ||
			!strings.Contains(stderr.String(), "--data-dir") || !strings.Contains(stderr.String(), "--database-url") {
			t.Errorf("riskreg %v without a data dir: %v, stderr:\n%s", args, err, stderr.String())
		}
		if _, err := os.Stat(want); !os.IsNotExist(err) {
			t.Errorf("riskreg %v created %s (%v)", args, want, err)
		}
	}
}

// /readyz tells an anonymous caller that the database is unavailable, never
// its user, host or port; /healthz fails while the embedded PostgreSQL is
// down for good.
func TestHealthAnswersNameNoDatabase(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(t.Context(), "postgres://secretuser@127.0.0.1:1/secretdb?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	down := errors.New("pgembed: PostgreSQL is down")
	h := newHandler(pool, 1, func() error { return down }, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, body := get(t, srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || body != "not ready: database unavailable\n" {
		t.Errorf("/readyz = %d %q, want 503 and no database details", code, body)
	}
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusServiceUnavailable || strings.Contains(body, "secret") {
		t.Errorf("/healthz with PostgreSQL down = %d %q, want 503", code, body)
	}
}
