package importer_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/importer"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/projection"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// exampleMap maps the example file's headers to fields.
var exampleMap = map[string]string{"Risk title": "title", "Description": "description", "Category": "category",
	"Source": "source", "Risk owner": "owner", "Likelihood": "likelihood", "Impact": "impact", "Rationale": "rationale"}

func readFile(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	if strings.HasSuffix(name, ".xlsx") {
		rows, err = importer.ReadXLSX(f, "")
	} else {
		rows, err = importer.ReadCSV(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func riskCount(t *testing.T, e *regtest.Env) int {
	t.Helper()
	e.CaughtUp()
	page, err := e.Reader.Risks(context.Background(), projection.RiskFilter{}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	return page.TotalCount
}

func eventCount(t *testing.T, e *regtest.Env) int {
	t.Helper()
	var n int
	if err := e.Pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportExampleTwiceAndAsXLSX(t *testing.T) {
	e := regtest.New(t)
	opts := importer.Options{Source: "Audit Plan 2021", Map: exampleMap}
	rep, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), readFile(t, "../docs/examples/audit-plan.csv"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 12 || len(rep.Errors) != 0 || len(rep.Risks) != 12 || !rep.Written {
		t.Fatalf("report %+v", rep)
	}
	if n := riskCount(t, e); n != 12 {
		t.Fatalf("%d risks in the register", n)
	}
	red, err := e.Reader.Risks(context.Background(), projection.RiskFilter{Band: domain.BandRed}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if red.TotalCount != 3 || red.Items[0].Title != "Insufficient financial resources" || red.Items[0].Inherent.Rationale != "Arrears grew three years running" {
		t.Errorf("RED risks: %+v", red)
	}
	events := eventCount(t, e)
	// The same file again, and the same rows from the workbook: nothing new.
	for _, file := range []string{"../docs/examples/audit-plan.csv", "../docs/examples/audit-plan.xlsx"} {
		rep, err = importer.Import(context.Background(), e.Register, regtest.Staff(""), readFile(t, file), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Risks {
			if !r.Existed || r.Reference == "" {
				t.Errorf("%s: row %d imported again: %+v", file, r.Row, r)
			}
		}
		if rep.Written || eventCount(t, e) != events {
			t.Errorf("%s: importing the same rows again wrote events", file)
		}
	}
}

func TestBadRowsWriteNothing(t *testing.T) {
	e := regtest.New(t)
	csv := "title,description,category,owner,likelihood,impact\n" +
		"Good one,cause -> event,Ops,Director,2,3\n" +
		",no title,Ops,Director,2,3\n" +
		"Bad numbers,cause,Ops,Director,abc,7\n" +
		"\n" +
		"Good one,cause -> event,Ops,Director,2,3\n" +
		"Another good one,cause,Ops,Director,5,5\n"
	rows, err := importer.ReadCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), rows, importer.Options{Source: "bad.csv"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range rep.Errors {
		got = append(got, fmt.Sprintf("%d/%s/%s", x.Row, x.Column, x.Message))
	}
	want := []string{"3/title/must not be blank", `4/likelihood/"abc" is not a whole number`, "6//repeats row 2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("errors:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Written || eventCount(t, e) != 0 {
		t.Fatal("a file with bad rows wrote events")
	}
	// Impact 7 is the domain's to refuse.
	rows2, _ := importer.ReadCSV(strings.NewReader("title,description,category,owner,likelihood,impact\nX,d,c,o,2,7\n"))
	rep, err = importer.Import(context.Background(), e.Register, regtest.Staff(""), rows2, importer.Options{Source: "bad.csv"})
	if err != nil || len(rep.Errors) != 1 || rep.Errors[0].Column != "impact" {
		t.Errorf("impact 7: %+v %v", rep, err)
	}
	// Partial: the good rows go in.
	rep, err = importer.Import(context.Background(), e.Register, regtest.Staff(""), rows, importer.Options{Source: "bad.csv", Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Written || len(rep.Risks) != 2 || riskCount(t, e) != 2 {
		t.Errorf("partial: %+v", rep)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := regtest.New(t)
	rows := readFile(t, "../docs/examples/audit-plan.csv")
	rep, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), rows,
		importer.Options{Source: "Audit Plan 2021", Map: exampleMap, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Risks) != 12 || eventCount(t, e) != 0 {
		t.Fatalf("dry run: %d risks, %d events in the log", len(rep.Risks), eventCount(t, e))
	}
	first := rep.Risks[0]
	if len(first.Events) != 2 || first.Events[0].EventType() != domain.EventRiskRegistered || first.Events[1].EventType() != domain.EventRiskAssessed {
		t.Errorf("dry run events: %+v", first.Events)
	}
	// What the dry run said is what is written, to the same streams.
	real, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), rows, importer.Options{Source: "Audit Plan 2021", Map: exampleMap})
	if err != nil {
		t.Fatal(err)
	}
	if real.Risks[0].ID != first.ID || eventCount(t, e) != 24 {
		t.Errorf("after the dry run: %+v", real.Risks[0])
	}
}

func TestMalformedFilesAndFormulas(t *testing.T) {
	if _, err := importer.ReadXLSX(strings.NewReader("PK\x03\x04 not really a workbook"), ""); !errors.Is(err, importer.ErrInvalidInput) {
		t.Errorf("malformed workbook: %v", err)
	}
	if _, err := importer.ReadCSV(strings.NewReader("title,description\n\"unclosed,quote\n")); !errors.Is(err, importer.ErrInvalidInput) {
		t.Errorf("malformed CSV: %v", err)
	}
	f := excelize.NewFile()
	for i, v := range []string{"title", "description", "category", "owner", "likelihood", "impact"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		_ = f.SetCellStr("Sheet1", cell, v)
	}
	for i, v := range []string{"=HYPERLINK(\"http://x\")", "d", "c", "o"} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		_ = f.SetCellStr("Sheet1", cell, v)
	}
	_ = f.SetCellInt("Sheet1", "E2", 3)
	if err := f.SetCellFormula("Sheet1", "F2", "2+2"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := importer.ReadXLSX(bytes.NewReader(buf.Bytes()), "Nope"); !errors.Is(err, importer.ErrInvalidInput) {
		t.Errorf("unknown sheet: %v", err)
	}
	rows, err := importer.ReadXLSX(bytes.NewReader(buf.Bytes()), "")
	if err != nil {
		t.Fatal(err)
	}
	e := regtest.New(t)
	rep, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), rows, importer.Options{Source: "formulas.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Row != 2 || rep.Errors[0].Column != "impact" ||
		!strings.Contains(rep.Errors[0].Message, "formula (=2+2)") {
		t.Errorf("formula cell: %+v", rep.Errors)
	}
	// A text that merely looks like a formula is text: it is imported as it is.
	_ = f.SetCellInt("Sheet1", "F2", 4)
	buf.Reset()
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	rows, _ = importer.ReadXLSX(bytes.NewReader(buf.Bytes()), "")
	rep, err = importer.Import(context.Background(), e.Register, regtest.Staff(""), rows, importer.Options{Source: "formulas.xlsx"})
	if err != nil || len(rep.Errors) != 0 || len(rep.Risks) != 1 || rep.Risks[0].Title != `=HYPERLINK("http://x")` {
		t.Errorf("formula-like text: %+v %v", rep, err)
	}
	if _, err := importer.ReadCSV(strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if _, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), nil, importer.Options{Source: "empty.csv"}); !errors.Is(err, importer.ErrInvalidInput) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), [][]string{{"name", "x"}}, importer.Options{Source: "h.csv"}); !errors.Is(err, importer.ErrInvalidInput) {
		t.Errorf("no mapped columns: %v", err)
	}
	if _, err := importer.ParseMap([]string{"Risk title=titel"}); !errors.Is(err, importer.ErrInvalidInput) {
		t.Errorf("unknown field in a map: %v", err)
	}
}

func TestOnlyStaffImport(t *testing.T) {
	e := regtest.New(t)
	rows := readFile(t, "../docs/examples/audit-plan.csv")
	for _, role := range []domain.Role{domain.RoleAuditor, domain.RoleCouncil, domain.RoleIntegration} {
		req := regtest.Staff("")
		req.Principal.Roles = []domain.Role{role}
		if _, err := importer.Import(context.Background(), e.Register, req, rows, importer.Options{Source: "x", Map: exampleMap}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("%s: %v", role, err)
		}
	}
}

// tenThousand is a CSV of n distinct rows.
func tenThousand(n int) string {
	var b strings.Builder
	b.WriteString("title,description,category,owner,likelihood,impact\n")
	for i := range n {
		fmt.Fprintf(&b, "Risk %d,cause %d -> event -> consequence,Operational,Owner %d,%d,%d\n", i, i, i%17, 1+i%5, 1+(i/5)%5)
	}
	return b.String()
}

func TestTenThousandRows(t *testing.T) {
	n := cmp.Or(*rows, 2_000)
	e := regtest.New(t)
	rows, err := importer.ReadCSV(strings.NewReader(tenThousand(n)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := importer.Import(context.Background(), e.Register, regtest.Staff(""), rows, importer.Options{Source: "big.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 0 || len(rep.Risks) != n || eventCount(t, e) != 2*n {
		t.Fatalf("%d errors, %d risks, %d events", len(rep.Errors), len(rep.Risks), eventCount(t, e))
	}
	var refs int
	if err := e.Pool.QueryRow(context.Background(), `SELECT count(DISTINCT data->>'reference') FROM events WHERE type = 'RiskRegistered'`).Scan(&refs); err != nil || refs != n {
		t.Errorf("%d distinct references (%v)", refs, err)
	}
}

// rows sets the rows of TestTenThousandRows and BenchmarkImport; 0 means
// 2,000 in the test (the default run stays short; -rows 10000 for the full
// size) and 10,000 in the benchmark.
var rows = flag.Int("rows", 0, "rows to import in TestTenThousandRows (default 2000) and BenchmarkImport (default 10000)")
