package graph

import (
	"context"
	"errors"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/projection"
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
	r.logShowsOwnWrites(ctx)
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
	r.logShowsOwnWrites(ctx)
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

// registerView is the register as list queries read it: the read models as
// they stand (*projection.Reader) or the register as it stood at a past
// instant, from the temporal read models (*projection.Past).
type registerView interface {
	Risks(ctx context.Context, f projection.RiskFilter, first int, after string) (projection.Page[projection.Risk], error)
	RisksWithoutTotal(ctx context.Context, f projection.RiskFilter, first int, after string) (projection.Page[projection.Risk], error)
	RisksByID(ctx context.Context, ids []string) (map[string]projection.Risk, error)
	ResponsesByRisk(ctx context.Context, riskIDs []string) (map[string][]projection.Response, error)
	DecisionsBySubject(ctx context.Context, subjectIDs []string) (map[string][]projection.Decision, error)
	HeatMap(ctx context.Context, kind domain.RatingKind) (projection.HeatMap, error)
	HeatMapCounts(ctx context.Context, kind domain.RatingKind) (projection.HeatMap, error)
}

// current returns the read models once they reflect every write this process
// answered before the query started, so that a client never misses its own
// write in a list. A projection that is failing or slow does not fail the
// query: it is answered from the read models as they are, and logged.
func (r *Resolver) current(ctx context.Context) registerView {
	if err := r.Reader.CatchUpOwnWrites(ctx); err != nil && ctx.Err() == nil {
		r.Logger.Warn("graph: read models behind this process's writes; answering from them as they are",
			"err", err, "request_id", RequestID(ctx))
	}
	return r.Reader
}

// logShowsOwnWrites waits until the global log shows every event this
// process appended before the query started. When that takes too long, the
// query is answered from the log as it is.
func (r *Resolver) logShowsOwnWrites(ctx context.Context) {
	if err := r.Reader.LogShowsOwnWrites(ctx); err != nil && ctx.Err() == nil {
		r.Logger.Warn("graph: the log does not show this process's writes yet; answering from it as it is",
			"err", err, "request_id", RequestID(ctx))
	}
}

// listRisks answers the risks query from the read models, or as of a past
// instant from a snapshot of the register.
func (r *Resolver) listRisks(ctx context.Context, f model.RiskFilter, n int, after string, asOf time.Time) (*model.RiskConnection, error) {
	if err := checkCalendarFilter(&f, asOf); err != nil {
		return nil, err
	}
	view, err := loadersFrom(ctx, r).view(ctx, asOf)
	if err != nil {
		return nil, err
	}
	read := view.RisksWithoutTotal
	if asksFor(ctx, "totalCount") {
		read = view.Risks
	}
	page, err := read(ctx, riskFilter(f), n, after)
	if err != nil {
		return nil, readError(err, "after")
	}
	c := &model.RiskConnection{Edges: []*model.RiskEdge{}, TotalCount: page.TotalCount,
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: after != ""}}
	for _, risk := range page.Items {
		c.Edges = append(c.Edges, &model.RiskEdge{Cursor: risk.Cursor(), Node: riskFromRead(risk, asOf)})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

func riskFilter(f model.RiskFilter) projection.RiskFilter {
	out := projection.RiskFilter{Owner: deref(f.Owner), Category: deref(f.Category), Flagged: f.Flagged, Search: deref(f.Search),
		CalendarFilter: projection.CalendarFilter{ReviewOverdue: f.ReviewOverdue, AcceptanceLapsed: f.AcceptanceLapsed}}
	if f.Band != nil {
		out.Band = *f.Band
	}
	if f.Status != nil {
		out.Status = *f.Status
	}
	return out
}

// readError turns the read models' invalid-input errors (a malformed cursor)
// into BAD_USER_INPUT on field.
func readError(err error, field string) error {
	if errors.Is(err, projection.ErrInvalidInput) {
		return badInput(field, "is not a cursor of this list")
	}
	return err
}

// listDecisions answers the decisions query from the read models; a
// decision's cursor is the position of its DecisionRecorded event.
func (r *Resolver) listDecisions(ctx context.Context, body *domain.Body, n int, after *string) (*model.DecisionConnection, error) {
	var b domain.Body
	if body != nil {
		b = *body
	}
	r.current(ctx)
	page, err := r.Reader.Decisions(ctx, b, n, deref(after))
	if err != nil {
		return nil, readError(err, "after")
	}
	c := &model.DecisionConnection{Edges: []*model.DecisionEdge{}, TotalCount: page.TotalCount,
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: deref(after) != ""}}
	for _, d := range page.Items {
		c.Edges = append(c.Edges, &model.DecisionEdge{Cursor: d.Cursor(), Node: decisionFromRead(d)})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

// heatMap counts the risks of each (likelihood, impact) cell of their
// rating of kind, now or as they stood at asOf, from the cells' counters.
// CLOSED and WITHDRAWN risks are not on it. A cell's risks are read only
// when asked for (heatMapRisks).
func (r *Resolver) heatMap(ctx context.Context, asOf time.Time, kind domain.RatingKind) (*model.HeatMap, error) {
	view, err := loadersFrom(ctx, r).view(ctx, asOf)
	if err != nil {
		return nil, err
	}
	hm, err := view.HeatMapCounts(ctx, kind)
	if err != nil {
		return nil, err
	}
	at := asOf
	if at.IsZero() {
		at = time.Now()
	}
	out := &model.HeatMap{AsOf: at, RatingKind: kind}
	for _, c := range hm.Cells {
		out.Cells = append(out.Cells, &model.HeatMapCell{Likelihood: c.Likelihood, Impact: c.Impact, Band: c.Band,
			Count: c.Count, Kind: kind, AsOf: asOf})
	}
	return out, nil
}

// asksFor reports whether the field being resolved selects a field called
// name: a connection's totalCount costs more than its page, so it is read
// only when asked for.
func asksFor(ctx context.Context, name string) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}
