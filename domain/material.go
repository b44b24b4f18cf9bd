package domain

import "fmt"

// ChangeKind says how a decision's subject changed after the body saw it.
type ChangeKind string

// The material changes, as in the GraphQL enum SubjectChangeKind.
const (
	// ChangeRerated: an inherent or residual rating got another score (and
	// so perhaps another band).
	ChangeRerated ChangeKind = "RERATED"
	// ChangeResponseRevised: staff revised the response.
	ChangeResponseRevised ChangeKind = "RESPONSE_REVISED"
	// ChangeAcceptanceLapsed: the Council's acceptance of the risk lapsed.
	ChangeAcceptanceLapsed ChangeKind = "ACCEPTANCE_LAPSED"
)

// Scores are the scores of a risk's inherent and residual ratings before an
// event; 0 for a rating not set.
type Scores struct {
	Inherent, Residual int
}

// MaterialChange reports whether event e, on a subject whose ratings stood
// at before, changes the subject materially: what a body decided on would
// no longer be what it saw. It returns the kind of change and a sentence
// that says what changed.
//
// Material are: an inherent or residual rating with another score than
// before (a first residual rating too; a target rating is not); any revision
// of a response; a lapsed acceptance. Descriptive edits, overdue reviews and
// due dates are not: they go on the agenda in their own right.
func MaterialChange(e Event, before Scores) (ChangeKind, string, bool) {
	switch e := e.(type) {
	case RiskAssessed:
		prior := 0
		switch e.Kind {
		case RatingKindInherent:
			prior = before.Inherent
		case RatingKindResidual:
			prior = before.Residual
		default:
			return "", "", false
		}
		score := e.Likelihood * e.Impact
		if score == prior {
			return "", "", false
		}
		if prior == 0 {
			return ChangeRerated, fmt.Sprintf("%s rating set to %d (%s)", e.Kind, score, BandOf(score)), true
		}
		return ChangeRerated, fmt.Sprintf("%s rating %d (%s) -> %d (%s)", e.Kind, prior, BandOf(prior), score, BandOf(score)), true
	case ResponseRevised:
		return ChangeResponseRevised, "response revised", true
	case RiskToleranceLapsed:
		return ChangeAcceptanceLapsed, fmt.Sprintf("acceptance lapsed after %s", e.ToleratedUntil), true
	}
	return "", "", false
}
