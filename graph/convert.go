package graph

import (
	"encoding/hex"
	"time"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// The API's shapes of the register's aggregates: one converter per type,
// from the read side's (projection) shape. Mutations answer from the
// aggregate they folded, converted to that shape first.

// riskModel converts a risk the register folded, read as of asOf (zero: now).
func riskModel(r register.Risk, asOf time.Time) *model.Risk {
	return riskFromRead(projection.RiskFromAggregate(r.Risk, r.CreatedAt, r.UpdatedAt), asOf)
}

// responseModel converts a response the register folded, read as of asOf.
func responseModel(r register.Response, asOf time.Time) *model.StrategicResponse {
	return responseFromRead(projection.ResponseFromAggregate(r.StrategicResponse, r.CreatedAt, r.UpdatedAt, eventstore.Position{}), asOf)
}

// decisionModel converts a decision the register folded.
func decisionModel(d register.Decision) *model.Decision {
	return decisionFromRead(projection.DecisionFromAggregate(d.Decision, d.Recorded.Position, d.Recorded.ID))
}

// riskFromRead converts a risk of the read models read as of asOf (zero:
// now).
func riskFromRead(r projection.Risk, asOf time.Time) *model.Risk {
	m := &model.Risk{
		ID:          r.ID,
		Reference:   r.Reference,
		Title:       r.Title,
		Description: r.Description,
		Category:    r.Category,
		Source:      r.Source,
		Owner:       r.Owner,
		Status:      r.Status,
		Inherent:    ratingFromRead(r.Inherent),
		Residual:    ratingFromRead(r.Residual),
		Target:      ratingFromRead(r.Target),
		Flagged:     r.Flagged,
		Version:     r.Version,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		AsOf:        asOf,
	}
	if r.Band != "" {
		band := r.Band
		m.Band = &band
	}
	if !r.ToleratedUntil.IsZero() {
		d := r.ToleratedUntil
		m.ToleratedUntil = &d
	}
	return m
}

func ratingFromRead(r *projection.Rating) *model.Rating {
	if r == nil {
		return nil
	}
	return &model.Rating{
		Likelihood: r.Likelihood,
		Impact:     r.Impact,
		Score:      r.Score(),
		Band:       r.Band(),
		Rationale:  r.Rationale,
		AssessedBy: r.AssessedBy,
		AssessedAt: r.AssessedAt,
	}
}

// responseFromRead converts a response of the read models read as of asOf.
func responseFromRead(r projection.Response, asOf time.Time) *model.StrategicResponse {
	m := &model.StrategicResponse{
		ID:          r.ID,
		RiskID:      r.RiskID,
		Title:       r.Title,
		Description: r.Description,
		Option:      r.Option,
		Owner:       r.Owner,
		Status:      r.Status,
		Version:     r.Version,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		AsOf:        asOf,
	}
	if !r.DueDate.IsZero() {
		d := r.DueDate
		m.DueDate = &d
	}
	return m
}

func decisionFromRead(d projection.Decision) *model.Decision {
	m := &model.Decision{
		ID:         d.ID,
		Body:       d.Body,
		Session:    d.Session,
		Kind:       d.Kind,
		Text:       d.Text,
		RecordedBy: d.RecordedBy,
		RecordedAt: d.RecordedAt,
	}
	if !d.EffectiveDate.IsZero() {
		e := d.EffectiveDate
		m.EffectiveDate = &e
	}
	if !d.ExpiresOn.IsZero() {
		e := d.ExpiresOn
		m.ExpiresOn = &e
	}
	for _, s := range d.Subjects {
		m.Subjects = append(m.Subjects, &model.DecisionSubject{ID: s.ID, Kind: s.Kind, VersionSeen: s.VersionSeen})
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
