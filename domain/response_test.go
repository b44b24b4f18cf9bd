package domain

import (
	"reflect"
	"testing"
)

// responseDetails is a valid ResponseDetails matching proposed.
func responseDetails() ResponseDetails {
	return ResponseDetails{
		Title: proposed.Title, Description: proposed.Description, Option: proposed.Option,
		Owner: proposed.Owner, DueDate: proposed.DueDate,
	}
}

func TestProposeResponse(t *testing.T) {
	with := func(f func(*ResponseDetails)) ResponseDetails { return modified(responseDetails(), f) }
	proposedWith := func(f func(*ResponseProposed)) []Event { return []Event{modified(proposed, f)} }
	type proposeCase struct {
		name    string
		id      string
		risk    []Event // nil for no risk
		in      ResponseDetails
		want    []Event
		wantErr error
	}
	tests := []proposeCase{
		{name: "valid", id: responseID, risk: riskIn(RiskStatusOpen), in: responseDetails(), want: []Event{proposed}},
		{name: "no due date, no description", id: responseID, risk: riskIn(RiskStatusOpen),
			in:   with(func(d *ResponseDetails) { d.DueDate, d.Description = Date{}, "" }),
			want: proposedWith(func(e *ResponseProposed) { e.DueDate, e.Description = Date{}, "" })},
		{name: "blank id", id: "", risk: riskIn(RiskStatusOpen), in: responseDetails(),
			wantErr: fields("id", "must not be blank")},
		{name: "title at limit", id: responseID, risk: riskIn(RiskStatusOpen),
			in:   with(func(d *ResponseDetails) { d.Title = text(200) }),
			want: proposedWith(func(e *ResponseProposed) { e.Title = text(200) })},
		{name: "title over limit", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Title = text(201) }),
			wantErr: fields("title", "must be at most 200 characters")},
		{name: "blank title", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Title = " " }),
			wantErr: fields("title", "must not be blank")},
		{name: "description at limit", id: responseID, risk: riskIn(RiskStatusOpen),
			in:   with(func(d *ResponseDetails) { d.Description = text(10000) }),
			want: proposedWith(func(e *ResponseProposed) { e.Description = text(10000) })},
		{name: "description over limit", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Description = text(10001) }),
			wantErr: fields("description", "must be at most 10000 characters")},
		{name: "owner at limit", id: responseID, risk: riskIn(RiskStatusOpen),
			in:   with(func(d *ResponseDetails) { d.Owner = text(200) }),
			want: proposedWith(func(e *ResponseProposed) { e.Owner = text(200) })},
		{name: "owner over limit", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Owner = text(201) }),
			wantErr: fields("owner", "must be at most 200 characters")},
		{name: "blank owner", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Owner = "" }),
			wantErr: fields("owner", "must not be blank")},
		{name: "unknown option", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Option = "TRANSFER" }),
			wantErr: fields("option", `unknown value "TRANSFER"`)},
		{name: "no option", id: responseID, risk: riskIn(RiskStatusOpen),
			in:      with(func(d *ResponseDetails) { d.Option = "" }),
			wantErr: fields("option", `unknown value ""`)},
		{name: "no risk", id: responseID, in: responseDetails(), wantErr: &NotFoundError{Kind: StreamRisk}},
	}
	for _, status := range riskStatuses {
		tc := proposeCase{name: "risk " + string(status), id: responseID, risk: riskIn(status), in: responseDetails()}
		if status.Terminal() {
			tc.wantErr = terminalRisk(status, "proposeResponse")
		} else {
			tc.want = []Event{proposed}
		}
		tests = append(tests, tc)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var risk *Risk
			if tc.risk != nil {
				risk = mustRisk(t, tc.risk)
			}
			got, err := ProposeResponse(tc.id, risk, tc.in)
			assertError(t, err, tc.wantErr)
			assertEvents(t, got, tc.want)
			if err != nil {
				return
			}
			s := mustResponse(t, got)
			due, hasDue := tc.in.DueDate, !tc.in.DueDate.IsZero()
			want := responseState{
				ID: responseID, RiskID: riskID, Title: tc.in.Title, Description: tc.in.Description,
				Owner: tc.in.Owner, Option: tc.in.Option, DueDate: due, HasDueDate: hasDue,
				Status: ResponseStatusDraft, Version: 1,
			}
			if got := stateOfResponse(s); got != want {
				t.Errorf("state = %+v\nwant %+v", got, want)
			}
		})
	}
}

// responseCase is a command case for a StrategicResponse.
type responseCase = commandCase[*StrategicResponse, ResponseStatus]

// runResponseCases runs response cases with runCases.
func runResponseCases(t *testing.T, tests []responseCase) {
	t.Helper()
	runCases(t, tests, mustResponse, stateOfResponse)
}

// wrongResponseStatus is the reason for refusing action in status got.
func wrongResponseStatus(got ResponseStatus, action, need string) *PreconditionError {
	return precondition("response resp-1 is %s; %s needs %s", got, action, need)
}

// activeResponses is how the reasons spell the non-terminal statuses.
const activeResponses = "one of DRAFT, SUBMITTED, RECOMMENDED, RETURNED, ENDORSED, IN_PROGRESS, IMPLEMENTED, VERIFIED"

// TestResponseTransitions tries every staff command in every status.
func TestResponseTransitions(t *testing.T) {
	type command struct {
		action string
		run    func(*StrategicResponse, string) ([]Event, error)
		event  func(note string) Event
		from   []ResponseStatus
		need   string
		to     ResponseStatus
	}
	commands := []command{
		{"submitResponse", (*StrategicResponse).Submit, func(n string) Event { return ResponseSubmitted{Note: n} },
			[]ResponseStatus{ResponseStatusDraft}, "DRAFT", ResponseStatusSubmitted},
		{"startResponse", (*StrategicResponse).Start, func(n string) Event { return ResponseStarted{Note: n} },
			[]ResponseStatus{ResponseStatusEndorsed}, "ENDORSED", ResponseStatusInProgress},
		{"reportImplementation", (*StrategicResponse).ReportImplementation,
			func(n string) Event { return ResponseImplemented{Note: n} },
			[]ResponseStatus{ResponseStatusInProgress}, "IN_PROGRESS", ResponseStatusImplemented},
		{"closeResponse", (*StrategicResponse).Close, func(n string) Event { return ResponseClosed{Note: n} },
			[]ResponseStatus{ResponseStatusVerified}, "VERIFIED", ResponseStatusClosed},
		{"withdrawResponse", (*StrategicResponse).Withdraw, func(n string) Event { return ResponseWithdrawn{Note: n} },
			activeResponseStatuses, activeResponses, ResponseStatusWithdrawn},
	}
	var tests []responseCase
	for _, c := range commands {
		when := func(note string) func(*StrategicResponse) ([]Event, error) {
			return func(s *StrategicResponse) ([]Event, error) { return c.run(s, note) }
		}
		for _, status := range responseStatuses {
			tc := responseCase{name: c.action + " in " + string(status), given: responseIn(status), when: when("")}
			allowed := false
			for _, f := range c.from {
				allowed = allowed || f == status
			}
			if allowed {
				tc.want, tc.wantStatus = []Event{c.event("")}, c.to
			} else {
				tc.wantErr = wrongResponseStatus(status, c.action, c.need)
			}
			tests = append(tests, tc)
		}
		given := responseIn(c.from[0])
		tests = append(tests,
			responseCase{name: c.action + " note at limit", given: given, when: when(text(2000)),
				want: []Event{c.event(text(2000))}, wantStatus: c.to},
			responseCase{name: c.action + " note over limit", given: given, when: when(text(2001)),
				wantErr: fields("note", "must be at most 2000 characters")},
			responseCase{name: c.action + " blank note is kept as given", given: given, when: when(" "),
				want: []Event{c.event(" ")}, wantStatus: c.to},
		)
	}
	runResponseCases(t, tests)
}

func TestResponseRevise(t *testing.T) {
	revise := func(c ResponseChanges) func(*StrategicResponse) ([]Event, error) {
		return func(s *StrategicResponse) ([]Event, error) { return s.Revise(c) }
	}
	draft := responseIn(ResponseStatusDraft)
	tests := []responseCase{
		{name: "every field", given: draft,
			when: revise(ResponseChanges{
				Title: ptr("T2"), Description: ptr(""), Option: ptr(ResponseOptionShare), Owner: ptr("O2"),
				DueDate: ptr(date("2027-12-31")),
			}),
			want: []Event{ResponseRevised{
				Title: ptr("T2"), Description: ptr(""), Option: ptr(ResponseOptionShare), Owner: ptr("O2"),
				DueDate: ptr(date("2027-12-31")),
			}},
			wantStatus: ResponseStatusDraft},
		{name: "only changed fields", given: draft,
			when: revise(ResponseChanges{Title: ptr(proposed.Title), Option: ptr(ResponseOptionAvoid),
				DueDate: ptr(proposed.DueDate)}),
			want: []Event{ResponseRevised{Option: ptr(ResponseOptionAvoid)}}},
		{name: "draft, nothing changed", given: draft, when: revise(ResponseChanges{Owner: ptr(proposed.Owner)})},
		{name: "draft, nothing given", given: draft, when: revise(ResponseChanges{})},
		{name: "returned, nothing changed, back to draft", given: responseIn(ResponseStatusReturned),
			when: revise(ResponseChanges{}), want: []Event{ResponseRevised{}}, wantStatus: ResponseStatusDraft},
		{name: "returned, changed", given: responseIn(ResponseStatusReturned),
			when: revise(ResponseChanges{Title: ptr("T2")}), want: []Event{ResponseRevised{Title: ptr("T2")}},
			wantStatus: ResponseStatusDraft},
		{name: "title at limit", given: draft, when: revise(ResponseChanges{Title: ptr(text(200))}),
			want: []Event{ResponseRevised{Title: ptr(text(200))}}},
		{name: "title over limit", given: draft, when: revise(ResponseChanges{Title: ptr(text(201))}),
			wantErr: fields("title", "must be at most 200 characters")},
		{name: "blank title", given: draft, when: revise(ResponseChanges{Title: ptr(" ")}),
			wantErr: fields("title", "must not be blank")},
		{name: "description at limit", given: draft, when: revise(ResponseChanges{Description: ptr(text(10000))}),
			want: []Event{ResponseRevised{Description: ptr(text(10000))}}},
		{name: "description over limit", given: draft, when: revise(ResponseChanges{Description: ptr(text(10001))}),
			wantErr: fields("description", "must be at most 10000 characters")},
		{name: "owner at limit", given: draft, when: revise(ResponseChanges{Owner: ptr(text(200))}),
			want: []Event{ResponseRevised{Owner: ptr(text(200))}}},
		{name: "owner over limit", given: draft, when: revise(ResponseChanges{Owner: ptr(text(201))}),
			wantErr: fields("owner", "must be at most 200 characters")},
		{name: "blank owner", given: draft, when: revise(ResponseChanges{Owner: ptr("")}),
			wantErr: fields("owner", "must not be blank")},
		{name: "unknown option", given: draft, when: revise(ResponseChanges{Option: ptr(ResponseOption("avoid"))}),
			wantErr: fields("option", `unknown value "avoid"`)},
		{name: "zero due date", given: draft, when: revise(ResponseChanges{DueDate: ptr(Date{})}),
			wantErr: fields("dueDate", "must be a date")},
	}
	for _, status := range responseStatuses {
		if status == ResponseStatusDraft || status == ResponseStatusReturned {
			continue
		}
		tests = append(tests, responseCase{
			name: "in " + string(status), given: responseIn(status), when: revise(ResponseChanges{Title: ptr("T2")}),
			wantErr: wrongResponseStatus(status, "reviseResponse", "one of DRAFT, RETURNED"),
		})
	}
	runResponseCases(t, tests)
}

// TestResponseStateMachine walks the whole cycle, including the decision
// events, and checks the status after every event.
func TestResponseStateMachine(t *testing.T) {
	steps := []struct {
		e    Event
		want ResponseStatus
	}{
		{proposed, ResponseStatusDraft},
		{ResponseSubmitted{}, ResponseStatusSubmitted},
		{ResponseReturned{pcRef}, ResponseStatusReturned},
		{ResponseRevised{Title: ptr("T2"), DueDate: ptr(date("2028-01-01"))}, ResponseStatusDraft},
		{ResponseSubmitted{}, ResponseStatusSubmitted},
		{ResponseRecommended{pcRef}, ResponseStatusRecommended},
		{ResponseEndorsed{councilRef}, ResponseStatusEndorsed},
		{ResponseStarted{}, ResponseStatusInProgress},
		{ResponseImplemented{}, ResponseStatusImplemented},
		{ResponseVerified{acRef}, ResponseStatusVerified},
		{ResponseClosed{}, ResponseStatusClosed},
	}
	s := &StrategicResponse{id: responseID}
	for i, st := range steps {
		applyAll(t, s, []Event{st.e})
		if s.Status() != st.want || s.Version() != i+1 {
			t.Fatalf("after %s: status %s version %d, want %s %d", st.e.EventType(), s.Status(), s.Version(), st.want, i+1)
		}
	}
	want := responseState{
		ID: responseID, RiskID: riskID, Title: "T2", Description: proposed.Description, Owner: proposed.Owner,
		Option: proposed.Option, DueDate: date("2028-01-01"), HasDueDate: true,
		Status: ResponseStatusClosed, Version: len(steps),
	}
	if got := stateOfResponse(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("state = %+v\nwant %+v", got, want)
	}
	for _, e := range []Event{ResponseRejected{councilRef}, ResponseWithdrawn{}} {
		s := mustResponse(t, []Event{proposed, e})
		if !s.Status().Terminal() {
			t.Errorf("after %s: status %s is not terminal", e.EventType(), s.Status())
		}
	}
}

func TestResponseApply(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   error
	}{
		{name: "no history", want: &NotFoundError{Kind: StreamResponse, ID: responseID}},
		{name: "first event not ResponseProposed", events: []Event{ResponseSubmitted{}}, want: ErrUnexpectedEvent},
		{name: "proposed twice", events: []Event{proposed, proposed}, want: ErrUnexpectedEvent},
		{name: "risk event", events: []Event{proposed, RiskFlagged{acRef}}, want: ErrUnexpectedEvent},
		{name: "decision event", events: []Event{proposed, DecisionRecorded{}}, want: ErrUnexpectedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResponseFromHistory(responseID, tc.events)
			assertError(t, err, tc.want)
		})
	}
	var zero StrategicResponse
	_, err := zero.Submit("")
	assertError(t, err, &NotFoundError{Kind: StreamResponse})
}
