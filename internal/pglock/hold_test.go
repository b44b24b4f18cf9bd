package pglock_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/pgtest"
)

// Two processes lead with the same key: one works; when the server ends
// the worker's session, its work is stopped and the other process takes
// over. (The two may overlap for up to a ping interval after the server
// ended the session: writes are kept apart by a Fence, not by Lead.)
func TestLeadOneAtATimeAndTakeOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	cfg := pglock.LeadConfig{ConnConfig: pool.Config().ConnConfig, AppName: "pglock lead test", Key: pglock.Key("lead test"),
		RetryInterval: 10 * time.Millisecond, CheckInterval: 10 * time.Millisecond}

	var stopped atomic.Int32
	pids := make(chan uint32, 10)
	work := func(ctx context.Context, s *pglock.Session) error {
		pids <- s.PID()
		<-ctx.Done()
		stopped.Add(1)
		return nil
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := pglock.Lead(ctx, cfg, work); err != nil {
				t.Errorf("Lead = %v, want nil when its context ends", err)
			}
		})
	}
	first := <-pids
	terminate(t, pool, first)
	select {
	case second := <-pids:
		if second == first {
			t.Errorf("the terminated session %d worked again", first)
		}
	case <-ctx.Done():
		t.Fatal("nobody took over after the holder's session was ended")
	}
	select {
	case pid := <-pids:
		t.Errorf("a third session %d worked while the second held the lock", pid)
	default:
	}
	for stopped.Load() == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond) // the terminated worker notices at its next ping
	}
	if n := stopped.Load(); n != 1 {
		t.Errorf("%d works stopped before the test ended, want the terminated one", n)
	}
	cancel()
	wg.Wait()
}

// Hold stops the work of a session that the server ended and says the lock
// is lost; an error of the work itself is returned as it is.
func TestHoldLostAndWorkErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	s, err := pglock.Open(ctx, pool.Config().ConnConfig, "pglock hold test")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	boom := errors.New("boom")
	if err := s.Hold(ctx, 10*time.Millisecond, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Hold = %v, want the work's error", err)
	}
	err = s.Hold(ctx, 10*time.Millisecond, func(ctx context.Context) error {
		terminate(t, pool, s.PID())
		<-ctx.Done()
		return nil
	})
	if !errors.Is(err, pglock.ErrLost) {
		t.Errorf("Hold of a terminated session = %v, want ErrLost", err)
	}
}

// Lead returns an error that Final deems final.
func TestLeadFinalError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	final := errors.New("closed")
	runs := 0
	cfg := pglock.LeadConfig{ConnConfig: pool.Config().ConnConfig, AppName: "pglock final test", Key: pglock.Key("final test"),
		MaxBackoff: 10 * time.Millisecond, Final: func(err error) bool { return errors.Is(err, final) }}
	err := pglock.Lead(ctx, cfg, func(context.Context, *pglock.Session) error {
		runs++
		if runs < 3 {
			return errors.New("transient")
		}
		return final
	})
	if !errors.Is(err, final) || runs != 3 {
		t.Errorf("Lead = %v after %d runs, want the final error after 3", err, runs)
	}
	if err := pglock.Lead(ctx, pglock.LeadConfig{}, nil); err == nil {
		t.Error("Lead without a ConnConfig ran")
	}
}
