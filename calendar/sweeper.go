// Package calendar makes time act in the register: a sweeper that, when a
// risk's review date, a Council acceptance or a response's due date passes,
// appends the act of time the domain says is due (domain.DueTimeActs),
// exactly once, however many processes sweep and however late.
package calendar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/projection"
)

// Actor is the actor of every act of time.
const Actor = "riskreg:calendar"

// lockName names the advisory lock that lets one sweeper run across
// processes.
const lockName = "riskreg calendar sweeper"

// namespace seeds the event ids of the acts of time.
var namespace = uuid.MustParse("3f1d6a9e-2c47-4b0f-8e1a-7d5c9b3e6a21")

// EventID returns the id of the event of an act of time: derived from the
// act's key (its type, subject and date), so that the act is recorded once
// whoever appends it and however often.
func EventID(a domain.TimeAct) uuid.UUID { return uuid.NewSHA1(namespace, []byte(a.Key())) }

// Config configures a Sweeper.
type Config struct {
	Store  *eventstore.Store
	Reader *projection.Reader
	// Policy sets the review intervals by band; zero means
	// domain.DefaultReviewPolicy.
	Policy domain.ReviewPolicy
	// Now is the clock; nil means time.Now. Dates are taken in UTC.
	Now func() time.Time
	// Interval is the pause between two sweeps of Run; zero means a minute.
	Interval time.Duration
	// Parallel bounds the appends in flight; zero means 8.
	Parallel int
	Logger   *slog.Logger
}

// Sweeper appends the acts of time that are due.
type Sweeper struct {
	cfg Config
}

// New returns a Sweeper; the policy must be valid.
func New(cfg Config) (*Sweeper, error) {
	if cfg.Store == nil || cfg.Reader == nil {
		return nil, errors.New("calendar: a sweeper needs a store and a reader")
	}
	if cfg.Policy == (domain.ReviewPolicy{}) {
		cfg.Policy = domain.DefaultReviewPolicy
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg}, nil
}

// Sweep appends every act of time due today (by the sweeper's clock) that
// is not recorded yet, and returns how many it found due.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	acts, err := s.Due(ctx)
	if err != nil {
		return 0, err
	}
	return len(acts), s.Record(ctx, acts)
}

// Due returns the acts of time due today (by the sweeper's clock) that the
// calendar read model does not show recorded. It first waits (up to 10 s)
// for the read model to show this process's own writes, and fails when it
// does not.
func (s *Sweeper) Due(ctx context.Context) ([]domain.TimeAct, error) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := s.cfg.Reader.WaitFor(wctx, s.cfg.Store.LastAppended(), projection.NameCalendar)
	cancel()
	if err != nil {
		// A read model behind (or stuck) could make a date look passed that
		// a later event moved: sweep next time instead.
		return nil, fmt.Errorf("calendar: the calendar read model is behind: %w", err)
	}
	subjects, err := s.cfg.Reader.CalendarSubjects(ctx, s.cfg.Policy)
	if err != nil {
		return nil, err
	}
	return domain.DueTimeActs(domain.DateOf(s.cfg.Now().UTC()), subjects), nil
}

// Record appends acts, each to its subject's calendar stream. An act
// recorded already, by this sweeper or another, is not written twice: its
// event id is the same, and the store answers a repeated id with the event
// it holds. Subjects are recorded in parallel; the acts of one subject in
// the order of their dates, so that its calendar stream reads as the days
// passed.
func (s *Sweeper) Record(ctx context.Context, acts []domain.TimeAct) error {
	bySubject := map[string][]domain.TimeAct{}
	var subjects []string
	for _, a := range acts {
		if _, ok := bySubject[a.SubjectID]; !ok {
			subjects = append(subjects, a.SubjectID)
		}
		bySubject[a.SubjectID] = append(bySubject[a.SubjectID], a)
	}
	errs := make([]error, len(subjects))
	sem := make(chan struct{}, s.cfg.Parallel)
	var wg sync.WaitGroup
	for i, subject := range subjects {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			own := bySubject[subject]
			slices.SortStableFunc(own, func(a, b domain.TimeAct) int { return a.On.Compare(b.On) })
			for _, a := range own {
				if errs[i] = s.record(ctx, a); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// record appends one act of time to its subject's calendar stream.
func (s *Sweeper) record(ctx context.Context, a domain.TimeAct) error {
	data, err := json.Marshal(a.Event)
	if err != nil {
		return fmt.Errorf("calendar: encode %s: %w", a.Event.EventType(), err)
	}
	_, err = s.cfg.Store.Append(ctx, eventstore.StreamAppend{
		StreamID: domain.CalendarStreamID(a.SubjectID), StreamType: domain.StreamCalendar, Expected: eventstore.Any,
		Events: []eventstore.Event{{
			ID: EventID(a), Type: a.Event.EventType(), SchemaVersion: a.Event.SchemaVersion(), Data: data,
			Metadata:   eventstore.Metadata{Actor: Actor, CorrelationID: "calendar:" + a.On.String()},
			OccurredAt: a.OccurredAt().Time(),
		}},
	})
	if err != nil {
		return fmt.Errorf("calendar: record %s: %w", a.Key(), err)
	}
	return nil
}

// Run sweeps every interval until ctx ends, while it holds the sweeper's
// advisory lock: of all the processes that run it, one sweeps and the
// others wait to take over. It connects for the lock with connConfig. It
// returns nil when ctx ends.
func (s *Sweeper) Run(ctx context.Context, connConfig *pgx.ConnConfig) error {
	return pglock.Lead(ctx, pglock.LeadConfig{
		ConnConfig: connConfig,
		AppName:    "riskreg calendar",
		Key:        pglock.Key(lockName),
		Logger:     s.cfg.Logger,
	}, func(ctx context.Context, _ *pglock.Session) error { return s.sweepEvery(ctx) })
}

// sweepEvery sweeps now and then every interval, until ctx ends.
func (s *Sweeper) sweepEvery(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		n, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.cfg.Logger.Warn("calendar sweep failed", "err", err)
		case n > 0:
			s.cfg.Logger.Info("calendar sweep", "acts", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
