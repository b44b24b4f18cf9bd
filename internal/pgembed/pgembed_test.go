package pgembed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// These tests run real PostgreSQL servers. They skip when the machine has no
// server binaries, saying so; TestFindBinDirMissing covers that case itself.
func requireBinaries(t *testing.T) {
	t.Helper()
	if _, err := findBinDir(t.Context(), "", defaultSearch); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// dataDir returns a path for a new data dir in a test temp dir that the
// postgres account can reach when the tests run as root (t.TempDir's parent
// is made with mode 0700).
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "data")
}

func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func stopCluster(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func execSQL(t *testing.T, c *Cluster, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryString(t *testing.T, c *Cluster, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartQueryStop(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	c := startCluster(t, Config{DataDir: dir, Throwaway: true})

	if got := queryString(t, c, "SELECT 'hello'"); got != "hello" {
		t.Errorf("SELECT 'hello' = %q", got)
	}
	for _, setting := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		if got := queryString(t, c, "SHOW "+setting); got != "off" {
			t.Errorf("throwaway cluster: %s = %q, want off", setting, got)
		}
	}
	if got := queryString(t, c, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, logName)); err != nil {
		t.Errorf("server log: %v", err)
	}
	if !strings.Contains(c.URL("x"), "sslmode=disable") || !strings.HasSuffix(strings.Split(c.URL("x"), "?")[0], "/x") {
		t.Errorf("URL(x) = %q", c.URL("x"))
	}

	stopCluster(t, c)
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v, want it gone", err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v, want the first result (nil)", err)
	}
	if _, err := pgx.Connect(t.Context(), c.URL("postgres")); err == nil {
		t.Error("connected after Stop")
	}
}

func TestRestartKeepsData(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	c := startCluster(t, Config{DataDir: dir})
	for _, setting := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		if got := queryString(t, c, "SHOW "+setting); got != "on" {
			t.Errorf("durable cluster: %s = %q, want on", setting, got)
		}
	}
	execSQL(t, c, "CREATE TABLE kept (v text)")
	execSQL(t, c, "INSERT INTO kept VALUES ('still here')")
	stopCluster(t, c)

	c = startCluster(t, Config{DataDir: dir})
	if got := queryString(t, c, "SELECT v FROM kept"); got != "still here" {
		t.Errorf("after restart: %q", got)
	}
}

// A postmaster.pid that names a process which no longer runs, as a crash
// leaves it, must not block the next start.
func TestStalePidFile(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	c := startCluster(t, Config{DataDir: dir})
	pidFile := filepath.Join(dir, "postmaster.pid")
	running, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	stopCluster(t, c)

	dead := deadPid(t)
	lines := strings.Split(string(running), "\n")
	lines[0] = strconv.Itoa(dead)
	if err := os.WriteFile(pidFile, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if acct, err := serverAccount(); err != nil {
		t.Fatal(err)
	} else if err := acct.chown(pidFile); err != nil {
		t.Fatal(err)
	}

	c = startCluster(t, Config{DataDir: dir})
	if got := queryString(t, c, "SELECT 'up'"); got != "up" {
		t.Errorf("after stale pid file: %q", got)
	}
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return p.Pid
}

// A server killed outright leaves its pid file and unflushed work behind; the
// next start recovers, and committed data survives in a durable cluster.
func TestRestartAfterCrash(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	c := startCluster(t, Config{DataDir: dir})
	commitKept(t, c)
	kill(t, c.current())
	waitForOrphans(t, dir)

	c = startCluster(t, Config{DataDir: dir})
	if got := queryString(t, c, "SELECT v FROM kept"); got != "committed" {
		t.Errorf("after crash: %q", got)
	}
}

// waitForOrphans waits until no process runs with its working directory in
// dir: the children of a killed postmaster exit on their own soon after it,
// and a new postmaster refuses to start while they hold its shared memory.
func waitForOrphans(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if len(processesIn(dir)) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("processes still running in %s: %v", dir, processesIn(dir))
}

func processesIn(dir string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && cwd == dir {
			pids = append(pids, strings.Split(p, "/")[2])
		}
	}
	return pids
}

func TestStartFailureShowsServerLog(t *testing.T) {
	requireBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = Start(t.Context(), Config{DataDir: dataDir(t), Port: port})
	if err == nil {
		t.Fatal("Start on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), "could not bind") || !strings.Contains(err.Error(), logName) {
		t.Errorf("error does not show the server log's reason: %v", err)
	}
}

func TestFindBinDirMissing(t *testing.T) {
	empty := t.TempDir()
	s := binSearch{pgConfig: filepath.Join(empty, "pg_config"), glob: filepath.Join(empty, "*", "bin")}
	_, err := findBinDir(t.Context(), "", s)
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
	if !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("error does not say how to install the binaries: %v", err)
	}

	_, err = Start(t.Context(), Config{DataDir: filepath.Join(empty, "data"), BinDir: empty})
	if !errors.Is(err, ErrNoBinaries) {
		t.Errorf("Start with an empty BinDir: %v, want ErrNoBinaries", err)
	}
}

func TestFindBinDirPrefersDataDirVersionThenNewest(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "13", "15"} {
		fakeBinDir(t, filepath.Join(root, v, "bin"))
	}
	if err := os.MkdirAll(filepath.Join(root, "17", "bin"), 0o755); err != nil { // no binaries in it
		t.Fatal(err)
	}
	s := binSearch{pgConfig: filepath.Join(root, "no-pg_config"), glob: filepath.Join(root, "*", "bin")}
	for prefer, want := range map[string]string{"": "15", "13": "13", "12": "15"} {
		got, err := findBinDir(t.Context(), prefer, s)
		if err != nil {
			t.Fatal(err)
		}
		if got != filepath.Join(root, want, "bin") {
			t.Errorf("findBinDir(prefer %q) = %s, want version %s", prefer, got, want)
		}
	}
}

func fakeBinDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnreachableDataDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another account")
	}
	requireBinaries(t)
	private := filepath.Join(dataDir(t), "private")
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Config{DataDir: filepath.Join(private, "data")})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), private) {
		t.Errorf("err = %v, want one that names %s as unreachable", err, private)
	}
}

func TestNonEmptyDirWithoutCluster(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("err = %v, want a not-empty error", err)
	}
}

func TestValidate(t *testing.T) {
	for _, cfg := range []Config{{}, {DataDir: "x", Port: -1}, {DataDir: "x", Port: 70000}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", cfg)
		}
	}
	if err := (Config{DataDir: "x"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"9.6", "15", -1}, {"15", "15", 0}, {"16", "15", 1}, {"9.6", "9.5", 1}} {
		got := compareVersions(tc.a, tc.b)
		if (got < 0) != (tc.want < 0) || (got > 0) != (tc.want > 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign of %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// The server must not outlive a caller that dies without calling Stop.
func TestServerStopsWhenCallerDies(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	cmd := osexec.Command(os.Args[0], "-test.run=^TestHelperCaller$")
	cmd.Env = append(os.Environ(), "PGEMBED_HELPER_DATA_DIR="+dir)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("helper did not report its server: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			t.Fatalf("server %d still runs after its caller died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitForOrphans(t, dir)
}

// TestHelperCaller is the caller that TestServerStopsWhenCallerDies kills:
// it starts a server, prints its pid and waits to be killed.
func TestHelperCaller(t *testing.T) {
	dir := os.Getenv("PGEMBED_HELPER_DATA_DIR")
	if dir == "" {
		t.Skip("helper process for TestServerStopsWhenCallerDies")
	}
	c, err := Start(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(c.current().cmd.Process.Pid)
	time.Sleep(time.Minute)
}

// TestSecondStartUsesTheRunningServer: a second riskreg on the same data
// directory (say "token create" while serve runs) uses the running server
// and leaves it running when it stops.
func TestSecondStartUsesTheRunningServer(t *testing.T) {
	requireBinaries(t)
	dir := dataDir(t)
	first := startCluster(t, Config{DataDir: dir, Throwaway: true})
	second := startCluster(t, Config{DataDir: dir, Throwaway: true})
	if first.URL("postgres") != second.URL("postgres") {
		t.Fatalf("second start serves %s, want the running server's %s", second.URL("postgres"), first.URL("postgres"))
	}
	if err := second.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, first, "SELECT 'still up'"); got != "still up" {
		t.Errorf("after the second stopped: %q", got)
	}
}
