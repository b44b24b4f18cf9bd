package projection_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/projection"
)

// TestHeatMapCountsCellsAndChanges checks the heat-map reads of pages that
// draw the matrix: counts like HeatMap's, one cell's ids in the register's
// order, and the risks changed since a time with where they stand now.
func TestHeatMapCountsCellsAndChanges(t *testing.T) {
	e := newEnv(t)
	ids := registerFixture(t, e)
	start(t, runnerConfig(e.store))
	e.waitCaughtUp()
	ctx := context.Background()

	full, err := e.reader.HeatMap(ctx, domain.RatingKindInherent)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := e.reader.HeatMapCounts(ctx, domain.RatingKindInherent)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range counts.Cells {
		if c.Count != full.Cells[i].Count || c.Likelihood != full.Cells[i].Likelihood || c.Impact != full.Cells[i].Impact {
			t.Fatalf("cell %d: counts read %+v, heat map %+v", i, c, full.Cells[i])
		}
	}
	cell, err := e.reader.HeatMapCellIDs(ctx, domain.RatingKindInherent, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := full.Cells[0].RiskIDs; !slices.Equal(cell, want) || len(cell) != 8 {
		t.Fatalf("cell 1x1: %v, want %v (the 8 fillers)", cell, want)
	}
	if !reflect.DeepEqual(full.Places()[ids["R-0001"]], projection.Place{Likelihood: 4, Impact: 5}) {
		t.Fatalf("places: R-0001 at %+v", full.Places()[ids["R-0001"]])
	}

	since := time.Now() // the store records the events below later, on the same clock
	if err := e.work.Assess(ctx, ids["R-0002"], domain.RatingKindInherent, 4, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := e.work.Decide(ctx, domain.BodyCouncil, domain.DecisionKindCloseRisk, ids["R-0001"]); err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp()
	changes, err := e.reader.HeatMapChanges(ctx, domain.RatingKindInherent, since)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*projection.Place{ids["R-0002"]: {Likelihood: 4, Impact: 4}, ids["R-0001"]: nil}
	if !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes since: %v, want R-0002 at 4x4 and R-0001 off the map", changes)
	}
}
