package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// ratingView is one of a risk's ratings.
type ratingView struct {
	Kind       domain.RatingKind
	Set        bool
	Likelihood int
	Impact     int
	Score      int
	Band       domain.Band
	Rationale  string
	AssessedBy string
	AssessedAt time.Time
}

// riskView is a risk as it stood at one version.
type riskView struct {
	ID, Reference, Title, Description, Category, Source, Owner string
	Status                                                     domain.RiskStatus
	Band                                                       domain.Band
	Flagged                                                    bool
	ToleratedUntil                                             domain.Date
	Version                                                    int
	Ratings                                                    []ratingView
	CreatedAt, UpdatedAt                                       time.Time
}

func riskViewOf(r register.Risk) riskView {
	v := riskView{ID: r.ID(), Reference: r.Reference(), Title: r.Title(), Description: r.Description(),
		Category: r.Category(), Source: r.Source(), Owner: r.Owner(), Status: r.Status(), Flagged: r.Flagged(),
		Version: r.Version(), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	v.Band, _ = r.Band()
	v.ToleratedUntil, _ = r.ToleratedUntil()
	for _, k := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget} {
		rv := ratingView{Kind: k}
		if rt, ok := r.Rating(k); ok {
			rv = ratingView{Kind: k, Set: true, Likelihood: rt.Likelihood(), Impact: rt.Impact(), Score: rt.Score(),
				Band: rt.Band(), Rationale: rt.Rationale(), AssessedBy: rt.AssessedBy(), AssessedAt: rt.AssessedAt()}
		}
		v.Ratings = append(v.Ratings, rv)
	}
	return v
}

// eventView is one event of a risk's timeline.
type eventView struct {
	eventstore.RecordedEvent
	Summary string
	Shown   bool // the version the page shows
}

// responseView is a response to the risk with the staff transitions its
// status allows.
type responseView struct {
	projection.Response
	Moves     []string
	Revisable bool // DRAFT or RETURNED: staff may revise it
}

// decisionForm is what a clerk's decision form offers.
type decisionForm struct {
	Bodies []domain.Body
	Kinds  []domain.DecisionKind
}

// riskData is the risk page's data.
type riskData struct {
	Risk      riskView // as of the version shown
	Latest    int      // the risk's current version
	Current   riskView // as it stands now, for the forms
	Replaying bool     // an earlier version is shown
	Timeline  []eventView
	Responses []responseView
	Traces    []traceView
	Staff     bool
	Decide    *decisionForm
	Kinds     []domain.RatingKind
	Options   []domain.ResponseOption
}

var decisionKinds = []domain.DecisionKind{domain.DecisionKindFlag, domain.DecisionKindAdvice, domain.DecisionKindVerify,
	domain.DecisionKindRecommend, domain.DecisionKindReturn, domain.DecisionKindEndorse, domain.DecisionKindReject,
	domain.DecisionKindAcceptRisk, domain.DecisionKindCloseRisk, domain.DecisionKindNote}

// responseMove is a staff transition of a response as the forms name it,
// with the statuses it starts from (nil: any status that is not terminal).
type responseMove struct {
	name string
	tr   register.ResponseTransition
	from []domain.ResponseStatus
}

// responseMoves are the staff transitions, in the order offered, with the
// statuses each starts from.
var responseMoves = []responseMove{
	{"submit", register.SubmitResponse, []domain.ResponseStatus{domain.ResponseStatusDraft}},
	{"start", register.StartResponse, []domain.ResponseStatus{domain.ResponseStatusEndorsed}},
	{"report", register.ReportImplementation, []domain.ResponseStatus{domain.ResponseStatusInProgress}},
	{"close", register.CloseResponse, []domain.ResponseStatus{domain.ResponseStatusVerified}},
	{"withdraw", register.WithdrawResponse, nil}, // from any status that is not terminal
}

// riskPage shows a risk at its latest version, or at version v.
func (c *Console) riskPage(w http.ResponseWriter, r *http.Request, s session) {
	v, err := intParam(r.URL.Query().Get("v"), 0)
	if err != nil || v < 0 {
		c.fail(w, r, nil, http.StatusBadRequest, "The version to show is not a number.")
		return
	}
	var notice string
	switch r.URL.Query().Get("done") {
	case "registered":
		notice = "The risk is registered."
	case "saved":
		notice = "Recorded."
	}
	c.showRisk(w, r, s, r.PathValue("id"), v, 0, view{Notice: notice})
}

// showRisk renders the risk page for risk id at version (0: the latest),
// with status and the message of v.
func (c *Console) showRisk(w http.ResponseWriter, r *http.Request, s session, id string, version, status int, v view) {
	d, err := c.riskData(r.Context(), s, id, version)
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	v.Title, v.Nav, v.Data = d.Risk.Reference+": "+d.Risk.Title, "register", d
	if d.Replaying {
		v.Title = fmt.Sprintf("%s at version %d", v.Title, d.Risk.Version)
	}
	c.render(w, r, status, "risk", v)
}

// riskData reads what the risk page shows, in a fixed number of queries.
func (c *Console) riskData(ctx context.Context, s session, id string, version int) (riskData, error) {
	var d riskData
	events, err := c.opt.Store.ReadStream(ctx, id, eventstore.ReadStreamOptions{})
	if err != nil {
		return d, err
	}
	if len(events) == 0 || events[0].StreamType != domain.StreamRisk {
		return d, &domain.NotFoundError{Kind: domain.StreamRisk, ID: id}
	}
	d.Latest = int(events[len(events)-1].Version)
	if version == 0 || version > d.Latest {
		version = d.Latest
	}
	current, err := c.opt.Register.Risk(ctx, id, register.AsOf{})
	if err != nil {
		return d, err
	}
	d.Current = riskViewOf(current)
	d.Risk = d.Current
	if version < d.Current.Version {
		at, err := c.opt.Register.Risk(ctx, id, register.AsOf{Version: version})
		if err != nil {
			return d, err
		}
		d.Risk, d.Replaying = riskViewOf(at), true
	}
	for _, e := range events {
		d.Timeline = append(d.Timeline, eventView{RecordedEvent: e, Summary: summary(e), Shown: int(e.Version) == d.Risk.Version})
	}

	c.current(ctx)
	byRisk, err := c.opt.Reader.ResponsesByRisk(ctx, []string{id})
	if err != nil {
		return d, err
	}
	subjects := []string{id}
	for _, resp := range byRisk[id] {
		subjects = append(subjects, resp.ID)
		rv := responseView{Response: resp,
			Revisable: resp.Status == domain.ResponseStatusDraft || resp.Status == domain.ResponseStatusReturned}
		for _, m := range responseMoves {
			if (m.from == nil && !resp.Status.Terminal()) || slices.Contains(m.from, resp.Status) {
				rv.Moves = append(rv.Moves, m.name)
			}
		}
		d.Responses = append(d.Responses, rv)
	}
	bySubject, err := c.opt.Reader.DecisionsBySubject(ctx, subjects)
	if err != nil {
		return d, err
	}
	var decisions []projection.Decision
	seen := make(map[string]bool)
	for _, sub := range subjects {
		for _, dec := range bySubject[sub] {
			if !seen[dec.ID] {
				seen[dec.ID] = true
				decisions = append(decisions, dec)
			}
		}
	}
	slices.SortFunc(decisions, func(a, b projection.Decision) int { return a.Position.Compare(b.Position) })
	if d.Traces, err = c.traces(ctx, decisions); err != nil {
		return d, err
	}

	d.Staff = can(s.principal, domain.ActionRegisterRisk)
	d.Kinds = []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget}
	d.Options = []domain.ResponseOption{domain.ResponseOptionReduce, domain.ResponseOptionAvoid, domain.ResponseOptionShare, domain.ResponseOptionAccept}
	d.Decide = c.decisionFormOf(s.principal)
	return d, nil
}

// summary describes an event's data in a few words.
func summary(e eventstore.RecordedEvent) string {
	var m map[string]any
	if json.Unmarshal(e.Data, &m) != nil {
		return ""
	}
	str := func(k string) string {
		if v, ok := m[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	switch {
	case str("likelihood") != "":
		return fmt.Sprintf("%s %s×%s: %s", label(str("kind")), str("likelihood"), str("impact"), str("rationale"))
	case str("reference") != "":
		return str("reference") + " " + str("title")
	case str("reason") != "":
		return str("reason")
	case str("note") != "":
		return str("note")
	case str("toleratedUntil") != "":
		return "until " + str("toleratedUntil")
	}
	var changed []string
	for _, k := range []string{"title", "description", "category", "source", "owner"} {
		if str(k) != "" {
			changed = append(changed, k)
		}
	}
	if len(changed) > 0 {
		return "changed " + strings.Join(changed, ", ")
	}
	return ""
}

// actionFailed shows the risk page again with what went wrong: a stale
// version shows the conflict and the risk's current state.
func (c *Console) actionFailed(w http.ResponseWriter, r *http.Request, s session, riskID string, err error) {
	status, msg, fields := c.explain(r, err)
	if status == http.StatusInternalServerError || riskID == "" {
		c.fail(w, r, err, status, msg)
		return
	}
	c.showRisk(w, r, s, riskID, 0, status, view{Problem: msg, Fields: fields})
}

// formValue returns a trimmed form value.
func formValue(r *http.Request, key string) string { return strings.TrimSpace(r.PostForm.Get(key)) }

// optional returns a pointer to a form value, nil when it is empty.
func optional(r *http.Request, key string) *string {
	if v := formValue(r, key); v != "" {
		return &v
	}
	return nil
}

// expectedVersion reads the version the form was made for.
func expectedVersion(r *http.Request) (int, error) {
	v, err := intParam(r.PostForm.Get("version"), -1)
	if err != nil || v < 0 {
		return 0, &domain.ValidationError{Fields: []domain.FieldError{{Field: "version", Message: "is missing from the form; reload the page"}}}
	}
	return v, nil
}

// newRiskPage shows the form that registers a risk.
func (c *Console) newRiskPage(w http.ResponseWriter, r *http.Request, s session) {
	if !can(s.principal, domain.ActionRegisterRisk) {
		c.fail(w, r, s.principal.Authorize(domain.ActionRegisterRisk), 0, "")
		return
	}
	c.render(w, r, 0, "newrisk", view{Title: "Register a risk", Nav: "register"})
}

// registerRisk registers a risk from the form.
func (c *Console) registerRisk(w http.ResponseWriter, r *http.Request, s session) {
	risk, err := c.opt.Register.RegisterRisk(r.Context(), request(r, s), domain.RiskDetails{
		Title: formValue(r, "title"), Description: formValue(r, "description"), Category: formValue(r, "category"),
		Source: formValue(r, "source"), Owner: formValue(r, "owner")})
	if err != nil {
		status, msg, fields := c.explain(r, err)
		c.render(w, r, status, "newrisk", view{Title: "Register a risk", Nav: "register", Problem: msg, Fields: fields})
		return
	}
	http.Redirect(w, r, "/risks/"+risk.ID()+"?done=registered", http.StatusSeeOther)
}

// riskAction runs a staff command on a risk: edit, assess, close, withdraw
// or propose (a response).
func (c *Console) riskAction(w http.ResponseWriter, r *http.Request, s session) {
	id, ctx, req := r.PathValue("id"), r.Context(), request(r, s)
	expected, verr := expectedVersion(r)
	var err error
	switch r.PathValue("action") {
	case "edit":
		if err = verr; err == nil {
			_, err = c.opt.Register.UpdateRisk(ctx, req, id, expected, domain.RiskChanges{Title: optional(r, "title"),
				Description: optional(r, "description"), Category: optional(r, "category"), Source: optional(r, "source"), Owner: optional(r, "owner")})
		}
	case "assess":
		l, err1 := intParam(r.PostForm.Get("likelihood"), 0)
		i, err2 := intParam(r.PostForm.Get("impact"), 0)
		if err = errors.Join(verr, err1, err2); err == nil {
			_, err = c.opt.Register.AssessRisk(ctx, req, id, expected, domain.RatingKind(r.PostForm.Get("kind")), l, i, formValue(r, "rationale"))
		} else if verr == nil {
			err = &domain.ValidationError{Fields: []domain.FieldError{{Field: "likelihood", Message: "and impact must be numbers from 1 to 5"}}}
		}
	case "close":
		if err = verr; err == nil {
			_, err = c.opt.Register.CloseRisk(ctx, req, id, expected, formValue(r, "reason"))
		}
	case "withdraw":
		if err = verr; err == nil {
			_, err = c.opt.Register.WithdrawRisk(ctx, req, id, expected, formValue(r, "reason"))
		}
	case "propose":
		var due domain.Date
		if v := formValue(r, "due"); v != "" {
			if due, err = domain.ParseDate(v); err != nil {
				err = &domain.ValidationError{Fields: []domain.FieldError{{Field: "dueDate", Message: "is not a date"}}}
			}
		}
		if err == nil {
			_, err = c.opt.Register.ProposeResponse(ctx, req, id, domain.ResponseDetails{Title: formValue(r, "title"),
				Description: formValue(r, "description"), Option: domain.ResponseOption(r.PostForm.Get("option")),
				Owner: formValue(r, "owner"), DueDate: due})
		}
	default:
		c.fail(w, r, nil, http.StatusNotFound, "There is no such action.")
		return
	}
	if err != nil {
		c.actionFailed(w, r, s, id, err)
		return
	}
	http.Redirect(w, r, "/risks/"+id+"?done=saved", http.StatusSeeOther)
}

// responseAction moves a response through a staff transition.
func (c *Console) responseAction(w http.ResponseWriter, r *http.Request, s session) {
	id, ctx := r.PathValue("id"), r.Context()
	resp, err := c.opt.Register.Response(ctx, id, register.AsOf{})
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	if r.PathValue("action") == "revise" {
		expected, err := expectedVersion(r)
		if err == nil {
			err = c.revise(r, s, id, expected)
		}
		if err != nil {
			c.actionFailed(w, r, s, resp.RiskID(), err)
			return
		}
		http.Redirect(w, r, "/risks/"+resp.RiskID()+"?done=saved", http.StatusSeeOther)
		return
	}
	i := slices.IndexFunc(responseMoves, func(m responseMove) bool { return m.name == r.PathValue("action") })
	if i < 0 {
		c.fail(w, r, nil, http.StatusNotFound, "There is no such action.")
		return
	}
	expected, err := expectedVersion(r)
	if err == nil {
		_, err = c.opt.Register.TransitionResponse(ctx, request(r, s), responseMoves[i].tr, id, expected, formValue(r, "note"))
	}
	if err != nil {
		c.actionFailed(w, r, s, resp.RiskID(), err)
		return
	}
	http.Redirect(w, r, "/risks/"+resp.RiskID()+"?done=saved", http.StatusSeeOther)
}

// recordDecision records a decision from a clerk's form: the subjects
// ticked, each at the version the form showed.
func (c *Console) recordDecision(w http.ResponseWriter, r *http.Request, s session) {
	in := register.DecisionInput{Body: domain.Body(r.PostForm.Get("body")), Session: formValue(r, "session"),
		Kind: domain.DecisionKind(r.PostForm.Get("kind")), Text: formValue(r, "text")}
	var fields []domain.FieldError
	for _, id := range r.PostForm["subject"] {
		v, err := intParam(r.PostForm.Get("version:"+id), -1)
		if err != nil || v < 0 {
			fields = append(fields, domain.FieldError{Field: "subjects", Message: "lack the version the body saw; reload the page"})
			break
		}
		in.Subjects = append(in.Subjects, register.SubjectInput{ID: id, ExpectedVersion: v})
	}
	for key, dst := range map[string]*domain.Date{"effective": &in.EffectiveDate, "expires": &in.ExpiresOn} {
		if v := formValue(r, key); v != "" {
			d, err := domain.ParseDate(v)
			if err != nil {
				fields = append(fields, domain.FieldError{Field: map[string]string{"effective": "effectiveDate", "expires": "expiresOn"}[key], Message: "is not a date"})
			}
			*dst = d
		}
	}
	riskID := r.PostForm.Get("risk")
	var err error
	var d register.Decision
	if len(fields) > 0 {
		err = &domain.ValidationError{Fields: fields}
	} else {
		d, err = c.opt.Register.RecordDecision(r.Context(), request(r, s), in)
	}
	if err != nil && r.PostForm.Get("from") == "new" {
		status, msg, fields := c.explain(r, err)
		if status != http.StatusInternalServerError {
			c.showNewDecision(w, r, s, status, view{Problem: msg, Fields: fields})
			return
		}
	}
	if err != nil {
		c.actionFailed(w, r, s, riskID, err)
		return
	}
	http.Redirect(w, r, "/decisions/"+d.ID()+"?done=recorded", http.StatusSeeOther)
}

// revise revises a DRAFT or RETURNED response with the fields the form
// filled in; empty fields stay as they are.
func (c *Console) revise(r *http.Request, s session, id string, expected int) error {
	ch := domain.ResponseChanges{Title: optional(r, "title"), Description: optional(r, "description"), Owner: optional(r, "owner")}
	if o := formValue(r, "option"); o != "" {
		opt := domain.ResponseOption(o)
		ch.Option = &opt
	}
	if v := formValue(r, "due"); v != "" {
		due, err := domain.ParseDate(v)
		if err != nil {
			return &domain.ValidationError{Fields: []domain.FieldError{{Field: "dueDate", Message: "is not a date"}}}
		}
		ch.DueDate = &due
	}
	_, err := c.opt.Register.ReviseResponse(r.Context(), request(r, s), id, expected, ch)
	return err
}

// newDecisionData is the data of the page that records a decision on any
// risks and responses.
type newDecisionData struct {
	Q         query
	Form      decisionForm
	Risks     []projection.Risk
	Total     int
	Responses map[string][]projection.Response
}

// maxSubjectRisks is how many found risks the decision page offers.
const maxSubjectRisks = 25

// newDecisionPage shows a clerk the form that records a decision on any
// risks found by a search and their responses.
func (c *Console) newDecisionPage(w http.ResponseWriter, r *http.Request, s session) {
	c.showNewDecision(w, r, s, 0, view{})
}

// showNewDecision renders the decision page with status and v's message.
func (c *Console) showNewDecision(w http.ResponseWriter, r *http.Request, s session, status int, v view) {
	f := c.decisionFormOf(s.principal)
	if f == nil {
		c.fail(w, r, s.principal.AuthorizeDecision(""), 0, "")
		return
	}
	q := query(r.URL.Query())
	if r.Method == http.MethodPost {
		q = query{"q": {r.PostForm.Get("q")}}
	}
	c.current(r.Context())
	page, err := c.opt.Reader.Risks(r.Context(), projection.RiskFilter{Search: q.Get("q")}, maxSubjectRisks, "")
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	responses, err := c.opt.Reader.ResponsesByRisk(r.Context(), idsOf(page.Items, func(r projection.Risk) string { return r.ID }))
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	v.Title, v.Nav = "Record a decision", "decisions"
	v.Data = newDecisionData{Q: q, Form: *f, Risks: page.Items, Total: page.TotalCount, Responses: responses}
	c.render(w, r, status, "newdecision", v)
}

// decisionFormOf returns what p's decision forms offer: the bodies p clerks
// for and the kinds they take; nil when p clerks for none.
func (c *Console) decisionFormOf(p domain.Principal) *decisionForm {
	clerk := clerkOf(p)
	if len(clerk) == 0 {
		return nil
	}
	f := &decisionForm{Bodies: clerk}
	for _, k := range decisionKinds {
		if slices.ContainsFunc(clerk, func(b domain.Body) bool { return k.TakenBy(b) }) {
			f.Kinds = append(f.Kinds, k)
		}
	}
	return f
}
