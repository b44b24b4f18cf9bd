package relay

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockConn is the dedicated connection that holds a relay's session
// advisory lock. The checkpoint is saved on it too, so a relay that lost its
// lock (its session ended) cannot save a checkpoint any more. It is safe for
// concurrent use: a watchdog pings it while the relay saves checkpoints.
type lockConn struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

// connectLock opens a connection of its own (not from the pool: a pooled
// connection would carry the lock back into the pool) with pool's settings.
func connectLock(ctx context.Context, pool *pgxpool.Pool) (*lockConn, error) {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("relay: connect for the lock: %w", err)
	}
	return &lockConn{conn: conn}, nil
}

// close ends the session, which releases the lock.
func (l *lockConn) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx) // a broken connection has ended its session already
}

// acquire waits until it holds the advisory lock key, trying every interval.
func (l *lockConn) acquire(ctx context.Context, key int64, interval time.Duration) error {
	for {
		var ok bool
		if err := l.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
			return fmt.Errorf("relay: take the lock: %w", err)
		}
		if ok {
			return nil
		}
		if !sleep(ctx, interval) {
			return ctx.Err()
		}
	}
}

// watch pings the connection every interval until ctx ends, and returns the
// first failure: a lost connection has lost the lock with it.
func (l *lockConn) watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		l.mu.Lock()
		err := l.conn.Ping(pctx)
		l.mu.Unlock()
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("relay: lock connection lost: %w", err)
		}
	}
}

// Exec implements eventstore.DB.
func (l *lockConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn.Exec(ctx, sql, args...)
}

// QueryRow implements eventstore.DB. The connection stays locked until the
// row is scanned.
func (l *lockConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	l.mu.Lock()
	return &lockedRow{row: l.conn.QueryRow(ctx, sql, args...), mu: &l.mu}
}

type lockedRow struct {
	row pgx.Row
	mu  *sync.Mutex
}

func (r *lockedRow) Scan(dest ...any) error {
	defer r.mu.Unlock()
	return r.row.Scan(dest...)
}
