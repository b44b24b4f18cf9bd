package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/register"
)

// readBatch is how many events readAll fetches per round trip.
const readBatch = 1000

// readAt is the instant a node read with at stands for: at's time, the
// recorded time of the version asked for, or zero for the current state.
func readAt(at register.AsOf, updatedAt time.Time) time.Time {
	switch {
	case !at.Time.IsZero():
		return at.Time
	case at.Version > 0:
		return updatedAt
	}
	return time.Time{}
}

// readAll returns every event of the log that f selects, in log order.
func (r *Resolver) readAll(ctx context.Context, f eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	var after eventstore.Position
	for {
		batch, err := r.Store.ReadAll(ctx, after, readBatch, f)
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if len(batch) < readBatch {
			return out, nil
		}
		after = batch[len(batch)-1].Position
	}
}

// eventPage answers a Relay connection over the log: one more event than
// asked for is read to learn whether another page follows.
func (r *Resolver) eventPage(ctx context.Context, first *int, after *string, f eventstore.Filter) (*model.EventConnection, error) {
	n, err := pageSize(first, 100)
	if err != nil {
		return nil, err
	}
	from, err := cursor(after)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return eventConnection(nil, false, !from.IsZero()), nil
	}
	events, err := r.Store.ReadAll(ctx, from, n+1, f)
	if err != nil {
		return nil, err
	}
	hasNext := len(events) > n
	if hasNext {
		events = events[:n]
	}
	return eventConnection(events, hasNext, !from.IsZero()), nil
}

// risksAsOf folds every risk as it stood at asOf (zero: now), in order of
// registration, from one scan of the risks' events.
func (r *Resolver) risksAsOf(ctx context.Context, asOf time.Time) ([]register.Risk, error) {
	streams, err := r.foldStreams(ctx, domain.StreamRisk, asOf)
	if err != nil {
		return nil, err
	}
	risks := make([]register.Risk, len(streams))
	for i, s := range streams {
		agg, err := domain.RiskFromHistory(s.id, s.events)
		if err != nil {
			return nil, fmt.Errorf("graph: risk %s: %w", s.id, err)
		}
		risks[i] = register.Risk{Risk: agg, CreatedAt: s.createdAt, UpdatedAt: s.updatedAt}
	}
	return risks, nil
}

// responsesAsOf folds every response as it stood at asOf (zero: now), in
// order of proposal.
func (r *Resolver) responsesAsOf(ctx context.Context, asOf time.Time) ([]register.Response, error) {
	streams, err := r.foldStreams(ctx, domain.StreamResponse, asOf)
	if err != nil {
		return nil, err
	}
	out := make([]register.Response, len(streams))
	for i, s := range streams {
		agg, err := domain.ResponseFromHistory(s.id, s.events)
		if err != nil {
			return nil, fmt.Errorf("graph: response %s: %w", s.id, err)
		}
		out[i] = register.Response{StrategicResponse: agg, CreatedAt: s.createdAt, UpdatedAt: s.updatedAt}
	}
	return out, nil
}

// streamEvents are the decoded events of one stream.
type streamEvents struct {
	id                   string
	events               []domain.Event
	createdAt, updatedAt time.Time
}

// foldStreams reads every event of the streams of streamType recorded at or
// before asOf (zero: now) and groups them by stream, in order of each
// stream's first event.
func (r *Resolver) foldStreams(ctx context.Context, streamType string, asOf time.Time) ([]*streamEvents, error) {
	recs, err := r.readAll(ctx, eventstore.Filter{StreamType: streamType, Until: until(asOf)})
	if err != nil {
		return nil, err
	}
	var order []*streamEvents
	byID := make(map[string]*streamEvents)
	for _, rec := range recs {
		ev, err := domain.DecodeEvent(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return nil, fmt.Errorf("graph: %s %s version %d: %w", streamType, rec.StreamID, rec.Version, err)
		}
		s := byID[rec.StreamID]
		if s == nil {
			s = &streamEvents{id: rec.StreamID, createdAt: rec.RecordedAt}
			byID[rec.StreamID] = s
			order = append(order, s)
		}
		s.events = append(s.events, ev)
		s.updatedAt = rec.RecordedAt
	}
	return order, nil
}

// matches reports whether risk passes filter.
func matches(risk register.Risk, f model.RiskFilter) bool {
	band, banded := risk.Band()
	switch {
	case f.Band != nil && (!banded || model.Band(band) != *f.Band),
		f.Status != nil && model.RiskStatus(risk.Status()) != *f.Status,
		f.Owner != nil && risk.Owner() != *f.Owner,
		f.Category != nil && risk.Category() != *f.Category,
		f.Flagged != nil && risk.Flagged() != *f.Flagged:
		return false
	}
	if f.Search == nil || *f.Search == "" {
		return true
	}
	s := strings.ToLower(*f.Search)
	return strings.Contains(strings.ToLower(risk.Reference()), s) ||
		strings.Contains(strings.ToLower(risk.Title()), s) ||
		strings.Contains(strings.ToLower(risk.Description()), s)
}

// listRisks answers the risks query by folding the register from the log.
// A risk's cursor is its id.
func (r *Resolver) listRisks(ctx context.Context, f model.RiskFilter, n int, after string, asOf time.Time) (*model.RiskConnection, error) {
	all, err := r.risksAsOf(ctx, asOf)
	if err != nil {
		return nil, err
	}
	var matching []register.Risk
	for _, risk := range all {
		if matches(risk, f) {
			matching = append(matching, risk)
		}
	}
	start := 0
	if after != "" {
		i := slices.IndexFunc(matching, func(risk register.Risk) bool { return risk.ID() == after })
		if i < 0 {
			return nil, badInput("after", "is not a cursor of this list")
		}
		start = i + 1
	}
	end := min(start+n, len(matching))
	c := &model.RiskConnection{Edges: []*model.RiskEdge{}, TotalCount: len(matching),
		PageInfo: &model.PageInfo{HasNextPage: end < len(matching), HasPreviousPage: start > 0}}
	for _, risk := range matching[start:end] {
		c.Edges = append(c.Edges, &model.RiskEdge{Cursor: risk.ID(), Node: riskModel(risk, asOf)})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

// recordedDecisions returns every decision recorded at or before asOf
// (zero: now), oldest first.
func (r *Resolver) recordedDecisions(ctx context.Context, asOf time.Time) ([]recordedDecision, error) {
	events, err := r.readAll(ctx, eventstore.Filter{Types: []string{domain.EventDecisionRecorded}, Until: until(asOf)})
	if err != nil {
		return nil, err
	}
	out := make([]recordedDecision, len(events))
	for i, e := range events {
		var d domain.DecisionRecorded
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return nil, fmt.Errorf("graph: decision %s: %w", e.StreamID, err)
		}
		dec, err := domain.DecisionFromHistory(e.StreamID, []domain.Event{d})
		if err != nil {
			return nil, fmt.Errorf("graph: decision %s: %w", e.StreamID, err)
		}
		out[i] = recordedDecision{event: e, model: decisionModel(register.Decision{Decision: dec, Recorded: e})}
	}
	return out, nil
}

type recordedDecision struct {
	event eventstore.RecordedEvent
	model *model.Decision
}

// listDecisions answers the decisions query; a decision's cursor is the
// position of its DecisionRecorded event.
func (r *Resolver) listDecisions(ctx context.Context, body *model.Body, n int, after *string) (*model.DecisionConnection, error) {
	from, err := cursor(after)
	if err != nil {
		return nil, err
	}
	all, err := r.recordedDecisions(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	var matching []recordedDecision
	for _, d := range all {
		if body == nil || d.model.Body == *body {
			matching = append(matching, d)
		}
	}
	c := &model.DecisionConnection{Edges: []*model.DecisionEdge{}, TotalCount: len(matching), PageInfo: &model.PageInfo{HasPreviousPage: !from.IsZero()}}
	for _, d := range matching {
		if d.event.Position.Compare(from) <= 0 {
			continue
		}
		if len(c.Edges) == n {
			c.PageInfo.HasNextPage = true
			break
		}
		c.Edges = append(c.Edges, &model.DecisionEdge{Cursor: d.event.Position.String(), Node: d.model})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

// heatMap counts the risks of each (likelihood, impact) cell of their
// rating of kind, as they stood at asOf.
func (r *Resolver) heatMap(ctx context.Context, asOf time.Time, kind model.RatingKind) (*model.HeatMap, error) {
	risks, err := r.risksAsOf(ctx, asOf)
	if err != nil {
		return nil, err
	}
	at := asOf
	if at.IsZero() {
		at = time.Now()
	}
	hm := &model.HeatMap{AsOf: at, RatingKind: kind}
	for l := domain.MinScale; l <= domain.MaxScale; l++ {
		for i := domain.MinScale; i <= domain.MaxScale; i++ {
			cell := &model.HeatMapCell{Likelihood: l, Impact: i, Band: model.Band(domain.BandOf(l * i)), Risks: []*model.Risk{}}
			for _, risk := range risks {
				rating, ok := risk.Rating(domain.RatingKind(kind))
				if ok && rating.Likelihood() == l && rating.Impact() == i {
					cell.Risks = append(cell.Risks, riskModel(risk, asOf))
				}
			}
			cell.Count = len(cell.Risks)
			hm.Cells = append(hm.Cells, cell)
		}
	}
	return hm, nil
}
