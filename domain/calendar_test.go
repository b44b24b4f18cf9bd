package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestNextReviewByBand(t *testing.T) {
	assessed := date("2026-01-31")
	for _, tc := range []struct {
		band Band
		want string
	}{{BandRed, "2026-03-02"}, {BandAmber, "2026-05-01"}, {BandGreen, "2026-07-30"}, {"", ""}} {
		if got := DefaultReviewPolicy.NextReview(tc.band, assessed).String(); got != tc.want {
			t.Errorf("NextReview(%s) = %q, want %q", tc.band, got, tc.want)
		}
	}
	custom := ReviewPolicy{Red: 7, Amber: 14, Green: 28}
	if got := custom.NextReview(BandRed, assessed).String(); got != "2026-02-07" {
		t.Errorf("custom RED review = %s", got)
	}
	if err := (ReviewPolicy{Red: 0, Amber: 1, Green: 1}).Validate(); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Validate of a zero interval = %v", err)
	}
	if err := DefaultReviewPolicy.Validate(); err != nil {
		t.Errorf("Validate(default) = %v", err)
	}
}

func TestDueTimeActs(t *testing.T) {
	subjects := []CalendarSubject{
		{Kind: SubjectKindRisk, ID: "r1", RiskStatus: RiskStatusAssessed, NextReview: date("2026-03-01")},
		{Kind: SubjectKindRisk, ID: "r2", RiskStatus: RiskStatusTolerated, NextReview: date("2026-05-01"), ToleratedUntil: date("2026-02-28")},
		{Kind: SubjectKindRisk, ID: "r3", RiskStatus: RiskStatusClosed, NextReview: date("2026-01-01")},
		{Kind: SubjectKindResponse, ID: "s1", RiskID: "r1", ResponseStatus: ResponseStatusInProgress, DueDate: date("2026-03-01")},
		{Kind: SubjectKindResponse, ID: "s2", RiskID: "r1", ResponseStatus: ResponseStatusImplemented, DueDate: date("2026-01-01")},
	}
	// On the date itself nothing has passed yet.
	if acts := DueTimeActs(date("2026-03-01"), subjects); len(acts) != 1 || acts[0].Event.EventType() != EventRiskToleranceLapsed {
		t.Fatalf("on 2026-03-01: %+v", acts)
	}
	acts := DueTimeActs(date("2026-03-02"), subjects)
	want := []TimeAct{
		{SubjectID: "r1", Event: RiskReviewOverdue{RiskID: "r1", ReviewDue: date("2026-03-01")}, On: date("2026-03-01")},
		{SubjectID: "r2", Event: RiskToleranceLapsed{RiskID: "r2", ToleratedUntil: date("2026-02-28")}, On: date("2026-02-28")},
		{SubjectID: "s1", Event: ResponseOverdue{ResponseID: "s1", RiskID: "r1", DueDate: date("2026-03-01")}, On: date("2026-03-01")},
	}
	if !reflect.DeepEqual(acts, want) {
		t.Fatalf("acts = %+v\nwant %+v", acts, want)
	}
	// Acts already recorded are not due again, however late the sweep.
	for i := range subjects {
		for _, a := range acts {
			if a.SubjectID == subjects[i].ID {
				key, ok := TimeActKeyOf(a.Event)
				if !ok || key != a.Key() {
					t.Fatalf("TimeActKeyOf(%v) = %q, %v; Key() = %q", a.Event, key, ok, a.Key())
				}
				subjects[i].Done = append(subjects[i].Done, key)
			}
		}
	}
	if acts := DueTimeActs(date("2026-05-01"), subjects); len(acts) != 0 {
		t.Fatalf("after recording: %+v", acts)
	}
	if got := acts[0].OccurredAt().String(); got != "2026-03-02" {
		t.Errorf("OccurredAt = %s", got)
	}
}

func TestMaterialChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		e      Event
		before Scores
		want   ChangeKind
	}{
		{"same score", assessed(RatingKindInherent, 4, 5), Scores{Inherent: 20}, ""},
		{"re-rated", assessed(RatingKindInherent, 2, 2), Scores{Inherent: 20}, ChangeRerated},
		{"first residual", assessed(RatingKindResidual, 2, 2), Scores{Inherent: 20}, ChangeRerated},
		{"target", assessed(RatingKindTarget, 1, 1), Scores{Inherent: 20}, ""},
		{"revised", ResponseRevised{Title: ptr("t")}, Scores{}, ChangeResponseRevised},
		{"lapsed", RiskToleranceLapsed{RiskID: "r", ToleratedUntil: date("2026-01-01")}, Scores{}, ChangeAcceptanceLapsed},
		{"updated", RiskUpdated{Title: ptr("t")}, Scores{}, ""},
		{"overdue", ResponseOverdue{ResponseID: "s"}, Scores{}, ""},
	} {
		kind, summary, ok := MaterialChange(tc.e, tc.before)
		if kind != tc.want || ok != (tc.want != "") || ok && summary == "" {
			t.Errorf("%s: MaterialChange = %q, %q, %v", tc.name, kind, summary, ok)
		}
	}
}

func TestSessionTablesEachSubjectOnce(t *testing.T) {
	events, err := ScheduleSession("s-1", BodyCouncil, date("2026-06-20"), "Council, 141st Session", "sam")
	if err != nil {
		t.Fatal(err)
	}
	s, err := SessionFromHistory("s-1", events)
	if err != nil {
		t.Fatal(err)
	}
	tabled, err := s.TableItem(riskID, SubjectKindRisk, 3, "for acceptance", "sam")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(tabled[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TableItem(riskID, SubjectKindRisk, 4, "", "sam"); !errors.Is(err, ErrPrecondition) {
		t.Errorf("second tabling = %v", err)
	}
	if got := s.Items(); len(got) != 1 || got[0].Version != 3 || s.Version() != 2 || s.Body() != BodyCouncil {
		t.Errorf("session = %+v", s)
	}
	if _, err := ScheduleSession("s-2", "BOARD", Date{}, " ", "sam"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("bad session = %v", err)
	}
	if _, err := s.TableItem(riskID, SubjectKindRisk, 0, "", "sam"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("version 0 = %v", err)
	}
}

func TestSuggestAgenda(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	since, until := t0, t0.AddDate(0, 3, 0)
	facts := []AgendaFacts{
		{Kind: SubjectKindRisk, ID: "old-red", Band: BandRed, RedSince: t0.AddDate(0, -1, 0)},
		{Kind: SubjectKindRisk, ID: "new-red", Band: BandRed, RedSince: t0.AddDate(0, 1, 0)},
		{Kind: SubjectKindRisk, ID: "flagged", Band: BandAmber, FlaggedAt: t0.AddDate(0, 1, 0)},
		{Kind: SubjectKindRisk, ID: "lapsed", Band: BandAmber, Lapsed: true},
		{Kind: SubjectKindRisk, ID: "late-review", Band: BandGreen, ReviewOverdue: true},
		{Kind: SubjectKindRisk, ID: "closed", Band: BandRed, RedSince: t0.AddDate(0, 1, 0), Terminal: true},
		{Kind: SubjectKindRisk, ID: "after-cut-off", Band: BandRed, RedSince: until.Add(time.Hour)},
		{Kind: SubjectKindResponse, ID: "submitted", ResponseStatus: ResponseStatusSubmitted},
		{Kind: SubjectKindResponse, ID: "recommended", ResponseStatus: ResponseStatusRecommended, Overdue: true},
		{Kind: SubjectKindResponse, ID: "implemented", ResponseStatus: ResponseStatusImplemented},
		{Kind: SubjectKindResponse, ID: "revised", ResponseStatus: ResponseStatusDraft, StaleDecisions: []string{"d-1"}},
		{Kind: SubjectKindRisk, ID: "tabled", Band: BandRed, RedSince: t0.AddDate(0, 1, 0)},
	}
	reasons := func(s []AgendaSuggestion) []string {
		var out []string
		for _, x := range s {
			out = append(out, x.SubjectID+":"+string(x.Reason)+x.DecisionID)
		}
		return out
	}
	for body, want := range map[Body][]string{
		BodyCouncil: {"new-red:NEW_RED", "flagged:NEW_FLAGGED", "lapsed:ACCEPTANCE_LAPSED",
			"recommended:RESPONSE_OVERDUE", "recommended:RESPONSE_AWAITING", "revised:SUBJECT_CHANGEDd-1"},
		BodyPolicyCommission: {"new-red:NEW_RED", "flagged:NEW_FLAGGED", "submitted:RESPONSE_AWAITING", "revised:SUBJECT_CHANGEDd-1"},
		BodyAuditCommittee: {"new-red:NEW_RED", "flagged:NEW_FLAGGED", "late-review:REVIEW_OVERDUE",
			"recommended:RESPONSE_OVERDUE", "implemented:RESPONSE_AWAITING", "revised:SUBJECT_CHANGEDd-1"},
	} {
		got := reasons(SuggestAgenda(body, since, until, facts, []string{"tabled"}))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: agenda %v\nwant %v", body, got, want)
		}
	}
	// Without a previous session every RED risk is new.
	if got := reasons(SuggestAgenda(BodyPolicyCommission, time.Time{}, until, facts[:1], nil)); !reflect.DeepEqual(got, []string{"old-red:NEW_RED"}) {
		t.Errorf("first session: %v", got)
	}
}
