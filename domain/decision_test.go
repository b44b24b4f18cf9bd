package domain

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const session = "Council, 139th/140th Sessions, June 2022"

// decide is a valid command of kind by body on subjects, recorded at t0.
func decide(body Body, kind DecisionKind, subjects ...SubjectRef) DecisionCommand {
	cmd := DecisionCommand{
		DecisionID: decisionID, Body: body, Session: session, Kind: kind,
		Text: "The body decided.", Subjects: subjects, RecordedBy: "clerk", RecordedAt: t0,
	}
	if kind == DecisionKindAcceptRisk {
		cmd.ExpiresOn = date("2027-12-31")
	}
	return cmd
}

// riskRef and responseRef name risk-1 and resp-1 at a version.
func riskRef(v int) SubjectRef {
	return SubjectRef{ID: riskID, Kind: SubjectKindRisk, ExpectedVersion: v}
}
func responseRef(v int) SubjectRef {
	return SubjectRef{ID: responseID, Kind: SubjectKindResponse, ExpectedVersion: v}
}

// ref is the DecisionRef of decide(body, ...).
func ref(body Body) DecisionRef {
	return DecisionRef{DecisionID: decisionID, Body: body, Session: session}
}

// effectOn is an effect on a stream of risk-1 or resp-1.
func effectOn(streamType string, version int, e Event) Effect {
	id := riskID
	if streamType == StreamResponse {
		id = responseID
	}
	return Effect{StreamID: id, StreamType: streamType, ExpectedVersion: version, Event: e}
}

// decisionCase is a given-states / when-decision / then-effects-or-error case.
type decisionCase struct {
	name      string
	risks     map[string][]Event // histories by id
	responses map[string][]Event
	cmd       DecisionCommand
	want      []Effect
	wantErr   error
}

// oneRisk and oneResponse are the states of a decision on risk-1 alone or
// on resp-1 (of risk-1).
func oneRisk(h []Event) map[string][]Event     { return map[string][]Event{riskID: h} }
func oneResponse(h []Event) map[string][]Event { return map[string][]Event{responseID: h} }

// runDecisionCases runs decision cases. On success it checks the recorded
// event against the command, and that the subjects did not change.
func runDecisionCases(t *testing.T, tests []decisionCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			states := SubjectStates{Risks: map[string]*Risk{}, Responses: map[string]*StrategicResponse{}}
			for id, h := range tc.risks {
				r, err := RiskFromHistory(id, h)
				if err != nil {
					t.Fatal(err)
				}
				states.Risks[id] = r
			}
			for id, h := range tc.responses {
				s, err := ResponseFromHistory(id, h)
				if err != nil {
					t.Fatal(err)
				}
				states.Responses[id] = s
			}
			before := snapshotStates(states)
			got, err := RecordDecision(tc.cmd, states)
			if after := snapshotStates(states); !reflect.DeepEqual(after, before) {
				t.Fatalf("RecordDecision changed its subjects")
			}
			assertError(t, err, tc.wantErr)
			if err != nil {
				if !reflect.DeepEqual(got, DecisionOutcome{}) {
					t.Fatalf("outcome with an error = %+v", got)
				}
				return
			}
			if !reflect.DeepEqual(got.Effects, tc.want) {
				t.Fatalf("effects =\n%s\nwant\n%s", dumpEffects(got.Effects), dumpEffects(tc.want))
			}
			if want := recordedOf(tc.cmd); !reflect.DeepEqual(got.Recorded, want) {
				t.Fatalf("recorded = %+v\nwant %+v", got.Recorded, want)
			}
		})
	}
}

// recordedOf spells out the DecisionRecorded event a valid command yields.
func recordedOf(cmd DecisionCommand) DecisionRecorded {
	subjects := []Subject{}
	for _, s := range cmd.Subjects {
		subjects = append(subjects, Subject{ID: s.ID, Kind: s.Kind, VersionSeen: s.ExpectedVersion})
	}
	return DecisionRecorded{
		Body: cmd.Body, Session: cmd.Session, Kind: cmd.Kind, Text: cmd.Text, Subjects: subjects,
		EffectiveDate: cmd.EffectiveDate, ExpiresOn: cmd.ExpiresOn,
		RecordedBy: cmd.RecordedBy, RecordedAt: cmd.RecordedAt.UTC(),
	}
}

// snapshotStates reads every subject through its getters.
func snapshotStates(s SubjectStates) map[string]any {
	m := map[string]any{}
	for id, r := range s.Risks {
		m[id] = stateOfRisk(r)
	}
	for id, r := range s.Responses {
		m[id] = stateOfResponse(r)
	}
	return m
}

// dumpEffects prints effects one a line.
func dumpEffects(effects []Effect) string {
	var s string
	for _, e := range effects {
		s += fmt.Sprintf("  %s %s @%d %T %+v\n", e.StreamType, e.StreamID, e.ExpectedVersion, e.Event, e.Event)
	}
	return s
}

func TestRecordDecisionRightBody(t *testing.T) {
	assessedRisk := riskIn(RiskStatusAssessed) // version 2
	treating := riskIn(RiskStatusTreating)     // version 3
	redFlagged := concat(riskIn(RiskStatusAssessed), []Event{assessed(RatingKindResidual, 5, 5), RiskFlagged{acRef}})
	withRisk := func(risk []Event) map[string][]Event { return oneRisk(risk) }
	submitted := oneResponse(responseIn(ResponseStatusSubmitted))     // version 2
	recommended := oneResponse(responseIn(ResponseStatusRecommended)) // version 3
	implemented := oneResponse(responseIn(ResponseStatusImplemented)) // version 6
	ac, pc, council := BodyAuditCommittee, BodyPolicyCommission, BodyCouncil
	tests := []decisionCase{
		{name: "FLAG", risks: withRisk(assessedRisk), cmd: decide(ac, DecisionKindFlag, riskRef(2)),
			want: []Effect{effectOn(StreamRisk, 2, RiskFlagged{ref(ac)})}},
		{name: "FLAG again", risks: withRisk(redFlagged), cmd: decide(ac, DecisionKindFlag, riskRef(4)),
			want: []Effect{effectOn(StreamRisk, 4, RiskFlagged{ref(ac)})}},
		{name: "ADVICE on a risk and a response", risks: withRisk(assessedRisk), responses: submitted,
			cmd: decide(ac, DecisionKindAdvice, riskRef(2), responseRef(2))},
		{name: "ADVICE on nothing", cmd: decide(ac, DecisionKindAdvice)},
		{name: "ADVICE on a closed risk", risks: withRisk(riskIn(RiskStatusClosed)),
			cmd: decide(ac, DecisionKindAdvice, riskRef(3))},
		{name: "VERIFY moves the risk to MONITORING", risks: withRisk(treating), responses: implemented,
			cmd: decide(ac, DecisionKindVerify, responseRef(6)),
			want: []Effect{
				effectOn(StreamResponse, 6, ResponseVerified{ref(ac)}),
				effectOn(StreamRisk, 3, RiskMonitoringStarted{DecisionRef: ref(ac), ResponseID: responseID}),
			}},
		{name: "VERIFY with the risk already MONITORING", risks: withRisk(riskIn(RiskStatusMonitoring)),
			responses: implemented, cmd: decide(ac, DecisionKindVerify, responseRef(6)),
			want: []Effect{effectOn(StreamResponse, 6, ResponseVerified{ref(ac)})}},
		{name: "RECOMMEND", risks: withRisk(assessedRisk), responses: submitted,
			cmd:  decide(pc, DecisionKindRecommend, responseRef(2)),
			want: []Effect{effectOn(StreamResponse, 2, ResponseRecommended{ref(pc)})}},
		{name: "RETURN a submitted response", responses: submitted,
			cmd:  decide(pc, DecisionKindReturn, responseRef(2)),
			want: []Effect{effectOn(StreamResponse, 2, ResponseReturned{ref(pc)})}},
		{name: "RETURN a recommended response", responses: recommended,
			cmd:  decide(pc, DecisionKindReturn, responseRef(3)),
			want: []Effect{effectOn(StreamResponse, 3, ResponseReturned{ref(pc)})}},
		{name: "ENDORSE moves the risk to TREATING", risks: withRisk(assessedRisk), responses: recommended,
			cmd: decide(council, DecisionKindEndorse, responseRef(3)),
			want: []Effect{
				effectOn(StreamResponse, 3, ResponseEndorsed{ref(council)}),
				effectOn(StreamRisk, 2, RiskTreatmentStarted{DecisionRef: ref(council), ResponseID: responseID}),
			}},
		{name: "ENDORSE with the risk already TREATING", risks: withRisk(treating), responses: recommended,
			cmd:  decide(council, DecisionKindEndorse, responseRef(3)),
			want: []Effect{effectOn(StreamResponse, 3, ResponseEndorsed{ref(council)})}},
		{name: "ENDORSE moves a TOLERATED risk to TREATING", risks: withRisk(riskIn(RiskStatusTolerated)),
			responses: recommended, cmd: decide(council, DecisionKindEndorse, responseRef(3)),
			want: []Effect{
				effectOn(StreamResponse, 3, ResponseEndorsed{ref(council)}),
				effectOn(StreamRisk, 3, RiskTreatmentStarted{DecisionRef: ref(council), ResponseID: responseID}),
			}},
		{name: "REJECT a submitted response", responses: submitted,
			cmd:  decide(council, DecisionKindReject, responseRef(2)),
			want: []Effect{effectOn(StreamResponse, 2, ResponseRejected{ref(council)})}},
		{name: "REJECT a recommended response", responses: recommended,
			cmd:  decide(council, DecisionKindReject, responseRef(3)),
			want: []Effect{effectOn(StreamResponse, 3, ResponseRejected{ref(council)})}},
		{name: "ACCEPT_RISK", risks: withRisk(assessedRisk), cmd: decide(council, DecisionKindAcceptRisk, riskRef(2)),
			want: []Effect{effectOn(StreamRisk, 2,
				RiskTolerated{DecisionRef: ref(council), ToleratedUntil: date("2027-12-31")})}},
		{name: "ACCEPT_RISK again extends it", risks: withRisk(riskIn(RiskStatusTolerated)),
			cmd: decide(council, DecisionKindAcceptRisk, riskRef(3)),
			want: []Effect{effectOn(StreamRisk, 3,
				RiskTolerated{DecisionRef: ref(council), ToleratedUntil: date("2027-12-31")})}},
		{name: "CLOSE_RISK closes a RED flagged risk", risks: withRisk(redFlagged),
			cmd:  decide(council, DecisionKindCloseRisk, riskRef(4)),
			want: []Effect{effectOn(StreamRisk, 4, RiskClosed{DecisionRef: ref(council)})}},
	}
	for _, body := range bodies {
		tests = append(tests,
			decisionCase{name: "NOTE by " + string(body), risks: withRisk(riskIn(RiskStatusWithdrawn)),
				responses: oneResponse(responseIn(ResponseStatusRejected)),
				cmd:       decide(body, DecisionKindNote, responseRef(3), riskRef(3))},
			decisionCase{name: "NOTE on nothing by " + string(body), cmd: decide(body, DecisionKindNote)},
		)
	}
	runDecisionCases(t, tests)
}

func TestRecordDecisionWrongBody(t *testing.T) {
	// Every kind with a subject of the right kind, so that only the body is wrong.
	subjects := map[DecisionKind]SubjectRef{
		DecisionKindFlag: riskRef(2), DecisionKindAdvice: riskRef(2), DecisionKindVerify: responseRef(6),
		DecisionKindRecommend: responseRef(2), DecisionKindReturn: responseRef(2),
		DecisionKindEndorse: responseRef(3), DecisionKindReject: responseRef(2),
		DecisionKindAcceptRisk: riskRef(2), DecisionKindCloseRisk: riskRef(2),
	}
	rightBody := map[DecisionKind]Body{
		DecisionKindFlag: BodyAuditCommittee, DecisionKindAdvice: BodyAuditCommittee,
		DecisionKindVerify: BodyAuditCommittee, DecisionKindRecommend: BodyPolicyCommission,
		DecisionKindReturn: BodyPolicyCommission, DecisionKindEndorse: BodyCouncil,
		DecisionKindReject: BodyCouncil, DecisionKindAcceptRisk: BodyCouncil, DecisionKindCloseRisk: BodyCouncil,
	}
	var tests []decisionCase
	for kind, subject := range subjects {
		for _, body := range bodies {
			if body == rightBody[kind] {
				continue
			}
			tests = append(tests, decisionCase{
				name:      string(kind) + " by " + string(body),
				risks:     oneRisk(riskIn(RiskStatusAssessed)),
				responses: oneResponse(responseIn(ResponseStatusSubmitted)),
				cmd:       decide(body, kind, subject),
				wantErr:   precondition("%s cannot take a %s decision; %s decides it", body, kind, rightBody[kind]),
			})
		}
	}
	slices.SortFunc(tests, func(a, b decisionCase) int { return strings.Compare(a.name, b.name) })
	runDecisionCases(t, tests)
}

func TestDecisionKindTakenBy(t *testing.T) {
	want := map[DecisionKind][]Body{
		DecisionKindFlag:       {BodyAuditCommittee},
		DecisionKindAdvice:     {BodyAuditCommittee},
		DecisionKindVerify:     {BodyAuditCommittee},
		DecisionKindRecommend:  {BodyPolicyCommission},
		DecisionKindReturn:     {BodyPolicyCommission},
		DecisionKindEndorse:    {BodyCouncil},
		DecisionKindReject:     {BodyCouncil},
		DecisionKindAcceptRisk: {BodyCouncil},
		DecisionKindCloseRisk:  {BodyCouncil},
		DecisionKindNote:       {BodyAuditCommittee, BodyPolicyCommission, BodyCouncil},
	}
	for _, kind := range append(slices.Clone(decisionKinds), "VETO") {
		for _, body := range append(slices.Clone(bodies), "SECRETARIAT") {
			if got := kind.TakenBy(body); got != slices.Contains(want[kind], body) {
				t.Errorf("%s.TakenBy(%s) = %v", kind, body, got)
			}
		}
	}
}

// TestRecordDecisionResponseStates tries every response kind on a response
// in every status.
func TestRecordDecisionResponseStates(t *testing.T) {
	type kindCase struct {
		kind   DecisionKind
		body   Body
		from   []ResponseStatus
		need   string
		effect Event
	}
	kinds := []kindCase{
		{DecisionKindVerify, BodyAuditCommittee, []ResponseStatus{ResponseStatusImplemented}, "IMPLEMENTED",
			ResponseVerified{ref(BodyAuditCommittee)}},
		{DecisionKindRecommend, BodyPolicyCommission, []ResponseStatus{ResponseStatusSubmitted}, "SUBMITTED",
			ResponseRecommended{ref(BodyPolicyCommission)}},
		{DecisionKindReturn, BodyPolicyCommission,
			[]ResponseStatus{ResponseStatusSubmitted, ResponseStatusRecommended}, "one of SUBMITTED, RECOMMENDED",
			ResponseReturned{ref(BodyPolicyCommission)}},
		{DecisionKindEndorse, BodyCouncil, []ResponseStatus{ResponseStatusRecommended}, "RECOMMENDED",
			ResponseEndorsed{ref(BodyCouncil)}},
		{DecisionKindReject, BodyCouncil,
			[]ResponseStatus{ResponseStatusSubmitted, ResponseStatusRecommended}, "one of SUBMITTED, RECOMMENDED",
			ResponseRejected{ref(BodyCouncil)}},
	}
	var tests []decisionCase
	for _, k := range kinds {
		for _, status := range responseStatuses {
			history := responseIn(status)
			tc := decisionCase{
				name: fmt.Sprintf("%s on %s", k.kind, status),
				// The risk is already TREATING (MONITORING for VERIFY), so
				// only the response gets an effect.
				risks:     oneRisk(riskIn(RiskStatusTreating)),
				responses: oneResponse(history),
				cmd:       decide(k.body, k.kind, responseRef(len(history))),
			}
			if k.kind == DecisionKindVerify {
				tc.risks = oneRisk(riskIn(RiskStatusMonitoring))
			}
			if slices.Contains(k.from, status) {
				tc.want = []Effect{effectOn(StreamResponse, len(history), k.effect)}
			} else {
				tc.wantErr = wrongResponseStatus(status, string(k.kind), k.need)
			}
			tests = append(tests, tc)
		}
	}
	runDecisionCases(t, tests)
}

// TestRecordDecisionRiskStates tries every risk kind on a risk in every
// status, and ENDORSE and VERIFY on a response whose risk is in every status.
func TestRecordDecisionRiskStates(t *testing.T) {
	ac, council := BodyAuditCommittee, BodyCouncil
	var tests []decisionCase
	for _, status := range riskStatuses {
		history := riskIn(status)
		v := len(history)
		add := func(kind DecisionKind, body Body, subject SubjectRef, responses map[string][]Event, want ...Effect) {
			tc := decisionCase{
				name:  fmt.Sprintf("%s with risk %s", kind, status),
				risks: oneRisk(history), responses: responses, cmd: decide(body, kind, subject),
			}
			if status.Terminal() {
				tc.wantErr = terminalRisk(status, string(kind))
			} else {
				tc.want = want
			}
			tests = append(tests, tc)
		}
		add(DecisionKindFlag, ac, riskRef(v), nil, effectOn(StreamRisk, v, RiskFlagged{ref(ac)}))
		add(DecisionKindAcceptRisk, council, riskRef(v), nil, effectOn(StreamRisk, v,
			RiskTolerated{DecisionRef: ref(council), ToleratedUntil: date("2027-12-31")}))
		add(DecisionKindCloseRisk, council, riskRef(v), nil, effectOn(StreamRisk, v, RiskClosed{DecisionRef: ref(council)}))

		endorse := []Effect{effectOn(StreamResponse, 3, ResponseEndorsed{ref(council)})}
		if status != RiskStatusTreating {
			endorse = append(endorse, effectOn(StreamRisk, v,
				RiskTreatmentStarted{DecisionRef: ref(council), ResponseID: responseID}))
		}
		add(DecisionKindEndorse, council, responseRef(3), oneResponse(responseIn(ResponseStatusRecommended)), endorse...)

		verify := []Effect{effectOn(StreamResponse, 6, ResponseVerified{ref(ac)})}
		if status != RiskStatusMonitoring {
			verify = append(verify, effectOn(StreamRisk, v,
				RiskMonitoringStarted{DecisionRef: ref(ac), ResponseID: responseID}))
		}
		add(DecisionKindVerify, ac, responseRef(6), oneResponse(responseIn(ResponseStatusImplemented)), verify...)
	}
	runDecisionCases(t, tests)
}

func TestRecordDecisionSubjects(t *testing.T) {
	ac, council := BodyAuditCommittee, BodyCouncil
	twoRisks := map[string][]Event{riskID: riskIn(RiskStatusAssessed), "risk-2": riskIn(RiskStatusOpen)}
	risk2 := SubjectRef{ID: "risk-2", Kind: SubjectKindRisk, ExpectedVersion: 1}
	recommendedPair := map[string][]Event{
		responseID: responseIn(ResponseStatusRecommended),
		"resp-2":   responseIn(ResponseStatusRecommended),
	}
	resp2 := SubjectRef{ID: "resp-2", Kind: SubjectKindResponse, ExpectedVersion: 3}
	tests := []decisionCase{
		{name: "effects in subject order", risks: twoRisks, cmd: decide(ac, DecisionKindFlag, risk2, riskRef(2)),
			want: []Effect{
				{StreamID: "risk-2", StreamType: StreamRisk, ExpectedVersion: 1, Event: RiskFlagged{ref(ac)}},
				effectOn(StreamRisk, 2, RiskFlagged{ref(ac)}),
			}},
		{name: "two responses of one risk move it once", risks: oneRisk(riskIn(RiskStatusAssessed)),
			responses: recommendedPair, cmd: decide(council, DecisionKindEndorse, responseRef(3), resp2),
			want: []Effect{
				effectOn(StreamResponse, 3, ResponseEndorsed{ref(council)}),
				effectOn(StreamRisk, 2, RiskTreatmentStarted{DecisionRef: ref(council), ResponseID: responseID}),
				{StreamID: "resp-2", StreamType: StreamResponse, ExpectedVersion: 3, Event: ResponseEndorsed{ref(council)}},
			}},
		{name: "stale: the subject moved on", risks: oneRisk(riskIn(RiskStatusAssessed)),
			cmd:     decide(ac, DecisionKindFlag, riskRef(1)),
			wantErr: &StaleError{ID: riskID, Expected: 1, Current: 2}},
		{name: "stale: a version from the future", risks: oneRisk(riskIn(RiskStatusAssessed)),
			cmd:     decide(ac, DecisionKindFlag, riskRef(3)),
			wantErr: &StaleError{ID: riskID, Expected: 3, Current: 2}},
		{name: "stale second subject", risks: twoRisks,
			cmd:     decide(ac, DecisionKindFlag, riskRef(2), SubjectRef{ID: "risk-2", Kind: SubjectKindRisk, ExpectedVersion: 2}),
			wantErr: &StaleError{ID: "risk-2", Expected: 2, Current: 1}},
		{name: "stale response", responses: oneResponse(responseIn(ResponseStatusRecommended)),
			cmd:     decide(council, DecisionKindEndorse, responseRef(2)),
			wantErr: &StaleError{ID: responseID, Expected: 2, Current: 3}},
		{name: "stale is reported before a wrong state", risks: map[string][]Event{
			riskID: riskIn(RiskStatusClosed), "risk-2": riskIn(RiskStatusOpen)},
			cmd:     decide(ac, DecisionKindFlag, riskRef(3), SubjectRef{ID: "risk-2", Kind: SubjectKindRisk, ExpectedVersion: 7}),
			wantErr: &StaleError{ID: "risk-2", Expected: 7, Current: 1}},
		{name: "stale on a NOTE", risks: oneRisk(riskIn(RiskStatusAssessed)),
			cmd:     decide(council, DecisionKindNote, riskRef(1)),
			wantErr: &StaleError{ID: riskID, Expected: 1, Current: 2}},
		{name: "missing risk", cmd: decide(ac, DecisionKindFlag, riskRef(1)),
			wantErr: &NotFoundError{Kind: StreamRisk, ID: riskID}},
		{name: "missing response", cmd: decide(council, DecisionKindEndorse, responseRef(1)),
			wantErr: &NotFoundError{Kind: StreamResponse, ID: responseID}},
		{name: "response id given as a risk", responses: oneResponse(responseIn(ResponseStatusDraft)),
			cmd:     decide(ac, DecisionKindAdvice, SubjectRef{ID: responseID, Kind: SubjectKindRisk, ExpectedVersion: 1}),
			wantErr: &NotFoundError{Kind: StreamRisk, ID: responseID}},
		{name: "missing risk of an endorsed response", responses: oneResponse(responseIn(ResponseStatusRecommended)),
			cmd:     decide(council, DecisionKindEndorse, responseRef(3)),
			wantErr: &NotFoundError{Kind: StreamRisk, ID: riskID}},
		{name: "missing risk of a rejected response is fine", responses: oneResponse(responseIn(ResponseStatusRecommended)),
			cmd:  decide(council, DecisionKindReject, responseRef(3)),
			want: []Effect{effectOn(StreamResponse, 3, ResponseRejected{ref(council)})}},
		{name: "VERIFY on a risk among responses", risks: oneRisk(riskIn(RiskStatusAssessed)),
			responses: oneResponse(responseIn(ResponseStatusImplemented)),
			cmd:       decide(ac, DecisionKindVerify, responseRef(6), riskRef(2)),
			wantErr:   precondition("VERIFY applies to RESPONSE subjects, not to RISK risk-1")},
		{name: "wrong body is reported before a missing subject",
			cmd:     decide(council, DecisionKindFlag, riskRef(1)),
			wantErr: precondition("COUNCIL cannot take a FLAG decision; AUDIT_COMMITTEE decides it")},
	}
	// Every kind with effects, on a subject of the other kind.
	for _, kind := range decisionKinds {
		rule := kindRules[kind]
		wrong, subject := SubjectKindRisk, riskRef(2)
		switch rule.subject {
		case "":
			continue
		case SubjectKindRisk:
			wrong, subject = SubjectKindResponse, responseRef(1)
		}
		tests = append(tests, decisionCase{
			name: fmt.Sprintf("%s on a %s", kind, wrong), risks: oneRisk(riskIn(RiskStatusAssessed)),
			responses: oneResponse(responseIn(ResponseStatusDraft)), cmd: decide(rule.body, kind, subject),
			wantErr: precondition("%s applies to %s subjects, not to %s %s", kind, rule.subject, wrong, subject.ID),
		})
	}
	runDecisionCases(t, tests)
}

func TestRecordDecisionNilStates(t *testing.T) {
	_, err := RecordDecision(decide(BodyAuditCommittee, DecisionKindFlag, riskRef(1)), SubjectStates{})
	assertError(t, err, &NotFoundError{Kind: StreamRisk, ID: riskID})
	_, err = RecordDecision(decide(BodyAuditCommittee, DecisionKindFlag, riskRef(1)),
		SubjectStates{Risks: map[string]*Risk{riskID: nil}})
	assertError(t, err, &NotFoundError{Kind: StreamRisk, ID: riskID})
	_, err = RecordDecision(decide(BodyAuditCommittee, DecisionKindFlag, riskRef(1)),
		SubjectStates{Risks: map[string]*Risk{riskID: {id: riskID}}})
	assertError(t, err, &NotFoundError{Kind: StreamRisk, ID: riskID})
}

func TestRecordDecisionExpiry(t *testing.T) {
	council := BodyCouncil
	accept := func(effective, expires string, at time.Time) DecisionCommand {
		cmd := decide(council, DecisionKindAcceptRisk, riskRef(2))
		cmd.EffectiveDate, cmd.ExpiresOn, cmd.RecordedAt = Date{}, Date{}, at
		if effective != "" {
			cmd.EffectiveDate = date(effective)
		}
		if expires != "" {
			cmd.ExpiresOn = date(expires)
		}
		return cmd
	}
	tolerated := func(until string) []Effect {
		return []Effect{effectOn(StreamRisk, 2, RiskTolerated{DecisionRef: ref(council), ToleratedUntil: date(until)})}
	}
	// 23:30 in New York on 27 November is already 28 November in UTC.
	lateInNewYork := time.Date(2026, 11, 27, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))
	flag := decide(BodyAuditCommittee, DecisionKindFlag, riskRef(2))
	flag.ExpiresOn = date("2027-01-01")
	note := decide(council, DecisionKindNote)
	note.ExpiresOn = date("2027-01-01")
	tests := []decisionCase{
		{name: "after the effective date", cmd: accept("2027-01-01", "2027-01-02", t0), want: tolerated("2027-01-02")},
		{name: "on the effective date", cmd: accept("2027-01-01", "2027-01-01", t0),
			wantErr: fields("expiresOn", "must be after effectiveDate 2027-01-01")},
		{name: "before the effective date", cmd: accept("2027-01-01", "2026-12-31", t0),
			wantErr: fields("expiresOn", "must be after effectiveDate 2027-01-01")},
		{name: "effective date in the past still counts", cmd: accept("2020-01-01", "2020-01-02", t0),
			want: tolerated("2020-01-02")},
		{name: "no effective date: after the recording date", cmd: accept("", "2026-11-28", t0),
			want: tolerated("2026-11-28")},
		{name: "no effective date: on the recording date", cmd: accept("", "2026-11-27", t0),
			wantErr: fields("expiresOn", "must be after the recording date 2026-11-27")},
		{name: "no effective date: recording date taken in UTC", cmd: accept("", "2026-11-28", lateInNewYork),
			wantErr: fields("expiresOn", "must be after the recording date 2026-11-28")},
		{name: "no expiry", cmd: accept("2027-01-01", "", t0),
			wantErr: fields("expiresOn", "an ACCEPT_RISK decision needs an expiry date")},
		{name: "expiry on FLAG", cmd: flag, wantErr: fields("expiresOn", "only an ACCEPT_RISK decision expires")},
		{name: "expiry on NOTE", cmd: note, wantErr: fields("expiresOn", "only an ACCEPT_RISK decision expires")},
	}
	for i := range tests {
		tests[i].risks = oneRisk(riskIn(RiskStatusAssessed))
	}
	runDecisionCases(t, tests)
}

func TestRecordDecisionInput(t *testing.T) {
	ac := BodyAuditCommittee
	with := func(kind DecisionKind, f func(*DecisionCommand)) DecisionCommand {
		return modified(decide(ac, kind, riskRef(2)), f)
	}
	note := func(f func(*DecisionCommand)) DecisionCommand { return with(DecisionKindNote, f) }
	risk2 := SubjectRef{ID: "risk-2", Kind: SubjectKindRisk, ExpectedVersion: 1}
	tests := []decisionCase{
		{name: "session at limit", cmd: note(func(c *DecisionCommand) { c.Session = text(200) })},
		{name: "session over limit", cmd: note(func(c *DecisionCommand) { c.Session = text(201) }),
			wantErr: fields("session", "must be at most 200 characters")},
		{name: "blank session", cmd: note(func(c *DecisionCommand) { c.Session = " " }),
			wantErr: fields("session", "must not be blank")},
		{name: "text at limit", cmd: note(func(c *DecisionCommand) { c.Text = text(20000) })},
		{name: "text over limit", cmd: note(func(c *DecisionCommand) { c.Text = text(20001) }),
			wantErr: fields("text", "must be at most 20000 characters")},
		{name: "blank text", cmd: note(func(c *DecisionCommand) { c.Text = "\n" }),
			wantErr: fields("text", "must not be blank")},
		{name: "blank decision id", cmd: note(func(c *DecisionCommand) { c.DecisionID = "" }),
			wantErr: fields("decisionId", "must not be blank")},
		{name: "unknown body", cmd: note(func(c *DecisionCommand) { c.Body = "SECRETARIAT" }),
			wantErr: fields("body", `unknown value "SECRETARIAT"`)},
		{name: "unknown kind", cmd: note(func(c *DecisionCommand) { c.Kind = "VETO" }),
			wantErr: fields("kind", `unknown value "VETO"`)},
		{name: "no recorder, no time", cmd: note(func(c *DecisionCommand) { c.RecordedBy, c.RecordedAt = "", time.Time{} }),
			wantErr: fields("recordedBy", "must not be blank", "recordedAt", "must be set")},
		{name: "subject without id", cmd: note(func(c *DecisionCommand) { c.Subjects[0].ID = "" }),
			wantErr: fields("subjects[0].id", "must not be blank")},
		{name: "unknown subject kind", cmd: note(func(c *DecisionCommand) { c.Subjects[0].Kind = "DECISION" }),
			wantErr: fields("subjects[0].kind", `unknown value "DECISION"`)},
		{name: "expected version 0", cmd: note(func(c *DecisionCommand) { c.Subjects[0].ExpectedVersion = 0 }),
			wantErr: fields("subjects[0].expectedVersion", "must be at least 1")},
		{name: "same subject twice", cmd: note(func(c *DecisionCommand) {
			c.Subjects = []SubjectRef{riskRef(2), risk2, riskRef(2)}
		}),
			wantErr: fields("subjects[2].id", "names the same subject twice")},
		{name: "every field wrong", cmd: DecisionCommand{Kind: DecisionKindFlag, Subjects: []SubjectRef{{}}},
			wantErr: fields(
				"decisionId", "must not be blank",
				"body", `unknown value ""`,
				"session", "must not be blank",
				"text", "must not be blank",
				"recordedBy", "must not be blank",
				"recordedAt", "must be set",
				"subjects[0].id", "must not be blank",
				"subjects[0].kind", `unknown value ""`,
				"subjects[0].expectedVersion", "must be at least 1",
			)},
	}
	for _, kind := range decisionKinds {
		body := ac
		for _, b := range bodies {
			if kind.TakenBy(b) {
				body = b
				break
			}
		}
		tc := decisionCase{name: string(kind) + " without subjects", cmd: decide(body, kind)}
		if kindRules[kind].effects {
			tc.wantErr = fields("subjects", fmt.Sprintf("%s decisions need at least one subject", kind))
		}
		tests = append(tests, tc)
	}
	for i := range tests {
		tests[i].risks = map[string][]Event{riskID: riskIn(RiskStatusAssessed), "risk-2": riskIn(RiskStatusOpen)}
	}
	runDecisionCases(t, tests)
}

func TestDecisionFromHistory(t *testing.T) {
	cmd := decide(BodyCouncil, DecisionKindAcceptRisk, riskRef(2))
	cmd.EffectiveDate = date("2027-01-01")
	cmd.RecordedAt = t0.In(time.FixedZone("CET", 3600))
	out, err := RecordDecision(cmd, SubjectStates{Risks: map[string]*Risk{riskID: mustRisk(t, riskIn(RiskStatusAssessed))}})
	if err != nil {
		t.Fatal(err)
	}
	wantRecorded := DecisionRecorded{
		Body: BodyCouncil, Session: session, Kind: DecisionKindAcceptRisk, Text: "The body decided.",
		Subjects:      []Subject{{ID: riskID, Kind: SubjectKindRisk, VersionSeen: 2}},
		EffectiveDate: date("2027-01-01"), ExpiresOn: date("2027-12-31"), RecordedBy: "clerk", RecordedAt: t0,
	}
	if !reflect.DeepEqual(out.Recorded, wantRecorded) {
		t.Fatalf("recorded = %+v\nwant %+v", out.Recorded, wantRecorded)
	}
	d, err := DecisionFromHistory(decisionID, []Event{out.Recorded})
	if err != nil {
		t.Fatal(err)
	}
	effective, hasEffective := d.EffectiveDate()
	expires, hasExpiry := d.ExpiresOn()
	got := []any{d.ID(), d.Body(), d.Session(), d.Kind(), d.Text(), d.RecordedBy(), d.RecordedAt(),
		effective, hasEffective, expires, hasExpiry, d.Subjects(), d.Version()}
	want := []any{decisionID, BodyCouncil, session, DecisionKindAcceptRisk, "The body decided.", "clerk", t0,
		date("2027-01-01"), true, date("2027-12-31"), true, wantRecorded.Subjects, 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("getters = %v\nwant %v", got, want)
	}
	d.Subjects()[0].ID = "changed"
	if d.Subjects()[0].ID != riskID {
		t.Fatal("Subjects() shares the decision's slice")
	}

	note, err := DecisionFromHistory(decisionID, []Event{DecisionRecorded{Kind: DecisionKindNote}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := note.EffectiveDate(); ok {
		t.Error("NOTE without effective date reports one")
	}
	if _, ok := note.ExpiresOn(); ok {
		t.Error("NOTE reports an expiry")
	}

	for name, events := range map[string][]Event{
		"twice":       {out.Recorded, out.Recorded},
		"risk event":  {RiskFlagged{acRef}},
		"after other": {registered, out.Recorded},
	} {
		if _, err := DecisionFromHistory(decisionID, events); !errors.Is(err, ErrUnexpectedEvent) {
			t.Errorf("%s: error = %v, want ErrUnexpectedEvent", name, err)
		}
	}
	_, err = DecisionFromHistory(decisionID, nil)
	assertError(t, err, &NotFoundError{Kind: StreamDecision, ID: decisionID})
}
