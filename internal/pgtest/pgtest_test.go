package pgtest_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestMigrationsApplied(t *testing.T) {
	pool := pgtest.NewPool(t)
	var events bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regclass('events') IS NOT NULL").Scan(&events); err != nil {
		t.Fatal(err)
	}
	if !events {
		t.Error("table events does not exist")
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	var version uint
	if err := pool.QueryRow(t.Context(), "SELECT version FROM schema_migrations").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != latest {
		t.Errorf("schema version %d, want %d", version, latest)
	}
}

func TestDatabasesAreIsolated(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	if _, err := connect(t, a).Exec(t.Context(), "CREATE TABLE only_in_a (v int)"); err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := connect(t, b).QueryRow(t.Context(), "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found {
		t.Error("a table created in one database shows in the other")
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	var name string
	ok := t.Run("uses a database", func(t *testing.T) {
		conn := connect(t, pgtest.NewDatabase(t))
		if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// The connection is still open when the database is dropped.
	})
	if !ok {
		return
	}
	if name == "" {
		t.Skip("the subtest made no database; it says why")
	}
	var exists bool
	err := connect(t, pgtest.URL()).QueryRow(t.Context(),
		"SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %q still exists after its test ended", name)
	}
}

func TestParallelDatabases(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	for range 4 {
		t.Run("db", func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			mu.Lock()
			defer mu.Unlock()
			if seen[url] {
				t.Errorf("URL %s handed out twice", url)
			}
			seen[url] = true
		})
	}
}

func TestURL(t *testing.T) {
	pgtest.NewDatabase(t) // skips when there is no server
	if u := pgtest.URL(); !strings.HasPrefix(u, "postgres") {
		t.Errorf("URL() = %q", u)
	}
}

func TestNewEmptyDatabaseHasNoSchema(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("an empty database has %d tables, want none", tables)
	}
}
