package pglock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
)

// Hold runs work with a context that ends when ctx ends or when the session
// is lost, which it notices by pinging the session every interval (Watch).
// It returns work's error, or an error matching ErrLost when the session was
// lost while work ran: whatever work did after that, the lock was no longer
// its own.
func (s *Session) Hold(ctx context.Context, interval time.Duration, work func(ctx context.Context) error) error {
	workCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Watch(workCtx, interval); err != nil {
			cancel(err)
		}
	})
	err := work(workCtx)
	cancel(nil)
	wg.Wait()
	if cause := context.Cause(workCtx); errors.Is(cause, ErrLost) {
		return cause
	}
	return err
}

// LeadConfig configures Lead.
type LeadConfig struct {
	// ConnConfig is where the lock session connects. Required.
	ConnConfig *pgx.ConnConfig
	// AppName names the lock session in pg_stat_activity. Required.
	AppName string
	// Key is the lock.
	Key int64
	// RetryInterval is how often a process that waits for the lock tries
	// it. Default (and at most) PingInterval.
	RetryInterval time.Duration
	// CheckInterval is how often the holder pings its session. Default (and
	// at most) PingInterval.
	CheckInterval time.Duration
	// Final reports whether an error of work ends Lead. Default: none does;
	// Lead starts again after every error, waiting longer after each
	// failure in a row (up to MaxBackoff).
	Final func(error) bool
	// MaxBackoff bounds the wait after repeated failures. Default one
	// minute.
	MaxBackoff time.Duration
	// Logger receives the lock's comings and goings. Default slog.Default().
	Logger *slog.Logger
}

// setDefaults fills in the zero fields of c.
func (c *LeadConfig) setDefaults() {
	if c.RetryInterval <= 0 || c.RetryInterval > PingInterval {
		c.RetryInterval = PingInterval
	}
	if c.CheckInterval <= 0 || c.CheckInterval > PingInterval {
		c.CheckInterval = PingInterval
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration Lead cannot run with.
func (c LeadConfig) Validate() error {
	switch {
	case c.ConnConfig == nil:
		return errors.New("pglock: LeadConfig.ConnConfig is required")
	case c.AppName == "":
		return errors.New("pglock: LeadConfig.AppName is required")
	}
	return nil
}

// Lead runs work whenever this process holds the lock cfg.Key, one process
// at a time across every process that leads with the same key: it opens a
// lock session, waits until it holds the lock, and runs work under Hold.
// When work returns, or the session is lost, it closes the session (which
// releases the lock, so another process may take it) and starts again. It
// returns nil when ctx ends, and work's error when cfg.Final says so.
func Lead(ctx context.Context, cfg LeadConfig, work func(ctx context.Context, s *Session) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	failures := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: cfg.MaxBackoff}
	failures.Reset()
	for ctx.Err() == nil {
		err := leadOnce(ctx, cfg, work)
		wait := cfg.RetryInterval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && cfg.Final != nil && cfg.Final(err):
			return err
		case errors.Is(err, ErrLost):
			cfg.Logger.Warn("pglock: lost the lock; waiting to take it again", "lock", cfg.AppName, "err", err)
			failures.Reset()
		case err != nil:
			wait = failures.NextBackOff()
			cfg.Logger.Warn("pglock: the lock's holder failed; starting again", "lock", cfg.AppName, "err", err, "retry_in", wait)
		default:
			failures.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

// leadOnce opens a lock session, waits for the lock and runs work while it
// holds it.
func leadOnce(ctx context.Context, cfg LeadConfig, work func(ctx context.Context, s *Session) error) error {
	s, err := Open(ctx, cfg.ConnConfig, cfg.AppName)
	if err != nil {
		return fmt.Errorf("pglock: connect for the lock: %w", err)
	}
	defer s.Close()
	if err := s.Acquire(ctx, cfg.Key, cfg.RetryInterval); err != nil {
		return err
	}
	cfg.Logger.Info("pglock: took the lock", "lock", cfg.AppName)
	return s.Hold(ctx, cfg.CheckInterval, func(ctx context.Context) error { return work(ctx, s) })
}
