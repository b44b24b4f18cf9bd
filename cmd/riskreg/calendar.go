package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/calendar"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/projection"
)

// calendarFlags configure the governance calendar of riskreg serve.
type calendarFlags struct {
	policy   domain.ReviewPolicy
	interval time.Duration
}

func (f *calendarFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.policy.Red, "review-red", domain.DefaultReviewPolicy.Red, "`days` from an assessment to the next review of a RED risk")
	fs.IntVar(&f.policy.Amber, "review-amber", domain.DefaultReviewPolicy.Amber, "`days` from an assessment to the next review of an AMBER risk")
	fs.IntVar(&f.policy.Green, "review-green", domain.DefaultReviewPolicy.Green, "`days` from an assessment to the next review of a GREEN risk")
	fs.DurationVar(&f.interval, "calendar-interval", time.Minute,
		"how often the calendar looks for review dates, acceptances and due dates that passed")
}

// calendarRunner is the calendar's sweeper running in the background.
type calendarRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startCalendar runs the sweeper of the acts of time until stop is called;
// of all the serve processes on one database, one sweeps at a time.
func startCalendar(ctx context.Context, store *eventstore.Store, pool *pgxpool.Pool, f calendarFlags, logger *slog.Logger) (*calendarRunner, error) {
	s, err := calendar.New(calendar.Config{Store: store, Reader: projection.NewReader(store), Policy: f.policy,
		Interval: f.interval, Logger: logger})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &calendarRunner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		if err := s.Run(ctx, pool.Config().ConnConfig); err != nil && !errors.Is(err, context.Canceled) {
			logger.Warn("calendar sweeper stopped", "err", err)
		}
	}()
	return c, nil
}

// stop stops the sweeper and waits for it.
func (c *calendarRunner) stop() {
	c.cancel()
	<-c.done
}

// withStore runs fn with the event store of the database db names, for the
// commands that read and write the register without serving (paper,
// import).
func withStore(ctx context.Context, db dbFlags, logger *slog.Logger, fn func(*eventstore.Store) error) error {
	return withDatabase(ctx, db, logger, func(url string) error {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer pool.Close()
		store, err := app.NewStore(pool, eventstore.Config{Logger: logger})
		if err != nil {
			return err
		}
		defer store.Close()
		return fn(store)
	})
}
