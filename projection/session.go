package projection

import (
	"context"
	"sync"

	"github.com/riskreg/riskreg/internal/pglock"
)

// lockSession is the one connection on which a Runner holds the locks of
// all its projections: one connection per process rather than one per
// projection. When it is lost, every projection of the process is.
type lockSession struct {
	mu sync.Mutex
	s  *pglock.Session
}

// session returns the Runner's lock session, connecting when it has none.
func (r *Runner) session(ctx context.Context) (*pglock.Session, error) {
	r.locks.mu.Lock()
	defer r.locks.mu.Unlock()
	if r.locks.s == nil {
		s, err := pglock.Open(ctx, r.pool.Config().ConnConfig, r.sessionName())
		if err != nil {
			return nil, err
		}
		r.locks.s = s
	}
	return r.locks.s, nil
}

// drop closes s, which failed, unless another projection's goroutine
// replaced it already.
func (r *Runner) drop(s *pglock.Session) {
	r.locks.mu.Lock()
	defer r.locks.mu.Unlock()
	if r.locks.s == s {
		s.Close()
		r.locks.s = nil
	}
}

// release gives up projection name's lock on s, or drops s when that fails.
func (r *Runner) release(ctx context.Context, s *pglock.Session, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pglock.IdleTimeout)
	defer cancel()
	if _, err := s.Unlock(ctx, lockKey("run", name)); err != nil {
		r.drop(s)
	}
}

// closeSession closes the lock session, which releases every lock left on it.
func (r *Runner) closeSession() {
	r.locks.mu.Lock()
	defer r.locks.mu.Unlock()
	if r.locks.s != nil {
		r.locks.s.Close()
		r.locks.s = nil
	}
}
