package graph

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/importer"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// calendarLoaders batch the calendar's look-ups of one operation.
type calendarLoaders struct {
	risks   *dataloadgen.Loader[string, projection.RiskCalendar]
	overdue *dataloadgen.Loader[string, bool]
	changes *dataloadgen.Loader[string, []*model.SubjectChange]
}

func newCalendarLoaders(r *Resolver) *calendarLoaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &calendarLoaders{
		risks: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]projection.RiskCalendar, error) {
			r.current(ctx)
			return r.Reader.RiskCalendars(ctx, ids, r.ReviewPolicy)
		}, wait),
		overdue: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]bool, error) {
			r.current(ctx)
			due, err := r.Reader.ResponsesOverdue(ctx, ids)
			out := make(map[string]bool, len(ids))
			for _, id := range ids {
				_, out[id] = due[id]
			}
			return out, err
		}, wait),
		changes: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string][]*model.SubjectChange, error) {
			r.current(ctx)
			byDecision, err := r.Reader.SubjectChangesSince(ctx, ids)
			out := make(map[string][]*model.SubjectChange, len(ids))
			for _, id := range ids {
				list := []*model.SubjectChange{}
				for _, c := range byDecision[id] {
					list = append(list, &model.SubjectChange{SubjectID: c.SubjectID, Kind: model.SubjectChangeKind(c.Kind),
						Summary: c.Summary, EventID: c.EventID.String()})
				}
				out[id] = list
			}
			return out, err
		}, wait),
	}
}

// calendarOf returns what the calendar says of a risk. For the risk as it
// stands, the flags are the acts of time recorded in the log; for a risk as
// of a past instant, they are the domain's rule applied on that day.
func (r *Resolver) calendarOf(ctx context.Context, risk *model.Risk) (next domain.Date, overdue, lapsed bool, err error) {
	var last time.Time
	for _, rating := range []*model.Rating{risk.Inherent, risk.Residual, risk.Target} {
		if rating != nil && rating.AssessedAt.After(last) {
			last = rating.AssessedAt
		}
	}
	status := domain.RiskStatus(risk.Status)
	if !status.Terminal() && risk.Band != nil && !last.IsZero() {
		next = r.ReviewPolicy.NextReview(domain.Band(*risk.Band), domain.DateOf(last.UTC()))
	}
	if risk.AsOf.IsZero() {
		c, err := loadersFrom(ctx, r).calendar.risks.Load(ctx, risk.ID)
		if err != nil && !errors.Is(err, dataloadgen.ErrNotFound) {
			return next, false, false, err
		}
		return next, !c.ReviewOverdue.IsZero(), !c.AcceptanceLapsed.IsZero(), nil
	}
	subject := domain.CalendarSubject{Kind: domain.SubjectKindRisk, ID: risk.ID, RiskStatus: status, NextReview: next}
	if risk.ToleratedUntil != nil {
		subject.ToleratedUntil = *risk.ToleratedUntil
	}
	for _, a := range domain.DueTimeActs(domain.DateOf(risk.AsOf.UTC()), []domain.CalendarSubject{subject}) {
		switch a.Event.(type) {
		case domain.RiskReviewOverdue:
			overdue = true
		case domain.RiskToleranceLapsed:
			lapsed = true
		}
	}
	return next, overdue, lapsed, nil
}

// responseOverdue reports whether a response is overdue: for the response
// as it stands, whether a ResponseOverdue stands in the log; as of a past
// instant, the domain's rule on that day.
func (r *Resolver) responseOverdue(ctx context.Context, resp *model.StrategicResponse) (bool, error) {
	if resp.AsOf.IsZero() {
		return loadersFrom(ctx, r).calendar.overdue.Load(ctx, resp.ID)
	}
	subject := domain.CalendarSubject{Kind: domain.SubjectKindResponse, ID: resp.ID, ResponseStatus: domain.ResponseStatus(resp.Status)}
	if resp.DueDate != nil {
		subject.DueDate = *resp.DueDate
	}
	return len(domain.DueTimeActs(domain.DateOf(resp.AsOf.UTC()), []domain.CalendarSubject{subject})) > 0, nil
}

// checkCalendarFilter refuses the calendar's filters on the register as of
// a past instant: the acts of time are read models of now.
func checkCalendarFilter(f *model.RiskFilter, asOf time.Time) error {
	if f != nil && !asOf.IsZero() && (f.ReviewOverdue != nil || f.AcceptanceLapsed != nil) {
		return badInput("filter", "reviewOverdue and acceptanceLapsed cannot be combined with asOf")
	}
	return nil
}

// risksOrdered answers the risksOrdered query.
func (r *Resolver) risksOrdered(ctx context.Context, order *model.RiskOrder, filter *model.RiskFilter, first *int, after *string) (*model.RiskConnection, error) {
	n, err := pageSize(first, 50)
	if err != nil {
		return nil, err
	}
	r.current(ctx)
	o := projection.OrderByReference
	if order != nil {
		o = projection.RiskOrder(*order)
	}
	page, err := r.Reader.RisksBy(ctx, riskFilter(deref(filter)), o, r.ReviewPolicy, n, deref(after))
	if err != nil {
		return nil, readError(err, "after")
	}
	c := &model.RiskConnection{Edges: []*model.RiskEdge{}, TotalCount: page.TotalCount,
		PageInfo: &model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: deref(after) != ""}}
	for _, risk := range page.Items {
		c.Edges = append(c.Edges, &model.RiskEdge{Cursor: risk.Cursor, Node: riskFromRead(risk.Risk, time.Time{})})
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

// riskByReference answers the riskByReference query from the register.
func (r *Resolver) riskByReference(ctx context.Context, ref string) (*model.Risk, error) {
	r.current(ctx)
	id, ok, err := r.Reader.RiskIDByReference(ctx, ref)
	if err != nil || !ok {
		return nil, err
	}
	risk, err := r.Register.Risk(ctx, id, register.AsOf{})
	if err != nil {
		return nil, err
	}
	return riskModel(risk, time.Time{}), nil
}

// listResponses answers the responses query: from the calendar's read
// model now, or from a snapshot of the register as of a past instant.
func (r *Resolver) listResponses(ctx context.Context, filter *model.ResponseFilter, first *int, after *string, asOf *time.Time) (*model.ResponseConnection, error) {
	n, err := pageSize(first, 50)
	if err != nil {
		return nil, err
	}
	f := responseFilter(deref(filter))
	c := &model.ResponseConnection{Edges: []*model.ResponseEdge{}, PageInfo: &model.PageInfo{HasPreviousPage: deref(after) != ""}}
	if asOf != nil {
		if err := r.responsesAsOf(ctx, c, f, n, deref(after), *asOf); err != nil {
			return nil, err
		}
	} else {
		r.current(ctx)
		page, err := r.Reader.ResponseIDs(ctx, f, n, deref(after), asksFor(ctx, "totalCount"))
		if err != nil {
			return nil, readError(err, "after")
		}
		c.TotalCount, c.PageInfo.HasNextPage = page.TotalCount, page.HasNextPage
		ids := make([]string, len(page.Items))
		for i, it := range page.Items {
			ids[i] = it.ID
		}
		found, err := r.Reader.ResponsesByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			if resp, ok := found[it.ID]; ok { // else proposed after the calendar saw it, not in the responses read model yet
				c.Edges = append(c.Edges, &model.ResponseEdge{Cursor: it.Cursor, Node: responseFromRead(resp, time.Time{})})
			}
		}
	}
	if len(c.Edges) > 0 {
		c.PageInfo.StartCursor = &c.Edges[0].Cursor
		c.PageInfo.EndCursor = &c.Edges[len(c.Edges)-1].Cursor
	}
	return c, nil
}

// responsesAsOf fills c with a page of the responses as they stood at asOf,
// from the temporal read models; the cursor is the position the response
// was proposed at.
func (r *Resolver) responsesAsOf(ctx context.Context, c *model.ResponseConnection, f projection.ResponseFilter, n int, after string, asOf time.Time) error {
	page, err := r.Reader.At(asOf).Responses(ctx, f, n, after, asksFor(ctx, "totalCount"))
	if err != nil {
		return readError(err, "after")
	}
	c.TotalCount, c.PageInfo.HasNextPage = page.TotalCount, page.HasNextPage
	for _, resp := range page.Items {
		c.Edges = append(c.Edges, &model.ResponseEdge{Cursor: resp.CreatedPosition.String(), Node: responseFromRead(resp, asOf)})
	}
	return nil
}

func responseFilter(f model.ResponseFilter) projection.ResponseFilter {
	out := projection.ResponseFilter{Owner: deref(f.Owner), RiskID: deref(f.RiskID), Overdue: f.Overdue}
	if f.Status != nil {
		out.Status = domain.ResponseStatus(*f.Status)
	}
	if f.DueBefore != nil {
		out.DueBefore = *f.DueBefore
	}
	return out
}

// subjectChangeEvent returns the event that made a change.
func (r *Resolver) subjectChangeEvent(ctx context.Context, c *model.SubjectChange) (*model.Event, error) {
	id, err := uuid.Parse(c.EventID)
	if err != nil {
		return nil, err
	}
	events, err := r.Store.EventsByID(ctx, []uuid.UUID{id})
	if err != nil || len(events) == 0 {
		return nil, errors.Join(err, errors.New("graph: the event of a subject change is missing from the log"))
	}
	return eventModel(events[0]), nil
}

// sessionModel converts a session of the calendar.
func sessionModel(s projection.Session) *model.Session {
	return &model.Session{ID: s.ID, Body: domain.Body(s.Body), Date: s.Date, Title: s.Title, Version: s.Version}
}

// session returns a session of the calendar, nil when there is none.
func (r *Resolver) session(ctx context.Context, id string) (projection.Session, bool, error) {
	r.current(ctx)
	found, err := r.Reader.SessionsByID(ctx, []string{id})
	s, ok := found[id]
	return s, ok, err
}

// sessionByID answers the session query.
func (r *Resolver) sessionByID(ctx context.Context, id string) (*model.Session, error) {
	s, ok, err := r.session(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	return sessionModel(s), nil
}

// listSessions answers the sessions query.
func (r *Resolver) listSessions(ctx context.Context, body *domain.Body) ([]*model.Session, error) {
	r.current(ctx)
	var b domain.Body
	if body != nil {
		b = domain.Body(*body)
	}
	list, err := r.Reader.Sessions(ctx, b)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Session, len(list))
	for i, s := range list {
		out[i] = sessionModel(s)
	}
	return out, nil
}

// sessionItems answers Session.items.
func (r *Resolver) sessionItems(ctx context.Context, obj *model.Session) ([]*model.TabledItem, error) {
	s, _, err := r.session(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := []*model.TabledItem{}
	for _, it := range s.Items {
		out = append(out, &model.TabledItem{SubjectID: it.SubjectID, Kind: domain.SubjectKind(it.Kind), Note: it.Note,
			VersionTabled: it.VersionTabled, VersionNow: it.VersionNow, ChangedSinceTabled: it.VersionNow != it.VersionTabled})
	}
	return out, nil
}

// suggestedAgenda answers Session.suggestedAgenda.
func (r *Resolver) suggestedAgenda(ctx context.Context, obj *model.Session) ([]*model.AgendaSuggestion, error) {
	s, ok, err := r.session(ctx, obj.ID)
	if err != nil || !ok {
		return []*model.AgendaSuggestion{}, err
	}
	suggestions, err := r.Reader.SuggestedAgenda(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]*model.AgendaSuggestion, len(suggestions))
	for i, a := range suggestions {
		out[i] = &model.AgendaSuggestion{Reason: model.AgendaReason(a.Reason), Kind: domain.SubjectKind(a.Kind),
			SubjectID: a.SubjectID, DecisionID: optional(a.DecisionID)}
	}
	return out, nil
}

// previousSession answers Session.previousSession.
func (r *Resolver) previousSession(ctx context.Context, obj *model.Session) (*model.Session, error) {
	s, ok, err := r.session(ctx, obj.ID)
	if err != nil || !ok {
		return nil, err
	}
	prev, ok, err := r.Reader.PreviousSession(ctx, s)
	if err != nil || !ok {
		return nil, err
	}
	return sessionModel(prev), nil
}

// sessionDecisions answers Session.decisions: the decisions whose session
// is the session's id.
func (r *Resolver) sessionDecisions(ctx context.Context, obj *model.Session) ([]*model.Decision, error) {
	r.current(ctx)
	list, err := r.Reader.DecisionsOfSession(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Decision, len(list))
	for i, d := range list {
		out[i] = decisionFromRead(d)
	}
	return out, nil
}

// decisionSessionID answers Decision.sessionId: its session when that is a
// scheduled session's id.
func (r *Resolver) decisionSessionID(ctx context.Context, obj *model.Decision) (*string, error) {
	_, ok, err := r.session(ctx, obj.Session)
	if err != nil || !ok {
		return nil, err
	}
	return &obj.Session, nil
}

// subjectRisk returns the risk a tabled item or suggestion is about: the
// risk itself, or a response's risk, as it stands.
func (r *Resolver) subjectRisk(ctx context.Context, kind domain.SubjectKind, id string) (*model.Risk, error) {
	riskID := id
	if kind == domain.SubjectKindResponse {
		resp, err := r.subjectResponse(ctx, kind, id)
		if err != nil || resp == nil {
			return nil, err
		}
		riskID = resp.RiskID
	}
	risk, err := r.Register.Risk(ctx, riskID, register.AsOf{})
	if err != nil {
		return nil, err
	}
	return riskModel(risk, time.Time{}), nil
}

// subjectResponse returns the response a tabled item or suggestion is
// about, nil for a risk.
func (r *Resolver) subjectResponse(ctx context.Context, kind domain.SubjectKind, id string) (*model.StrategicResponse, error) {
	if kind != domain.SubjectKindResponse {
		return nil, nil
	}
	resp, err := r.Register.Response(ctx, id, register.AsOf{})
	if err != nil {
		return nil, err
	}
	return responseModel(resp, time.Time{}), nil
}

// scheduleSession runs the scheduleSession mutation.
func (r *Resolver) scheduleSession(ctx context.Context, body domain.Body, date domain.Date, title string, key *string) (*model.Session, error) {
	req, err := request(ctx, key)
	if err != nil {
		return nil, err
	}
	return registerSessionModel(r.Register.ScheduleSession(ctx, req, domain.Body(body), date, title))
}

// registerSessionModel converts the session a mutation returns.
func registerSessionModel(s register.Session, err error) (*model.Session, error) {
	if err != nil {
		return nil, err
	}
	return &model.Session{ID: s.ID(), Body: domain.Body(s.Body()), Date: s.Date(), Title: s.Title(), Version: s.Version()}, nil
}

// tableItem runs the tableItem mutation.
func (r *Resolver) tableItem(ctx context.Context, sessionID, subjectID string, note, key *string) (*model.Session, error) {
	req, err := request(ctx, key)
	if err != nil {
		return nil, err
	}
	return registerSessionModel(r.Register.TableItem(ctx, req, sessionID, subjectID, deref(note)))
}

// tabledRisk returns the risk of a tabled item: for a risk, as it stood at
// the version tabled; for a response, its risk as it stands.
func (r *Resolver) tabledRisk(ctx context.Context, it *model.TabledItem) (*model.Risk, error) {
	if it.Kind != domain.SubjectKindRisk {
		return r.subjectRisk(ctx, it.Kind, it.SubjectID)
	}
	at := register.AsOf{Version: it.VersionTabled}
	risk, err := r.Register.Risk(ctx, it.SubjectID, at)
	if err != nil {
		return nil, err
	}
	return riskModel(risk, readAt(at, risk.UpdatedAt)), nil
}

// tabledResponse returns the response of a tabled item as it stood at the
// version tabled; nil for a risk.
func (r *Resolver) tabledResponse(ctx context.Context, it *model.TabledItem) (*model.StrategicResponse, error) {
	if it.Kind != domain.SubjectKindResponse {
		return nil, nil
	}
	at := register.AsOf{Version: it.VersionTabled}
	resp, err := r.Register.Response(ctx, it.SubjectID, at)
	if err != nil {
		return nil, err
	}
	return responseModel(resp, readAt(at, resp.UpdatedAt)), nil
}

// optionalDate returns d, or nil for the zero Date.
func optionalDate(d domain.Date) *domain.Date {
	if d.IsZero() {
		return nil
	}
	return &d
}

// importRisks runs the importRisks mutation (see package importer).
func (r *Resolver) importRisks(ctx context.Context, data, source string, mapping []string, dryRun, partial bool) (*model.ImportReport, error) {
	req, err := request(ctx, nil)
	if err != nil {
		return nil, err
	}
	m, err := importer.ParseMap(mapping)
	if err != nil {
		return nil, badInput("map", err.Error())
	}
	rows, err := importer.ReadCSV(strings.NewReader(data))
	if err != nil {
		return nil, badInput("csv", err.Error())
	}
	rep, err := importer.Import(ctx, r.Register, req, rows, importer.Options{Source: source, Map: m, DryRun: dryRun, Partial: partial})
	if errors.Is(err, importer.ErrInvalidInput) {
		return nil, badInput("csv", err.Error())
	}
	if err != nil {
		return nil, err
	}
	out := &model.ImportReport{Rows: rep.Rows, DryRun: rep.DryRun, Written: rep.Written && !rep.DryRun,
		Errors: []*model.ImportRowError{}, Risks: []*model.ImportedRisk{}}
	for _, e := range rep.Errors {
		out.Errors = append(out.Errors, &model.ImportRowError{Row: e.Row, Column: e.Column, Message: e.Message})
	}
	for _, x := range rep.Risks {
		ir := &model.ImportedRisk{Row: x.Row, Title: x.Title, Created: !x.Existed && !rep.DryRun, Reference: optional(x.Reference)}
		if !rep.DryRun || x.Existed {
			ir.RiskID = &x.ID
		}
		out.Risks = append(out.Risks, ir)
	}
	return out, nil
}

// Estimated lengths of the calendar's lists, for the cost of a query.
const (
	listSessions = 50  // sessions of a body
	listItems    = 50  // items tabled for a session
	listAgenda   = 100 // suggestions for a session
)

// calendarComplexity sets the cost of the calendar's list fields, as
// complexity does for the core ones.
func calendarComplexity(c *ComplexityRoot, times func(first *int, def int) func(int) int) {
	c.Query.Responses = func(child int, _ *model.ResponseFilter, first *int, _ *string, _ *time.Time) int {
		return times(first, 50)(child)
	}
	c.Query.RisksOrdered = func(child int, _ *model.RiskOrder, _ *model.RiskFilter, first *int, _ *string) int {
		return times(first, 50)(child)
	}
	c.Query.Sessions = func(child int, _ *domain.Body) int { return 1 + listSessions*child }
	c.Session.Items = func(child int) int { return 1 + listItems*child }
	c.Session.SuggestedAgenda = func(child int) int { return 1 + listAgenda*child }
	c.Session.Decisions = func(child int) int { return 1 + listDecisions*child }
	c.Decision.SubjectChangedSince = func(child int) int { return 1 + listEffects*child }
}
