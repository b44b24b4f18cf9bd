package projection

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockKey is the key of the advisory lock of kind ("run" or "rebuild") on a
// projection.
func lockKey(kind, projection string) int64 {
	h := fnv.New64a()
	h.Write([]byte("riskreg/projection/" + kind + "/" + projection))
	return int64(h.Sum64())
}

// lockSession is a connection of its own that holds PostgreSQL session
// advisory locks. PostgreSQL releases them when the session ends, also when
// its process dies or its connection is lost, so a lock left by a dead
// process never blocks anyone.
type lockSession struct {
	conn *pgx.Conn
}

// openLockSession connects with the pool's settings, naming the connection
// appName in pg_stat_activity.
func openLockSession(ctx context.Context, cfg *pgx.ConnConfig, appName string) (*lockSession, error) {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = appName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("projection: connect for lock: %w", err)
	}
	return &lockSession{conn: conn}, nil
}

// tryLock takes the lock key if no other session holds it, and reports
// whether it did.
func (s *lockSession) tryLock(ctx context.Context, key int64) (bool, error) {
	var got bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, fmt.Errorf("projection: try advisory lock: %w", err)
	}
	return got, nil
}

// watch checks the session every interval until ctx ends, and returns the
// error that shows the session, and so its locks, lost.
func (s *lockSession) watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.conn.Ping(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("projection: lock session lost: %w", err)
		}
	}
}

// close ends the session, which releases its locks.
func (s *lockSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.conn.Close(ctx)
}
