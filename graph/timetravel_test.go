package graph_test

import (
	"testing"
	"time"
)

// lastRecordedAt returns the recordedAt of the last event of the log.
func (e *env) lastRecordedAt(t *testing.T, token string) string {
	t.Helper()
	var out struct {
		Events struct {
			Edges []struct{ Node struct{ RecordedAt string } }
		}
	}
	e.must(t, token, `{ events(first: 500) { edges { node { recordedAt } } } }`, nil, &out)
	return out.Events.Edges[len(out.Events.Edges)-1].Node.RecordedAt
}

// Between two committee sessions: A is re-rated from AMBER to RED and
// flagged by the Audit Committee, B is closed, C is registered, D does not
// change. registerChanges and heatMapMovement between the sessions say so;
// the instants are the exact recordedAt of the last event before each
// session (bounds included, as asOf).
func TestRegisterChangesAndHeatMapMovement(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", staffRole)
	ac := e.token(t, "ada", acRole)
	a := e.registerRisk(t, staff, "A")
	e.assess(t, staff, a.ID, 1, 2, 4) // AMBER, 8
	b := e.registerRisk(t, staff, "B")
	e.assess(t, staff, b.ID, 1, 1, 2) // GREEN, 2
	d := e.registerRisk(t, staff, "D")
	e.assess(t, staff, d.ID, 1, 3, 3)
	first := e.lastRecordedAt(t, staff)

	e.assess(t, staff, a.ID, 2, 5, 4) // RED, 20
	decided(t, e.decide(t, ac, "AUDIT_COMMITTEE", "FLAG", a.ID, 3))
	e.post(t, staff, `mutation($in: RiskTransitionInput!) { closeRisk(input: $in) { id } }`,
		vars{"in": map[string]any{"id": b.ID, "expectedVersion": 2, "reason": "done"}})
	c := e.registerRisk(t, staff, "C")
	e.assess(t, staff, c.ID, 1, 3, 3)
	second := e.lastRecordedAt(t, staff)
	e.assess(t, staff, d.ID, 2, 1, 1) // after the second session: not counted

	type state struct {
		Status        string
		Band          *string
		InherentScore *int
		Flagged       bool
		Version       int
	}
	var out struct {
		RegisterChanges struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					Risk      struct{ ID, Title string }
					Before    *state
					After     state
					Events    []struct{ Type string }
					Decisions []struct{ Kind string }
				}
			}
		}
		HeatMapMovement []struct {
			Risk     struct{ ID string }
			From, To *struct {
				Likelihood, Impact int
				Band               string
			}
		}
		Red struct{ TotalCount int }
	}
	e.must(t, staff, `query($f: Time!, $t: Time) {
		registerChanges(from: $f, to: $t) { totalCount edges { node {
			risk { id title } before { status band inherentScore flagged version } after { status band inherentScore flagged version }
			events { type } decisions { kind } } } }
		heatMapMovement(from: $f, to: $t, ratingKind: INHERENT) { risk { id } from { likelihood impact band } to { likelihood impact band } }
		red: registerChanges(from: $f, to: $t, filter: {band: RED}) { totalCount }
	}`, vars{"f": first, "t": second}, &out)

	changes := out.RegisterChanges
	if changes.TotalCount != 3 || len(changes.Edges) != 3 {
		t.Fatalf("registerChanges: %+v, want A, B and C", changes)
	}
	// The register's order: by reference, A (R-0001), B (R-0002), C (R-0004).
	gotA, gotB, gotC := changes.Edges[0].Node, changes.Edges[1].Node, changes.Edges[2].Node
	if gotA.Risk.ID != a.ID || gotB.Risk.ID != b.ID || gotC.Risk.ID != c.ID {
		t.Fatalf("registerChanges lists %s, %s, %s; want A, B, C", gotA.Risk.Title, gotB.Risk.Title, gotC.Risk.Title)
	}
	if gotA.Before == nil || *gotA.Before.Band != "AMBER" || *gotA.Before.InherentScore != 8 || gotA.Before.Flagged ||
		*gotA.After.Band != "RED" || *gotA.After.InherentScore != 20 || !gotA.After.Flagged || gotA.After.Version != 4 {
		t.Errorf("A: before %+v, after %+v", gotA.Before, gotA.After)
	}
	if len(gotA.Events) != 2 || gotA.Events[0].Type != "RiskAssessed" || gotA.Events[1].Type != "RiskFlagged" ||
		len(gotA.Decisions) != 1 || gotA.Decisions[0].Kind != "FLAG" {
		t.Errorf("A: events %+v, decisions %+v", gotA.Events, gotA.Decisions)
	}
	if gotB.Before == nil || gotB.Before.Status != "ASSESSED" || gotB.After.Status != "CLOSED" || len(gotB.Events) != 1 {
		t.Errorf("B: before %+v, after %+v, events %+v", gotB.Before, gotB.After, gotB.Events)
	}
	if gotC.Before != nil || gotC.After.Status != "ASSESSED" || len(gotC.Events) != 2 || len(gotC.Decisions) != 0 {
		t.Errorf("C: before %+v, after %+v, events %+v", gotC.Before, gotC.After, gotC.Events)
	}
	if out.Red.TotalCount != 1 {
		t.Errorf("RED changes: %d, want 1 (A)", out.Red.TotalCount)
	}

	moves := out.HeatMapMovement
	if len(moves) != 3 {
		t.Fatalf("heatMapMovement: %+v, want A, B and C", moves)
	}
	if m := moves[0]; m.Risk.ID != a.ID || m.From == nil || m.From.Likelihood != 2 || m.From.Band != "AMBER" ||
		m.To == nil || m.To.Likelihood != 5 || m.To.Impact != 4 || m.To.Band != "RED" {
		t.Errorf("A moved %+v -> %+v", m.From, m.To)
	}
	if m := moves[1]; m.Risk.ID != b.ID || m.From == nil || m.From.Impact != 2 || m.To != nil {
		t.Errorf("B (closed) moved %+v -> %+v", m.From, m.To)
	}
	if m := moves[2]; m.Risk.ID != c.ID || m.From != nil || m.To == nil || m.To.Likelihood != 3 {
		t.Errorf("C (new) moved %+v -> %+v", m.From, m.To)
	}

	// The heat maps list their cells' risks when asked: as of the second
	// session and now, after D's late re-rating.
	type cells struct {
		Cells []struct {
			Likelihood, Impact, Count int
			Risks                     []struct{ ID string }
		}
	}
	var heat struct{ Then, Now cells }
	e.must(t, staff, `query($t: Time) {
		then: heatMap(asOf: $t, ratingKind: INHERENT) { cells { likelihood impact count risks { id } } }
		now: heatMap(ratingKind: INHERENT) { cells { likelihood impact count risks { id } } } }`, vars{"t": second}, &heat)
	at := func(m cells, l, i int) []string {
		var ids []string
		for _, c := range m.Cells {
			if c.Likelihood == l && c.Impact == i {
				if c.Count != len(c.Risks) {
					t.Errorf("cell %dx%d counts %d and lists %d risks", l, i, c.Count, len(c.Risks))
				}
				for _, r := range c.Risks {
					ids = append(ids, r.ID)
				}
			}
		}
		return ids
	}
	if got := at(heat.Then, 5, 4); len(got) != 1 || got[0] != a.ID {
		t.Errorf("cell 5x4 as of the second session: %v, want A", got)
	}
	if got := at(heat.Then, 3, 3); len(got) != 2 || got[0] != d.ID || got[1] != c.ID {
		t.Errorf("cell 3x3 as of the second session: %v, want D and C", got)
	}
	if got := at(heat.Then, 1, 2); len(got) != 0 {
		t.Errorf("cell 1x2 as of the second session: %v, want none (B closed)", got)
	}
	if got := at(heat.Now, 1, 1); len(got) != 1 || got[0] != d.ID {
		t.Errorf("cell 1x1 now: %v, want D", got)
	}

	// Up to now (no to): D's late change counts too; from after every
	// event: nothing.
	var now struct {
		RegisterChanges struct{ TotalCount int }
		Later           struct{ TotalCount int }
	}
	e.must(t, staff, `query($f: Time!, $later: Time!) { registerChanges(from: $f) { totalCount }
		later: registerChanges(from: $later) { totalCount } }`,
		vars{"f": first, "later": time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)}, &now)
	if now.RegisterChanges.TotalCount != 4 || now.Later.TotalCount != 0 {
		t.Errorf("changes since the first session: %d, want 4; since later: %d, want 0", now.RegisterChanges.TotalCount, now.Later.TotalCount)
	}
}
