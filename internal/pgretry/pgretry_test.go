package pgretry_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/internal/pgretry"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// onePool returns a pool of one connection that is handed out without a
// ping, and that connection's backend pid.
func onePool(t *testing.T) (*pgxpool.Pool, uint32) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var pid uint32
	if err := pool.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pool, pid
}

// terminate ends the backend pid from another connection and waits until
// it is gone.
func terminate(t *testing.T, pool *pgxpool.Pool, pid uint32) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "SELECT pg_terminate_backend($1, 10000)", pid); err != nil {
		t.Fatal(err)
	}
}

func query(ctx context.Context, pool *pgxpool.Pool) error {
	var one int
	return pool.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// A read on a connection whose backend was terminated fails once; Read
// sends it again on a fresh connection.
func TestReadRetriesOnAFreshConnection(t *testing.T) {
	pool, pid := onePool(t)
	terminate(t, pool, pid)
	if err := query(t.Context(), pool); !pgretry.Unavailable(err) {
		t.Fatalf("query on the terminated connection: %v, want an Unavailable error", err)
	}

	pool, pid = onePool(t)
	terminate(t, pool, pid)
	if err := pgretry.Read(t.Context(), func(ctx context.Context) error { return query(ctx, pool) }); err != nil {
		t.Errorf("Read on the terminated connection: %v, want success on a fresh one", err)
	}
}

// Do sends again only what never reached the server: a statement error is
// returned at once, a failed connect is tried again.
func TestDo(t *testing.T) {
	pool, _ := onePool(t)
	calls := 0
	err := pgretry.Do(t.Context(), func(ctx context.Context) error {
		calls++
		_, err := pool.Exec(ctx, "SELECT * FROM no_such_table")
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || calls != 1 {
		t.Errorf("Do of a bad statement: %v after %d calls, want the PgError after 1", err, calls)
	}

	calls = 0
	err = pgretry.Do(t.Context(), func(ctx context.Context) error {
		calls++
		conn, err := pgx.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
		if err == nil {
			conn.Close(ctx)
		}
		return err
	})
	if !pgretry.NotSent(err) || calls != 4 {
		t.Errorf("Do of a refused connect: %v after %d calls, want NotSent after 4", err, calls)
	}
	if pgretry.Unavailable(context.Canceled) || pgretry.NotSent(context.DeadlineExceeded) {
		t.Error("a context's end counts as the database's")
	}
}
