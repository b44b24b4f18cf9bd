package pgembed

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

const (
	// restartTimeout bounds one restart, crash recovery included.
	restartTimeout = 2 * time.Minute
	// restartBackoffMax caps the wait between failed restarts.
	restartBackoffMax = 5 * time.Second
)

// supervise starts the server again whenever it ends without Stop, until
// Stop is called.
func (c *Cluster) supervise() {
	defer close(c.supervised)
	for {
		p := c.current()
		select {
		case <-c.life.Done():
			return
		case <-p.exited:
		}
		c.cfg.Logger.Error("PostgreSQL ended unexpectedly; restarting it", "data_dir", c.cfg.DataDir, "exit", fmt.Sprint(p.waitErr))
		// A killed postmaster's backends end on their own soon after it, but
		// a new postmaster refuses to start while they hold its shared
		// memory: end them now. They are in its process group.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		if !c.restart() {
			return
		}
	}
}

// restart starts the server again, trying until it runs or Stop is called;
// it reports whether it runs.
func (c *Cluster) restart() bool {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(c.life, restartTimeout)
		p, err := launch(ctx, c.cfg, c.acct, c.port)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.cur, c.down = p, nil
			c.mu.Unlock()
			c.cfg.Logger.Info("PostgreSQL restarted", "data_dir", c.cfg.DataDir, "attempt", attempt)
			return true
		}
		if c.life.Err() != nil {
			return false
		}
		c.mu.Lock()
		c.down = err
		c.mu.Unlock()
		c.cfg.Logger.Error("PostgreSQL cannot be restarted; trying again", "attempt", attempt, "err", err)
		select {
		case <-c.life.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, restartBackoffMax)
	}
}

// ErrDown is what Health returns while the server is not running and a
// restart has failed (or, without Config.Supervise, once it has ended).
var ErrDown = errors.New("pgembed: PostgreSQL is down")

// Health reports whether the server runs. It returns nil while it runs or
// while a first restart after a crash is under way, and an error wrapping
// ErrDown once a restart failed or, unsupervised, once the server ended. A
// server that another process runs (Start attached to it) is that process's
// to watch: Health returns nil.
func (c *Cluster) Health() error {
	if c.attached {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return fmt.Errorf("%w: %w", ErrDown, c.down)
	}
	if !c.cfg.Supervise {
		select {
		case <-c.cur.exited:
			return fmt.Errorf("%w: it exited (%v)", ErrDown, c.cur.waitErr)
		default:
		}
	}
	return nil
}
