// Package pgtest gives each test a fresh PostgreSQL database with riskreg's
// schema, on a real server: the one TEST_DATABASE_URL points at when it is
// set, otherwise a throwaway cluster that pgtest starts (with pgembed) once
// per test binary, when a test first asks for a database, and stops when the
// binary ends. A package's tests use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and then call NewDatabase or NewPool in each test that needs a database.
// When there is neither TEST_DATABASE_URL nor a PostgreSQL installation to
// start a cluster from, those tests are skipped with a message saying so.
//
// Every test binary migrates one template database of its own and creates
// each test's database from it (CREATE DATABASE ... TEMPLATE), which is fast.
// Database names carry a random id per test binary, so test binaries running
// in parallel against one server never collide. Databases are dropped when
// their test ends, the template when the binary ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/internal/pgembed"
	"github.com/riskreg/riskreg/migrations"
)

// EnvURL names the environment variable that points the tests at an existing
// server, as a URL for a superuser's connection to any of its databases.
const EnvURL = "TEST_DATABASE_URL"

// state is this test binary's server, prepared on first use.
var state struct {
	mainCalled bool
	runID      string // random, in the names of this binary's databases
	dbCount    atomic.Int64

	mu       sync.Mutex // serialises prepare, so the template is made once
	prepared bool
	url      string        // the server's connect URL; "" when there is none
	skip     string        // why database tests skip, when there is no server
	err      error         // why prepare failed
	admin    *pgxpool.Pool // creates and drops databases
	template string        // the migrated template database
	cleanup  []func()      // undoes prepare, last first
}

// Main runs the test binary's tests and then drops its template database and
// stops the throwaway cluster, if it made them. Call it from TestMain and pass
// its result to os.Exit.
func Main(m *testing.M) int {
	state.mainCalled = true
	state.runID = randomID()
	code := m.Run()
	state.mu.Lock()
	defer state.mu.Unlock()
	for i := len(state.cleanup) - 1; i >= 0; i-- {
		state.cleanup[i]()
	}
	return code
}

// server prepares the server on first use and returns the admin pool and the
// template database's name. A zero result with a nil error means that there
// is no server and state.skip says why.
func server() (*pgxpool.Pool, string, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.prepared {
		state.prepared = true
		state.err = prepare()
	}
	return state.admin, state.template, state.err
}

// prepare finds or starts the server, then makes the template database.
func prepare() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		if _, err := databaseURL(u, "x"); err != nil {
			return fmt.Errorf("pgtest: %s: %w", EnvURL, err)
		}
		state.url = u
	} else if err := startCluster(ctx); err != nil {
		return err
	}
	if state.url == "" {
		return nil // no server: tests skip
	}

	admin, err := pgxpool.New(ctx, state.url)
	if err != nil {
		return fmt.Errorf("pgtest: open admin pool: %w", err)
	}
	state.admin = admin
	state.cleanup = append(state.cleanup, admin.Close)

	name := fmt.Sprintf("pgtest_%s_template", state.runID)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		return fmt.Errorf("pgtest: create template database: %w", err)
	}
	state.cleanup = append(state.cleanup, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, admin, name); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	})
	u, err := databaseURL(state.url, name)
	if err == nil {
		err = migrations.Up(ctx, u)
	}
	if err != nil {
		return fmt.Errorf("pgtest: migrate template database: %w", err)
	}
	state.template = name
	return nil
}

// startCluster starts a throwaway cluster in a temporary directory, or sets
// state.skip when the machine has no PostgreSQL server binaries.
func startCluster(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "riskreg-pgtest-")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	removeDir := func() { os.RemoveAll(dir) }
	// When the tests run as root, the server runs as the postgres account,
	// which must be able to enter dir; MkdirTemp made it private.
	if err := os.Chmod(dir, 0o755); err != nil {
		removeDir()
		return fmt.Errorf("pgtest: %w", err)
	}
	cluster, err := pgembed.Start(ctx, pgembed.Config{DataDir: filepath.Join(dir, "data"), Throwaway: true})
	if errors.Is(err, pgembed.ErrNoBinaries) {
		removeDir()
		state.skip = fmt.Sprintf("pgtest: no PostgreSQL to test against: %s is not set, and %v", EnvURL, err)
		return nil
	}
	if err != nil {
		removeDir()
		return fmt.Errorf("pgtest: start a throwaway PostgreSQL (or set %s): %w", EnvURL, err)
	}
	state.url = cluster.URL("postgres")
	state.cleanup = append(state.cleanup, removeDir, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	})
	return nil
}

// URL returns the connect URL of the server that the tests use (the
// maintenance database "postgres" of the throwaway cluster, or
// TEST_DATABASE_URL), starting the cluster on first use. It returns "" when
// there is no server, or when it could not be prepared (NewDatabase says why).
func URL() string {
	if _, _, err := server(); err != nil {
		return ""
	}
	return state.url
}

// NewDatabase creates a database with every migration applied, drops it when
// the test ends, and returns its URL. It skips the test when there is no
// PostgreSQL server to test against.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// NewEmptyDatabase is NewDatabase without riskreg's schema: a database for a
// broker or a consumer of the event log.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	if !state.mainCalled {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }")
	}
	admin, tpl, err := server()
	if err != nil {
		t.Fatal(err)
	}
	if admin == nil {
		t.Skip(state.skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("pgtest_%s_%d", state.runID, state.dbCount.Add(1))
	create := "CREATE DATABASE " + ident(name)
	if migrated {
		create += " TEMPLATE " + ident(tpl)
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, admin, name); err != nil {
			t.Error(err)
		}
	})
	u, err := databaseURL(state.url, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// NewPool returns a pool on a new database (see NewDatabase), closed when the
// test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close) // registered after the drop, so it runs before it
	return pool
}

func dropDatabase(ctx context.Context, admin *pgxpool.Pool, name string) error {
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

// databaseURL returns serverURL with its database replaced by name.
func databaseURL(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", errors.New("want a URL of the form postgres://user@host:port/dbname?sslmode=disable")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}
