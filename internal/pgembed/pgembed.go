// Package pgembed runs a private PostgreSQL server for riskreg: a cluster in a
// data directory of its own, started from the PostgreSQL server binaries
// installed on the machine, listening on 127.0.0.1 only (no Unix socket),
// with password authentication for the "postgres" superuser, whose random
// password is kept in the data directory (which only the server's account
// can read).
//
// The data directory is kept across restarts (initdb runs only when it has no
// PG_VERSION file). The server runs as a child process of the caller, in its
// own process group so that a terminal's Ctrl-C reaches only the caller, and
// it is told to shut down when the caller dies, so a crashed caller leaves no
// server behind. A postmaster.pid left by a crash does not block the next
// start: PostgreSQL replaces a lock file whose process is gone.
//
// PostgreSQL refuses to run as root. When the caller is root, pgembed runs
// initdb and the server as the unprivileged "postgres" account, and the data
// directory is owned by that account.
package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// superuser is the database superuser that initdb creates. It logs in with
// the password in the data directory (auth.go).
const superuser = "postgres"

const (
	logName      = "server.log"
	maxLogSize   = 10 << 20 // rotate server.log at start once it is larger
	logTailLines = 30
	startTries   = 3 // attempts when a port picked by pgembed is taken meanwhile
)

// Config says where and how to run a cluster. The zero value is not usable:
// DataDir is required.
type Config struct {
	// DataDir is the cluster's data directory. It is created and initialised
	// when it does not hold a cluster yet, and kept afterwards.
	DataDir string
	// BinDir holds initdb and postgres. Empty means: the directory that
	// `pg_config --bindir` names, else the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// Throwaway turns fsync, synchronous_commit and full_page_writes off, for
	// a test's own cluster only: a crash of such a cluster can lose or corrupt
	// its data. Such a cluster also takes loopback logins without a password.
	// The zero value keeps every durability and login setting on.
	Throwaway bool
	// NoInit refuses a DataDir that holds no cluster yet (the error wraps
	// ErrNoCluster) instead of creating one there.
	NoInit bool
	// Supervise restarts the server when it ends without Stop (a crash, a
	// kill): the new server recovers from its write-ahead log, on the same
	// port, so connection URLs stay valid. Health says whether it runs.
	Supervise bool
	// Logger receives pgembed's own progress messages (not the server's log,
	// which goes to server.log in DataDir). Nil discards them.
	Logger *slog.Logger
}

// Validate reports whether c can be used to start a cluster.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("pgembed: Config.DataDir is required")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("pgembed: Config.Port %d is out of range 0..65535", c.Port)
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DataDir != "" {
		abs, err := filepath.Abs(c.DataDir)
		if err != nil {
			return c, fmt.Errorf("pgembed: data dir: %w", err)
		}
		c.DataDir = abs
	}
	return c, nil
}

// Cluster is a running PostgreSQL server started by Start.
type Cluster struct {
	cfg      Config
	acct     *account
	port     int
	password string // the superuser's; "" for a cluster still on trust
	// attached is set when another process runs the server (Start found it
	// running in the data directory): Stop then leaves it running.
	attached bool

	// life ends when Stop is called; it ends a restart under way.
	life    context.Context
	endLife context.CancelFunc
	// supervised is closed when the supervisor has ended (at once when
	// Config.Supervise is off).
	supervised chan struct{}

	mu   sync.Mutex
	cur  *proc // the server process now, or the last one
	down error // why the server is down and could not be started again

	stopOnce sync.Once
	stopErr  error
}

// proc is one run of the server process.
type proc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has ended
	waitErr error         // the process's exit status; read after exited is closed
}

// Start initialises cfg.DataDir if it holds no cluster yet, starts the server
// and waits until it accepts connections. ctx bounds the start only; the
// server runs until Stop is called or the calling process ends.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if port, ok := runningServer(cfg.DataDir); ok {
		// Another riskreg (say serve, while this is "riskreg token create")
		// runs the cluster: use it, and leave it running.
		cfg.Logger.Info("using the PostgreSQL already running in the data directory", "data_dir", cfg.DataDir, "port", port)
		password, err := readPassword(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return &Cluster{cfg: cfg, port: port, password: password, attached: true, supervised: closedChan()}, nil
	}
	if cfg.NoInit && dataDirVersion(cfg.DataDir) == "" {
		return nil, fmt.Errorf("%w in %s", ErrNoCluster, cfg.DataDir)
	}
	if cfg.BinDir == "" {
		cfg.BinDir, err = findBinDir(ctx, dataDirVersion(cfg.DataDir), defaultSearch)
		if err != nil {
			return nil, err
		}
	} else if err := checkBinDir(cfg.BinDir); err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir, acct); err != nil {
		return nil, err
	}
	if dataDirVersion(cfg.DataDir) == "" {
		if err := initdb(ctx, cfg, acct); err != nil {
			return nil, err
		}
	}
	if err := secure(ctx, cfg, acct); err != nil {
		return nil, err
	}
	password, err := readPassword(cfg.DataDir)
	if err != nil {
		return nil, err
	}

	for try := 1; ; try++ {
		port := cfg.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		p, err := launch(ctx, cfg, acct, port)
		if err == nil {
			c := &Cluster{cfg: cfg, acct: acct, port: port, password: password, cur: p, supervised: make(chan struct{})}
			c.life, c.endLife = context.WithCancel(context.WithoutCancel(ctx))
			if cfg.Supervise {
				go c.supervise()
			} else {
				close(c.supervised)
			}
			return c, nil
		}
		if cfg.Port != 0 || try == startTries || !errors.Is(err, errPortTaken) {
			return nil, err
		}
		cfg.Logger.Warn("PostgreSQL port taken meanwhile, trying another", "port", port)
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

var errPortTaken = errors.New("port taken")

// ErrNoCluster reports a data directory without a cluster, given
// Config.NoInit.
var ErrNoCluster = errors.New("pgembed: no PostgreSQL cluster")

// launch runs the server once on port and waits until it is ready.
func launch(ctx context.Context, cfg Config, acct *account, port int) (*proc, error) {
	logFile, err := openLog(cfg.DataDir, acct)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor

	args := []string{
		"-D", cfg.DataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", // TCP only: no socket path length limit, no shared /var/run
	}
	durability := "on"
	if cfg.Throwaway {
		durability = "off"
	}
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		args = append(args, "-c", name+"="+durability)
	}
	cmd := exec.Command(filepath.Join(cfg.BinDir, "postgres"), args...)
	cmd.Dir = cfg.DataDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,           // a terminal's SIGINT is for the caller, which decides when to stop
		Pdeathsig:  syscall.SIGINT, // fast shutdown if the caller dies without calling Stop
		Credential: acct.credential(),
	}

	p := &proc{cmd: cmd, exited: make(chan struct{})}
	if err := p.spawn(); err != nil {
		return nil, fmt.Errorf("pgembed: start %s: %w", cmd.Path, err)
	}
	if err := p.waitReady(ctx, cfg.DataDir); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = p.stop(stopCtx) // the start error is the one to report
		return nil, err
	}
	cfg.Logger.Info("PostgreSQL started", "data_dir", cfg.DataDir, "port", port,
		"bin_dir", cfg.BinDir, "durable", !cfg.Throwaway, "log", filepath.Join(cfg.DataDir, logName))
	return p, nil
}

// spawn starts the server process from a goroutine locked to its OS thread.
// Linux sends the parent-death signal when the thread that forked the child
// ends, not the process, so that thread must live as long as the server does.
func (p *proc) spawn() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return <-started
}

// waitReady polls postmaster.pid until the server has written its own pid
// and the "ready" status there, or until it exits or ctx ends.
func (p *proc) waitReady(ctx context.Context, dataDir string) error {
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(pidFile); err == nil {
			// Lines: pid, data dir, start time, port, socket dir, listen address,
			// shared memory key, status (PostgreSQL 10 and later).
			lines := strings.Split(string(b), "\n")
			if len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(p.cmd.Process.Pid) &&
				strings.TrimSpace(lines[7]) == "ready" {
				return nil
			}
		}
		select {
		case <-p.exited:
			tail := logTail(dataDir)
			err := fmt.Errorf("pgembed: PostgreSQL exited during start (%v); end of %s:\n%s",
				p.waitErr, filepath.Join(dataDir, logName), tail)
			if strings.Contains(tail, "could not bind") || strings.Contains(tail, "could not create any TCP/IP sockets") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("pgembed: waiting for PostgreSQL to start: %w; end of %s:\n%s",
				ctx.Err(), filepath.Join(dataDir, logName), logTail(dataDir))
		case <-tick.C:
		}
	}
}

// URL returns a connection URL for database dbname as the superuser, with
// its password: keep it out of logs.
func (c *Cluster) URL(dbname string) string {
	user := superuser
	if c.password != "" {
		user += ":" + c.password
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, c.port, dbname)
}

// Stop shuts the server down the way `pg_ctl stop -m fast` does: it sends
// SIGINT (roll back open transactions, disconnect clients, checkpoint, exit)
// and waits for the process to end. If ctx ends first, it escalates to an
// immediate shutdown (SIGQUIT; crash recovery on the next start) and returns
// the context's error. Calling Stop again returns the first result.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.attached {
		return nil
	}
	c.stopOnce.Do(func() {
		c.endLife()
		<-c.supervised // no restart after this
		c.stopErr = c.current().stop(ctx)
		if c.stopErr == nil {
			c.cfg.Logger.Info("PostgreSQL stopped", "data_dir", c.cfg.DataDir)
		}
	})
	return c.stopErr
}

func (c *Cluster) current() *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (p *proc) stop(ctx context.Context) error {
	select {
	case <-p.exited:
		return fmt.Errorf("pgembed: PostgreSQL had already exited: %v", p.waitErr)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("pgembed: stop PostgreSQL: %w", err)
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("pgembed: PostgreSQL shut down with %w", p.waitErr)
		}
		return nil
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return fmt.Errorf("pgembed: fast shutdown of PostgreSQL did not finish, shut it down immediately: %w", ctx.Err())
}

// runningServer reports whether a live server runs in dataDir, by its
// postmaster.pid (whose first line is the process id and fourth the port),
// and returns its port. A stale file left by a crash is not a live server.
func runningServer(dataDir string) (port int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return 0, false
	}
	conn.Close()
	return port, true
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// may take it before the server binds it; Start then tries another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgembed: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// openLog opens DataDir/server.log for appending, first moving it to
// server.log.1 when it has grown past maxLogSize.
func openLog(dataDir string, acct *account) (*os.File, error) {
	path := filepath.Join(dataDir, logName)
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("pgembed: rotate server log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgembed: open server log: %w", err)
	}
	if err := acct.chown(path); err != nil {
		f.Close()
		return nil, err
	}
	// Mark where this run starts, so that an error shows only this run's lines.
	fmt.Fprintf(f, "pgembed: starting PostgreSQL at %s\n", time.Now().Format(time.RFC3339))
	return f, nil
}

// logTail returns the last lines that the current run wrote to server.log.
func logTail(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, logName))
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	if i := bytes.LastIndex(b, []byte("pgembed: starting PostgreSQL at ")); i >= 0 {
		b = b[i:]
	}
	return lastLines(string(b), logTailLines)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// initdb creates a new cluster in cfg.DataDir.
func initdb(ctx context.Context, cfg Config, acct *account) error {
	args := []string{
		"-D", cfg.DataDir,
		"--auth=trust", // until secure sets the password and pg_hba.conf, before the first start
		"--username=" + superuser,
		"--encoding=UTF8",
		"--locale=C",
		"--no-instructions",
	}
	if cfg.Throwaway {
		args = append(args, "--no-sync")
	}
	cfg.Logger.Info("initializing PostgreSQL data directory", "data_dir", cfg.DataDir, "bin_dir", cfg.BinDir)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "initdb"), args...)
	cmd.Dir = cfg.DataDir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential()}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgembed: initdb %s: %w:\n%s", cfg.DataDir, err, lastLines(out.String(), logTailLines))
	}
	return nil
}

// dataDirVersion returns the major version recorded in dataDir/PG_VERSION,
// or "" when dataDir holds no cluster.
func dataDirVersion(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// prepareDataDir creates dataDir when missing (its parents world-searchable,
// itself private) and, when the server runs as another account, gives that
// account the directory and checks that it can reach it.
func prepareDataDir(dataDir string, acct *account) error {
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return fmt.Errorf("pgembed: create data dir: %w", err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pgembed: create data dir: %w", err)
	}
	if dataDirVersion(dataDir) == "" {
		entries, err := os.ReadDir(dataDir)
		if err != nil {
			return fmt.Errorf("pgembed: read data dir: %w", err)
		}
		if len(entries) > 0 {
			return fmt.Errorf("pgembed: data dir %s is not empty but holds no PostgreSQL cluster (no PG_VERSION); use an empty or new directory", dataDir)
		}
		if err := acct.chown(dataDir); err != nil {
			return err
		}
	}
	return acct.checkReach(dataDir)
}
