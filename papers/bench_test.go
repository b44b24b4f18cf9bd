package papers_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/importer"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/papers"
)

// BenchmarkPaper builds and renders the paper of a session over a register
// of 10,000 risks (imported, so 20,000 events), with a previous session and
// 20 tabled items. Run with
//
//	go test ./papers -run '^$' -bench Paper -benchtime 5x
func BenchmarkPaper(b *testing.B) {
	const n = 10_000
	e := regtest.New(b)
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("title,description,category,owner,likelihood,impact\n")
	for i := range n {
		fmt.Fprintf(&csv, "Risk %d,cause -> event -> consequence,Operational,Owner %d,%d,%d\n", i, i%17, 1+i%5, 1+(i/5)%5)
	}
	rows, err := importer.ReadCSV(strings.NewReader(csv.String()))
	if err != nil {
		b.Fatal(err)
	}
	rep, err := importer.Import(ctx, e.Register, regtest.Staff(""), rows, importer.Options{Source: "bench.csv"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Register.ScheduleSession(ctx, regtest.Staff("prev"), domain.BodyCouncil, date("2026-01-01"), "Council 1"); err != nil {
		b.Fatal(err)
	}
	s, err := e.Register.ScheduleSession(ctx, regtest.Staff("now"), domain.BodyCouncil, date("2030-01-01"), "Council 2")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 20 {
		if _, err := e.Register.TableItem(ctx, regtest.Staff(fmt.Sprint("t", i)), s.ID(), rep.Risks[i*37].ID, "item"); err != nil {
			b.Fatal(err)
		}
	}
	e.CaughtUp()
	for _, f := range []papers.Format{papers.FormatXLSX, papers.FormatPDF, papers.FormatCSV} {
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				p, err := builder(e).Build(ctx, s.ID())
				if err != nil {
					b.Fatal(err)
				}
				if err := papers.Render(io.Discard, p, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
