package domain

import (
	"reflect"
	"testing"
)

// A state given back with FromState is the aggregate it came from, and
// folds the next events as the aggregate does.
func TestStateRoundTrip(t *testing.T) {
	for _, s := range []RiskStatus{RiskStatusOpen, RiskStatusAssessed, RiskStatusTreating, RiskStatusMonitoring,
		RiskStatusTolerated, RiskStatusClosed, RiskStatusWithdrawn} {
		history := append(riskIn(s), assessed(RatingKindResidual, 2, 5), assessed(RatingKindTarget, 1, 1), RiskFlagged{DecisionRef: acRef})
		r, err := RiskFromHistory(riskID, history)
		if err != nil {
			t.Fatal(err)
		}
		back := RiskFromState(r.State())
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s: RiskFromState(State()) = %+v, want %+v", s, back, r)
		}
		if g := r.State().Rating(RatingKindResidual); g == nil || g.Score() != 10 || g.Band() != BandAmber {
			t.Errorf("%s: residual rating of the state %+v", s, g)
		}
		if err := back.Apply(RiskUpdated{Title: new("Renamed")}); err != nil || back.Title() != "Renamed" || back.Version() != r.Version()+1 {
			t.Errorf("%s: apply after FromState: %v, %+v", s, err, back)
		}
	}
	for _, s := range []ResponseStatus{ResponseStatusDraft, ResponseStatusEndorsed, ResponseStatusVerified, ResponseStatusClosed} {
		r, err := ResponseFromHistory(responseID, responseIn(s))
		if err != nil {
			t.Fatal(err)
		}
		if back := ResponseFromState(r.State()); !reflect.DeepEqual(back, r) {
			t.Errorf("%s: ResponseFromState(State()) = %+v, want %+v", s, back, r)
		}
	}
}
