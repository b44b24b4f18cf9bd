package papers_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/riskreg/riskreg/calendar"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/papers"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
)

var update = flag.Bool("update", false, "write the golden papers again")

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// workload builds a fixed register: every id comes from an idempotency
// key and every business time from the test's clock, so that two runs give
// the same paper but for the log position. It returns the session the
// paper is for.
func workload(t testing.TB, e *regtest.Env) string {
	t.Helper()
	ctx := context.Background()
	staff := func(key string) register.Request { return regtest.Staff(key) }
	clerk := func(body domain.Body, key string) register.Request {
		r := regtest.Clerk(body)
		r.IdempotencyKey = key
		return r
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	prev, err := e.Register.ScheduleSession(ctx, staff("session-prev"), domain.BodyCouncil, date("2026-01-10"), "Council, 140th Session")
	must(err)
	sess, err := e.Register.ScheduleSession(ctx, staff("session"), domain.BodyCouncil, date("2030-06-20"), "Council, 141st Session")
	must(err)
	risks := []struct {
		title            string
		likelihood, impa int
	}{
		{"Cyber attack on the clearance system", 5, 4},
		{"Loss of key customs staff", 3, 4},
		{"Currency exposure of member contributions", 4, 4},
		{"=SUM(A1:A9) looks like a formula", 2, 2},
		{"Reputational damage, \"quoted\" and, commas", 1, 3},
	}
	var ids []string
	for i, r := range risks {
		key := "risk-" + string(rune('a'+i))
		reg, err := e.Register.RegisterRisk(ctx, staff(key), domain.RiskDetails{Title: r.title,
			Description: "cause -> event -> consequence", Category: "Operational", Source: "Audit Plan 2026", Owner: "Director"})
		must(err)
		_, err = e.Register.AssessRisk(ctx, staff(key+"-assess"), reg.ID(), reg.Version(), domain.RatingKindInherent, r.likelihood, r.impa, "initial")
		must(err)
		ids = append(ids, reg.ID())
	}
	e.Clock.Set(e.Clock.Now().Add(24 * time.Hour))
	resp, err := e.Register.ProposeResponse(ctx, staff("resp-1"), ids[0], domain.ResponseDetails{Title: "Harden the clearance system",
		Description: "patch, segment, monitor", Option: domain.ResponseOptionReduce, Owner: "Head of IT", DueDate: date("2026-03-31")})
	must(err)
	resp2, err := e.Register.TransitionResponse(ctx, staff("resp-1-submit"), register.SubmitResponse, resp.ID(), resp.Version(), "")
	must(err)
	_, err = e.Register.RecordDecision(ctx, clerk(domain.BodyAuditCommittee, "flag-1"), register.DecisionInput{Body: domain.BodyAuditCommittee,
		Session: "AC 2026", Kind: domain.DecisionKindFlag, Text: "Flagged as a red risk of the Audit Plan.",
		Subjects: []register.SubjectInput{{ID: ids[0], ExpectedVersion: 2}}})
	must(err)
	_, err = e.Register.RecordDecision(ctx, clerk(domain.BodyPolicyCommission, "recommend-1"), register.DecisionInput{Body: domain.BodyPolicyCommission,
		Session: "PC 85", Kind: domain.DecisionKindRecommend, Text: "Recommended to the Council.",
		Subjects: []register.SubjectInput{{ID: resp.ID(), ExpectedVersion: resp2.Version()}}})
	must(err)
	_, err = e.Register.RecordDecision(ctx, clerk(domain.BodyCouncil, "accept-1"), register.DecisionInput{Body: domain.BodyCouncil,
		Session: prev.ID(), Kind: domain.DecisionKindAcceptRisk, Text: "The Council accepts the currency exposure until March.",
		Subjects: []register.SubjectInput{{ID: ids[2], ExpectedVersion: 2}}, ExpiresOn: date("2026-03-01")})
	must(err)
	_, err = e.Register.AssessRisk(ctx, staff("risk-b-reassess"), ids[1], 2, domain.RatingKindInherent, 4, 5, "key staff left")
	must(err)
	_, err = e.Register.TableItem(ctx, staff("table-1"), sess.ID(), ids[0], "Endorsement of the response")
	must(err)
	_, err = e.Register.TableItem(ctx, staff("table-2"), sess.ID(), ids[2], "Lapsed acceptance")
	must(err)
	// Time passes: the acceptance lapses, reviews fall due.
	e.CaughtUp()
	s, err := calendar.New(calendar.Config{Store: e.Store, Reader: e.Reader, Now: func() time.Time { return time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC) }})
	must(err)
	_, err = s.Sweep(ctx)
	must(err)
	e.CaughtUp()
	return sess.ID()
}

func date(s string) domain.Date {
	d, err := domain.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// pinned replaces the paper's log position, which differs from database
// to database, with a fixed one.
func pinned(t testing.TB, p *papers.Paper) *papers.Paper {
	t.Helper()
	if p.Position == "" {
		t.Fatal("the paper states no log position")
	}
	const fixed = "00000000000000010000000000000001"
	for _, s := range p.Sections {
		for _, row := range s.Rows {
			for i, v := range row {
				row[i] = strings.ReplaceAll(v, p.Position, fixed)
			}
		}
	}
	p.Position = fixed
	return p
}

func builder(e *regtest.Env) *papers.Builder {
	return &papers.Builder{Store: e.Store, Reader: e.Reader, Register: e.Register}
}

func TestGoldenPapers(t *testing.T) {
	e := regtest.New(t)
	id := workload(t, e)
	p, err := builder(e).Build(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	p = pinned(t, p)
	for _, f := range []papers.Format{papers.FormatCSV, papers.FormatXLSX, papers.FormatPDF} {
		var a, b bytes.Buffer
		if err := papers.Render(&a, p, f); err != nil {
			t.Fatal(err)
		}
		if err := papers.Render(&b, p, f); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: two renderings differ", f)
		}
		golden := filepath.Join("testdata", "paper."+string(f))
		if *update {
			if err := os.WriteFile(golden, a.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), want) {
			t.Errorf("%s differs from %s (run with -update after a deliberate change)", f, golden)
			if f == papers.FormatCSV {
				t.Logf("got:\n%s", a.String())
			}
		}
	}
}

func TestXLSXReadsBack(t *testing.T) {
	e := regtest.New(t)
	id := workload(t, e)
	p, err := builder(e).Build(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := papers.WriteXLSX(&buf, p); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	want := []string{"Summary", "Heat map Inherent", "Heat map Residual", "Movement", "Tabled items", "History", "Previous decisions"}
	if strings.Join(sheets, "|") != strings.Join(want, "|") {
		t.Fatalf("sheets %v", sheets)
	}
	cell := func(sheet, axis string) string {
		t.Helper()
		v, err := f.GetCellValue(sheet, axis)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The summary against the read models.
	red, err := e.Reader.Risks(context.Background(), projection.RiskFilter{Band: domain.BandRed}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("Summary")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, r := range rows[2:] {
		values[r[0]] = r[1]
	}
	if values["RED"] != "3" || red.TotalCount != 3 || values["Log position"] != p.Position || values["Items tabled"] != "2" ||
		values["Tolerated by the Council"] != "1" || values["Flagged by the Audit Committee"] != "1" {
		t.Errorf("summary %v (read model: %d RED)", values, red.TotalCount)
	}
	// The inherent heat map: one risk at likelihood 5, impact 4.
	if v := cell("Heat map Inherent", "E3"); v != "1" {
		t.Errorf("inherent 5x4 = %q", v)
	}
	// The tabled items against the read model.
	r0, _, err := e.Reader.Risk(context.Background(), must(e.Reader.RiskIDByReference(context.Background(), "R-0001")))
	if err != nil {
		t.Fatal(err)
	}
	if cell("Tabled items", "A3") != r0.Reference || cell("Tabled items", "C3") != r0.Title ||
		cell("Tabled items", "H3") != "5 x 4 = 20 RED" || !strings.Contains(cell("Tabled items", "K3"), "Harden the clearance system (REDUCE, RECOMMENDED, due 2026-03-31)") {
		t.Errorf("tabled item row: %v", must2(f.GetRows("Tabled items")))
	}
	// A title that looks like a formula stays text.
	if formula, err := f.GetCellFormula("Movement", "B6"); err != nil || formula != "" {
		t.Errorf("formula %q, %v", formula, err)
	}
	history := must2(f.GetRows("History"))
	var lapse bool
	for _, r := range history {
		if len(r) > 4 && r[2] == "RiskToleranceLapsed" && r[4] == calendar.Actor {
			lapse = true
		}
	}
	if !lapse {
		t.Errorf("history lacks the lapse: %v", history)
	}
	decisions := must2(f.GetRows("Previous decisions"))
	if len(decisions) != 3 || decisions[2][0] != "ACCEPT_RISK" || !strings.Contains(decisions[2][5], "RiskTolerated on R-0003") {
		t.Errorf("previous decisions: %v", decisions)
	}
}

func must(id string, ok bool, err error) string {
	if err != nil || !ok {
		panic("no such risk")
	}
	return id
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
