package graph

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// riskAt answers the risk query: the current state folded from the risk's
// stream, a past one (asOf, atVersion) from the temporal read models. A risk
// the read models do not hold then (not registered yet, or written so
// recently that the projections have not applied it) is folded from its
// stream, which also says why it is missing.
func (r *Resolver) riskAt(ctx context.Context, id string, at register.AsOf) (*model.Risk, error) {
	if at != (register.AsOf{}) {
		r.current(ctx)
		var risk projection.Risk
		var ok bool
		var err error
		if at.Version > 0 {
			risk, ok, err = r.Reader.RiskVersion(ctx, id, at.Version)
		} else {
			var risks map[string]projection.Risk
			risks, err = r.Reader.At(at.Time).RisksByID(ctx, []string{id})
			risk, ok = risks[id]
		}
		if err != nil {
			return nil, err
		}
		if ok {
			return riskFromRead(risk, readAt(at, risk.UpdatedAt)), nil
		}
	}
	risk, err := r.Register.Risk(ctx, id, at)
	if err != nil {
		return nil, err
	}
	return riskModel(risk, readAt(at, risk.UpdatedAt)), nil
}

// responseAt answers the response query as riskAt answers the risk query.
func (r *Resolver) responseAt(ctx context.Context, id string, at register.AsOf) (*model.StrategicResponse, error) {
	if at != (register.AsOf{}) {
		r.current(ctx)
		var resp projection.Response
		var ok bool
		var err error
		if at.Version > 0 {
			resp, ok, err = r.Reader.ResponseVersion(ctx, id, at.Version)
		} else {
			var responses map[string]projection.Response
			responses, err = r.Reader.At(at.Time).ResponsesByID(ctx, []string{id})
			resp, ok = responses[id]
		}
		if err != nil {
			return nil, err
		}
		if ok {
			return responseFromRead(resp, readAt(at, resp.UpdatedAt)), nil
		}
	}
	resp, err := r.Register.Response(ctx, id, at)
	if err != nil {
		return nil, err
	}
	return responseModel(resp, readAt(at, resp.UpdatedAt)), nil
}

// heatMapRisks returns the risks of one cell of a heat map, reading the
// heat map's risks once per operation.
func (r *Resolver) heatMapRisks(ctx context.Context, c *model.HeatMapCell) ([]*model.Risk, error) {
	cells, err := loadersFrom(ctx, r).heatMapCells(ctx, c.AsOf, c.Kind)
	if err != nil {
		return nil, err
	}
	if risks := cells[projection.Cell{Likelihood: c.Likelihood, Impact: c.Impact}]; risks != nil {
		return risks, nil
	}
	return []*model.Risk{}, nil
}

// heatMapKey names a heat map read by an operation.
type heatMapKey struct {
	asOf time.Time
	kind domain.RatingKind
}

// heatMaps are the risks of the cells of the heat maps an operation read.
type heatMaps struct {
	mu    sync.Mutex
	cells map[heatMapKey]map[projection.Cell][]*model.Risk
}

// heatMapCells returns the risks of every cell of the heat map of kind as
// of asOf (zero: now), in the register's order.
func (l *loaders) heatMapCells(ctx context.Context, asOf time.Time, kind domain.RatingKind) (map[projection.Cell][]*model.Risk, error) {
	l.heat.mu.Lock()
	defer l.heat.mu.Unlock()
	key := heatMapKey{asOf: asOf, kind: kind}
	if cells, ok := l.heat.cells[key]; ok {
		return cells, nil
	}
	view, err := l.view(ctx, asOf)
	if err != nil {
		return nil, err
	}
	hm, err := view.HeatMap(ctx, kind)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range hm.Cells {
		ids = append(ids, c.RiskIDs...)
	}
	risks, err := view.RisksByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	cells := make(map[projection.Cell][]*model.Risk)
	for _, c := range hm.Cells {
		list := []*model.Risk{}
		for _, id := range c.RiskIDs {
			if risk, ok := risks[id]; ok {
				list = append(list, riskFromRead(risk, asOf))
			}
		}
		cells[projection.Cell{Likelihood: c.Likelihood, Impact: c.Impact}] = list
	}
	if l.heat.cells == nil {
		l.heat.cells = make(map[heatMapKey]map[projection.Cell][]*model.Risk)
	}
	l.heat.cells[key] = cells
	return cells, nil
}

// registerChanges answers the registerChanges query from the temporal read
// models.
func (r *Resolver) registerChanges(ctx context.Context, from time.Time, to *time.Time, filter *model.RiskFilter, first *int, after *string) (*model.RiskChangeConnection, error) {
	n, err := pageSize(first, 50)
	if err != nil {
		return nil, err
	}
	until, err := window(from, to)
	if err != nil {
		return nil, err
	}
	r.current(ctx)
	page, err := r.Reader.Changes(ctx, from, until, riskFilter(deref(filter)), n, deref(after))
	if err != nil {
		return nil, readError(err, "after")
	}
	ids := make([]string, len(page.Items))
	var eventIDs []uuid.UUID
	for i, c := range page.Items {
		ids[i] = c.After.ID
		eventIDs = append(eventIDs, c.EventIDs...)
	}
	decisions, err := r.Reader.DecisionsBetween(ctx, ids, from, until)
	if err != nil {
		return nil, err
	}
	events, err := r.Store.EventsByID(ctx, eventIDs)
	if err != nil {
		return nil, err
	}
	byRisk := make(map[string][]*model.Event)
	for _, e := range events {
		byRisk[e.StreamID] = append(byRisk[e.StreamID], eventModel(e))
	}
	c := &model.RiskChangeConnection{Edges: []*model.RiskChangeEdge{}, TotalCount: page.TotalCount,
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: deref(after) != ""}}
	for _, ch := range page.Items {
		node := &model.RiskChange{Risk: riskFromRead(ch.After, until), After: riskState(&ch.After),
			Events: append([]*model.Event{}, byRisk[ch.After.ID]...), Decisions: []*model.Decision{}}
		if ch.Before != nil {
			node.Before = riskState(ch.Before)
		}
		for _, d := range decisions[ch.After.ID] {
			node.Decisions = append(node.Decisions, decisionFromRead(d))
		}
		c.Edges = append(c.Edges, &model.RiskChangeEdge{Cursor: ch.Cursor(), Node: node})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

// riskState is what registerChanges compares of a risk.
func riskState(r *projection.Risk) *model.RiskState {
	s := &model.RiskState{Status: r.Status, Flagged: r.Flagged, Version: r.Version}
	if r.Band != "" {
		b := r.Band
		s.Band = &b
	}
	if r.Inherent != nil {
		s.InherentScore = new(r.Inherent.Score())
	}
	if r.Residual != nil {
		s.ResidualScore = new(r.Residual.Score())
	}
	return s
}

// heatMapMovement answers the heatMapMovement query from the temporal read
// models.
func (r *Resolver) heatMapMovement(ctx context.Context, from time.Time, to *time.Time, ratingKind *domain.RatingKind) ([]*model.HeatMapMove, error) {
	kind := domain.RatingKindResidual
	if ratingKind != nil {
		kind = *ratingKind
	}
	until, err := window(from, to)
	if err != nil {
		return nil, err
	}
	r.current(ctx)
	moves, err := r.Reader.Moves(ctx, from, until, kind, MaxMoves)
	if errors.Is(err, projection.ErrTooManyMoves) {
		return nil, badInput("from", fmt.Sprintf("more than %d risks moved in this window: shorten it, or page through registerChanges", MaxMoves))
	}
	if err != nil {
		return nil, err
	}
	out := make([]*model.HeatMapMove, len(moves))
	for i, m := range moves {
		out[i] = &model.HeatMapMove{Risk: riskFromRead(m.Risk, until), From: heatMapPoint(m.From), To: heatMapPoint(m.To)}
	}
	return out, nil
}

func heatMapPoint(c *projection.Cell) *model.HeatMapPoint {
	if c == nil {
		return nil
	}
	return &model.HeatMapPoint{Likelihood: c.Likelihood, Impact: c.Impact, Band: domain.BandOf(c.Likelihood * c.Impact)}
}

// window returns the end of the window a time travel query names: to, or
// now when it is nil (and from, an empty window, when from is later than
// now). A to before from is BAD_USER_INPUT.
func window(from time.Time, to *time.Time) (time.Time, error) {
	if to == nil {
		if now := time.Now(); now.After(from) {
			return now, nil
		}
		return from, nil
	}
	if to.Before(from) {
		return time.Time{}, badInput("to", "must not be before from")
	}
	return *to, nil
}
