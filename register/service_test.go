package register_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/register"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newService(t *testing.T) (*register.Service, *eventstore.Store) {
	t.Helper()
	store, err := eventstore.New(pgtest.NewPool(t), eventstore.Config{Upcasters: register.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return register.New(store, time.Now), store
}

func as(subject string, roles ...domain.Role) register.Request {
	return register.Request{Principal: domain.Principal{Subject: subject, Roles: roles}, RequestID: "req-" + subject}
}

var (
	staff   = as("sam", domain.RoleStaff)
	ac      = as("ada", domain.RoleAuditCommittee)
	pc      = as("pia", domain.RolePolicyCommission)
	council = as("cal", domain.RoleCouncil)
)

func details(title string) domain.RiskDetails {
	return domain.RiskDetails{Title: title, Description: "A supplier fails -> systems stop -> clearance delayed",
		Category: "Operational", Source: "Audit Plan 2021", Owner: "Director of Finance"}
}

// must returns v, or panics (failing the test) when err is set.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func decide(t *testing.T, s *register.Service, req register.Request, body domain.Body, kind domain.DecisionKind, id string, version int) register.Decision {
	t.Helper()
	return must(s.RecordDecision(context.Background(), req, register.DecisionInput{
		Body: body, Session: "Session 1", Kind: kind, Text: "Decided.",
		Subjects: []register.SubjectInput{{ID: id, ExpectedVersion: version}},
	}))
}

// TestGovernanceLifecycle takes a risk through the whole cycle and checks
// every state, reference and the trace of each decision's effects.
func TestGovernanceLifecycle(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()

	risk := must(s.RegisterRisk(ctx, staff, details("Supply chain disruption")))
	if risk.Reference() != "R-0001" || risk.Status() != domain.RiskStatusOpen || risk.Version() != 1 {
		t.Fatalf("registered %s %s v%d, want R-0001 OPEN v1", risk.Reference(), risk.Status(), risk.Version())
	}
	if second := must(s.RegisterRisk(ctx, staff, details("Second"))); second.Reference() != "R-0002" {
		t.Errorf("second reference %s, want R-0002", second.Reference())
	}
	risk = must(s.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, 4, 5, "Single supplier"))
	if band, _ := risk.Band(); risk.Status() != domain.RiskStatusAssessed || band != domain.BandRed {
		t.Fatalf("after assessment: %s %s, want ASSESSED RED", risk.Status(), band)
	}
	if r, _ := risk.Rating(domain.RatingKindInherent); r.AssessedBy() != "sam" {
		t.Errorf("assessedBy = %q, want the principal", r.AssessedBy())
	}

	flag := decide(t, s, ac, domain.BodyAuditCommittee, domain.DecisionKindFlag, risk.ID(), 2)
	resp := must(s.ProposeResponse(ctx, staff, risk.ID(), domain.ResponseDetails{Title: "Second supplier", Option: domain.ResponseOptionReduce, Owner: "Procurement"}))
	resp = must(s.TransitionResponse(ctx, staff, register.SubmitResponse, resp.ID(), 1, ""))
	decide(t, s, pc, domain.BodyPolicyCommission, domain.DecisionKindRecommend, resp.ID(), 2)
	endorse := decide(t, s, council, domain.BodyCouncil, domain.DecisionKindEndorse, resp.ID(), 3)
	if r := must(s.Risk(ctx, risk.ID(), register.AsOf{})); r.Status() != domain.RiskStatusTreating || !r.Flagged() {
		t.Errorf("risk after ENDORSE: %s flagged=%v, want TREATING and flagged", r.Status(), r.Flagged())
	}
	resp = must(s.TransitionResponse(ctx, staff, register.StartResponse, resp.ID(), 4, "kick-off"))
	resp = must(s.TransitionResponse(ctx, staff, register.ReportImplementation, resp.ID(), 5, ""))
	decide(t, s, ac, domain.BodyAuditCommittee, domain.DecisionKindVerify, resp.ID(), 6)
	resp = must(s.TransitionResponse(ctx, staff, register.CloseResponse, resp.ID(), 7, "done"))
	if resp.Status() != domain.ResponseStatusClosed || resp.Version() != 8 {
		t.Errorf("response %s v%d, want CLOSED v8", resp.Status(), resp.Version())
	}
	risk = must(s.Risk(ctx, risk.ID(), register.AsOf{}))
	if risk.Status() != domain.RiskStatusMonitoring {
		t.Errorf("risk %s, want MONITORING", risk.Status())
	}
	// Staff may not close a flagged RED risk; the Council may.
	if _, err := s.CloseRisk(ctx, staff, risk.ID(), risk.Version(), "done"); !errors.Is(err, domain.ErrPrecondition) {
		t.Errorf("staff closing a flagged RED risk: %v, want ErrPrecondition", err)
	}
	decide(t, s, council, domain.BodyCouncil, domain.DecisionKindCloseRisk, risk.ID(), risk.Version())
	if r := must(s.Risk(ctx, risk.ID(), register.AsOf{})); r.Status() != domain.RiskStatusClosed {
		t.Errorf("risk after CLOSE_RISK: %s", r.Status())
	}

	// Every effect of the ENDORSE decision is traced to it.
	effects := must(store.ReadAll(ctx, eventstore.Position{}, 100, eventstore.Filter{DecisionID: endorse.ID()}))
	var types []string
	for _, e := range effects {
		types = append(types, e.Type)
		if e.Metadata.DecisionID != endorse.ID() || e.Metadata.Actor != "cal" {
			t.Errorf("%s: decision %q actor %q", e.Type, e.Metadata.DecisionID, e.Metadata.Actor)
		}
		if e.Type != domain.EventDecisionRecorded && e.Metadata.CausationID != endorse.Recorded.ID.String() {
			t.Errorf("%s: causation %q, want the DecisionRecorded event %s", e.Type, e.Metadata.CausationID, endorse.Recorded.ID)
		}
	}
	want := []string{domain.EventDecisionRecorded, domain.EventResponseEndorsed, domain.EventRiskTreatmentStarted}
	if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Errorf("ENDORSE effects %v, want %v", types, want)
	}
	if flag.Kind() != domain.DecisionKindFlag || flag.Subjects()[0].VersionSeen != 2 {
		t.Errorf("FLAG decision = %s on v%d", flag.Kind(), flag.Subjects()[0].VersionSeen)
	}
}

func TestTimeTravel(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	risk := must(s.RegisterRisk(ctx, staff, details("Before")))
	time.Sleep(5 * time.Millisecond)
	between := time.Now()
	time.Sleep(5 * time.Millisecond)
	title := "After"
	must(s.UpdateRisk(ctx, staff, risk.ID(), 1, domain.RiskChanges{Title: &title}))

	if r := must(s.Risk(ctx, risk.ID(), register.AsOf{Time: between})); r.Title() != "Before" || r.Version() != 1 {
		t.Errorf("as of between: %q v%d, want Before v1", r.Title(), r.Version())
	}
	if r := must(s.Risk(ctx, risk.ID(), register.AsOf{Version: 1})); r.Title() != "Before" {
		t.Errorf("at version 1: %q", r.Title())
	}
	if r := must(s.Risk(ctx, risk.ID(), register.AsOf{})); r.Title() != "After" || !r.UpdatedAt.After(r.CreatedAt) {
		t.Errorf("now: %q, created %v updated %v", r.Title(), r.CreatedAt, r.UpdatedAt)
	}
	var nf *domain.NotFoundError
	if _, err := s.Risk(ctx, risk.ID(), register.AsOf{Time: between.Add(-time.Hour)}); !errors.As(err, &nf) {
		t.Errorf("before it existed: %v, want NotFoundError", err)
	}
	if _, err := s.Response(ctx, risk.ID(), register.AsOf{}); !errors.As(err, &nf) {
		t.Errorf("a risk id read as a response: %v, want NotFoundError", err)
	}
}

func TestStaleVersionIsAConflictWithTheCurrentVersion(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	risk := must(s.RegisterRisk(ctx, staff, details("R")))
	must(s.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, 2, 2, "low"))

	_, err := s.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, 5, 5, "high")
	var stale *domain.StaleError
	if !errors.As(err, &stale) || stale.Current != 2 || stale.ID != risk.ID() {
		t.Fatalf("stale assess: %v, want StaleError with current 2", err)
	}
	// A decision on what the body saw at version 1 is stale too, and records
	// nothing.
	_, err = s.RecordDecision(ctx, ac, register.DecisionInput{Body: domain.BodyAuditCommittee, Session: "S", Kind: domain.DecisionKindFlag,
		Text: "Flag it", Subjects: []register.SubjectInput{{ID: risk.ID(), ExpectedVersion: 1}}})
	if !errors.As(err, &stale) || stale.Current != 2 {
		t.Errorf("stale decision: %v, want StaleError with current 2", err)
	}
	if r := must(s.Risk(ctx, risk.ID(), register.AsOf{})); r.Flagged() || r.Version() != 2 {
		t.Errorf("after the stale decision: flagged=%v v%d", r.Flagged(), r.Version())
	}
}

func TestParallelWritersOneWins(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	risk := must(s.RegisterRisk(ctx, staff, details("R")))
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, 1+i%5, 3, "parallel")
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		var stale *domain.StaleError
		switch {
		case err == nil:
			wins++
		case !errors.As(err, &stale) || stale.Current != 2:
			t.Errorf("loser: %v, want StaleError with current 2", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers won, want 1", wins)
	}
}

func TestIdempotencyKey(t *testing.T) {
	s, store := newService(t)
	ctx := context.Background()
	req := staff
	req.IdempotencyKey = "register-1"
	first := must(s.RegisterRisk(ctx, req, details("Once")))
	again := must(s.RegisterRisk(ctx, req, details("Once")))
	if again.ID() != first.ID() || again.Reference() != first.Reference() {
		t.Errorf("repeat answered %s %s, want %s %s", again.ID(), again.Reference(), first.ID(), first.Reference())
	}

	assess := staff
	assess.IdempotencyKey = "assess-1"
	a1 := must(s.AssessRisk(ctx, assess, first.ID(), 1, domain.RatingKindInherent, 3, 3, "mid"))
	// The repeat's expected version (1) is stale by now; it still answers
	// the first result and records nothing.
	a2 := must(s.AssessRisk(ctx, assess, first.ID(), 1, domain.RatingKindInherent, 3, 3, "mid"))
	if a2.Version() != a1.Version() || a2.Version() != 2 {
		t.Errorf("repeat version %d, first %d, want both 2", a2.Version(), a1.Version())
	}
	// Another principal's same key is another request.
	other := as("sue", domain.RoleStaff)
	other.IdempotencyKey = "register-1"
	if r := must(s.RegisterRisk(ctx, other, details("Other"))); r.ID() == first.ID() {
		t.Error("another principal's key returned the first principal's risk")
	}
	events := must(store.ReadAll(ctx, eventstore.Position{}, 100, eventstore.Filter{}))
	if len(events) != 3 {
		t.Errorf("%d events stored, want 3 (two registrations, one assessment)", len(events))
	}
	misuse := staff
	misuse.IdempotencyKey = "register-1"
	if _, err := s.ProposeResponse(ctx, misuse, first.ID(), domain.ResponseDetails{Title: "x", Option: domain.ResponseOptionAvoid, Owner: "o"}); !errors.Is(err, domain.ErrInvalidInput) {
		t.Errorf("key reused for another kind of request: %v, want ErrInvalidInput", err)
	}
}

func TestRolesAreEnforced(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	risk := must(s.RegisterRisk(ctx, as("adm", domain.RoleAdmin), details("By admin")))
	for _, req := range []register.Request{as("aud", domain.RoleAuditor), as("int", domain.RoleIntegration), council, as("nobody")} {
		if _, err := s.RegisterRisk(ctx, req, details("x")); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%v registering: %v, want ErrForbidden", req.Principal.Roles, err)
		}
	}
	for _, req := range []register.Request{staff, as("adm", domain.RoleAdmin), pc} {
		_, err := s.RecordDecision(ctx, req, register.DecisionInput{Body: domain.BodyCouncil, Session: "S", Kind: domain.DecisionKindNote,
			Text: "noted", Subjects: []register.SubjectInput{{ID: risk.ID(), ExpectedVersion: 1}}})
		if !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%v recording a Council decision: %v, want ErrForbidden", req.Principal.Roles, err)
		}
	}
	if _, err := s.RecordDecision(ctx, ac, register.DecisionInput{Body: domain.BodyAuditCommittee, Session: "S", Kind: domain.DecisionKindEndorse,
		Text: "x", Subjects: []register.SubjectInput{{ID: risk.ID(), ExpectedVersion: 1}}}); !errors.Is(err, domain.ErrPrecondition) {
		t.Errorf("AC taking an ENDORSE: %v, want ErrPrecondition", err)
	}
	var nf *domain.NotFoundError
	if _, err := s.RecordDecision(ctx, ac, register.DecisionInput{Body: domain.BodyAuditCommittee, Session: "S", Kind: domain.DecisionKindFlag,
		Text: "x", Subjects: []register.SubjectInput{{ID: "no-such-risk", ExpectedVersion: 1}}}); !errors.As(err, &nf) {
		t.Errorf("decision on a missing subject: %v, want NotFoundError", err)
	}
}

// TestTwoServicesOnOneRegister checks that a service whose snapshot of an
// aggregate is behind another process's writes still decides on the real
// state and reports the real current version.
func TestTwoServicesOnOneRegister(t *testing.T) {
	a, store := newService(t)
	b := register.New(store, time.Now) // another process: its own snapshots
	ctx := context.Background()
	risk := must(a.RegisterRisk(ctx, staff, details("Shared")))                        // a's snapshot: v1
	must(b.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, 1, 1, "b")) // v2, unseen by a

	got := must(a.AssessRisk(ctx, staff, risk.ID(), 2, domain.RatingKindResidual, 2, 2, "a")) // a's snapshot says v1
	if got.Version() != 3 {
		t.Fatalf("assess on the real v2: version %d, want 3", got.Version())
	}
	if r, ok := got.Rating(domain.RatingKindInherent); !ok || r.Rationale() != "b" {
		t.Errorf("a decided without b's rating: %+v %v", r, ok)
	}
	must(b.AssessRisk(ctx, staff, risk.ID(), 3, domain.RatingKindTarget, 1, 1, "b again")) // v4, a's snapshot says v3
	_, err := a.AssessRisk(ctx, staff, risk.ID(), 3, domain.RatingKindTarget, 2, 1, "a again")
	var stale *domain.StaleError
	if !errors.As(err, &stale) || stale.Current != 4 {
		t.Errorf("a on its stale snapshot: %v, want StaleError with current 4", err)
	}
	refs := map[string]bool{}
	for range 40 { // more than one block of references
		r := must(a.RegisterRisk(ctx, staff, details("Numbered")))
		if refs[r.Reference()] {
			t.Fatalf("reference %s handed out twice", r.Reference())
		}
		refs[r.Reference()] = true
	}
}
