package papers_test

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/riskreg/riskreg/papers"
)

// syntheticPaper is a paper of the shape a register of n risks gives, with
// every risk moved, made without a database.
func syntheticPaper(n int) *papers.Paper {
	p := &papers.Paper{SessionID: "s", Title: "Council, 2nd Session", CutOff: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC),
		Position: "00000000000000010000000000000001"}
	p.Sections = append(p.Sections, papers.Section{Name: "Summary", Title: p.Title, Header: []string{"Item", "Value"},
		Rows: [][]string{{"Session", p.Title}, {"Risks on the register", fmt.Sprint(n)}}})
	hm := papers.Section{Name: "Heat map Inherent", Title: "Heat map", HeatMap: true, Header: []string{"L \\ I", "1", "2", "3", "4", "5"}}
	for l := 5; l >= 1; l-- {
		hm.Rows = append(hm.Rows, []string{fmt.Sprint(l), "1", "2", "3", "4", "5"})
	}
	p.Sections = append(p.Sections, hm)
	mv := papers.Section{Name: "Movement", Title: "Movement", Header: []string{"Reference", "Title", "Change", "Score before",
		"Band before", "Score now", "Band now", "Status before", "Status now"}}
	for i := range n {
		mv.Rows = append(mv.Rows, []string{fmt.Sprintf("R-%05d", i+1), fmt.Sprintf("Risk %d of the Audit Plan", i+1), "UP",
			"6", "AMBER", "20", "RED", "ASSESSED", "ASSESSED"})
	}
	p.Sections = append(p.Sections, mv)
	return p
}

// BenchmarkRenderXLSX renders the XLSX of a paper over 10,000 risks, every
// one moved (no database: the rendering alone).
func BenchmarkRenderXLSX(b *testing.B) {
	p := syntheticPaper(10_000)
	for b.Loop() {
		if err := papers.WriteXLSX(io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
}

// Text beyond ASCII (accents, dashes, quotes, as in the signed note of a
// checkpoint and in the titles of an international organisation) renders
// in every format.
func TestRenderBeyondASCII(t *testing.T) {
	p := syntheticPaper(3)
	p.Checkpoint = "riskreg.example/log\n42\nroot\n\n— riskreg.example/log abc=\n"
	p.Sections[0].Rows = append(p.Sections[0].Rows, []string{"Signed checkpoint", p.Checkpoint})
	p.Sections[2].Rows[0][1] = "Risque de réputation « Œuvre » — “quoted” ‘x’ … €5 ünïcødé 日本"
	for _, f := range []papers.Format{papers.FormatXLSX, papers.FormatPDF, papers.FormatCSV} {
		if err := papers.Render(io.Discard, p, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
