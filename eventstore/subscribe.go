package eventstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/internal/sleep"
)

// notifyChannel is the PostgreSQL channel on which stores tell each other
// that they committed events. The payload is the committing transaction's id.
const notifyChannel = "riskreg_events"

// subscribeBatch is the most events a subscriber hands to its handler at once.
const subscribeBatch = 500

// Subscribe calls handle with every event of the global log after position
// after that matches f, in log order, in batches: first the events already
// stored, then each new one as it is committed. It never skips or repeats an
// event, also at the seam between the two. It returns nil when ctx ends and
// the handler's error, wrapped, when the handler fails; read errors are
// retried.
//
// Subscribers are woken at once by appends of this Store and, through
// LISTEN/NOTIFY, of other processes; Config.PollInterval is the fallback.
func (s *Store) Subscribe(ctx context.Context, after Position, f Filter, handle func(context.Context, []RecordedEvent) error) error {
	return s.SubscribePaged(ctx, after, f, subscribeBatch, handle)
}

// SubscribePaged is Subscribe handing at most page events to handle at
// once (page <= 0 means 500): a subscriber that waits on a slow client holds
// at most one page in memory.
func (s *Store) SubscribePaged(ctx context.Context, after Position, f Filter, page int, handle func(context.Context, []RecordedEvent) error) error {
	if page <= 0 {
		page = subscribeBatch
	}
	s.listenOnce()
	cursor := after
	var retry time.Duration // quick re-read while a committed event is still behind the horizon
	failures := 0
	pause := retryBackOff()
	for {
		wake := s.appended.wait()
		events, reached, err := s.readAll(ctx, cursor, page, f)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			s.log.Warn("eventstore: subscription read failed, retrying", "err", err, "failures", failures)
			if !sleep.For(ctx, pause.NextBackOff()) {
				return nil
			}
			continue
		}
		failures = 0
		pause.Reset()
		if len(events) > 0 {
			if err := handle(ctx, events); err != nil {
				return fmt.Errorf("eventstore: subscriber: %w", err)
			}
		}
		cursor = reached
		if len(events) == page {
			continue
		}
		wait := s.cfg.PollInterval
		if len(events) > 0 {
			retry = 0 // the horizon moved: the next look starts quick again
		}
		if cursor.tx < s.committed.Load() {
			// An event committed by a transaction this reader cannot see
			// yet: an older transaction is still open. Look again soon,
			// and less often the longer the horizon stays where it is.
			retry = min(max(2*retry, time.Millisecond), s.cfg.PollInterval)
			wait = retry
		} else {
			retry = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-wake:
		case <-s.quit:
			timer.Stop()
			return ErrClosed
		case <-timer.C:
		}
		timer.Stop()
	}
}

// committedTx records that transaction tx committed events, and wakes
// subscribers.
func (s *Store) committedTx(tx int64) {
	for {
		cur := s.committed.Load()
		if tx <= cur || s.committed.CompareAndSwap(cur, tx) {
			break
		}
	}
	s.appended.broadcast()
}

// notifyInterval is the least time between two NOTIFYs of one store.
const notifyInterval = 5 * time.Millisecond

// notifyLoop tells other processes about commits, outside the append
// transactions and coalesced: NOTIFY takes a database-wide lock at commit,
// so one NOTIFY, at most every notifyInterval, stands for every commit made
// since the previous one. Subscribers in this process are woken at once.
func (s *Store) notifyLoop() {
	for {
		select {
		case <-s.quit:
			return
		case <-s.notify:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(s.committed.Load(), 10))
		cancel()
		if err != nil {
			s.log.Warn("eventstore: notify failed; other processes fall back to polling", "err", err)
		}
		time.Sleep(notifyInterval) // commits meanwhile wait in s.notify
	}
}

// listenOnce starts, on the first subscription, the goroutine that LISTENs
// for other processes' commits.
func (s *Store) listenOnce() {
	s.listenMu.Do(func() { s.wg.Go(s.listenLoop) })
}

func (s *Store) listenLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.quit
		cancel()
	}()
	defer cancel()
	pause := retryBackOff()
	for ctx.Err() == nil {
		err := s.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("eventstore: listening for commits failed; polling until it is back", "err", err)
		if !sleep.For(ctx, pause.NextBackOff()) {
			return
		}
	}
}

// listen holds one connection that LISTENs until ctx ends or it fails.
func (s *Store) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Commits made while no LISTEN was active were missed: wake everyone.
	s.appended.broadcast()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		tx, _ := strconv.ParseInt(n.Payload, 10, 64)
		s.committedTx(tx)
	}
}

// Paced wraps a subscription's handler so that each call returns no sooner
// than interval after it started (unless ctx ends): the events committed
// meanwhile reach the next call together, so that a follower of a busy log
// writes in few, larger transactions. A zero or negative interval paces
// nothing.
func Paced(interval time.Duration, handle func(context.Context, []RecordedEvent) error) func(context.Context, []RecordedEvent) error {
	return func(ctx context.Context, events []RecordedEvent) error {
		start := time.Now()
		if err := handle(ctx, events); err != nil {
			return err
		}
		if d := interval - time.Since(start); d > 0 {
			sleep.For(ctx, d)
		}
		return nil
	}
}

// retryBackOff returns the waits between a reader's retries: 50ms, doubling
// up to 5s.
func retryBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
}
