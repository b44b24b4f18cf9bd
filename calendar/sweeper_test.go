package calendar_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/calendar"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// day returns midday UTC of a date of 2026.
func day(month time.Month, d int) time.Time { return time.Date(2026, month, d, 12, 0, 0, 0, time.UTC) }

func newSweeper(t *testing.T, e *regtest.Env) *calendar.Sweeper {
	t.Helper()
	s, err := calendar.New(calendar.Config{Store: e.Store, Reader: e.Reader, Now: e.Clock.Now, Logger: regtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sweep runs one sweep after the projections caught up, and returns how
// many acts were due.
func sweep(t *testing.T, e *regtest.Env, s *calendar.Sweeper) int {
	t.Helper()
	e.CaughtUp()
	n, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.CaughtUp()
	return n
}

// acts returns the count of each act of time in the log, by key.
func acts(t *testing.T, e *regtest.Env) map[string]int {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(),
		`SELECT type || '/' || COALESCE(data->>'riskId', '') || '/' || COALESCE(data->>'responseId', '') || '/' ||
			COALESCE(data->>'reviewDue', data->>'toleratedUntil', data->>'dueDate'), count(*)
		FROM events WHERE stream_type = 'calendar' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// calendarRisk returns the calendar's flags of a risk.
func calendarRisk(t *testing.T, e *regtest.Env, id string) (reviewOverdue, lapsed bool) {
	t.Helper()
	err := e.Pool.QueryRow(context.Background(), `SELECT review_overdue IS NOT NULL, lapsed IS NOT NULL FROM rm_cal_risks WHERE risk_id = $1`, id).
		Scan(&reviewOverdue, &lapsed)
	if err != nil {
		t.Fatal(err)
	}
	return reviewOverdue, lapsed
}

func TestReviewOverdueByBand(t *testing.T) {
	e := regtest.New(t)
	s := newSweeper(t, e)
	red := e.Risk("Cyber attack", 5, 4)    // RED on 2026-01-05: review by 2026-02-04
	amber := e.Risk("Key staff", 2, 5)     // AMBER: by 2026-04-05
	green := e.Risk("Office supply", 1, 2) // GREEN: by 2026-07-04

	e.Clock.Set(day(2, 4))
	if n := sweep(t, e, s); n != 0 {
		t.Fatalf("on the review date itself: %d acts", n)
	}
	e.Clock.Set(day(2, 5))
	if n := sweep(t, e, s); n != 1 {
		t.Fatalf("the day after the RED review date: %d acts, want 1", n)
	}
	if overdue, _ := calendarRisk(t, e, red.ID()); !overdue {
		t.Error("RED risk not flagged overdue")
	}
	if n := sweep(t, e, s); n != 0 {
		t.Fatalf("a second sweep found %d acts", n)
	}
	// Re-assessing clears the flag and sets the next date.
	if _, err := e.Register.AssessRisk(context.Background(), regtest.Staff(""), red.ID(), red.Version(),
		domain.RatingKindInherent, 5, 4, "reviewed"); err != nil {
		t.Fatal(err)
	}
	e.CaughtUp()
	if overdue, _ := calendarRisk(t, e, red.ID()); overdue {
		t.Error("re-assessed risk still overdue")
	}
	// Nothing ran for half a year: every date missed is caught up, once.
	e.Clock.Set(day(8, 1))
	if n := sweep(t, e, s); n != 3 {
		t.Fatalf("catch-up found %d acts, want 3 (RED again, AMBER, GREEN)", n)
	}
	got := acts(t, e)
	for _, k := range []string{
		"RiskReviewOverdue/" + red.ID() + "//2026-02-04",
		"RiskReviewOverdue/" + red.ID() + "//2026-03-07",
		"RiskReviewOverdue/" + amber.ID() + "//2026-04-05",
		"RiskReviewOverdue/" + green.ID() + "//2026-07-04",
	} {
		if got[k] != 1 {
			t.Errorf("%s recorded %d times, want once (log: %v)", k, got[k], got)
		}
	}
}

func TestReviewPolicyIsConfigurable(t *testing.T) {
	e := regtest.New(t)
	s, err := calendar.New(calendar.Config{Store: e.Store, Reader: e.Reader, Now: e.Clock.Now,
		Policy: domain.ReviewPolicy{Red: 7, Amber: 14, Green: 28}})
	if err != nil {
		t.Fatal(err)
	}
	e.Risk("Cyber attack", 5, 4)
	e.Clock.Set(day(1, 13))
	if n := sweep(t, e, s); n != 1 {
		t.Fatalf("a week and a day after a RED assessment: %d acts, want 1", n)
	}
	if _, err := calendar.New(calendar.Config{Store: e.Store, Reader: e.Reader, Policy: domain.ReviewPolicy{Red: -1, Amber: 1, Green: 1}}); err == nil {
		t.Error("a negative interval was accepted")
	}
}

// accepted returns a risk the Council accepted until until.
func accepted(t *testing.T, e *regtest.Env, until domain.Date) register.Risk {
	t.Helper()
	r := e.Risk("Currency exposure", 4, 4)
	_, err := e.Register.RecordDecision(context.Background(), regtest.Clerk(domain.BodyCouncil), register.DecisionInput{
		Body: domain.BodyCouncil, Session: "Council 2026", Kind: domain.DecisionKindAcceptRisk, Text: "Accepted.",
		Subjects: []register.SubjectInput{{ID: r.ID(), ExpectedVersion: r.Version()}}, ExpiresOn: until,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err = e.Register.Risk(context.Background(), r.ID(), register.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestToleranceLapses(t *testing.T) {
	e := regtest.New(t)
	s, err := calendar.New(calendar.Config{Store: e.Store, Reader: e.Reader, Now: e.Clock.Now,
		Policy: domain.ReviewPolicy{Red: 3650, Amber: 3650, Green: 3650}})
	if err != nil {
		t.Fatal(err)
	}
	until, _ := domain.ParseDate("2026-01-31")
	r := accepted(t, e, until)
	e.Clock.Set(day(1, 31))
	if n := sweep(t, e, s); n != 0 {
		t.Fatalf("on the last day of the acceptance: %d acts", n)
	}
	e.Clock.Set(day(2, 1))
	if n := sweep(t, e, s); n != 1 {
		t.Fatalf("the day after: %d acts, want 1", n)
	}
	if _, lapsed := calendarRisk(t, e, r.ID()); !lapsed {
		t.Fatal("risk not lapsed")
	}
	if got := acts(t, e)["RiskToleranceLapsed/"+r.ID()+"//2026-01-31"]; got != 1 {
		t.Fatalf("lapse recorded %d times", got)
	}
	// The Council accepts it again: the lapse is over.
	again, _ := domain.ParseDate("2026-12-31")
	if _, err := e.Register.RecordDecision(context.Background(), regtest.Clerk(domain.BodyCouncil), register.DecisionInput{
		Body: domain.BodyCouncil, Session: "Council 2026/2", Kind: domain.DecisionKindAcceptRisk, Text: "Accepted again.",
		Subjects: []register.SubjectInput{{ID: r.ID(), ExpectedVersion: r.Version()}}, ExpiresOn: again,
	}); err != nil {
		t.Fatal(err)
	}
	e.CaughtUp()
	if _, lapsed := calendarRisk(t, e, r.ID()); lapsed {
		t.Error("risk still lapsed after a new acceptance")
	}
}

func TestResponseOverdue(t *testing.T) {
	e := regtest.New(t)
	s := newSweeper(t, e)
	r := e.Risk("Key staff", 1, 1)
	due, _ := domain.ParseDate("2026-01-20")
	resp, err := e.Register.ProposeResponse(context.Background(), regtest.Staff(""), r.ID(), domain.ResponseDetails{
		Title: "Succession plan", Option: domain.ResponseOptionReduce, Owner: "HR", DueDate: due})
	if err != nil {
		t.Fatal(err)
	}
	done, _ := domain.ParseDate("2026-01-10")
	delivered, err := e.Register.ProposeResponse(context.Background(), regtest.Staff(""), r.ID(), domain.ResponseDetails{
		Title: "Withdrawn plan", Option: domain.ResponseOptionReduce, Owner: "HR", DueDate: done})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Register.TransitionResponse(context.Background(), regtest.Staff(""), register.WithdrawResponse,
		delivered.ID(), delivered.Version(), "not needed"); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(day(1, 21))
	if n := sweep(t, e, s); n != 1 {
		t.Fatalf("the day after the due date: %d acts, want 1", n)
	}
	if got := acts(t, e)["ResponseOverdue/"+r.ID()+"/"+resp.ID()+"/2026-01-20"]; got != 1 {
		t.Fatalf("overdue recorded %d times: %v", got, acts(t, e))
	}
	// A new due date may pass in its turn.
	later, _ := domain.ParseDate("2026-02-10")
	if _, err := e.Register.ReviseResponse(context.Background(), regtest.Staff(""), resp.ID(), resp.Version(),
		domain.ResponseChanges{DueDate: &later}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(day(2, 11))
	if n := sweep(t, e, s); n != 1 {
		t.Fatalf("the revised due date: %d acts, want 1", n)
	}
}

// TestExactlyOnce: two processes sweep at once, then the read models are
// rebuilt from the log and a sweeper runs again: every act is in the log
// exactly once.
func TestExactlyOnce(t *testing.T) {
	e := regtest.New(t)
	var ids []string
	for i := range 20 {
		ids = append(ids, e.Risk("Risk", 1+i%5, 5).ID())
	}
	e.Clock.Set(day(12, 31))
	e.CaughtUp()
	// A second process: its own pool, store, reader and sweeper.
	_, store2 := regtest.Open(t, e.URL)
	s2, err := calendar.New(calendar.Config{Store: store2, Reader: projection.NewReader(store2), Now: e.Clock.Now, Parallel: 3})
	if err != nil {
		t.Fatal(err)
	}
	s1 := newSweeper(t, e)
	// Both find the same acts due, then record them at the same time.
	due1, err := s1.Due(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	due2, err := s2.Due(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(due1) != 20 || len(due2) != 20 {
		t.Fatalf("the sweepers found %d and %d acts, want 20 each", len(due1), len(due2))
	}
	var wg sync.WaitGroup
	for i, s := range []*calendar.Sweeper{s1, s2} {
		due := [][]domain.TimeAct{due1, due2}[i]
		wg.Go(func() {
			if err := s.Record(context.Background(), due); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// And a late third one that still records them (a process whose read
	// model was behind).
	if err := s2.Record(context.Background(), due1); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got := acts(t, e)
		if len(got) != 20 {
			t.Fatalf("%s: %d acts in the log, want 20", when, len(got))
		}
		for k, n := range got {
			if n != 1 {
				t.Errorf("%s: %s recorded %d times", when, k, n)
			}
		}
	}
	check("after two concurrent sweeps")

	// Replay: rebuild every read model from the log, then sweep again.
	if _, err := projection.Rebuild(context.Background(), projection.RebuildConfig{Store: e.Store,
		Projections: projection.Builtin(), Logger: regtest.Logger()}); err != nil {
		t.Fatal(err)
	}
	if n := sweep(t, e, s1); n != 0 {
		t.Errorf("after the replay a sweep found %d acts", n)
	}
	check("after a replay")
	for _, id := range ids {
		if overdue, _ := calendarRisk(t, e, id); !overdue {
			t.Errorf("risk %s not overdue after the replay", id)
		}
	}
}

// TestRunHoldsOneLock: two Run loops on one database; both end when their
// context ends, and the acts are recorded once.
func TestRunHoldsOneLock(t *testing.T) {
	e := regtest.New(t)
	e.Risk("Risk", 5, 5)
	e.Clock.Set(day(6, 1))
	e.CaughtUp()
	cfg := e.Pool.Config().ConnConfig
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		s, err := calendar.New(calendar.Config{Store: e.Store, Reader: e.Reader, Now: e.Clock.Now, Interval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := s.Run(ctx, cfg); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(acts(t, e)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var holders int
	if err := e.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'riskreg calendar'
		AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`).Scan(&holders); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	if holders != 1 {
		t.Errorf("%d sessions hold the sweeper's lock, want 1", holders)
	}
	for k, n := range acts(t, e) {
		if n != 1 {
			t.Errorf("%s recorded %d times", k, n)
		}
	}
}
