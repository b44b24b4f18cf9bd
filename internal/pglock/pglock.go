// Package pglock holds PostgreSQL session advisory locks on a connection of
// its own. PostgreSQL releases a session's locks when the session ends, also
// when its process dies or its connection is lost, so a lock left by a dead
// process never blocks anyone; the holder notices a lost lock by pinging.
//
// A process that hangs (stopped, paused, its host cut off without a FIN)
// would keep an idle session, and its locks, for as long as TCP lets it. So
// every session is opened with PostgreSQL's idle_session_timeout set to
// IdleTimeout: the server itself ends a session that sent nothing for that
// long, and a holder keeps its session by pinging more often (Watch, every
// PingInterval). That bounds how long a hung holder keeps a lock, whatever the
// process does. A holder that wakes up after losing its session is kept from
// writing by Fence, checked in the transaction of each of its writes.
package pglock

import (
	"context"
	"errors"
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

// IdleTimeout is the idle_session_timeout of a lock session: PostgreSQL ends
// a session that sent no statement for that long, which releases its locks.
const IdleTimeout = 3 * time.Second

// PingInterval is how often a holder should ping its session (Watch) to keep
// it: well within IdleTimeout.
const PingInterval = 500 * time.Millisecond

// statementTimeout bounds every statement on a lock session, so that a
// session never stays busy (and so never idle) for long either.
const statementTimeout = 5 * time.Second

// ErrLost is the error of a holder whose session no longer holds its lock.
var ErrLost = errors.New("pglock: the lock is lost")

// Session is a dedicated connection that holds advisory locks. It is not
// taken from a pool: a pooled connection would carry its locks back into the
// pool. It is safe for concurrent use (a watchdog pings it while its holder
// writes on it).
type Session struct {
	mu    sync.Mutex
	conn  *pgx.Conn
	start time.Time // backend_start: with the pid, names the session for good
	alive time.Time // when a statement last succeeded on it
}

// Open connects with cfg's settings, naming the connection appName in
// pg_stat_activity, and with IdleTimeout as its idle_session_timeout.
func Open(ctx context.Context, cfg *pgx.ConnConfig, appName string) (*Session, error) {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = appName
	cfg.RuntimeParams["idle_session_timeout"] = fmt.Sprint(IdleTimeout.Milliseconds())
	cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(statementTimeout.Milliseconds())
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pglock: connect: %w", err)
	}
	s := &Session{conn: conn, alive: time.Now()}
	err = conn.QueryRow(ctx, "SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&s.start)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("pglock: read the session's start: %w", err)
	}
	return s, nil
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

// Unlock releases the lock key, which the session holds, and reports
// whether it held it.
func (s *Session) Unlock(ctx context.Context, key int64) (bool, error) {
	var held bool
	if err := s.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&held); err != nil {
		return false, fmt.Errorf("pglock: advisory unlock: %w", err)
	}
	return held, nil
}

// Acquire waits until it holds the lock key, trying every interval (at
// most PingInterval, so that the waiting session outlives IdleTimeout). It
// returns ctx's error when ctx ends first.
func (s *Session) Acquire(ctx context.Context, key int64, interval time.Duration) error {
	t := time.NewTicker(min(interval, PingInterval))
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

// Watch pings the session every interval (at most PingInterval, so that
// the session outlives IdleTimeout) until ctx ends (then it returns nil),
// and returns the first failure: a lost session has lost its locks.
func (s *Session) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(min(interval, PingInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.ping(ctx, max(interval, statementTimeout)); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// ping pings the session, waiting at most timeout. The caller's
// cancellation does not cut a ping short: pgx closes a connection whose
// statement is cancelled, and that would end the session, and every lock on
// it, for the session's other holders too.
func (s *Session) ping(ctx context.Context, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.Ping(pctx); err != nil {
		return fmt.Errorf("%w: session lost: %w", ErrLost, err)
	}
	s.alive = time.Now()
	return nil
}

// Confirm returns nil when a statement succeeded on the session within the
// last half IdleTimeout, or when a ping succeeds now; otherwise an error
// matching ErrLost. A holder calls it before an effect outside PostgreSQL
// (a publish, say) that a Fence cannot guard: a process that was stopped for
// longer than IdleTimeout finds its session gone before it acts.
func (s *Session) Confirm(ctx context.Context) error {
	s.mu.Lock()
	fresh := time.Since(s.alive) < IdleTimeout/2
	s.mu.Unlock()
	if fresh {
		return nil
	}
	return s.ping(ctx, statementTimeout)
}

// Fence returns the fence of this session's hold on the lock key.
func (s *Session) Fence(key int64) Fence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Fence{pid: s.conn.PgConn().PID(), start: s.start, key: key}
}

// Fence is a fencing token: it names one session's hold on one lock, and
// Check tells, inside any other transaction, whether that session still
// holds it. A holder checks it in the transaction of each of its writes
// (after locking what the write changes), so that a holder that lost its
// lock while it was stopped cannot write over its successor's work.
type Fence struct {
	pid   uint32
	start time.Time
	key   int64
}

// Querier is what Check runs its query on: a pgx.Tx, say.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Check returns an error matching ErrLost unless the session still holds the
// lock, as q's snapshot of pg_locks sees it.
func (f Fence) Check(ctx context.Context, q Querier) error {
	var held bool
	sql, args := f.Query()
	if err := q.QueryRow(ctx, sql, args...).Scan(&held); err != nil {
		return fmt.Errorf("pglock: check the fence: %w", err)
	}
	return f.Verdict(held)
}

// Query returns the query behind Check, which returns one boolean, for a
// caller that sends it in a batch with its own statements; Verdict turns its
// answer into Check's error.
func (f Fence) Query() (string, []any) {
	return `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = $1 AND a.backend_start = $2
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid::bigint = $3 AND l.objid::bigint = $4)`,
		[]any{int64(f.pid), f.start, int64(uint64(f.key) >> 32), int64(uint64(f.key) & 0xffffffff)}
}

// Verdict is Check's error for the answer of Query.
func (f Fence) Verdict(held bool) error {
	if !held {
		return fmt.Errorf("%w: session %d no longer holds lock %d", ErrLost, f.pid, f.key)
	}
	return nil
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
//
// A statement that started runs to its end (statementTimeout at most) even
// when ctx ends meanwhile: pgx closes a connection whose statement is
// cancelled, and that would end the session, and its locks, under the
// session's other users, whose own statements (a cursor saved after a
// publish) would then fail. A ctx that ended before the statement started
// is its error.
func (s *Session) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return pgconn.CommandTag{}, err
	}
	sctx, cancel := uncancelled(ctx)
	defer cancel()
	tag, err := s.conn.Exec(sctx, sql, args...)
	if err == nil {
		s.alive = time.Now()
	}
	return tag, err
}

// QueryRow runs a query on the session, to its end as Exec does; the
// session stays busy until the row is scanned. It implements eventstore.DB.
func (s *Session) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	s.mu.Lock()
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		return errRow{err}
	}
	sctx, cancel := uncancelled(ctx)
	return &lockedRow{row: s.conn.QueryRow(sctx, sql, args...), s: s, cancel: cancel}
}

// uncancelled returns a context with ctx's values that ctx's end does not
// cancel, bounded by statementTimeout.
func uncancelled(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
}

type lockedRow struct {
	row    pgx.Row
	s      *Session
	cancel context.CancelFunc
}

func (r *lockedRow) Scan(dest ...any) error {
	defer r.s.mu.Unlock()
	defer r.cancel()
	err := r.row.Scan(dest...)
	if err == nil {
		r.s.alive = time.Now()
	}
	return err
}

// errRow is the row of a query that did not run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
