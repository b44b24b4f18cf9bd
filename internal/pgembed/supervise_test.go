package pgembed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// waitFor polls cond every 20 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commitKept commits a row to table kept.
func commitKept(t *testing.T, c *Cluster) {
	t.Helper()
	execSQL(t, c, "CREATE TABLE kept (v text)")
	execSQL(t, c, "INSERT INTO kept VALUES ('committed')")
}

// kill ends the server process p outright and waits until it has exited.
func kill(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// A supervised server killed outright is started again on the same port and
// recovers its committed data; while it cannot be started, Health says so.
func TestSupervisedRestartAfterKill(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	c := startCluster(t, Config{DataDir: dir, Supervise: true})
	commitKept(t, c)
	first := c.current()
	kill(t, first)
	waitFor(t, 10*time.Second, "restart after SIGKILL", func() bool { return c.current() != first })
	if got := queryString(t, c, "SELECT v FROM kept"); got != "committed" {
		t.Errorf("after the restart: %q", got)
	}
	if err := c.Health(); err != nil {
		t.Errorf("Health after the restart: %v", err)
	}

	// A data directory that no longer holds a cluster cannot be started:
	// Health reports it until the directory is whole again.
	second := c.current()
	version := filepath.Join(dir, "PG_VERSION")
	if err := os.Rename(version, version+".away"); err != nil {
		t.Fatal(err)
	}
	if err := second.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "Health reports the failed restart", func() bool { return errors.Is(c.Health(), ErrDown) })
	if err := os.Rename(version+".away", version); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "restart once the directory is whole", func() bool { return c.Health() == nil })
	if got := queryString(t, c, "SELECT v FROM kept"); got != "committed" {
		t.Errorf("after the second restart: %q", got)
	}
	stopCluster(t, c)
}

// Unsupervised, a dead server stays dead and Health says so.
func TestUnsupervisedHealth(t *testing.T) {
	requireBinaries(t)
	c := startCluster(t, Config{DataDir: dataDir(t)})
	if err := c.Health(); err != nil {
		t.Fatalf("Health of a running server: %v", err)
	}
	kill(t, c.current())
	if err := c.Health(); !errors.Is(err, ErrDown) {
		t.Errorf("Health of a killed server: %v, want ErrDown", err)
	}
}

// The cluster takes only password logins over loopback TCP: without the
// password there is no way in as the superuser, and it has no Unix socket.
func TestPasswordRequired(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	c := startCluster(t, Config{DataDir: dir})
	if got := queryString(t, c, "SELECT current_user"); got != superuser {
		t.Fatalf("with the password: %q", got)
	}
	conn, err := pgx.Connect(t.Context(), fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", superuser, c.port))
	if err == nil {
		conn.Close(t.Context())
		t.Fatal("connected as the superuser without its password")
	}
	if got := queryString(t, c, "SELECT current_setting('unix_socket_directories')"); got != "" {
		t.Errorf("unix_socket_directories = %q, want none", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, passwordName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v %v, want mode 0600", fi, err)
	}
	// A second process finds the password of the running server.
	second := startCluster(t, Config{DataDir: dir})
	if got := queryString(t, second, "SELECT current_user"); got != superuser {
		t.Errorf("the second process: %q", got)
	}
}
