package graph

import (
	"encoding/hex"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/register"
)

// riskModel converts a folded risk read as of asOf (zero: now).
func riskModel(r register.Risk, asOf time.Time) *model.Risk {
	m := &model.Risk{
		ID:          r.ID(),
		Reference:   r.Reference(),
		Title:       r.Title(),
		Description: r.Description(),
		Category:    r.Category(),
		Source:      r.Source(),
		Owner:       r.Owner(),
		Status:      model.RiskStatus(r.Status()),
		Inherent:    ratingModel(r.Risk, domain.RatingKindInherent),
		Residual:    ratingModel(r.Risk, domain.RatingKindResidual),
		Target:      ratingModel(r.Risk, domain.RatingKindTarget),
		Flagged:     r.Flagged(),
		Version:     r.Version(),
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		AsOf:        asOf,
	}
	if b, ok := r.Band(); ok {
		band := model.Band(b)
		m.Band = &band
	}
	if d, ok := r.ToleratedUntil(); ok {
		m.ToleratedUntil = &d
	}
	return m
}

func ratingModel(r *domain.Risk, kind domain.RatingKind) *model.Rating {
	rating, ok := r.Rating(kind)
	if !ok {
		return nil
	}
	return &model.Rating{
		Likelihood: rating.Likelihood(),
		Impact:     rating.Impact(),
		Score:      rating.Score(),
		Band:       model.Band(rating.Band()),
		Rationale:  rating.Rationale(),
		AssessedBy: rating.AssessedBy(),
		AssessedAt: rating.AssessedAt(),
	}
}

// responseModel converts a folded response read as of asOf (zero: now).
func responseModel(r register.Response, asOf time.Time) *model.StrategicResponse {
	m := &model.StrategicResponse{
		ID:          r.ID(),
		RiskID:      r.RiskID(),
		Title:       r.Title(),
		Description: r.Description(),
		Option:      model.ResponseOption(r.Option()),
		Owner:       r.Owner(),
		Status:      model.ResponseStatus(r.Status()),
		Version:     r.Version(),
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		AsOf:        asOf,
	}
	if d, ok := r.DueDate(); ok {
		m.DueDate = &d
	}
	return m
}

func decisionModel(d register.Decision) *model.Decision {
	m := &model.Decision{
		ID:         d.ID(),
		Body:       model.Body(d.Body()),
		Session:    d.Session(),
		Kind:       model.DecisionKind(d.Kind()),
		Text:       d.Text(),
		RecordedBy: d.RecordedBy(),
		RecordedAt: d.Recorded.RecordedAt,
	}
	if e, ok := d.EffectiveDate(); ok {
		m.EffectiveDate = &e
	}
	if e, ok := d.ExpiresOn(); ok {
		m.ExpiresOn = &e
	}
	for _, s := range d.Subjects() {
		m.Subjects = append(m.Subjects, &model.DecisionSubject{ID: s.ID, Kind: model.SubjectKind(s.Kind), VersionSeen: s.VersionSeen})
	}
	return m
}

func eventModel(e eventstore.RecordedEvent) *model.Event {
	return &model.Event{
		ID:            e.ID.String(),
		Position:      e.Position.String(),
		StreamID:      e.StreamID,
		StreamType:    e.StreamType,
		Version:       int(e.Version),
		Type:          e.Type,
		SchemaVersion: max(e.SchemaVersion, 1),
		Data:          e.Data,
		OccurredAt:    e.OccurredAt,
		RecordedAt:    e.RecordedAt,
		Actor:         e.Metadata.Actor,
		CorrelationID: optional(e.Metadata.CorrelationID),
		CausationID:   optional(e.Metadata.CausationID),
		DecisionID:    optional(e.Metadata.DecisionID),
		RequestID:     optional(e.Metadata.RequestID),
		Hash:          hex.EncodeToString(e.Hash),
	}
}

// eventConnection makes a page of events; hasNext says whether more follow.
func eventConnection(events []eventstore.RecordedEvent, hasNext, hasPrevious bool) *model.EventConnection {
	c := &model.EventConnection{Edges: make([]*model.EventEdge, len(events)),
		PageInfo: &model.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrevious}}
	for i, e := range events {
		n := eventModel(e)
		c.Edges[i] = &model.EventEdge{Cursor: n.Position, Node: n}
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
