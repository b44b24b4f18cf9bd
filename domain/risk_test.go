package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// details is a valid RiskDetails.
func details() RiskDetails {
	return RiskDetails{
		Title: registered.Title, Description: registered.Description, Category: registered.Category,
		Source: registered.Source, Owner: registered.Owner,
	}
}

func TestRegisterRisk(t *testing.T) {
	with := func(f func(*RiskDetails)) RiskDetails { return modified(details(), f) }
	registeredWith := func(f func(*RiskRegistered)) []Event { return []Event{modified(registered, f)} }
	tests := []struct {
		name      string
		id, ref   string
		in        RiskDetails
		want      []Event
		wantErr   error
		wantState RiskStatus
	}{
		{name: "valid", id: riskID, ref: "R-0001", in: details(), want: []Event{registered}},
		{name: "reference with five digits", id: riskID, ref: "R-12345", in: details(),
			want: registeredWith(func(e *RiskRegistered) { e.Reference = "R-12345" })},
		{name: "blank id", id: " ", ref: "R-0001", in: details(), wantErr: fields("id", "must not be blank")},
		{name: "reference with three digits", id: riskID, ref: "R-001", in: details(),
			wantErr: fields("reference", `must be "R-" followed by at least four digits`)},
		{name: "lower-case reference", id: riskID, ref: "r-0001", in: details(),
			wantErr: fields("reference", `must be "R-" followed by at least four digits`)},
		{name: "reference with a suffix", id: riskID, ref: "R-0001a", in: details(),
			wantErr: fields("reference", `must be "R-" followed by at least four digits`)},
		{name: "empty reference", id: riskID, ref: "", in: details(),
			wantErr: fields("reference", `must be "R-" followed by at least four digits`)},
		{name: "title at limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Title = text(200) }),
			want: registeredWith(func(e *RiskRegistered) { e.Title = text(200) })},
		{name: "title over limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Title = text(201) }),
			wantErr: fields("title", "must be at most 200 characters")},
		{name: "blank title", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Title = " \t\n" }),
			wantErr: fields("title", "must not be blank")},
		{name: "title not UTF-8", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Title = "\xff" }),
			wantErr: fields("title", "must be valid UTF-8")},
		{name: "description at limit", id: riskID, ref: "R-0001",
			in:   with(func(d *RiskDetails) { d.Description = text(10000) }),
			want: registeredWith(func(e *RiskRegistered) { e.Description = text(10000) })},
		{name: "description over limit", id: riskID, ref: "R-0001",
			in:      with(func(d *RiskDetails) { d.Description = text(10001) }),
			wantErr: fields("description", "must be at most 10000 characters")},
		{name: "blank description", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Description = "" }),
			wantErr: fields("description", "must not be blank")},
		{name: "category at limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Category = text(200) }),
			want: registeredWith(func(e *RiskRegistered) { e.Category = text(200) })},
		{name: "category over limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Category = text(201) }),
			wantErr: fields("category", "must be at most 200 characters")},
		{name: "blank category", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Category = "  " }),
			wantErr: fields("category", "must not be blank")},
		{name: "source at limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Source = text(200) }),
			want: registeredWith(func(e *RiskRegistered) { e.Source = text(200) })},
		{name: "source over limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Source = text(201) }),
			wantErr: fields("source", "must be at most 200 characters")},
		{name: "blank source", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Source = "" }),
			wantErr: fields("source", "must not be blank")},
		{name: "owner at limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Owner = text(200) }),
			want: registeredWith(func(e *RiskRegistered) { e.Owner = text(200) })},
		{name: "owner over limit", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Owner = text(201) }),
			wantErr: fields("owner", "must be at most 200 characters")},
		{name: "blank owner", id: riskID, ref: "R-0001", in: with(func(d *RiskDetails) { d.Owner = "" }),
			wantErr: fields("owner", "must not be blank")},
		{name: "every field wrong", id: "", ref: "x", in: RiskDetails{Title: text(201)},
			wantErr: fields(
				"id", "must not be blank",
				"reference", `must be "R-" followed by at least four digits`,
				"title", "must be at most 200 characters",
				"description", "must not be blank",
				"category", "must not be blank",
				"source", "must not be blank",
				"owner", "must not be blank",
			)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RegisterRisk(tc.id, tc.ref, tc.in)
			assertError(t, err, tc.wantErr)
			assertEvents(t, got, tc.want)
			if err != nil {
				return
			}
			r := mustRisk(t, got)
			if r.Status() != RiskStatusOpen || r.Version() != 1 || r.Reference() != tc.ref {
				t.Errorf("registered risk = %+v", stateOfRisk(r))
			}
		})
	}
}

// riskCase is a command case for a Risk.
type riskCase = commandCase[*Risk, RiskStatus]

// runRiskCases runs risk cases with runCases.
func runRiskCases(t *testing.T, tests []riskCase) {
	t.Helper()
	runCases(t, tests, mustRisk, stateOfRisk)
}

// terminalRisk is the reason for refusing action on a terminal risk.
func terminalRisk(status RiskStatus, action string) *PreconditionError {
	return precondition("risk risk-1 is %s; %s needs one of OPEN, ASSESSED, TREATING, MONITORING, TOLERATED",
		status, action)
}

func TestRiskUpdate(t *testing.T) {
	update := func(c RiskChanges) func(*Risk) ([]Event, error) {
		return func(r *Risk) ([]Event, error) { return r.Update(c) }
	}
	tests := []riskCase{
		{name: "every field", given: riskIn(RiskStatusOpen),
			when: update(RiskChanges{
				Title: ptr("New title"), Description: ptr("New description"), Category: ptr("Operational"),
				Source: ptr("Environmental Scan"), Owner: ptr("Secretary General"),
			}),
			want: []Event{RiskUpdated{
				Title: ptr("New title"), Description: ptr("New description"), Category: ptr("Operational"),
				Source: ptr("Environmental Scan"), Owner: ptr("Secretary General"),
			}}},
		{name: "only changed fields", given: riskIn(RiskStatusOpen),
			when: update(RiskChanges{Title: ptr(registered.Title), Owner: ptr("Secretary General")}),
			want: []Event{RiskUpdated{Owner: ptr("Secretary General")}}},
		{name: "nothing given", given: riskIn(RiskStatusOpen), when: update(RiskChanges{})},
		{name: "nothing changed", given: riskIn(RiskStatusOpen),
			when: update(RiskChanges{Title: ptr(registered.Title), Category: ptr(registered.Category)})},
		{name: "title at limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Title: ptr(text(200))}),
			want: []Event{RiskUpdated{Title: ptr(text(200))}}},
		{name: "title over limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Title: ptr(text(201))}),
			wantErr: fields("title", "must be at most 200 characters")},
		{name: "blank title", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Title: ptr(" ")}),
			wantErr: fields("title", "must not be blank")},
		{name: "description at limit", given: riskIn(RiskStatusOpen),
			when: update(RiskChanges{Description: ptr(text(10000))}),
			want: []Event{RiskUpdated{Description: ptr(text(10000))}}},
		{name: "description over limit", given: riskIn(RiskStatusOpen),
			when:    update(RiskChanges{Description: ptr(text(10001))}),
			wantErr: fields("description", "must be at most 10000 characters")},
		{name: "blank description", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Description: ptr("")}),
			wantErr: fields("description", "must not be blank")},
		{name: "category at limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Category: ptr(text(200))}),
			want: []Event{RiskUpdated{Category: ptr(text(200))}}},
		{name: "category over limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Category: ptr(text(201))}),
			wantErr: fields("category", "must be at most 200 characters")},
		{name: "blank category", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Category: ptr("")}),
			wantErr: fields("category", "must not be blank")},
		{name: "source at limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Source: ptr(text(200))}),
			want: []Event{RiskUpdated{Source: ptr(text(200))}}},
		{name: "source over limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Source: ptr(text(201))}),
			wantErr: fields("source", "must be at most 200 characters")},
		{name: "blank source", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Source: ptr("\t")}),
			wantErr: fields("source", "must not be blank")},
		{name: "owner at limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Owner: ptr(text(200))}),
			want: []Event{RiskUpdated{Owner: ptr(text(200))}}},
		{name: "owner over limit", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Owner: ptr(text(201))}),
			wantErr: fields("owner", "must be at most 200 characters")},
		{name: "blank owner", given: riskIn(RiskStatusOpen), when: update(RiskChanges{Owner: ptr("")}),
			wantErr: fields("owner", "must not be blank")},
		{name: "invalid input on a closed risk is reported first", given: riskIn(RiskStatusClosed),
			when:    update(RiskChanges{Owner: ptr("")}),
			wantErr: fields("owner", "must not be blank")},
	}
	for _, status := range riskStatuses {
		tc := riskCase{
			name: "in " + string(status), given: riskIn(status),
			when: update(RiskChanges{Title: ptr("New title")}),
		}
		if status.Terminal() {
			tc.wantErr = terminalRisk(status, "updateRisk")
		} else {
			tc.want = []Event{RiskUpdated{Title: ptr("New title")}}
			tc.wantStatus = status
		}
		tests = append(tests, tc)
	}
	runRiskCases(t, tests)
}

func TestRiskAssess(t *testing.T) {
	assess := func(kind RatingKind, likelihood, impact int, rationale string) func(*Risk) ([]Event, error) {
		return func(r *Risk) ([]Event, error) {
			return r.Assess(kind, likelihood, impact, rationale, "alice", t0)
		}
	}
	rated := func(kind RatingKind, l, i int, rationale string) []Event {
		e := assessed(kind, l, i)
		e.Rationale = rationale
		return []Event{e}
	}
	tests := []riskCase{
		{name: "first inherent rating assesses an open risk", given: riskIn(RiskStatusOpen),
			when: assess(RatingKindInherent, 4, 5, "seen in 2025"),
			want: rated(RatingKindInherent, 4, 5, "seen in 2025"), wantStatus: RiskStatusAssessed},
		{name: "residual rating leaves an open risk open", given: riskIn(RiskStatusOpen),
			when: assess(RatingKindResidual, 1, 1, "seen in 2025"),
			want: rated(RatingKindResidual, 1, 1, "seen in 2025"), wantStatus: RiskStatusOpen},
		{name: "target rating leaves an open risk open", given: riskIn(RiskStatusOpen),
			when: assess(RatingKindTarget, 1, 2, "seen in 2025"),
			want: rated(RatingKindTarget, 1, 2, "seen in 2025"), wantStatus: RiskStatusOpen},
		{name: "reassessing inherent", given: riskIn(RiskStatusAssessed),
			when: assess(RatingKindInherent, 5, 5, "worse"),
			want: rated(RatingKindInherent, 5, 5, "worse"), wantStatus: RiskStatusAssessed},
		{name: "rationale at limit", given: riskIn(RiskStatusOpen),
			when: assess(RatingKindInherent, 1, 1, text(2000)),
			want: rated(RatingKindInherent, 1, 1, text(2000))},
		{name: "rationale over limit", given: riskIn(RiskStatusOpen),
			when:    assess(RatingKindInherent, 1, 1, text(2001)),
			wantErr: fields("rationale", "must be at most 2000 characters")},
		{name: "blank rationale", given: riskIn(RiskStatusOpen),
			when:    assess(RatingKindInherent, 1, 1, "  "),
			wantErr: fields("rationale", "must not be blank")},
		{name: "likelihood 0", given: riskIn(RiskStatusOpen), when: assess(RatingKindInherent, 0, 1, "r"),
			wantErr: fields("likelihood", "must be between 1 and 5")},
		{name: "likelihood 6", given: riskIn(RiskStatusOpen), when: assess(RatingKindInherent, 6, 1, "r"),
			wantErr: fields("likelihood", "must be between 1 and 5")},
		{name: "impact 0", given: riskIn(RiskStatusOpen), when: assess(RatingKindInherent, 1, 0, "r"),
			wantErr: fields("impact", "must be between 1 and 5")},
		{name: "impact 6", given: riskIn(RiskStatusOpen), when: assess(RatingKindInherent, 1, 6, "r"),
			wantErr: fields("impact", "must be between 1 and 5")},
		{name: "unknown kind", given: riskIn(RiskStatusOpen), when: assess("CURRENT", 1, 1, "r"),
			wantErr: fields("kind", `unknown value "CURRENT"`)},
		{name: "no actor, no time", given: riskIn(RiskStatusOpen),
			when: func(r *Risk) ([]Event, error) {
				return r.Assess(RatingKindInherent, 1, 1, "r", "", time.Time{})
			},
			wantErr: fields("assessedBy", "must not be blank", "assessedAt", "must be set")},
		{name: "time is kept in UTC", given: riskIn(RiskStatusOpen),
			when: func(r *Risk) ([]Event, error) {
				return r.Assess(RatingKindInherent, 1, 1, "seen in 2025", "alice", t0.In(time.FixedZone("CET", 3600)))
			},
			want: rated(RatingKindInherent, 1, 1, "seen in 2025")},
	}
	for _, status := range riskStatuses {
		tc := riskCase{
			name: "in " + string(status), given: riskIn(status),
			when: assess(RatingKindResidual, 2, 2, "seen in 2025"),
		}
		if status.Terminal() {
			tc.wantErr = terminalRisk(status, "assessRisk")
		} else {
			tc.want = rated(RatingKindResidual, 2, 2, "seen in 2025")
			tc.wantStatus = status
		}
		tests = append(tests, tc)
	}
	runRiskCases(t, tests)
}

func TestRiskAssessSetsRatingAndBand(t *testing.T) {
	r := mustRisk(t, riskIn(RiskStatusOpen))
	if _, ok := r.Band(); ok {
		t.Fatal("unassessed risk has a band")
	}
	steps := []struct {
		kind       RatingKind
		l, i       int
		wantBand   Band
		wantStatus RiskStatus
	}{
		{RatingKindTarget, 1, 1, "", RiskStatusOpen}, // a target alone gives no band
		{RatingKindInherent, 5, 4, BandRed, RiskStatusAssessed},
		{RatingKindResidual, 2, 4, BandAmber, RiskStatusAssessed}, // residual wins over inherent
		{RatingKindInherent, 1, 1, BandAmber, RiskStatusAssessed},
	}
	for _, st := range steps {
		events, err := r.Assess(st.kind, st.l, st.i, "because", "alice", t0)
		if err != nil {
			t.Fatal(err)
		}
		applyAll(t, r, events)
		got, ok := r.Rating(st.kind)
		want, _ := NewRating(st.l, st.i, "because", "alice", t0)
		if !ok || got != want {
			t.Errorf("Rating(%s) = %+v, %v; want %+v", st.kind, got, ok, want)
		}
		band, ok := r.Band()
		if band != st.wantBand || ok != (st.wantBand != "") {
			t.Errorf("after %s %dx%d: Band() = %q, %v; want %q", st.kind, st.l, st.i, band, ok, st.wantBand)
		}
		if r.Status() != st.wantStatus {
			t.Errorf("Status() = %s, want %s", r.Status(), st.wantStatus)
		}
	}
	if _, ok := r.Rating("CURRENT"); ok {
		t.Error(`Rating("CURRENT") reported a rating`)
	}
}

func TestRiskCloseAndWithdraw(t *testing.T) {
	type command struct {
		action string
		run    func(r *Risk, reason string) ([]Event, error)
		event  func(reason string) Event
		status RiskStatus
	}
	commands := []command{
		{"closeRisk", (*Risk).Close, func(reason string) Event { return RiskClosed{Reason: reason} }, RiskStatusClosed},
		{"withdrawRisk", (*Risk).Withdraw, func(reason string) Event { return RiskWithdrawn{Reason: reason} }, RiskStatusWithdrawn},
	}
	var tests []riskCase
	for _, c := range commands {
		when := func(reason string) func(*Risk) ([]Event, error) {
			return func(r *Risk) ([]Event, error) { return c.run(r, reason) }
		}
		for _, status := range riskStatuses {
			tc := riskCase{name: c.action + " in " + string(status), given: riskIn(status), when: when("done")}
			if status.Terminal() {
				tc.wantErr = terminalRisk(status, c.action)
			} else {
				tc.want, tc.wantStatus = []Event{c.event("done")}, c.status
			}
			tests = append(tests, tc)
		}
		red := concat(riskIn(RiskStatusOpen), []Event{assessed(RatingKindInherent, 5, 3)})
		tests = append(tests,
			riskCase{name: c.action + " reason at limit", given: riskIn(RiskStatusOpen), when: when(text(2000)),
				want: []Event{c.event(text(2000))}},
			riskCase{name: c.action + " reason over limit", given: riskIn(RiskStatusOpen), when: when(text(2001)),
				wantErr: fields("reason", "must be at most 2000 characters")},
			riskCase{name: c.action + " blank reason", given: riskIn(RiskStatusOpen), when: when(" "),
				wantErr: fields("reason", "must not be blank")},
			riskCase{name: c.action + " RED inherent", given: red, when: when("done"),
				wantErr: precondition("risk risk-1 is RED; only a Council CLOSE_RISK decision can end it")},
			riskCase{name: c.action + " RED residual", when: when("done"),
				given:   concat(riskIn(RiskStatusAssessed), []Event{assessed(RatingKindResidual, 3, 5)}),
				wantErr: precondition("risk risk-1 is RED; only a Council CLOSE_RISK decision can end it")},
			riskCase{name: c.action + " RED inherent, AMBER residual", when: when("done"),
				given: concat(red, []Event{assessed(RatingKindResidual, 3, 4)}),
				want:  []Event{c.event("done")}, wantStatus: c.status},
			riskCase{name: c.action + " RED target only", when: when("done"),
				given: concat(riskIn(RiskStatusAssessed), []Event{assessed(RatingKindTarget, 5, 5)}),
				want:  []Event{c.event("done")}, wantStatus: c.status},
			riskCase{name: c.action + " flagged GREEN", when: when("done"),
				given:   concat(riskIn(RiskStatusAssessed), []Event{assessed(RatingKindInherent, 1, 1), RiskFlagged{acRef}}),
				wantErr: precondition("risk risk-1 is flagged; only a Council CLOSE_RISK decision can end it")},
			riskCase{name: c.action + " flagged unassessed", when: when("done"),
				given:   concat(riskIn(RiskStatusOpen), []Event{RiskFlagged{acRef}}),
				wantErr: precondition("risk risk-1 is flagged; only a Council CLOSE_RISK decision can end it")},
		)
	}
	runRiskCases(t, tests)
}

func TestRiskApply(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   error
	}{
		{name: "no history", events: nil, want: &NotFoundError{Kind: StreamRisk, ID: riskID}},
		{name: "first event not RiskRegistered", events: []Event{RiskFlagged{acRef}}, want: ErrUnexpectedEvent},
		{name: "registered twice", events: []Event{registered, registered}, want: ErrUnexpectedEvent},
		{name: "response event", events: []Event{registered, ResponseSubmitted{}}, want: ErrUnexpectedEvent},
		{name: "decision event", events: []Event{registered, DecisionRecorded{}}, want: ErrUnexpectedEvent},
		{name: "pointer event", events: []Event{&registered}, want: ErrUnexpectedEvent},
		{name: "nil event", events: []Event{registered, nil}, want: ErrUnexpectedEvent},
		{name: "unknown rating kind", events: []Event{registered, assessed("CURRENT", 1, 1)}, want: ErrUnexpectedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RiskFromHistory(riskID, tc.events)
			assertError(t, err, tc.want)
		})
	}
}

func TestRiskFoldsEveryEvent(t *testing.T) {
	events := []Event{
		registered,
		RiskUpdated{Title: ptr("T2"), Description: ptr("D2"), Category: ptr("C2"), Source: ptr("S2"), Owner: ptr("O2")},
		assessed(RatingKindInherent, 5, 5),
		assessed(RatingKindResidual, 2, 3),
		assessed(RatingKindTarget, 1, 2),
		RiskFlagged{acRef},
		RiskTolerated{DecisionRef: councilRef, ToleratedUntil: date("2027-01-31")},
	}
	r := mustRisk(t, events)
	rating := func(l, i int) Rating {
		x, err := NewRating(l, i, "seen in 2025", "alice", t0)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	want := riskState{
		ID: riskID, Reference: "R-0001", Title: "T2", Description: "D2", Category: "C2", Source: "S2", Owner: "O2",
		Status:  RiskStatusTolerated,
		Ratings: [3]Rating{rating(5, 5), rating(2, 3), rating(1, 2)}, Rated: [3]bool{true, true, true},
		Band: BandGreen, HasBand: true, Flagged: true,
		ToleratedUntil: date("2027-01-31"), Tolerated: true, Version: 7,
	}
	if got := stateOfRisk(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("state = %+v\nwant %+v", got, want)
	}
	// Leaving TOLERATED drops the date; MONITORING and CLOSED follow.
	for _, step := range []struct {
		e    Event
		want RiskStatus
	}{
		{RiskTreatmentStarted{DecisionRef: councilRef, ResponseID: responseID}, RiskStatusTreating},
		{RiskMonitoringStarted{DecisionRef: acRef, ResponseID: responseID}, RiskStatusMonitoring},
		{RiskClosed{DecisionRef: councilRef}, RiskStatusClosed},
	} {
		applyAll(t, r, []Event{step.e})
		if r.Status() != step.want {
			t.Errorf("after %s: Status() = %s, want %s", step.e.EventType(), r.Status(), step.want)
		}
		if d, ok := r.ToleratedUntil(); ok {
			t.Errorf("after %s: ToleratedUntil() = %s", step.e.EventType(), d)
		}
	}
}

func TestZeroRiskIsNotFound(t *testing.T) {
	var r Risk
	_, err := r.Update(RiskChanges{Title: ptr("x")})
	assertError(t, err, &NotFoundError{Kind: StreamRisk})
	if !errors.Is(err, ErrNotFound) {
		t.Fatal("not ErrNotFound")
	}
}
