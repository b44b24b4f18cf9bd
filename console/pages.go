package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
)

// pageSize is how many rows a list shows at a time.
const pageSize = 50

// registerView is the register as a page reads it: the read models now,
// or their history as of a past time (index look-ups, whatever the length
// of the log).
type registerView struct {
	reader *projection.Reader
	past   *projection.Past
}

// view returns the register now (asOf zero) or as of asOf.
func (c *Console) view(ctx context.Context, asOf time.Time) (registerView, error) {
	if asOf.IsZero() {
		c.current(ctx)
		return registerView{reader: c.opt.Reader}, nil
	}
	return registerView{past: c.opt.Reader.At(asOf)}, nil
}

func (v registerView) risks(ctx context.Context, f projection.RiskFilter, first int, after string) (projection.Page[projection.Risk], error) {
	if v.past != nil {
		return v.past.Risks(ctx, f, first, after)
	}
	return v.reader.Risks(ctx, f, first, after)
}

func (v registerView) risksByID(ctx context.Context, ids []string) (map[string]projection.Risk, error) {
	if v.past != nil {
		return v.past.RisksByID(ctx, ids)
	}
	return v.reader.RisksByID(ctx, ids)
}

// heatMap returns the heat map of kind with the count of each cell (the
// risk ids of the cells).
func (v registerView) heatMap(ctx context.Context, kind domain.RatingKind) (projection.HeatMap, error) {
	if v.past != nil {
		return v.past.HeatMapCounts(ctx, kind)
	}
	return v.reader.HeatMapCounts(ctx, kind)
}

// cellIDs returns the ids of the risks in cell (l, i) of the heat map of
// kind, in the register's order.
func (v registerView) cellIDs(ctx context.Context, kind domain.RatingKind, l, i int) ([]string, error) {
	if v.past == nil {
		return v.reader.HeatMapCellIDs(ctx, kind, l, i)
	}
	hm, err := v.past.HeatMap(ctx, kind)
	if err != nil {
		return nil, err
	}
	return hm.Cells[(l-domain.MinScale)*domain.MaxScale+(i-domain.MinScale)].RiskIDs, nil
}

// registerData is the register page's data.
type registerData struct {
	Q        query
	AsOf     time.Time
	Cell     string // "RESIDUAL 3×4" when the list is one heat-map cell
	Risks    []projection.Risk
	Total    int
	Next     template.URL // the next page's query, "" on the last page
	Paged    bool         // not the first page
	Bands    []domain.Band
	Statuses []domain.RiskStatus
	CanAdd   bool
}

var (
	bands        = []domain.Band{domain.BandRed, domain.BandAmber, domain.BandGreen}
	riskStatuses = []domain.RiskStatus{domain.RiskStatusOpen, domain.RiskStatusAssessed, domain.RiskStatusTreating,
		domain.RiskStatusMonitoring, domain.RiskStatusTolerated, domain.RiskStatusClosed, domain.RiskStatusWithdrawn}
)

// registerPage is the register: filters, paging and as-of in the URL.
func (c *Console) registerPage(w http.ResponseWriter, r *http.Request, s session) {
	q := query(r.URL.Query())
	d := registerData{Q: q, Bands: bands, Statuses: riskStatuses, CanAdd: can(s.principal, domain.ActionRegisterRisk)}
	asOf, err := parseTime(q.Get("asof"))
	if err != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "The as-of date is not a date and time.")
		return
	}
	d.AsOf = asOf
	f := projection.RiskFilter{Band: domain.Band(q.Get("band")), Status: domain.RiskStatus(q.Get("status")),
		Category: q.Get("category"), Owner: q.Get("owner"), Search: q.Get("q")}
	switch q.Get("flagged") {
	case "yes":
		f.Flagged = new(true)
	case "no":
		f.Flagged = new(false)
	}
	v, err := c.view(r.Context(), asOf)
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	if q.Get("l") != "" || q.Get("i") != "" {
		err = c.cellRisks(r.Context(), v, q, f, &d)
	} else {
		var page projection.Page[projection.Risk]
		page, err = v.risks(r.Context(), f, pageSize, q.Get("after"))
		d.Risks, d.Total, d.Paged = page.Items, page.TotalCount, q.Get("after") != ""
		if page.HasNextPage {
			d.Next = q.With("after", page.Items[len(page.Items)-1].Cursor())
		}
	}
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	c.render(w, r, 0, "register", view{Title: "Risk register", Nav: "register", Data: d})
}

// cellRisks lists the risks of one heat-map cell (query l, i and kind),
// filtered by f, paged by the offset in query "at".
func (c *Console) cellRisks(ctx context.Context, v registerView, q query, f projection.RiskFilter, d *registerData) error {
	kind := ratingKind(q.Get("kind"))
	l, err1 := intParam(q.Get("l"), 0)
	i, err2 := intParam(q.Get("i"), 0)
	at, err3 := intParam(q.Get("at"), 0)
	if err1 != nil || err2 != nil || err3 != nil || l < domain.MinScale || l > domain.MaxScale ||
		i < domain.MinScale || i > domain.MaxScale || at < 0 {
		return fmt.Errorf("%w: heat-map cell", projection.ErrInvalidInput)
	}
	d.Cell = fmt.Sprintf("%s %d×%d", label(string(kind)), l, i)
	ids, err := v.cellIDs(ctx, kind, l, i)
	if err != nil {
		return err
	}
	if f != (projection.RiskFilter{}) {
		// Filtered: read the cell's risks and keep those that match.
		byID, err := v.risksByID(ctx, ids)
		if err != nil {
			return err
		}
		var kept []string
		for _, id := range ids {
			if risk, ok := byID[id]; ok && f.Match(&risk) {
				kept = append(kept, id)
			}
		}
		ids = kept
	}
	d.Total, d.Paged = len(ids), at > 0
	end := min(len(ids), at+pageSize)
	if at >= end {
		return nil
	}
	byID, err := v.risksByID(ctx, ids[at:end])
	if err != nil {
		return err
	}
	for _, id := range ids[at:end] {
		if risk, ok := byID[id]; ok {
			d.Risks = append(d.Risks, risk)
		}
	}
	if end < len(ids) {
		d.Next = q.With("at", fmt.Sprint(end))
	}
	return nil
}

// ratingKind reads a rating kind, RESIDUAL unless INHERENT or TARGET.
func ratingKind(s string) domain.RatingKind {
	if k := domain.RatingKind(s); k.Valid() {
		return k
	}
	return domain.RatingKindResidual
}

// decisionsData is the decisions page's data.
type decisionsData struct {
	Q         query
	Decisions []projection.Decision
	Total     int
	Next      template.URL
	Paged     bool
	Bodies    []domain.Body
	CanDecide bool // the principal clerks for a body
}

var bodies = []domain.Body{domain.BodyAuditCommittee, domain.BodyPolicyCommission, domain.BodyCouncil}

// decisionsPage lists the decisions, oldest first, by body.
func (c *Console) decisionsPage(w http.ResponseWriter, r *http.Request, s session) {
	q := query(r.URL.Query())
	c.current(r.Context())
	page, err := c.opt.Reader.Decisions(r.Context(), domain.Body(q.Get("body")), pageSize, q.Get("after"))
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	d := decisionsData{Q: q, Decisions: page.Items, Total: page.TotalCount, Paged: q.Get("after") != "", Bodies: bodies,
		CanDecide: len(clerkOf(s.principal)) > 0}
	if page.HasNextPage {
		d.Next = q.With("after", page.Items[len(page.Items)-1].Cursor())
	}
	c.render(w, r, 0, "decisions", view{Title: "Decisions", Nav: "decisions", Data: d})
}

// decisionPage shows one decision and its trace.
func (c *Console) decisionPage(w http.ResponseWriter, r *http.Request, _ session) {
	c.current(r.Context())
	id := r.PathValue("id")
	byID, err := c.opt.Reader.DecisionsByID(r.Context(), []string{id})
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	d, ok := byID[id]
	if !ok {
		c.fail(w, r, &domain.NotFoundError{Kind: domain.StreamDecision, ID: id}, 0, "")
		return
	}
	traces, err := c.traces(r.Context(), []projection.Decision{d})
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	v := view{Title: fmt.Sprintf("Decision: %s %s", label(string(d.Body)), label(string(d.Kind))), Nav: "decisions", Data: traces[0]}
	if r.URL.Query().Get("done") == "recorded" {
		v.Notice = "The decision is recorded."
	}
	c.render(w, r, 0, "decision", v)
}

// responsesData is the responses page's data.
type responsesData struct {
	Q         query
	Responses []projection.Response
	Risks     map[string]projection.Risk
	Total     int
	Next      template.URL
	Paged     bool
	Statuses  []domain.ResponseStatus
}

var responseStatuses = []domain.ResponseStatus{domain.ResponseStatusDraft, domain.ResponseStatusSubmitted,
	domain.ResponseStatusRecommended, domain.ResponseStatusReturned, domain.ResponseStatusEndorsed,
	domain.ResponseStatusRejected, domain.ResponseStatusInProgress, domain.ResponseStatusImplemented,
	domain.ResponseStatusVerified, domain.ResponseStatusClosed, domain.ResponseStatusWithdrawn}

// responsesPage lists the strategic responses in the order they were
// proposed, by status.
func (c *Console) responsesPage(w http.ResponseWriter, r *http.Request, _ session) {
	q := query(r.URL.Query())
	c.current(r.Context())
	page, err := c.opt.Reader.Responses(r.Context(), domain.ResponseStatus(q.Get("status")), pageSize, q.Get("after"))
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	risks, err := c.opt.Reader.RisksByID(r.Context(), idsOf(page.Items, func(s projection.Response) string { return s.RiskID }))
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	d := responsesData{Q: q, Responses: page.Items, Risks: risks, Total: page.TotalCount, Paged: q.Get("after") != "", Statuses: responseStatuses}
	if page.HasNextPage {
		d.Next = q.With("after", page.Items[len(page.Items)-1].Cursor())
	}
	c.render(w, r, 0, "responses", view{Title: "Strategic responses", Nav: "responses", Data: d})
}

// subjectView is one subject of a decision's trace.
type subjectView struct {
	domain.Subject
	Label   string
	RiskID  string // the risk page that shows the subject
	Now     int    // its version now; 0 when unknown
	Changed bool   // later events moved it on since the decision and its own effects
}

// traceView is a decision with the trace of what it saw and caused.
type traceView struct {
	Decision projection.Decision
	Subjects []subjectView
	Effects  []effectView
}

// effectView is one effect of a decision.
type effectView struct {
	projection.Effect
	RiskID string
	Label  string
}

// traces returns the trace of each decision: its subjects with the version
// the body saw and the version now, and its effects. It reads in three
// batched queries whatever the number of decisions.
func (c *Console) traces(ctx context.Context, decisions []projection.Decision) ([]traceView, error) {
	ids := make([]string, len(decisions))
	var riskIDs, responseIDs []string
	note := func(id string, risk bool) {
		if risk {
			riskIDs = append(riskIDs, id)
		} else {
			responseIDs = append(responseIDs, id)
		}
	}
	for i, d := range decisions {
		ids[i] = d.ID
		for _, s := range d.Subjects {
			note(s.ID, s.Kind == domain.SubjectKindRisk)
		}
	}
	effects, err := c.opt.Reader.Effects(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, fs := range effects {
		for _, f := range fs {
			note(f.StreamID, f.StreamType == domain.StreamRisk)
		}
	}
	responses, err := c.opt.Reader.ResponsesByID(ctx, responseIDs)
	if err != nil {
		return nil, err
	}
	for _, s := range responses {
		riskIDs = append(riskIDs, s.RiskID)
	}
	risks, err := c.opt.Reader.RisksByID(ctx, riskIDs)
	if err != nil {
		return nil, err
	}
	describe := func(id string) (label, riskID string, version int) {
		if r, ok := risks[id]; ok {
			return r.Reference + " " + r.Title, r.ID, r.Version
		}
		if s, ok := responses[id]; ok {
			return "Response “" + s.Title + "” to " + risks[s.RiskID].Reference, s.RiskID, s.Version
		}
		return id, "", 0
	}
	out := make([]traceView, len(decisions))
	for i, d := range decisions {
		t := traceView{Decision: d}
		own := make(map[string]int) // the decision's own effects on each stream
		for _, f := range effects[d.ID] {
			own[f.StreamID]++
		}
		for _, s := range d.Subjects {
			sv := subjectView{Subject: s}
			sv.Label, sv.RiskID, sv.Now = describe(s.ID)
			sv.Changed = sv.Now != 0 && sv.Now != s.VersionSeen+own[s.ID]
			t.Subjects = append(t.Subjects, sv)
		}
		for _, f := range effects[d.ID] {
			ev := effectView{Effect: f}
			ev.Label, ev.RiskID, _ = describe(f.StreamID)
			t.Effects = append(t.Effects, ev)
		}
		out[i] = t
	}
	return out, nil
}

// idsOf returns the id that id gives of each item, for a batched read.
func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, item := range items {
		out[i] = id(item)
	}
	return out
}
