package domain

import (
	"slices"
	"time"
)

// The aggregates' states as plain values, for the read side: a read model
// stores a state, gives it back with RiskFromState or ResponseFromState, and
// folds the next events into it with the aggregate's own Apply, so that the
// state machines are written once, here. (A repository unmarshals an
// aggregate the same way: the state was checked when its events were
// recorded, so it is trusted as it is.)

// RatingState is a Rating as a plain value.
type RatingState struct {
	Likelihood int       `json:"likelihood"`
	Impact     int       `json:"impact"`
	Rationale  string    `json:"rationale"`
	AssessedBy string    `json:"assessedBy"`
	AssessedAt time.Time `json:"assessedAt"`
}

// Score returns likelihood x impact.
func (r RatingState) Score() int { return r.Likelihood * r.Impact }

// Band returns the band of the score.
func (r RatingState) Band() Band { return BandOf(r.Score()) }

// RiskState is a Risk's state as a plain value.
type RiskState struct {
	ID          string
	Reference   string
	Title       string
	Description string
	Category    string
	Source      string
	Owner       string
	Status      RiskStatus
	// Inherent, Residual and Target are nil until assessed.
	Inherent, Residual, Target *RatingState
	Flagged                    bool
	ToleratedUntil             Date // zero unless TOLERATED
	Version                    int
}

// State returns the risk's state.
func (r *Risk) State() RiskState {
	s := RiskState{ID: r.id, Reference: r.reference, Title: r.title, Description: r.description, Category: r.category,
		Source: r.source, Owner: r.owner, Status: r.status, Flagged: r.flagged, ToleratedUntil: r.toleratedUntil,
		Version: r.version}
	for i, dst := range []**RatingState{&s.Inherent, &s.Residual, &s.Target} {
		if r.rated[i] {
			g := r.ratings[i]
			*dst = &RatingState{Likelihood: g.likelihood, Impact: g.impact, Rationale: g.rationale, AssessedBy: g.assessedBy,
				AssessedAt: g.assessedAt}
		}
	}
	return s
}

// RiskFromState returns the risk whose state is s, as State returned it.
func RiskFromState(s RiskState) *Risk {
	r := &Risk{id: s.ID, reference: s.Reference, title: s.Title, description: s.Description, category: s.Category,
		source: s.Source, owner: s.Owner, status: s.Status, flagged: s.Flagged, toleratedUntil: s.ToleratedUntil,
		version: s.Version}
	for i, g := range []*RatingState{s.Inherent, s.Residual, s.Target} {
		if g != nil {
			r.ratings[i] = Rating{likelihood: g.Likelihood, impact: g.Impact, rationale: g.Rationale, assessedBy: g.AssessedBy,
				assessedAt: g.AssessedAt}
			r.rated[i] = true
		}
	}
	return r
}

// Rating returns the rating of the given kind, nil when it is not set.
func (s RiskState) Rating(kind RatingKind) *RatingState {
	switch slices.Index(ratingKinds, kind) {
	case 0:
		return s.Inherent
	case 1:
		return s.Residual
	case 2:
		return s.Target
	}
	return nil
}

// ResponseState is a StrategicResponse's state as a plain value.
type ResponseState struct {
	ID          string
	RiskID      string
	Title       string
	Description string
	Option      ResponseOption
	Owner       string
	DueDate     Date // zero when there is none
	Status      ResponseStatus
	Version     int
}

// State returns the response's state.
func (s *StrategicResponse) State() ResponseState {
	return ResponseState{ID: s.id, RiskID: s.riskID, Title: s.title, Description: s.description, Option: s.option,
		Owner: s.owner, DueDate: s.dueDate, Status: s.status, Version: s.version}
}

// ResponseFromState returns the response whose state is s, as State
// returned it.
func ResponseFromState(s ResponseState) *StrategicResponse {
	return &StrategicResponse{id: s.ID, riskID: s.RiskID, title: s.Title, description: s.Description, option: s.Option,
		owner: s.Owner, dueDate: s.DueDate, status: s.Status, version: s.Version}
}
