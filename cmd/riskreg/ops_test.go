package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/migrations"
)

// The rough edges of the commands: each says what is wrong and how to do it
// right.
func TestCommandMessages(t *testing.T) {
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
