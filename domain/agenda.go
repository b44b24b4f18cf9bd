package domain

import (
	"slices"
	"time"
)

// AgendaReason says why a subject is suggested for a session's agenda.
type AgendaReason string

// The reasons, as in the GraphQL enum AgendaReason.
const (
	// AgendaNewRed: the risk became RED since the body's previous session.
	AgendaNewRed AgendaReason = "NEW_RED"
	// AgendaNewFlagged: the Audit Committee flagged the risk since then.
	AgendaNewFlagged AgendaReason = "NEW_FLAGGED"
	// AgendaAcceptanceLapsed: the Council's acceptance of the risk lapsed
	// (Council only).
	AgendaAcceptanceLapsed AgendaReason = "ACCEPTANCE_LAPSED"
	// AgendaReviewOverdue: the risk's review is overdue (Audit Committee).
	AgendaReviewOverdue AgendaReason = "REVIEW_OVERDUE"
	// AgendaResponseOverdue: the response is past its due date (Audit
	// Committee and Council).
	AgendaResponseOverdue AgendaReason = "RESPONSE_OVERDUE"
	// AgendaSubjectChanged: a decision of the body is stale, its subject
	// changed materially since.
	AgendaSubjectChanged AgendaReason = "SUBJECT_CHANGED"
	// AgendaResponseAwaiting: the response awaits the body's decision.
	AgendaResponseAwaiting AgendaReason = "RESPONSE_AWAITING"
)

// AwaitingBody returns the body whose decision a response in status s
// awaits: the Policy Commission a SUBMITTED one, the Council a RECOMMENDED
// one, the Audit Committee (verification) an IMPLEMENTED one.
func AwaitingBody(s ResponseStatus) (Body, bool) {
	switch s {
	case ResponseStatusSubmitted:
		return BodyPolicyCommission, true
	case ResponseStatusRecommended:
		return BodyCouncil, true
	case ResponseStatusImplemented:
		return BodyAuditCommittee, true
	}
	return "", false
}

// AgendaFacts is what the agenda rules need to know of a risk or response.
type AgendaFacts struct {
	Kind SubjectKind
	ID   string

	Band          Band      // a risk's band now
	RedSince      time.Time // when the risk became RED; zero unless RED
	FlaggedAt     time.Time // when it was flagged; zero if not flagged
	Lapsed        bool      // a lapsed acceptance stands
	ReviewOverdue bool      // an overdue review stands
	Terminal      bool      // CLOSED or WITHDRAWN (risk), CLOSED, WITHDRAWN or REJECTED (response)

	ResponseStatus ResponseStatus // a response's status
	Overdue        bool           // a response's due date passed and stands

	// StaleDecisions are the decisions of the body on this subject that it
	// changed materially since.
	StaleDecisions []string
}

// AgendaSuggestion is a subject suggested for a session's agenda.
type AgendaSuggestion struct {
	Reason     AgendaReason
	Kind       SubjectKind
	SubjectID  string
	DecisionID string // for AgendaSubjectChanged
}

// SuggestAgenda returns what a session of body should consider: risks that
// became RED or were flagged in (since, until] (since is the cut-off of the
// body's previous session, zero when there was none), lapsed acceptances
// (Council), overdue reviews (Audit Committee), overdue responses (Audit
// Committee and Council), subjects of the body's stale decisions, and
// responses awaiting the body. Subjects in tabled are on the agenda already
// and are left out, as are subjects whose story ended. The suggestions come
// in the order of facts, reasons in the order above for each subject.
func SuggestAgenda(body Body, since, until time.Time, facts []AgendaFacts, tabled []string) []AgendaSuggestion {
	within := func(t time.Time) bool { return !t.IsZero() && t.After(since) && !t.After(until) }
	var out []AgendaSuggestion
	for _, f := range facts {
		if f.Terminal || slices.Contains(tabled, f.ID) {
			continue
		}
		add := func(r AgendaReason, decision string) {
			out = append(out, AgendaSuggestion{Reason: r, Kind: f.Kind, SubjectID: f.ID, DecisionID: decision})
		}
		switch f.Kind {
		case SubjectKindRisk:
			if f.Band == BandRed && within(f.RedSince) {
				add(AgendaNewRed, "")
			}
			if within(f.FlaggedAt) {
				add(AgendaNewFlagged, "")
			}
			if f.Lapsed && body == BodyCouncil {
				add(AgendaAcceptanceLapsed, "")
			}
			if f.ReviewOverdue && body == BodyAuditCommittee {
				add(AgendaReviewOverdue, "")
			}
		case SubjectKindResponse:
			if f.Overdue && (body == BodyAuditCommittee || body == BodyCouncil) {
				add(AgendaResponseOverdue, "")
			}
		}
		for _, d := range f.StaleDecisions {
			add(AgendaSubjectChanged, d)
		}
		if b, ok := AwaitingBody(f.ResponseStatus); ok && b == body && f.Kind == SubjectKindResponse {
			add(AgendaResponseAwaiting, "")
		}
	}
	return out
}
