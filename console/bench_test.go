package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

// benchRisks is the size of the register the page benchmarks read.
const benchRisks = 10_000

// seedRegister registers n assessed risks (inherent and residual), a
// response for every 50th, submitted and recommended by the Policy
// Commission, and returns a risk with a response and a decision, and the
// decision's id.
func seedRegister(tb testing.TB, e *env, n int) (riskID, decisionID string) {
	tb.Helper()
	ctx := context.Background()
	staff := principal("sam", domain.RoleStaff)
	categories := []string{"IT", "People", "Finance", "Operations", "Reputation"}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	ids := make([]string, n)
	for range 16 {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				r, err := e.register.RegisterRisk(ctx, staff, domain.RiskDetails{Title: fmt.Sprintf("Risk number %d", k),
					Description: "cause -> event -> consequence", Category: categories[k%len(categories)],
					Source: "Audit Plan 2026", Owner: fmt.Sprintf("Owner %d", k%40)})
				if err == nil {
					r, err = e.register.AssessRisk(ctx, staff, r.ID(), 1, domain.RatingKindInherent, 1+k%5, 1+(k/5)%5, "initial")
				}
				if err == nil {
					_, err = e.register.AssessRisk(ctx, staff, r.ID(), 2, domain.RatingKindResidual, 1+(k/3)%5, 1+(k/7)%5, "with controls")
				}
				if err != nil {
					errs <- err
					return
				}
				ids[k] = r.ID()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
	for k := 0; k < n; k += 50 {
		resp, err := e.register.ProposeResponse(ctx, staff, ids[k], domain.ResponseDetails{Title: fmt.Sprintf("Response %d", k),
			Option: domain.ResponseOptionReduce, Owner: "Owner"})
		if err == nil {
			_, err = e.register.TransitionResponse(ctx, staff, register.SubmitResponse, resp.ID(), 1, "")
		}
		var d register.Decision
		if err == nil {
			d, err = e.register.RecordDecision(ctx, principal("pc", domain.RolePolicyCommission), register.DecisionInput{
				Body: domain.BodyPolicyCommission, Session: "80th", Kind: domain.DecisionKindRecommend, Text: "recommended",
				Subjects: []register.SubjectInput{{ID: resp.ID(), ExpectedVersion: 2}}})
		}
		if err != nil {
			tb.Fatal(err)
		}
		riskID, decisionID = ids[k], d.ID()
	}
	if err := e.reader.WaitFor(ctx, e.store.LastAppended()); err != nil {
		tb.Fatal(err)
	}
	return riskID, decisionID
}

// BenchmarkPages times each page of the console over HTTP on a register of
// benchRisks risks, one request at a time, and reports p50 and p99 in ms.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 200x ./console/
func BenchmarkPages(b *testing.B) {
	e := newEnv(b)
	start := time.Now()
	riskID, decisionID := seedRegister(b, e, benchRisks)
	b.Logf("seeded %d risks in %s", benchRisks, time.Since(start).Round(time.Millisecond))
	c := e.client(b)
	tok, _ := e.token(b, "ann", domain.RoleAuditor)
	c.signIn(tok)
	// "-asof" pages ask for a new past time on every request, "-settled"
	// ones for one time after the seeding: both read the temporal read
	// models, whatever the length of the log.
	settled := url.QueryEscape(time.Now().UTC().Add(time.Millisecond).Format(time.RFC3339Nano))
	if _, err := e.pool.Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	pages := []struct{ name, path string }{
		{"register", "/"},
		{"register-filtered", "/?band=RED&category=IT&q=number+1"},
		{"register-page-11", "/?after=" + url.QueryEscape(e.cursorAt(b, 500))},
		{"register-cell", "/?kind=INHERENT&l=3&i=4"},
		{"register-asof", "/?asof="},
		{"register-asof-settled", "/?asof=" + settled + "&band=AMBER"},
		{"heatmap", "/heatmap"},
		{"heatmap-compare", "/heatmap?kind=INHERENT&from="},
		{"heatmap-compare-settled", "/heatmap?kind=INHERENT&from=" + settled},
		{"risk", "/risks/" + riskID},
		{"risk-replay", "/risks/" + riskID + "?v=2"},
		{"decisions", "/decisions"},
		{"decision", "/decisions/" + decisionID},
		{"responses", "/responses"},
		{"integrity", "/integrity"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				path := p.path
				if strings.HasSuffix(path, "=") {
					path += url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano))
				}
				t0 := time.Now()
				resp, err := c.http.Get(c.base + path)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", p.path, resp.StatusCode)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cursorAt returns the register's cursor after its n-th risk.
func (e *env) cursorAt(tb testing.TB, n int) string {
	tb.Helper()
	page, err := e.reader.Risks(context.Background(), projection.RiskFilter{}, min(n, projection.MaxPageSize), "")
	if err != nil || len(page.Items) == 0 {
		tb.Fatalf("cursor: %v", err)
	}
	return page.Items[len(page.Items)-1].Cursor()
}
