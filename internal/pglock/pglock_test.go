package pglock_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestLockHandOverAndLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	open := func() *pglock.Session {
		s, err := pglock.Open(ctx, pool.Config().ConnConfig, "pglock test")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	key := pglock.Key("test")
	a, b := open(), open()
	if got, err := a.TryLock(ctx, key); err != nil || !got {
		t.Fatalf("a.TryLock = %v, %v; want the lock", got, err)
	}
	if got, err := b.TryLock(ctx, key); err != nil || got {
		t.Fatalf("b.TryLock while a holds it = %v, %v; want no lock", got, err)
	}
	acquired := make(chan error, 1)
	go func() { acquired <- b.Acquire(ctx, key, 10*time.Millisecond) }()
	select {
	case err := <-acquired:
		t.Fatalf("b acquired while a holds the lock: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	a.Close()
	if err := <-acquired; err != nil {
		t.Fatalf("b.Acquire after a closed: %v", err)
	}

	// A session ended by the server loses its locks, and Watch says so.
	watched := make(chan error, 1)
	go func() { watched <- b.Watch(ctx, 10*time.Millisecond) }()
	terminate(t, pool, b.PID())
	select {
	case err := <-watched:
		if err == nil {
			t.Fatal("Watch returned nil for a terminated session")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not notice the terminated session")
	}
	c := open()
	if got, err := c.TryLock(ctx, key); err != nil || !got {
		t.Errorf("after b's session ended: TryLock = %v, %v; want the lock", got, err)
	}
}

func terminate(t *testing.T, pool *pgxpool.Pool, pid uint32) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), "SELECT pg_terminate_backend($1)", int64(pid)); err != nil {
		t.Fatal(err)
	}
}

// TestIdleSessionEndsAndFences: a holder that stops pinging (a stopped
// process) loses its session to PostgreSQL's idle timeout, so another
// session takes the lock; the old holder's fence then fails in any
// transaction, and Confirm reports the loss.
func TestIdleSessionEndsAndFences(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	key := pglock.Key("idle")
	a, err := pglock.Open(ctx, pool.Config().ConnConfig, "pglock idle a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got, err := a.TryLock(ctx, key); err != nil || !got {
		t.Fatalf("a.TryLock = %v, %v", got, err)
	}
	fence := a.Fence(key)
	if err := fence.Check(ctx, pool); err != nil {
		t.Fatalf("fence of the holder: %v", err)
	}
	if err := (pglock.Fence{}).Check(ctx, pool); !errors.Is(err, pglock.ErrLost) {
		t.Fatalf("zero fence: %v, want ErrLost", err)
	}
	b, err := pglock.Open(ctx, pool.Config().ConnConfig, "pglock idle b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() { _ = b.Watch(watchCtx, 100*time.Millisecond) }()
	start := time.Now()
	if err := b.Acquire(ctx, key, 50*time.Millisecond); err != nil {
		t.Fatalf("b never took the lock of the idle session: %v", err)
	}
	if took := time.Since(start); took < pglock.IdleTimeout/2 {
		t.Errorf("b took the lock after %s, before a's session could have idled out", took)
	}
	t.Logf("takeover after %s", time.Since(start))
	if err := fence.Check(ctx, pool); !errors.Is(err, pglock.ErrLost) {
		t.Errorf("fence of the old holder: %v, want ErrLost", err)
	}
	if err := a.Confirm(ctx); !errors.Is(err, pglock.ErrLost) {
		t.Errorf("Confirm of the old holder: %v, want ErrLost", err)
	}
	if err := b.Fence(key).Check(ctx, pool); err != nil {
		t.Errorf("fence of the new holder: %v", err)
	}
	if err := b.Confirm(ctx); err != nil {
		t.Errorf("Confirm of the watched holder: %v", err)
	}
}
