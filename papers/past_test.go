package papers_test

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/papers"
	"github.com/riskreg/riskreg/projection"
)

// The paper of a session whose previous session's cut-off falls in the
// middle of the log, read from the temporal read models, against the fold
// of the log (Reader.AsOf) at both cut-offs: the log position, the heat
// maps, and every risk that moved with its state before and now.
func TestPaperEqualsFoldOfTheLog(t *testing.T) {
	s := seed(t, 100, 3_000, false)
	e, ctx := s.env, context.Background()
	var asked eventstore.Position
	b := builder(e)
	b.Checkpoint = func(_ context.Context, pos eventstore.Position) (string, error) {
		asked = pos
		return "riskreg.example/log\n3000\nroot\n\n- signature\n", nil
	}
	p, err := b.Build(ctx, s.session)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := e.Reader.SessionsByID(ctx, []string{s.session, s.prev})
	if err != nil {
		t.Fatal(err)
	}
	now, err := e.Reader.AsOf(ctx, sessions[s.session].CutOff())
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.Reader.AsOf(ctx, sessions[s.prev].CutOff())
	if err != nil {
		t.Fatal(err)
	}
	// The whole register at both cut-offs, and in the middle of the
	// previous session's day (versions made later that day left out).
	for _, at := range []time.Time{sessions[s.session].CutOff(), sessions[s.prev].CutOff(), sessions[s.prev].CutOff().Add(-12 * time.Hour)} {
		fold, err := e.Reader.AsOf(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fold.Risks(projection.RiskFilter{}, projection.MaxPageSize, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Reader.At(at).AllRisks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want.Items) {
			t.Errorf("the register at %s: %d risks, the fold %d (or they differ)", at, len(got), len(want.Items))
		}
	}
	if p.Position != now.Position.String() || asked != now.Position {
		t.Errorf("log position %s, checkpoint asked for %s; the fold ends at %s", p.Position, asked, now.Position)
	}
	section := func(name string) papers.Section {
		for _, sec := range p.Sections {
			if sec.Name == name {
				return sec
			}
		}
		t.Fatalf("no section %q", name)
		return papers.Section{}
	}
	summary := map[string]string{}
	for _, row := range section("Summary").Rows {
		summary[row[0]] = row[1]
	}
	if summary["Signed checkpoint"] != p.Checkpoint || p.Checkpoint == "" || summary["Log position"] != p.Position {
		t.Errorf("summary states checkpoint %q and position %q", summary["Signed checkpoint"], summary["Log position"])
	}
	for _, kind := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual} {
		hm, err := now.HeatMap(kind)
		if err != nil {
			t.Fatal(err)
		}
		sec := section("Heat map " + map[domain.RatingKind]string{domain.RatingKindInherent: "Inherent", domain.RatingKindResidual: "Residual"}[kind])
		for _, c := range hm.Cells {
			if got := sec.Rows[5-c.Likelihood][c.Impact]; got != strconv.Itoa(c.Count) {
				t.Errorf("%s %dx%d: %s, the fold %d", kind, c.Likelihood, c.Impact, got, c.Count)
			}
		}
	}
	rows := map[string][]string{}
	for _, row := range section("Movement").Rows {
		rows[row[0]] = row
	}
	all, err := now.Risks(projection.RiskFilter{}, projection.MaxPageSize, "")
	if err != nil {
		t.Fatal(err)
	}
	kinds, moves := map[string]int{}, 0
	for _, r := range all.Items {
		row, moved := rows[r.Reference]
		was, existed := before.Risk(r.ID)
		switch {
		case !existed:
			if !moved || row[2] != "NEW" {
				t.Errorf("%s registered since the previous session: %v", r.Reference, row)
			}
		case scoreOf(was) == scoreOf(r) && was.Status == r.Status:
			if moved {
				t.Errorf("%s did not move: %v", r.Reference, row)
			}
		case !moved || row[3] != strconv.Itoa(scoreOf(was)) || row[5] != strconv.Itoa(scoreOf(r)) ||
			row[7] != string(was.Status) || row[8] != string(r.Status):
			t.Errorf("%s moved from %d %s to %d %s: %v", r.Reference, scoreOf(was), was.Status, scoreOf(r), r.Status, row)
		}
		if moved {
			kinds[row[2]]++
			moves++
		}
	}
	if moves != len(rows) || kinds["NEW"] == 0 || kinds["UP"] == 0 || kinds["DOWN"] == 0 {
		t.Errorf("the workload should move risks every way: %v", kinds)
	}
}

// scoreOf is the score a paper shows of a risk: residual, else inherent.
func scoreOf(r projection.Risk) int {
	for _, rating := range []*projection.Rating{r.Residual, r.Inherent} {
		if rating != nil {
			return rating.Score()
		}
	}
	return 0
}
