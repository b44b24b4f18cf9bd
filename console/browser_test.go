package console_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// chromiumPath is Debian's chromium package's browser.
const chromiumPath = "/usr/bin/chromium"

var screenshots = flag.String("screenshots", "", "save screenshots of the console's main pages as PNG files in this `directory`")

// browser is a headless Chromium with one tab, and the test it serves.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// newBrowser starts Chromium for t, or skips t when it is not installed.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// A page that opens a dialog (a script that ran) fails the test.
	go func() {
		for ev, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			t.Errorf("the page opened a %s dialog: %q", ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return &browser{t: t, ctx: ctx, base: base}
}

// stepTimeout bounds one step of a browser test.
const stepTimeout = 20 * time.Second

// do runs actions, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads a page of the console.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// click clicks sel and waits for the page it loads.
func (b *browser) click(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
		b.t.Fatalf("browser: click %s: %v", sel, err)
	}
}

// fill types into the fields: selector, value, selector, value...
func (b *browser) fill(kv ...string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(kv); i += 2 {
		steps = append(steps, chromedp.SetValue(kv[i], kv[i+1]))
	}
	b.do(steps...)
}

// text returns the visible text of sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression that returns a string.
func (b *browser) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate: %v", err)
	}
	return s
}

// see fails unless the page's main text contains every one of want.
func (b *browser) see(want ...string) {
	b.t.Helper()
	main := b.text("main")
	for _, w := range want {
		if !strings.Contains(main, w) {
			b.t.Fatalf("the page does not show %q; it shows:\n%s", w, main)
		}
	}
}

// waitFor waits until the element with id shows text want; the element
// may be replaced meanwhile.
func (b *browser) waitFor(id, want string) {
	b.t.Helper()
	js := fmt.Sprintf(`(document.getElementById(%q) || {innerText: ""}).innerText`, id)
	deadline := time.Now().Add(stepTimeout)
	for {
		got := b.eval(js)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("#%s never showed %q; it shows %q", id, want, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shoot saves a screenshot of the whole page when -screenshots is set.
func (b *browser) shoot(name string) {
	b.t.Helper()
	if *screenshots == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in with token from the sign-in page.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.open("/login")
	b.fill("#token", token)
	b.click(`form[action="/login"] button`)
	b.see("Risk register")
}

// TestBrowserWalkThrough drives the console in Chromium as the secretariat
// and then as the Council's clerk.
func TestBrowserWalkThrough(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e.srv.URL)
	ctx := context.Background()
	seed(t, e)
	// The as-of control has whole seconds: "before" is a whole second after
	// the seeded risks and a whole second before anything else.
	time.Sleep(time.Second)
	before := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	// Two seeded risks move on the heat map after "before".
	for _, move := range []struct {
		ref  string
		l, i int
	}{{"R-0001", 4, 4}, {"R-0002", 3, 4}} {
		page, err := e.reader.Risks(ctx, projection.RiskFilter{Search: move.ref}, 1, "")
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("find %s: %v", move.ref, err)
		}
		r := page.Items[0]
		if _, err := e.register.AssessRisk(ctx, principal("sam", domain.RoleStaff), r.ID, r.Version, domain.RatingKindInherent,
			move.l, move.i, "reviewed after the mitigation plan"); err != nil {
			t.Fatal(err)
		}
	}

	staffToken, _ := e.token(t, "sam", domain.RoleStaff)
	b.open("/")
	b.see("Sign in")
	b.shoot("login")
	b.signIn(staffToken)

	// Register and assess a risk through the forms.
	b.click(`a[href="/risks/new"]`)
	b.fill("#n-title", "Loss of the customs data centre", "#n-description", "flood -> outage -> no clearance",
		"#n-category", "Operations", "#n-source", "Environmental Scan 2026", "#n-owner", "Director of IT")
	b.click(`form[action="/risks"] button`)
	b.see("The risk is registered", "Loss of the customs data centre")
	riskPath := strings.TrimPrefix(b.eval(`location.pathname`), "")
	b.fill("#a-kind", "INHERENT", "#a-l", "4", "#a-i", "5", "#a-rationale", "The site is on a flood plain")
	b.click(`form[action$="/assess"] button`)
	b.see("Recorded.", "4 × 5", "The site is on a flood plain")
	b.fill("#a-kind", "INHERENT", "#a-l", "3", "#a-i", "5", "#a-rationale", "Flood barrier built")
	b.click(`form[action$="/assess"] button`)
	b.see("3 × 5", "Flood barrier built")

	// The register and the heat map show it.
	b.open("/?q=data+centre")
	b.see("Loss of the customs data centre", "15 (3×5)")
	b.open("/heatmap?kind=INHERENT")
	if got := b.eval(`document.querySelector('svg a[aria-label^="Likelihood 3, impact 5"] text').textContent`); got != "1" {
		t.Fatalf("heat-map cell 3×5 shows %q, want 1", got)
	}
	b.click(`svg a[aria-label^="Likelihood 3, impact 5"]`)
	b.see("Loss of the customs data centre", "inherent 3×5")

	// As of before its registration, it is not there.
	b.open("/")
	b.fill("#f-asof", before.Format("2006-01-02T15:04:05"))
	b.click(`form.filters button`)
	b.see("as the register stood at", "Cyber attack on the customs network")
	if strings.Contains(b.text("main"), "Loss of the customs data centre") {
		t.Fatal("the register as of before the registration shows the risk")
	}

	// The replay slider shows the earlier rating.
	b.open(riskPath)
	b.see("3 × 5")
	b.do(chromedp.SetValue("#replay-v", "2"))
	b.eval(`document.getElementById("replay-v").dispatchEvent(new Event("input")), "ok"`)
	b.waitFor("state", "at version 2 of 3")
	b.see("4 × 5", "The site is on a flood plain")
	if b.eval(`location.search`) != "?v=2" {
		t.Fatalf("the slider did not put the version in the address: %q", b.eval(`location.search`))
	}

	// A form opened before someone else's change shows the conflict.
	b.open(riskPath)
	riskID := strings.TrimPrefix(riskPath, "/risks/")
	if _, err := e.register.UpdateRisk(ctx, principal("kim", domain.RoleStaff), riskID, 3,
		domain.RiskChanges{Owner: new("Chief Information Officer")}); err != nil {
		t.Fatal(err)
	}
	b.fill("#a-kind", "RESIDUAL", "#a-l", "2", "#a-i", "5", "#a-rationale", "Backup site")
	b.click(`form[action$="/assess"] button`)
	b.see("changed since the form was opened", "Chief Information Officer")

	// Staff see no decision form, and the server refuses a forged one.
	if b.eval(`document.getElementById("decide-h") ? "form" : "none"`) != "none" {
		t.Fatal("staff see the decision form")
	}
	forged := b.eval(`(async () => {
		const csrf = document.querySelector("input[name=csrf]").value;
		const body = new URLSearchParams({csrf, idem: "forged", body: "COUNCIL", session: "x", kind: "NOTE", text: "x"});
		return String((await fetch("/decisions", {method: "POST", body})).status);
	})()`)
	if forged != "403" {
		t.Fatalf("a forged decision from staff answered %s, want 403", forged)
	}
	noCSRF := b.eval(`(async () => {
		const body = new URLSearchParams({idem: "x", version: "4", title: "changed"});
		return String((await fetch("` + riskPath + `/edit", {method: "POST", body})).status);
	})()`)
	if noCSRF != "403" {
		t.Fatalf("a POST without the CSRF token answered %s, want 403", noCSRF)
	}

	// A title with markup is shown as text.
	b.open("/risks/new")
	b.fill("#n-title", "<script>alert(1)</script>", "#n-description", "d", "#n-category", "c", "#n-source", "s", "#n-owner", "o")
	b.click(`form[action="/risks"] button`)
	if h1 := b.text("h1"); !strings.HasSuffix(h1, ": <script>alert(1)</script>") {
		t.Fatalf("h1 is %q, want the title as text", h1)
	}

	// Propose and submit a response; the Policy Commission recommends it.
	b.open(riskPath)
	b.fill("#p-title", "Second data centre", "#p-owner", "Director of IT", "#p-due", "2027-06-30")
	b.click(`form[action$="/propose"] button`)
	b.see("Second data centre")
	b.click(`form[action*="/responses/"] button[formaction$="/submit"]`)
	b.see("submitted")
	b.shoot("risk")
	byRisk, err := e.reader.ResponsesByRisk(ctx, []string{riskID})
	if err != nil || len(byRisk[riskID]) != 1 {
		t.Fatalf("responses of the risk: %v %v", byRisk, err)
	}
	resp := byRisk[riskID][0]
	if _, err := e.register.RecordDecision(ctx, principal("pc", domain.RolePolicyCommission), register.DecisionInput{
		Body: domain.BodyPolicyCommission, Session: "80th Session", Kind: domain.DecisionKindRecommend,
		Text: "Recommended to the Council", Subjects: []register.SubjectInput{{ID: resp.ID, ExpectedVersion: resp.Version}}}); err != nil {
		t.Fatal(err)
	}
	b.open("/")
	b.shoot("register")
	if *screenshots != "" { // as on a tablet held upright
		b.do(chromedp.EmulateViewport(768, 1024))
		b.open(riskPath)
		b.shoot("risk-tablet")
		b.do(chromedp.EmulateViewport(1280, 900))
	}
	b.open("/heatmap?kind=INHERENT&from=" + before.Format("2006-01-02T15:04:05"))
	b.see("Risks that moved", "5×4\t4×4\t1", "4×4\t3×4\t1")
	if n := b.eval(`String(document.querySelectorAll("svg line.move").length)`); n != "2" {
		t.Fatalf("the heat map draws %s arrows, want 2", n)
	}
	b.shoot("heatmap")

	// The Council's clerk records an endorsement and sees its effects.
	b.click(`form.signout button`)
	b.see("You are signed out")
	clerkToken, _ := e.token(t, "council-clerk", domain.RoleCouncil)
	b.signIn(clerkToken)
	b.open(riskPath)
	if b.eval(`document.querySelector("form[action$='/assess']") ? "form" : "none"`) != "none" {
		t.Fatal("the clerk sees the staff forms")
	}
	b.fill("#d-kind", "ENDORSE", "#d-session", "141st/142nd Sessions, June 2026", "#d-text", "The Council endorses the second data centre.")
	b.do(chromedp.Click("#s-" + resp.ID))
	b.click(`form[action="/decisions"] button`)
	b.see("The decision is recorded", "ResponseEndorsed", "RiskTreatmentStarted", "Second data centre")
	b.shoot("decision")
	b.open("/integrity")
	b.click(`form[action="/integrity/verify"] button`)
	b.see("Intact")
	b.shoot("integrity")

	// The navigation's GraphQL explorer is GraphiQL, served from the binary.
	b.click(`nav a[href="/graphql"]`)
	b.do(chromedp.WaitVisible(".graphiql-container"))
}

// seed registers a small register for the pages to show.
func seed(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	staff := principal("sam", domain.RoleStaff)
	risks := []struct {
		title, category, owner string
		l, i, rl, ri           int
	}{
		{"Cyber attack on the customs network", "IT", "CIO", 5, 4, 4, 3},
		{"Loss of key staff", "People", "Director of HR", 4, 4, 3, 3},
		{"Fraud in revenue collection", "Finance", "Director of Finance", 4, 5, 2, 4},
		{"Reputational damage from data leak", "Reputation", "Secretary General", 3, 4, 2, 3},
		{"Members' contributions paid late", "Finance", "Director of Finance", 4, 3, 3, 3},
		{"Outdated tariff classification tools", "Operations", "Director of Tariff", 2, 3, 2, 2},
		{"Pandemic stops in-person meetings", "Operations", "Director of Conferences", 2, 5, 2, 3},
	}
	for _, r := range risks {
		risk, err := e.register.RegisterRisk(ctx, staff, domain.RiskDetails{Title: r.title,
			Description: "cause -> event -> consequence", Category: r.category, Source: "Audit Plan 2026", Owner: r.owner})
		if err != nil {
			t.Fatal(err)
		}
		if risk, err = e.register.AssessRisk(ctx, staff, risk.ID(), 1, domain.RatingKindInherent, r.l, r.i, "initial assessment"); err != nil {
			t.Fatal(err)
		}
		if _, err = e.register.AssessRisk(ctx, staff, risk.ID(), 2, domain.RatingKindResidual, r.rl, r.ri, fmt.Sprintf("controls in place for %s", r.category)); err != nil {
			t.Fatal(err)
		}
	}
}
