package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// sampleEvents holds one event of every type with every field set, and the
// JSON it must encode to: the stored format, which must never change by
// accident.
var sampleEvents = []struct {
	event Event
	json  string
}{
	{registered, `{"reference":"R-0001","title":"Loss of revenue data","description":"Ageing servers -\u003e data loss -\u003e revenue cannot be reconciled","category":"Financial","source":"Audit Plan 2021","owner":"Director of Finance"}`},
	{RiskUpdated{Title: ptr("T"), Description: ptr("D"), Category: ptr("C"), Source: ptr("S"), Owner: ptr("O")},
		`{"title":"T","description":"D","category":"C","source":"S","owner":"O"}`},
	{assessed(RatingKindResidual, 4, 5),
		`{"kind":"RESIDUAL","likelihood":4,"impact":5,"rationale":"seen in 2025","assessedBy":"alice","assessedAt":"2026-11-27T09:00:00.123456789Z"}`},
	{RiskFlagged{acRef}, `{"decisionId":"dec-0","body":"AUDIT_COMMITTEE","session":"AC 2026"}`},
	{RiskTolerated{DecisionRef: councilRef, ToleratedUntil: date("2027-12-31")},
		`{"decisionId":"dec-0","body":"COUNCIL","session":"Council 2026","toleratedUntil":"2027-12-31"}`},
	{RiskTreatmentStarted{DecisionRef: councilRef, ResponseID: responseID},
		`{"decisionId":"dec-0","body":"COUNCIL","session":"Council 2026","responseId":"resp-1"}`},
	{RiskMonitoringStarted{DecisionRef: acRef, ResponseID: responseID},
		`{"decisionId":"dec-0","body":"AUDIT_COMMITTEE","session":"AC 2026","responseId":"resp-1"}`},
	{RiskClosed{DecisionRef: councilRef}, `{"decisionId":"dec-0","body":"COUNCIL","session":"Council 2026"}`},
	{RiskWithdrawn{Reason: "duplicate"}, `{"reason":"duplicate"}`},
	{proposed, `{"riskId":"risk-1","title":"Replace the servers","description":"Move revenue data to the new data centre","option":"REDUCE","owner":"Head of IT","dueDate":"2027-06-30"}`},
	{ResponseRevised{Title: ptr("T"), Description: ptr(""), Option: ptr(ResponseOptionShare), Owner: ptr("O"), DueDate: ptr(date("2028-01-01"))},
		`{"title":"T","description":"","option":"SHARE","owner":"O","dueDate":"2028-01-01"}`},
	{ResponseSubmitted{Note: "for PC 2026"}, `{"note":"for PC 2026"}`},
	{ResponseRecommended{pcRef}, `{"decisionId":"dec-0","body":"POLICY_COMMISSION","session":"PC 2026"}`},
	{ResponseReturned{pcRef}, `{"decisionId":"dec-0","body":"POLICY_COMMISSION","session":"PC 2026"}`},
	{ResponseEndorsed{councilRef}, `{"decisionId":"dec-0","body":"COUNCIL","session":"Council 2026"}`},
	{ResponseRejected{councilRef}, `{"decisionId":"dec-0","body":"COUNCIL","session":"Council 2026"}`},
	{ResponseStarted{Note: "n"}, `{"note":"n"}`},
	{ResponseImplemented{Note: "n"}, `{"note":"n"}`},
	{ResponseVerified{acRef}, `{"decisionId":"dec-0","body":"AUDIT_COMMITTEE","session":"AC 2026"}`},
	{ResponseClosed{Note: "n"}, `{"note":"n"}`},
	{ResponseWithdrawn{Note: "n"}, `{"note":"n"}`},
	{DecisionRecorded{
		Body: BodyCouncil, Session: "Council 2026", Kind: DecisionKindAcceptRisk, Text: "Accepted.",
		Subjects:      []Subject{{ID: riskID, Kind: SubjectKindRisk, VersionSeen: 2}},
		EffectiveDate: date("2027-01-01"), ExpiresOn: date("2027-12-31"), RecordedBy: "clerk", RecordedAt: t0,
	}, `{"body":"COUNCIL","session":"Council 2026","kind":"ACCEPT_RISK","text":"Accepted.","subjects":[{"id":"risk-1","kind":"RISK","versionSeen":2}],"effectiveDate":"2027-01-01","expiresOn":"2027-12-31","recordedBy":"clerk","recordedAt":"2026-11-27T09:00:00.123456789Z"}`},
	{RiskReviewOverdue{RiskID: riskID, ReviewDue: date("2027-01-31")}, `{"riskId":"risk-1","reviewDue":"2027-01-31"}`},
	{RiskToleranceLapsed{RiskID: riskID, ToleratedUntil: date("2027-12-31")}, `{"riskId":"risk-1","toleratedUntil":"2027-12-31"}`},
	{ResponseOverdue{ResponseID: responseID, RiskID: riskID, DueDate: date("2027-06-30")}, `{"responseId":"resp-1","riskId":"risk-1","dueDate":"2027-06-30"}`},
	{SessionScheduled{Body: BodyCouncil, Date: date("2027-06-20"), Title: "Council, 141st Session", ScheduledBy: "sam"},
		`{"body":"COUNCIL","date":"2027-06-20","title":"Council, 141st Session","scheduledBy":"sam"}`},
	{ItemTabled{SubjectID: riskID, SubjectKind: SubjectKindRisk, Version: 3, Note: "for decision", TabledBy: "sam"},
		`{"subjectId":"risk-1","subjectKind":"RISK","version":3,"note":"for decision","tabledBy":"sam"}`},
}

func TestEventJSONRoundTrip(t *testing.T) {
	covered := map[string]bool{}
	for _, s := range sampleEvents {
		name := s.event.EventType()
		covered[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := json.Marshal(s.event)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != s.json {
				t.Errorf("json =\n%s\nwant\n%s", data, s.json)
			}
			got, err := DecodeEvent(name, s.event.SchemaVersion(), data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s.event) {
				t.Errorf("decoded %#v\nwant %#v", got, s.event)
			}
		})
	}
	for _, name := range EventTypes() {
		if !covered[name] {
			t.Errorf("no sample of %s", name)
		}
	}
}

func TestEventJSONOmitsEmptyOptionalFields(t *testing.T) {
	for _, tc := range []struct {
		event Event
		json  string
	}{
		{RiskUpdated{Owner: ptr("")}, `{"owner":""}`},
		{RiskClosed{Reason: "done"}, `{"reason":"done"}`},
		{ResponseRevised{}, `{}`},
		{ResponseSubmitted{}, `{}`},
		{modified(proposed, func(e *ResponseProposed) { e.DueDate = Date{} }),
			`{"riskId":"risk-1","title":"Replace the servers","description":"Move revenue data to the new data centre","option":"REDUCE","owner":"Head of IT"}`},
		{DecisionRecorded{Body: BodyCouncil, Kind: DecisionKindNote, Subjects: []Subject{}, RecordedAt: t0},
			`{"body":"COUNCIL","session":"","kind":"NOTE","text":"","subjects":[],"recordedBy":"","recordedAt":"2026-11-27T09:00:00.123456789Z"}`},
	} {
		data, err := json.Marshal(tc.event)
		if err != nil || string(data) != tc.json {
			t.Errorf("%s: json = %s (%v), want %s", tc.event.EventType(), data, err, tc.json)
		}
		got, err := DecodeEvent(tc.event.EventType(), tc.event.SchemaVersion(), data)
		if err != nil || !reflect.DeepEqual(got, tc.event) {
			t.Errorf("%s: decoded %#v (%v)", tc.event.EventType(), got, err)
		}
	}
}

func TestEventTypes(t *testing.T) {
	want := []string{
		"RiskRegistered", "RiskUpdated", "RiskAssessed", "RiskFlagged", "RiskTolerated",
		"RiskTreatmentStarted", "RiskMonitoringStarted", "RiskClosed", "RiskWithdrawn",
		"ResponseProposed", "ResponseRevised", "ResponseSubmitted", "ResponseRecommended", "ResponseReturned",
		"ResponseEndorsed", "ResponseRejected", "ResponseStarted", "ResponseImplemented", "ResponseVerified",
		"ResponseClosed", "ResponseWithdrawn",
		"DecisionRecorded",
		"RiskReviewOverdue", "RiskToleranceLapsed", "ResponseOverdue", "SessionScheduled", "ItemTabled",
	}
	if got := EventTypes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("EventTypes() = %v", got)
	}
	for _, name := range want {
		stream, err := EventStreamType(name)
		if err != nil {
			t.Fatal(err)
		}
		wantStream := StreamDecision
		switch {
		case name == "RiskReviewOverdue" || name == "RiskToleranceLapsed" || name == "ResponseOverdue":
			wantStream = StreamCalendar
		case name == "SessionScheduled" || name == "ItemTabled":
			wantStream = StreamSession
		case name[:4] == "Risk":
			wantStream = StreamRisk
		case name[:4] == "Resp":
			wantStream = StreamResponse
		}
		if stream != wantStream {
			t.Errorf("EventStreamType(%s) = %s, want %s", name, stream, wantStream)
		}
	}
	if _, err := EventStreamType("RiskDeleted"); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("EventStreamType(RiskDeleted) = %v", err)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	tests := []struct {
		name          string
		eventType     string
		schemaVersion int
		data          string
		want          error
	}{
		{"unknown type", "RiskDeleted", 1, `{}`, ErrUnknownEvent},
		{"Go type name is not a stored name", "domain.RiskRegistered", 1, `{}`, ErrUnknownEvent},
		{"old RiskAssessed", EventRiskAssessed, 1, `{}`, ErrUnsupportedSchemaVersion},
		{"future version", EventRiskRegistered, 2, `{}`, ErrUnsupportedSchemaVersion},
		{"version 0", EventRiskRegistered, 0, `{}`, ErrUnsupportedSchemaVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := DecodeEvent(tc.eventType, tc.schemaVersion, []byte(tc.data))
			if !errors.Is(err, tc.want) || e != nil {
				t.Fatalf("DecodeEvent = %v, %v; want %v", e, err, tc.want)
			}
		})
	}
	var syntax *json.SyntaxError
	if _, err := DecodeEvent(EventRiskRegistered, 1, []byte(`{"title":`)); !errors.As(err, &syntax) {
		t.Errorf("truncated JSON: %v", err)
	}
	var typeErr *json.UnmarshalTypeError
	if _, err := DecodeEvent(EventRiskAssessed, 2, []byte(`{"likelihood":"high"}`)); !errors.As(err, &typeErr) {
		t.Errorf("wrong field type: %v", err)
	}
	if _, err := DecodeEvent(EventRiskTolerated, 1, []byte(`{"toleratedUntil":"2027-02-30"}`)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("bad date: %v", err)
	}
}

func TestUpcastRiskAssessedV1(t *testing.T) {
	v1 := `{"likelihood":4,"impact":5,"rationale":"seen in 2025","assessedBy":"alice","assessedAt":"2026-11-27T09:00:00.123456789Z"}`
	v2, err := UpcastRiskAssessedV1([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"kind":"INHERENT","likelihood":4,"impact":5,"rationale":"seen in 2025","assessedBy":"alice","assessedAt":"2026-11-27T09:00:00.123456789Z"}`
	if string(v2) != want {
		t.Fatalf("v2 =\n%s\nwant\n%s", v2, want)
	}
	e, err := DecodeEvent(EventRiskAssessed, 2, v2)
	if err != nil {
		t.Fatal(err)
	}
	if e != Event(assessed(RatingKindInherent, 4, 5)) {
		t.Fatalf("decoded %#v", e)
	}
	// A v1 history replays to the same ratings and status as before.
	r := mustRisk(t, []Event{registered, e})
	if got, ok := r.Rating(RatingKindInherent); !ok || got.Score() != 20 || r.Status() != RiskStatusAssessed {
		t.Fatalf("replayed v1 risk = %+v", stateOfRisk(r))
	}
	if _, err := UpcastRiskAssessedV1([]byte(`{"likelihood":`)); err == nil {
		t.Error("upcasting broken JSON succeeded")
	}
}
