// Package pglock holds PostgreSQL session advisory locks on a connection of
// its own. PostgreSQL releases a session's locks when the session ends, also
// when its process dies or its connection is lost, so a lock left by a dead
// process never blocks anyone; the holder notices a lost lock by pinging.
package pglock

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Key returns the lock key of a name.
func Key(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Session is a dedicated connection that holds advisory locks. It is not
// taken from a pool: a pooled connection would carry its locks back into the
// pool. It is safe for concurrent use (a watchdog pings it while its holder
// writes on it).
type Session struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

// Open connects with cfg's settings, naming the connection appName in
// pg_stat_activity.
func Open(ctx context.Context, cfg *pgx.ConnConfig, appName string) (*Session, error) {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = appName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pglock: connect: %w", err)
	}
	return &Session{conn: conn}, nil
}

// TryLock takes the lock key if no other session holds it, and reports
// whether it did.
func (s *Session) TryLock(ctx context.Context, key int64) (bool, error) {
	var got bool
	if err := s.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, fmt.Errorf("pglock: try advisory lock: %w", err)
	}
	return got, nil
}

// Acquire waits until it holds the lock key, trying every interval. It
// returns ctx's error when ctx ends first.
func (s *Session) Acquire(ctx context.Context, key int64, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		got, err := s.TryLock(ctx, key)
		if err != nil || got {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Watch pings the session every interval until ctx ends (then it returns
// nil), and returns the first failure: a lost session has lost its locks.
func (s *Session) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		s.mu.Lock()
		err := s.conn.Ping(pctx)
		s.mu.Unlock()
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("pglock: session lost: %w", err)
		}
	}
}

// PID returns the server process id of the session, as pg_locks and
// pg_stat_activity show it.
func (s *Session) PID() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.PgConn().PID()
}

// Close ends the session, which releases its locks.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.conn.Close(ctx) // a broken connection has ended its session already
}

// Exec runs a statement on the session, for work that must stop with the
// lock (say saving a checkpoint). It implements eventstore.DB.
func (s *Session) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Exec(ctx, sql, args...)
}

// QueryRow runs a query on the session; the session stays busy until the
// row is scanned. It implements eventstore.DB.
func (s *Session) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	s.mu.Lock()
	return &lockedRow{row: s.conn.QueryRow(ctx, sql, args...), mu: &s.mu}
}

type lockedRow struct {
	row pgx.Row
	mu  *sync.Mutex
}

func (r *lockedRow) Scan(dest ...any) error {
	defer r.mu.Unlock()
	return r.row.Scan(dest...)
}
