package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/console"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/register"
)

// riskIDOf returns the risk id of a /risks/{id}?... location.
func riskIDOf(t testing.TB, loc string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(loc, "/risks/")
	if !ok {
		t.Fatalf("not a risk page: %q", loc)
	}
	id, _, _ := strings.Cut(rest, "?")
	return id
}

func TestSignInChecksTheTokenAndRevokingEndsTheSession(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	status, _ := c.get("/")
	if status != http.StatusSeeOther {
		t.Fatalf("signed out: GET / = %d, want 303 to /login", status)
	}
	_, page := c.get("/login")
	mustContain(t, page, `<label for="token">Token</label>`)
	csrf := hidden(t, page, "csrf")
	status, _, body := c.post("/login", url.Values{"csrf": {csrf}, "token": {"rr_0123456789abcdef_nope"}})
	if status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", status)
	}
	mustContain(t, body, "That token is not valid")
	if status, _, _ := c.post("/login", url.Values{"token": {"x"}}); status != http.StatusForbidden {
		t.Fatalf("sign-in without its CSRF token: %d, want 403", status)
	}

	tok, desc := e.token(t, "sam", domain.RoleStaff)
	resp, err := c.http.PostForm(c.base+"/login", url.Values{"csrf": {csrf}, "token": {tok}, "next": {"/heatmap"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/heatmap" {
		t.Fatalf("sign in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, attr := range []string{"riskreg_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Fatalf("session cookie %q lacks %s", cookie, attr)
		}
	}
	status, body = c.get("/")
	if status != http.StatusOK {
		t.Fatalf("signed in: GET / = %d", status)
	}
	mustContain(t, body, "<caption>Risk register", "sam")

	if err := e.tokens.Revoke(context.Background(), desc.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := c.get("/"); status != http.StatusSeeOther {
		t.Fatalf("after revoking the token: GET / = %d, want 303 to /login", status)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	tok, _ := e.token(t, "ann", domain.RoleAuditor)
	c.signIn(tok)
	_, page := c.get("/")
	if status, _, _ := c.post("/logout", url.Values{"csrf": {hidden(t, page, "csrf")}}); status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", status)
	}
	if status, _ := c.get("/"); status != http.StatusSeeOther {
		t.Fatalf("after signing out: GET / = %d", status)
	}
}

func TestStaffFormsRecordOnceRefuseWithoutCSRFAndShowConflicts(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	tok, _ := e.token(t, "sam", domain.RoleStaff)
	c.signIn(tok)
	_, page := c.get("/risks/new")
	form := url.Values{"csrf": {hidden(t, page, "csrf")}, "idem": {hidden(t, page, "idem")},
		"title": {"Loss of key staff"}, "description": {"Turnover -> gaps -> delays"}, "category": {"People"},
		"source": {"Audit Plan 2026"}, "owner": {"HR"}}
	status, loc, body := c.post("/risks", form)
	if status != http.StatusSeeOther {
		t.Fatalf("register: %d %s", status, body)
	}
	// A double click sends the same form again: the same risk, once.
	if _, loc2, _ := c.post("/risks", form); loc2 != loc {
		t.Fatalf("the same form again went to %q, want %q", loc2, loc)
	}
	id := riskIDOf(t, loc)

	_, page = c.get(loc)
	mustContain(t, page, "R-0001", "Loss of key staff", "The risk is registered")
	csrf := hidden(t, page, "csrf")
	assess := url.Values{"csrf": {csrf}, "idem": {"assess-1"}, "version": {"1"}, "kind": {"INHERENT"},
		"likelihood": {"4"}, "impact": {"5"}, "rationale": {"Two leavers this year"}}
	if status, _, body := c.post("/risks/"+id+"/assess", assess); status != http.StatusSeeOther {
		t.Fatalf("assess: %d %s", status, body)
	}
	// Without the CSRF token: refused, nothing recorded.
	noCSRF := url.Values{"idem": {"assess-2"}, "version": {"2"}, "kind": {"RESIDUAL"}, "likelihood": {"1"}, "impact": {"1"}, "rationale": {"x"}}
	if status, _, body := c.post("/risks/"+id+"/assess", noCSRF); status != http.StatusForbidden || !strings.Contains(body, "security token") {
		t.Fatalf("without CSRF: %d %s", status, body)
	}
	// A form made for version 1 is stale now: the conflict and the current state.
	stale := url.Values{"csrf": {csrf}, "idem": {"assess-3"}, "version": {"1"}, "kind": {"RESIDUAL"},
		"likelihood": {"2"}, "impact": {"2"}, "rationale": {"after training"}}
	status, _, body = c.post("/risks/"+id+"/assess", stale)
	if status != http.StatusConflict {
		t.Fatalf("stale form: %d", status)
	}
	mustContain(t, body, "changed since the form was opened", "version 1", "now at version 2", "Two leavers this year")
	r, err := e.register.Risk(context.Background(), id, register.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version() != 2 {
		t.Fatalf("version %d after one assessment, want 2", r.Version())
	}
	// Bad input is explained field by field.
	bad := url.Values{"csrf": {csrf}, "idem": {"assess-4"}, "version": {"2"}, "kind": {"RESIDUAL"},
		"likelihood": {"2"}, "impact": {"2"}, "rationale": {""}}
	status, _, body = c.post("/risks/"+id+"/assess", bad)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "Rationale") {
		t.Fatalf("blank rationale: %d %s", status, body)
	}
	// The register and the heat map show it.
	_, body = c.get("/?band=RED")
	mustContain(t, body, "Loss of key staff", "20 (4×5)")
	_, body = c.get("/heatmap?kind=INHERENT")
	mustContain(t, body, `aria-label="Likelihood 4, impact 5: 1 risks"`)
	_, body = c.get("/?kind=INHERENT&l=4&i=5")
	mustContain(t, body, "Loss of key staff", "inherent 4×5")
}

func TestRolesDecideWhatFormsShowAndTheServerRefusesTheRest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	risk, err := e.register.RegisterRisk(ctx, principal("sam", domain.RoleStaff), domain.RiskDetails{
		Title: "<script>alert(1)</script>", Description: "d", Category: "c", Source: "s", Owner: "o"})
	if err != nil {
		t.Fatal(err)
	}
	staff := e.client(t)
	tok, _ := e.token(t, "sam", domain.RoleStaff)
	staff.signIn(tok)
	_, page := staff.get("/risks/" + risk.ID())
	if strings.Contains(page, "<script>alert(1)</script>") {
		t.Fatal("the title was not escaped")
	}
	mustContain(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;", "Assess")
	if strings.Contains(page, "Record a decision") {
		t.Fatal("staff see a decision form")
	}
	forged := url.Values{"csrf": {hidden(t, page, "csrf")}, "idem": {"x"}, "body": {"COUNCIL"}, "session": {"1st"},
		"kind": {"CLOSE_RISK"}, "text": {"closed"}, "subject": {risk.ID()}, "version:" + risk.ID(): {"1"}, "risk": {risk.ID()}}
	status, _, body := staff.post("/decisions", forged)
	if status != http.StatusForbidden || !strings.Contains(body, "Your role does not allow this") {
		t.Fatalf("staff forging a decision: %d", status)
	}

	auditor := e.client(t)
	tok, _ = e.token(t, "ann", domain.RoleAuditor)
	auditor.signIn(tok)
	_, page = auditor.get("/risks/" + risk.ID())
	if strings.Contains(page, "Record assessment") || strings.Contains(page, "Record a decision") {
		t.Fatal("an auditor sees forms")
	}
	status, _, _ = auditor.post("/risks/"+risk.ID()+"/assess", url.Values{"csrf": {hidden(t, page, "csrf")}, "version": {"1"},
		"kind": {"INHERENT"}, "likelihood": {"1"}, "impact": {"1"}, "rationale": {"x"}})
	if status != http.StatusForbidden {
		t.Fatalf("auditor assessing: %d", status)
	}
	if r, _ := e.register.Risk(ctx, risk.ID(), register.AsOf{}); r.Version() != 1 {
		t.Fatalf("refused forms recorded something: version %d", r.Version())
	}
}

// recommended sets up a risk with a response the Policy Commission
// recommended, ready for the Council.
func recommended(t testing.TB, e *env) (register.Risk, register.Response) {
	t.Helper()
	ctx := context.Background()
	staff := principal("sam", domain.RoleStaff)
	risk, err := e.register.RegisterRisk(ctx, staff, domain.RiskDetails{Title: "Cyber attack on the customs network",
		Description: "phishing -> breach -> outage", Category: "IT", Source: "Audit Plan 2026", Owner: "CIO"})
	if err != nil {
		t.Fatal(err)
	}
	if risk, err = e.register.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, 5, 4, "many attempts"); err != nil {
		t.Fatal(err)
	}
	resp, err := e.register.ProposeResponse(ctx, staff, risk.ID(), domain.ResponseDetails{Title: "Security operations centre",
		Option: domain.ResponseOptionReduce, Owner: "CIO"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = e.register.TransitionResponse(ctx, staff, register.SubmitResponse, resp.ID(), 1, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.register.RecordDecision(ctx, principal("pc", domain.RolePolicyCommission), register.DecisionInput{
		Body: domain.BodyPolicyCommission, Session: "80th", Kind: domain.DecisionKindRecommend, Text: "recommended",
		Subjects: []register.SubjectInput{{ID: resp.ID(), ExpectedVersion: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = e.register.Response(ctx, resp.ID(), register.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	return risk, resp
}

func TestCouncilClerkRecordsAnEndorsementAndSeesItsTrace(t *testing.T) {
	e := newEnv(t)
	risk, resp := recommended(t, e)
	c := e.client(t)
	tok, _ := e.token(t, "clerk", domain.RoleCouncil)
	c.signIn(tok)
	_, page := c.get("/risks/" + risk.ID())
	mustContain(t, page, "Record a decision", `value="ENDORSE"`, "Security operations centre")
	if strings.Contains(page, "Record assessment") {
		t.Fatal("a clerk sees staff forms")
	}
	form := url.Values{"csrf": {hidden(t, page, "csrf")}, "idem": {hidden(t, page, "idem")}, "body": {"COUNCIL"},
		"session": {"141st Session"}, "kind": {"ENDORSE"}, "text": {"The Council endorses the response."},
		"subject": {resp.ID()}, "version:" + resp.ID(): {"3"}, "risk": {risk.ID()}}
	status, loc, body := c.post("/decisions", form)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/decisions/") {
		t.Fatalf("record: %d %q %s", status, loc, body)
	}
	_, body = c.get(loc)
	mustContain(t, body, "The decision is recorded", "ResponseEndorsed", "RiskTreatmentStarted", "141st Session")
	if strings.Contains(body, "(changed since)") {
		t.Fatal("the subject the decision itself moved is marked as changed since")
	}
	// The same form again is stale: the response moved on.
	form.Set("idem", "another")
	status, _, body = c.post("/decisions", form)
	if status != http.StatusConflict {
		t.Fatalf("stale decision: %d", status)
	}
	mustContain(t, body, "changed since the form was opened", "endorsed")
}

func TestAsOfShowsTheRegisterAsItStood(t *testing.T) {
	e := newEnv(t)
	before := time.Now().UTC().Add(-time.Second)
	risk, _ := recommended(t, e)
	c := e.client(t)
	tok, _ := e.token(t, "ann", domain.RoleAuditor)
	c.signIn(tok)
	_, body := c.get("/")
	mustContain(t, body, "Cyber attack on the customs network")
	_, body = c.get("/?asof=" + url.QueryEscape(before.Format("2006-01-02T15:04:05")))
	if strings.Contains(body, "Cyber attack") {
		t.Fatal("the register as of before the risk's registration shows it")
	}
	mustContain(t, body, "No risks match", "as of")
	_, body = c.get("/risks/" + risk.ID() + "?v=1")
	mustContain(t, body, "at version 1 of 2", "Not rated")
	_, body = c.get("/decisions")
	mustContain(t, body, "policy commission", "recommend")
	_, body = c.get("/responses?status=RECOMMENDED")
	mustContain(t, body, "Security operations centre", "R-0001")
	_, body = c.get("/heatmap?kind=INHERENT&from=" + url.QueryEscape(before.Format("2006-01-02T15:04:05")))
	mustContain(t, body, "1 risk came onto the map")
	// Between two past times: the heat maps of both.
	later := time.Now().UTC().Add(time.Second)
	_, body = c.get("/heatmap?kind=INHERENT&from=" + url.QueryEscape(before.Format("2006-01-02T15:04:05")) +
		"&asof=" + url.QueryEscape(later.Format("2006-01-02T15:04:05")))
	mustContain(t, body, "1 risk came onto the map", "and 0 left it")
}

func TestIntegrityPageVerifiesTheLog(t *testing.T) {
	e := newEnv(t)
	recommended(t, e)
	c := e.client(t)
	tok, _ := e.token(t, "ann", domain.RoleAuditor)
	c.signIn(tok)
	_, page := c.get("/integrity")
	mustContain(t, page, "has not been verified", "not signed")
	if status, _, _ := c.post("/integrity/verify", url.Values{"csrf": {hidden(t, page, "csrf")}}); status != http.StatusSeeOther {
		t.Fatalf("verify: %d", status)
	}
	_, page = c.get("/integrity")
	mustContain(t, page, "Intact", "by ann")
}

func TestGraphQLExplorerAndCORS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/graphql", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("explorer: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, err = http.Get(e.srv.URL + "/graphql/explorer/graphiql.min.js"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("explorer script: %d", resp.StatusCode)
	}

	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp = preflight("https://app.example.org")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from a listed origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp = preflight("https://evil.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin allowed: %v", resp.Header)
	}
	tok, _ := e.token(t, "int", domain.RoleIntegration)
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(`{"query":"{ me { subject } }"}`))
	req.Header.Set("Origin", "https://app.example.org")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" {
		t.Fatalf("query from a listed origin: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestStaffProposeReviseAndMoveResponses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	risk, err := e.register.RegisterRisk(ctx, principal("sam", domain.RoleStaff), domain.RiskDetails{
		Title: "Supply chain disruption", Description: "d", Category: "Operations", Source: "s", Owner: "o"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	tok, _ := e.token(t, "sam", domain.RoleStaff)
	c.signIn(tok)
	_, page := c.get("/risks/" + risk.ID())
	csrf := hidden(t, page, "csrf")
	status, _, body := c.post("/risks/"+risk.ID()+"/propose", url.Values{"csrf": {csrf}, "idem": {"p1"},
		"title": {"Second supplier"}, "option": {"REDUCE"}, "owner": {"Procurement"}, "due": {"2027-01-31"}})
	if status != http.StatusSeeOther {
		t.Fatalf("propose: %d %s", status, body)
	}
	_, page = c.get("/risks/" + risk.ID()) // the page waits for the read models
	mustContain(t, page, "Second supplier", "Revise", `formaction="/responses/`)
	byRisk, err := e.reader.ResponsesByRisk(ctx, []string{risk.ID()})
	if err != nil {
		t.Fatal(err)
	}
	resp := byRisk[risk.ID()]
	if len(resp) != 1 {
		t.Fatalf("responses: %v", resp)
	}
	id := resp[0].ID
	if status, _, body := c.post("/responses/"+id+"/revise", url.Values{"csrf": {csrf}, "idem": {"r1"}, "version": {"1"},
		"title": {"Two more suppliers"}}); status != http.StatusSeeOther {
		t.Fatalf("revise: %d %s", status, body)
	}
	if status, _, body := c.post("/responses/"+id+"/submit", url.Values{"csrf": {csrf}, "idem": {"s1"}, "version": {"2"},
		"note": {"to the PC"}}); status != http.StatusSeeOther {
		t.Fatalf("submit: %d %s", status, body)
	}
	got, err := e.register.Response(ctx, id, register.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Title() != "Two more suppliers" || got.Status() != domain.ResponseStatusSubmitted {
		t.Fatalf("response is %q %s", got.Title(), got.Status())
	}
	// Starting a response the Council has not endorsed is refused in words.
	status, _, body = c.post("/responses/"+id+"/start", url.Values{"csrf": {csrf}, "idem": {"s2"}, "version": {"3"}})
	if status != http.StatusConflict || !strings.Contains(body, "Nothing was recorded") {
		t.Fatalf("start before endorsement: %d", status)
	}
}

func TestSessionEndsWithItsTokenOrAfterTwelveHoursIdle(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	tokens := auth.NewStore(e.pool, clock)
	srv := httptest.NewServer(console.New(console.Options{Register: e.register, Store: e.store, Reader: e.reader,
		Tokens: tokens, Now: clock}))
	t.Cleanup(srv.Close)
	signIn := func(subject string, ttl time.Duration) *client {
		tok, _, err := tokens.Create(context.Background(), subject, []domain.Role{domain.RoleAuditor}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		c := e.client(t)
		c.base = srv.URL
		c.signIn(tok)
		return c
	}
	expiring, lasting := signIn("ann", 30*time.Hour), signIn("bob", 0)
	expect := func(c *client, status int, when string) {
		t.Helper()
		if got, _ := c.get("/decisions"); got != status {
			t.Fatalf("%s: %d, want %d", when, got, status)
		}
	}
	advance(11 * time.Hour)
	expect(expiring, http.StatusOK, "11 hours idle")
	expect(lasting, http.StatusOK, "11 hours idle")
	advance(11 * time.Hour)
	expect(expiring, http.StatusOK, "22 hours in, 11 idle")
	expect(lasting, http.StatusOK, "22 hours in, 11 idle")
	advance(9 * time.Hour)
	expect(expiring, http.StatusSeeOther, "after the token expired")
	expect(lasting, http.StatusOK, "31 hours in, 9 idle")
	advance(12*time.Hour + time.Second)
	expect(lasting, http.StatusSeeOther, "after 12 hours idle")
}

func TestClerkRecordsADecisionOnSeveralRisks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	staff := principal("sam", domain.RoleStaff)
	var responses []string
	for _, title := range []string{"Flooded archive", "Border post closure"} {
		risk, err := e.register.RegisterRisk(ctx, staff, domain.RiskDetails{Title: title, Description: "d", Category: "c", Source: "s", Owner: "o"})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.register.ProposeResponse(ctx, staff, risk.ID(), domain.ResponseDetails{Title: "Plan for " + title,
			Option: domain.ResponseOptionReduce, Owner: "o"})
		if err == nil {
			_, err = e.register.TransitionResponse(ctx, staff, register.SubmitResponse, resp.ID(), 1, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		responses = append(responses, resp.ID())
	}
	staffClient := e.client(t)
	tok, _ := e.token(t, "sam", domain.RoleStaff)
	staffClient.signIn(tok)
	if status, _ := staffClient.get("/decisions/new"); status != http.StatusForbidden {
		t.Fatalf("staff opening the decision page: %d", status)
	}

	c := e.client(t)
	tok, _ = e.token(t, "pc-clerk", domain.RolePolicyCommission)
	c.signIn(tok)
	_, page := c.get("/decisions")
	mustContain(t, page, `href="/decisions/new"`)
	_, page = c.get("/decisions/new?q=")
	mustContain(t, page, "Plan for Flooded archive", "Plan for Border post closure", `value="RECOMMEND"`)
	form := url.Values{"csrf": {hidden(t, page, "csrf")}, "idem": {hidden(t, page, "idem")}, "from": {"new"},
		"body": {"POLICY_COMMISSION"}, "session": {"81st"}, "kind": {"RECOMMEND"}, "text": {"Both recommended"},
		"subject": responses, "version:" + responses[0]: {"2"}, "version:" + responses[1]: {"2"}}
	status, loc, body := c.post("/decisions", form)
	if status != http.StatusSeeOther {
		t.Fatalf("record: %d %s", status, body)
	}
	_, body = c.get(loc)
	if n := strings.Count(body, "<td>ResponseRecommended</td>"); n != 2 {
		t.Fatalf("%d ResponseRecommended effects, want 2:\n%s", n, body)
	}
	form.Set("idem", "again")
	status, _, body = c.post("/decisions", form)
	if status != http.StatusConflict {
		t.Fatalf("the same subjects again: %d", status)
	}
	mustContain(t, body, "<h1>Record a decision</h1>", "changed since the form was opened", "version 3, recommended")
}
