package domain

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is the clock time of the tests; it has nanoseconds, like the API's.
var t0 = time.Date(2026, 11, 27, 9, 0, 0, 123456789, time.UTC)

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// modified returns a copy of v changed by f.
func modified[T any](v T, f func(*T)) T {
	f(&v)
	return v
}

// date parses s or panics; for test tables.
func date(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// text returns a string of n characters, multi-byte ones, so that limits are
// checked in characters rather than bytes.
func text(n int) string { return strings.Repeat("é", n) }

// fields builds a *ValidationError from field, message pairs.
func fields(pairs ...string) *ValidationError {
	e := &ValidationError{}
	for i := 0; i < len(pairs); i += 2 {
		e.Fields = append(e.Fields, FieldError{Field: pairs[i], Message: pairs[i+1]})
	}
	return e
}

// precondition builds a *PreconditionError.
func precondition(format string, args ...any) *PreconditionError {
	return &PreconditionError{Reason: fmt.Sprintf(format, args...)}
}

// assertError checks that got is an error of the same type as want with
// equal fields, and that it matches the type's sentinel; a nil want means no
// error.
func assertError(t testing.TB, got, want error) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if got != nil {
			t.Fatalf("error = %v, want none", got)
		}
	case *ValidationError:
		assertAs(t, got, w, ErrInvalidInput)
	case *PreconditionError:
		assertAs(t, got, w, ErrPrecondition)
	case *StaleError:
		assertAs(t, got, w, ErrStale)
	case *NotFoundError:
		assertAs(t, got, w, ErrNotFound)
	case *ForbiddenError:
		assertAs(t, got, w, ErrForbidden)
	default:
		if !errors.Is(got, want) {
			t.Fatalf("error = %v, want one matching %v", got, want)
		}
	}
}

// assertAs checks that got is an E equal to want and matches sentinel.
func assertAs[E error](t testing.TB, got error, want E, sentinel error) {
	t.Helper()
	var g E
	if !errors.As(got, &g) {
		t.Fatalf("error = %#v (%v), want %T", got, got, want)
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("error = %#v\n want %#v", g, want)
	}
	if !errors.Is(got, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", got, sentinel)
	}
}

// assertEvents checks that got holds exactly the events want, type and data.
func assertEvents(t testing.TB, got, want []Event) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events =\n%s\nwant\n%s", dumpEvents(got), dumpEvents(want))
	}
}

// dumpEvents prints events one a line with their types.
func dumpEvents(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "  %T %+v\n", e, e)
	}
	return b.String()
}

// concat joins event lists.
func concat(lists ...[]Event) []Event {
	var all []Event
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// applyAll applies events to a or fails the test.
func applyAll(t testing.TB, a applier, events []Event) {
	t.Helper()
	for _, e := range events {
		if err := a.Apply(e); err != nil {
			t.Fatalf("Apply(%T): %v", e, err)
		}
	}
}

// Fixtures: a risk and a response in every status.

const (
	riskID     = "risk-1"
	responseID = "resp-1"
	decisionID = "dec-1"
)

var (
	registered = RiskRegistered{
		Reference:   "R-0001",
		Title:       "Loss of revenue data",
		Description: "Ageing servers -> data loss -> revenue cannot be reconciled",
		Category:    "Financial",
		Source:      "Audit Plan 2021",
		Owner:       "Director of Finance",
	}
	proposed = ResponseProposed{
		RiskID:      riskID,
		Title:       "Replace the servers",
		Description: "Move revenue data to the new data centre",
		Option:      ResponseOptionReduce,
		Owner:       "Head of IT",
		DueDate:     date("2027-06-30"),
	}
	acRef      = DecisionRef{DecisionID: "dec-0", Body: BodyAuditCommittee, Session: "AC 2026"}
	pcRef      = DecisionRef{DecisionID: "dec-0", Body: BodyPolicyCommission, Session: "PC 2026"}
	councilRef = DecisionRef{DecisionID: "dec-0", Body: BodyCouncil, Session: "Council 2026"}
)

// assessed is a RiskAssessed event by "alice" at t0.
func assessed(kind RatingKind, likelihood, impact int) RiskAssessed {
	return RiskAssessed{
		Kind: kind, Likelihood: likelihood, Impact: impact,
		Rationale: "seen in 2025", AssessedBy: "alice", AssessedAt: t0,
	}
}

// riskIn returns the history of an AMBER, unflagged risk in status s.
func riskIn(s RiskStatus) []Event {
	base := []Event{registered}
	if s == RiskStatusOpen {
		return base
	}
	base = append(base, assessed(RatingKindInherent, 3, 3))
	switch s {
	case RiskStatusTreating:
		base = append(base, RiskTreatmentStarted{DecisionRef: councilRef, ResponseID: responseID})
	case RiskStatusMonitoring:
		base = append(base, RiskMonitoringStarted{DecisionRef: acRef, ResponseID: responseID})
	case RiskStatusTolerated:
		base = append(base, RiskTolerated{DecisionRef: councilRef, ToleratedUntil: date("2027-12-31")})
	case RiskStatusClosed:
		base = append(base, RiskClosed{Reason: "no longer relevant"})
	case RiskStatusWithdrawn:
		base = append(base, RiskWithdrawn{Reason: "duplicate of R-0002"})
	}
	return base
}

// responseIn returns the history of a response in status s.
func responseIn(s ResponseStatus) []Event {
	paths := map[ResponseStatus][]Event{
		ResponseStatusDraft:       {},
		ResponseStatusSubmitted:   {ResponseSubmitted{}},
		ResponseStatusRecommended: {ResponseSubmitted{}, ResponseRecommended{pcRef}},
		ResponseStatusReturned:    {ResponseSubmitted{}, ResponseReturned{pcRef}},
		ResponseStatusEndorsed:    {ResponseSubmitted{}, ResponseRecommended{pcRef}, ResponseEndorsed{councilRef}},
		ResponseStatusRejected:    {ResponseSubmitted{}, ResponseRejected{councilRef}},
		ResponseStatusWithdrawn:   {ResponseWithdrawn{Note: "superseded"}},
	}
	chain := []Event{ResponseStarted{}, ResponseImplemented{}, ResponseVerified{acRef}, ResponseClosed{}}
	for i, st := range []ResponseStatus{
		ResponseStatusInProgress, ResponseStatusImplemented, ResponseStatusVerified, ResponseStatusClosed,
	} {
		paths[st] = concat(paths[ResponseStatusEndorsed], chain[:i+1])
	}
	return concat([]Event{proposed}, paths[s])
}

// mustRisk folds a risk history or fails the test.
func mustRisk(t testing.TB, events []Event) *Risk {
	t.Helper()
	r, err := RiskFromHistory(riskID, events)
	if err != nil {
		t.Fatalf("RiskFromHistory: %v", err)
	}
	return r
}

// mustResponse folds a response history or fails the test.
func mustResponse(t testing.TB, events []Event) *StrategicResponse {
	t.Helper()
	s, err := ResponseFromHistory(responseID, events)
	if err != nil {
		t.Fatalf("ResponseFromHistory: %v", err)
	}
	return s
}

// riskState is everything a Risk's getters show.
type riskState struct {
	ID, Reference, Title, Description, Category, Source, Owner string
	Status                                                     RiskStatus
	Ratings                                                    [3]Rating
	Rated                                                      [3]bool
	Band                                                       Band
	HasBand                                                    bool
	Flagged                                                    bool
	ToleratedUntil                                             Date
	Tolerated                                                  bool
	Version                                                    int
}

// stateOfRisk reads a risk through its getters.
func stateOfRisk(r *Risk) riskState {
	s := riskState{
		ID: r.ID(), Reference: r.Reference(), Title: r.Title(), Description: r.Description(),
		Category: r.Category(), Source: r.Source(), Owner: r.Owner(), Status: r.Status(),
		Flagged: r.Flagged(), Version: r.Version(),
	}
	for i, kind := range ratingKinds {
		s.Ratings[i], s.Rated[i] = r.Rating(kind)
	}
	s.Band, s.HasBand = r.Band()
	s.ToleratedUntil, s.Tolerated = r.ToleratedUntil()
	return s
}

// responseState is everything a StrategicResponse's getters show.
type responseState struct {
	ID, RiskID, Title, Description, Owner string
	Option                                ResponseOption
	DueDate                               Date
	HasDueDate                            bool
	Status                                ResponseStatus
	Version                               int
}

// stateOfResponse reads a response through its getters.
func stateOfResponse(s *StrategicResponse) responseState {
	st := responseState{
		ID: s.ID(), RiskID: s.RiskID(), Title: s.Title(), Description: s.Description(),
		Owner: s.Owner(), Option: s.Option(), Status: s.Status(), Version: s.Version(),
	}
	st.DueDate, st.HasDueDate = s.DueDate()
	return st
}

// commandCase is a given-events / when-command / then-events-or-error case
// for an aggregate A whose status type is S.
type commandCase[A any, S ~string] struct {
	name       string
	given      []Event
	when       func(A) ([]Event, error)
	want       []Event
	wantErr    error
	wantStatus S // after applying want; "" to skip the check
}

// aggregate is what runCases needs of a Risk or a StrategicResponse.
type aggregate[S ~string] interface {
	applier
	Version() int
	Status() S
}

// runCases runs command cases: it folds the given events with load, runs
// the command, checks the events or the error, checks that the command did
// not change the aggregate (as seen through state), then applies the new
// events and checks the version and the status.
func runCases[A aggregate[S], S ~string, St any](t *testing.T, tests []commandCase[A, S],
	load func(testing.TB, []Event) A, state func(A) St) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := load(t, tc.given)
			before := state(a)
			got, err := tc.when(a)
			if after := state(a); !reflect.DeepEqual(after, before) {
				t.Fatalf("command changed the aggregate: %+v -> %+v", before, after)
			}
			assertError(t, err, tc.wantErr)
			assertEvents(t, got, tc.want)
			applyAll(t, a, got)
			if a.Version() != len(tc.given)+len(got) {
				t.Errorf("Version() = %d, want %d", a.Version(), len(tc.given)+len(got))
			}
			if tc.wantStatus != "" && a.Status() != tc.wantStatus {
				t.Errorf("Status() = %s, want %s", a.Status(), tc.wantStatus)
			}
		})
	}
}
