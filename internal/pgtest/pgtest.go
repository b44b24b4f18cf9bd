// Package pgtest gives each test a fresh PostgreSQL database with riskreg's
// schema, on a real server: the one TEST_DATABASE_URL points at when it is
// set, otherwise a throwaway cluster that pgtest starts (with pgembed) once
// per test binary. A package's tests use it from TestMain:
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

// The state of this test binary's server, set by Main.
var (
	mainCalled bool
	adminURL   string // connect URL of the server, "" when there is none
	skipReason string // why database tests skip, when there is no server
	runID      string // random, in the names of this binary's databases
	admin      *pgxpool.Pool
	dbCount    atomic.Int64

	tplMu      sync.Mutex
	tplName    string // the migrated template, once made
	tplFailure error  // why making it failed, once it has
)

// Main prepares the server for the test binary, runs its tests and cleans up.
// Call it from TestMain and pass its result to os.Exit.
func Main(m *testing.M) int {
	mainCalled = true
	runID = randomID()
	stop, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// setup finds or starts the server and returns what undoes it.
func setup() (stop func(), err error) {
	if u := os.Getenv(EnvURL); u != "" {
		if _, err := databaseURL(u, "x"); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		adminURL = u
		return openAdmin()
	}

	dir, err := os.MkdirTemp("", "riskreg-pgtest-")
	if err != nil {
		return nil, err
	}
	// When the tests run as root, the server runs as the postgres account,
	// which must be able to enter dir; MkdirTemp made it private.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, err := pgembed.Start(ctx, pgembed.Config{DataDir: filepath.Join(dir, "data")})
	if errors.Is(err, pgembed.ErrNoBinaries) {
		os.RemoveAll(dir)
		skipReason = fmt.Sprintf("pgtest: no PostgreSQL to test against: %s is not set, and %v", EnvURL, err)
		return func() {}, nil
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start a throwaway PostgreSQL (or set %s): %w", EnvURL, err)
	}
	adminURL = cluster.URL("postgres")
	closeAdmin, err := openAdmin()
	if err != nil {
		return nil, err
	}
	return func() {
		closeAdmin()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
		os.RemoveAll(dir)
	}, nil
}

// openAdmin opens the pool that creates and drops databases, and returns
// what drops the template and closes the pool.
func openAdmin() (func(), error) {
	pool, err := pgxpool.New(context.Background(), adminURL)
	if err != nil {
		return nil, fmt.Errorf("open admin pool: %w", err)
	}
	admin = pool
	return func() {
		if tplName != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := dropDatabase(ctx, tplName); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			}
		}
		pool.Close()
	}, nil
}

// URL returns the connect URL of the server that the tests use (the
// maintenance database "postgres" of the throwaway cluster, or
// TEST_DATABASE_URL), or "" when there is none and database tests skip.
func URL() string { return adminURL }

// NewDatabase creates a database with every migration applied, drops it when
// the test ends, and returns its URL. It skips the test when there is no
// PostgreSQL server to test against.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if !mainCalled {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }")
	}
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tpl, err := template(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("pgtest_%s_%d", runID, dbCount.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tpl)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	u, err := databaseURL(adminURL, name)
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

// template returns this binary's migrated template database, making it on
// first use. Tests that start together wait for the one that makes it.
func template(ctx context.Context) (string, error) {
	tplMu.Lock()
	defer tplMu.Unlock()
	if tplName != "" || tplFailure != nil {
		return tplName, tplFailure
	}
	name := fmt.Sprintf("pgtest_%s_template", runID)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		tplFailure = fmt.Errorf("pgtest: create template database: %w", err)
		return "", tplFailure
	}
	tplName = name // from here on, Main's cleanup drops it
	u, err := databaseURL(adminURL, name)
	if err == nil {
		err = migrations.Up(ctx, u)
	}
	if err != nil {
		tplFailure = fmt.Errorf("pgtest: migrate template database: %w", err)
		return "", tplFailure
	}
	return name, nil
}

func dropDatabase(ctx context.Context, name string) error {
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
