package projection_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// registerFixture writes a small register whose read model the tests know:
//
//	R-0001 "Loss of revenue data"    Financial   Director of Finance  inherent 4x5 RED, residual 2x3 GREEN, flagged
//	R-0002 "Supplier outage"         Operational Head of IT           inherent 3x3 AMBER
//	R-0003 "Sécurité des données"    Operational Head of IT           inherent 5x4 RED, then CLOSED by the Council
//	R-0004 "Staff turnover"          Strategic   Director of Finance  not assessed
//	R-0005..R-0012 "Filler risk N"   Strategic   Secretary General    inherent 1x1
//
// It returns the risks' ids by reference.
func registerFixture(t *testing.T, e *env) map[string]string {
	t.Helper()
	ctx := context.Background()
	w := e.work
	ids := make(map[string]string)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	reg := func(ref, title, desc, category, owner string) string {
		id, err := w.Register(ctx, title, desc, category, owner)
		must(err)
		ids[ref] = id
		return id
	}
	r1 := reg("R-0001", "Loss of revenue data", "Ageing servers -> data loss -> no reconciliation", "Financial", "Director of Finance")
	r2 := reg("R-0002", "Supplier outage", "A key supplier fails -> customs systems stop", "Operational", "Head of IT")
	r3 := reg("R-0003", "Sécurité des données", "Fuite -> atteinte à la réputation", "Operational", "Head of IT")
	reg("R-0004", "Staff turnover", "Experts leave -> knowledge is lost", "Strategic", "Director of Finance")
	for i := 5; i <= 12; i++ {
		id := reg(refOf(i), "Filler risk", "Nothing much", "Strategic", "Secretary General")
		must(w.Assess(ctx, id, domain.RatingKindInherent, 1, 1))
	}
	must(w.Assess(ctx, r1, domain.RatingKindInherent, 4, 5))
	must(w.Assess(ctx, r1, domain.RatingKindResidual, 2, 3))
	must(w.Assess(ctx, r2, domain.RatingKindInherent, 3, 3))
	must(w.Assess(ctx, r3, domain.RatingKindInherent, 5, 4))
	_, err := w.Decide(ctx, domain.BodyAuditCommittee, domain.DecisionKindFlag, r1)
	must(err)
	_, err = w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindCloseRisk, r3)
	must(err)
	return ids
}

func refOf(i int) string { return fmt.Sprintf("R-%04d", i) }

func TestRisksFiltersSearchAndPages(t *testing.T) {
	e := newEnv(t)
	ids := registerFixture(t, e)
	start(t, runnerConfig(e.store))
	e.waitCaughtUp()
	ctx := context.Background()

	yes, no := true, false
	for _, tc := range []struct {
		name   string
		filter projection.RiskFilter
		want   []string // references, in order
	}{
		{"all", projection.RiskFilter{}, []string{"R-0001", "R-0002", "R-0003", "R-0004", "R-0005", "R-0006", "R-0007",
			"R-0008", "R-0009", "R-0010", "R-0011", "R-0012"}},
		{"band of the residual rating over the inherent one", projection.RiskFilter{Band: domain.BandGreen},
			[]string{"R-0001", "R-0005", "R-0006", "R-0007", "R-0008", "R-0009", "R-0010", "R-0011", "R-0012"}},
		{"band RED", projection.RiskFilter{Band: domain.BandRed}, []string{"R-0003"}},
		{"band AMBER", projection.RiskFilter{Band: domain.BandAmber}, []string{"R-0002"}},
		{"status", projection.RiskFilter{Status: domain.RiskStatusOpen}, []string{"R-0004"}},
		{"closed", projection.RiskFilter{Status: domain.RiskStatusClosed}, []string{"R-0003"}},
		{"owner", projection.RiskFilter{Owner: "Director of Finance"}, []string{"R-0001", "R-0004"}},
		{"category", projection.RiskFilter{Category: "Operational"}, []string{"R-0002", "R-0003"}},
		{"flagged", projection.RiskFilter{Flagged: &yes}, []string{"R-0001"}},
		{"not flagged and operational", projection.RiskFilter{Flagged: &no, Category: "Operational"}, []string{"R-0002", "R-0003"}},
		{"search title, any case", projection.RiskFilter{Search: "REVENUE"}, []string{"R-0001"}},
		{"search description", projection.RiskFilter{Search: "customs sys"}, []string{"R-0002"}},
		{"search reference", projection.RiskFilter{Search: "r-0003"}, []string{"R-0003"}},
		{"search accented, any case", projection.RiskFilter{Search: "SÉCURITÉ"}, []string{"R-0003"}},
		{"search short string", projection.RiskFilter{Search: "0"}, []string{"R-0001", "R-0002", "R-0003", "R-0004", "R-0005",
			"R-0006", "R-0007", "R-0008", "R-0009", "R-0010", "R-0011", "R-0012"}},
		{"search wildcards are literal", projection.RiskFilter{Search: "%"}, nil},
		{"search does not span fields", projection.RiskFilter{Search: "outage a key"}, nil},
		{"search and owner", projection.RiskFilter{Search: "LO", Owner: "Director of Finance"}, []string{"R-0001", "R-0004"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := e.reader.Risks(ctx, tc.filter, projection.MaxPageSize, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range page.Items {
				got = append(got, r.Reference)
			}
			if !slices.Equal(got, tc.want) || page.TotalCount != len(tc.want) || page.HasNextPage {
				t.Errorf("got %v (total %d, next %v), want %v", got, page.TotalCount, page.HasNextPage, tc.want)
			}
		})
	}

	// Pages of 5 through the 12 risks: every risk once, in order, with the
	// total on every page.
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := e.reader.Risks(ctx, projection.RiskFilter{}, 5, after)
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 12 {
			t.Errorf("page %d: total %d, want 12", pages, page.TotalCount)
		}
		for _, r := range page.Items {
			got = append(got, r.Reference)
		}
		if !page.HasNextPage {
			if len(page.Items) != 2 || pages != 2 {
				t.Errorf("last page %d holds %d risks, want page 2 with 2", pages, len(page.Items))
			}
			break
		}
		after = page.Items[len(page.Items)-1].Cursor()
	}
	if want := []string{"R-0001", "R-0002", "R-0003", "R-0004", "R-0005", "R-0006", "R-0007", "R-0008", "R-0009",
		"R-0010", "R-0011", "R-0012"}; !slices.Equal(got, want) {
		t.Errorf("paged through %v, want %v", got, want)
	}
	page, err := e.reader.Risks(ctx, projection.RiskFilter{}, 0, "")
	if err != nil || len(page.Items) != 0 || page.TotalCount != 12 || !page.HasNextPage {
		t.Errorf("first 0: %+v, %v; want no risks, total 12, a next page", page, err)
	}

	// The whole risk: every field of the read model.
	r1, ok, err := e.reader.Risk(ctx, ids["R-0001"])
	if err != nil || !ok {
		t.Fatalf("Risk(R-0001) = %v, %v", ok, err)
	}
	if r1.Title != "Loss of revenue data" || r1.Status != domain.RiskStatusAssessed || !r1.Flagged || r1.Band != domain.BandGreen ||
		r1.Inherent == nil || r1.Inherent.Score() != 20 || r1.Inherent.Band() != domain.BandRed || r1.Residual == nil ||
		r1.Residual.Likelihood != 2 || r1.Residual.Rationale != "rated 2x3" || r1.Residual.AssessedBy != "assessor" ||
		r1.Target != nil || r1.Version != 4 || !r1.UpdatedAt.After(r1.CreatedAt) {
		t.Errorf("R-0001 = %+v", r1)
	}
	if _, ok, err := e.reader.Risk(ctx, "no-such-risk"); ok || err != nil {
		t.Errorf("Risk(no-such-risk) = %v, %v; want not found", ok, err)
	}

	for _, bad := range []struct {
		filter projection.RiskFilter
		first  int
		after  string
	}{
		{first: projection.MaxPageSize + 1},
		{first: -1},
		{first: 5, after: "not a cursor!"},
		{filter: projection.RiskFilter{Band: "PURPLE"}, first: 5},
		{filter: projection.RiskFilter{Status: "LOST"}, first: 5},
	} {
		if _, err := e.reader.Risks(ctx, bad.filter, bad.first, bad.after); !errors.Is(err, projection.ErrInvalidInput) {
			t.Errorf("Risks(%+v, %d, %q) = %v, want ErrInvalidInput", bad.filter, bad.first, bad.after, err)
		}
	}
}

func TestHeatMap(t *testing.T) {
	e := newEnv(t)
	ids := registerFixture(t, e)
	start(t, runnerConfig(e.store))
	e.waitCaughtUp()
	ctx := context.Background()

	inherent, err := e.reader.HeatMap(ctx, domain.RatingKindInherent)
	if err != nil {
		t.Fatal(err)
	}
	if len(inherent.Cells) != 25 {
		t.Fatalf("%d cells, want 25", len(inherent.Cells))
	}
	fillers := []string{}
	for i := 5; i <= 12; i++ {
		fillers = append(fillers, ids[refOf(i)])
	}
	// R-0003 (5x4) is CLOSED: not on the map. R-0004 is not assessed.
	want := map[[2]int][]string{{1, 1}: fillers, {4, 5}: {ids["R-0001"]}, {3, 3}: {ids["R-0002"]}}
	total := 0
	for _, c := range inherent.Cells {
		if c.Band != domain.BandOf(c.Likelihood*c.Impact) {
			t.Errorf("cell %dx%d has band %s", c.Likelihood, c.Impact, c.Band)
		}
		w := want[[2]int{c.Likelihood, c.Impact}]
		if !slices.Equal(c.RiskIDs, append([]string{}, w...)) || c.Count != len(w) {
			t.Errorf("cell %dx%d: %d risks %v, want %v", c.Likelihood, c.Impact, c.Count, c.RiskIDs, w)
		}
		total += c.Count
	}
	if total != 10 {
		t.Errorf("inherent heat map counts %d risks, want 10", total)
	}
	residual, err := e.reader.HeatMap(ctx, domain.RatingKindResidual)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range residual.Cells {
		if want := c.Likelihood == 2 && c.Impact == 3; (c.Count == 1) != want || (want && c.RiskIDs[0] != ids["R-0001"]) {
			t.Errorf("residual cell %dx%d: %v", c.Likelihood, c.Impact, c.RiskIDs)
		}
	}
	if _, err := e.reader.HeatMap(ctx, "SIDEWAYS"); !errors.Is(err, projection.ErrInvalidInput) {
		t.Errorf("HeatMap(SIDEWAYS) = %v, want ErrInvalidInput", err)
	}
}

func TestResponsesDecisionsAndEffects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := e.work
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	risk, err := w.Register(ctx, "Loss of revenue data", "Ageing servers", "Financial", "Director of Finance")
	must(err)
	must(w.Assess(ctx, risk, domain.RatingKindInherent, 4, 5))
	first, err := w.Propose(ctx, risk, "Replace the servers")
	must(err)
	second, err := w.Propose(ctx, risk, "Insure the data")
	must(err)
	submit := func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Submit("") }
	must(w.Respond(ctx, first, submit))
	must(w.Respond(ctx, second, submit))
	recommend, err := w.Decide(ctx, domain.BodyPolicyCommission, domain.DecisionKindRecommend, first)
	must(err)
	endorse, err := w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindEndorse, first)
	must(err)
	reject, err := w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindReject, second)
	must(err)
	note, err := w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindNote, risk, second)
	must(err)
	start(t, runnerConfig(e.store))
	e.waitCaughtUp()

	byRisk, err := e.reader.ResponsesByRisk(ctx, []string{risk, "no-such-risk"})
	must(err)
	rs := byRisk[risk]
	if len(byRisk) != 1 || len(rs) != 2 || rs[0].ID != first || rs[1].ID != second ||
		rs[0].Status != domain.ResponseStatusEndorsed || rs[1].Status != domain.ResponseStatusRejected ||
		rs[0].Version != 4 || rs[0].Title != "Replace the servers" || rs[0].DueDate.String() != "2027-03-01" {
		t.Errorf("responses of the risk: %+v", byRisk)
	}
	r, _, err := e.reader.Risk(ctx, risk)
	must(err)
	if r.Status != domain.RiskStatusTreating {
		t.Errorf("risk status %s after ENDORSE, want TREATING", r.Status)
	}

	page, err := e.reader.Decisions(ctx, domain.BodyCouncil, 2, "")
	must(err)
	if page.TotalCount != 3 || !page.HasNextPage || len(page.Items) != 2 || page.Items[0].ID != endorse || page.Items[1].ID != reject {
		t.Errorf("first page of Council decisions: %+v", page)
	}
	page, err = e.reader.Decisions(ctx, domain.BodyCouncil, 2, page.Items[1].Cursor())
	must(err)
	if page.TotalCount != 3 || page.HasNextPage || len(page.Items) != 1 || page.Items[0].ID != note {
		t.Errorf("second page of Council decisions: %+v", page)
	}
	all, err := e.reader.Decisions(ctx, "", 10, "")
	must(err)
	if all.TotalCount != 4 || all.Items[0].ID != recommend || all.Items[0].Body != domain.BodyPolicyCommission ||
		all.Items[0].Kind != domain.DecisionKindRecommend || all.Items[0].Subjects[0].VersionSeen != 2 {
		t.Errorf("all decisions: %+v", all)
	}

	bySubject, err := e.reader.DecisionsBySubject(ctx, []string{risk, first, second})
	must(err)
	names := func(ds []projection.Decision) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	if got := names(bySubject[first]); !slices.Equal(got, []string{recommend, endorse}) {
		t.Errorf("decisions on the first response: %v", got)
	}
	if got := names(bySubject[second]); !slices.Equal(got, []string{reject, note}) {
		t.Errorf("decisions on the second response: %v", got)
	}
	if got := names(bySubject[risk]); !slices.Equal(got, []string{note}) {
		t.Errorf("decisions on the risk: %v (ENDORSE moved it, but did not name it)", got)
	}

	decisions, err := e.reader.DecisionsByID(ctx, []string{endorse})
	must(err)
	effects, err := e.reader.Effects(ctx, []string{endorse, note})
	must(err)
	f := effects[endorse]
	if len(effects) != 1 || len(f) != 2 || f[0].Type != domain.EventResponseEndorsed || f[0].StreamID != first ||
		f[1].Type != domain.EventRiskTreatmentStarted || f[1].StreamID != risk || f[0].Position.Compare(f[1].Position) >= 0 {
		t.Fatalf("effects: %+v", effects)
	}
	logged, err := e.store.ReadAll(ctx, eventstore.Position{}, 100, eventstore.Filter{DecisionID: endorse})
	must(err)
	if len(logged) != 3 || logged[0].ID != decisions[endorse].EventID {
		t.Fatalf("the log holds %d events of the decision; want its DecisionRecorded (%s) and 2 effects", len(logged), decisions[endorse].EventID)
	}
	for i, ev := range logged[1:] {
		if ev.ID != f[i].EventID || ev.Position != f[i].Position || ev.Metadata.CausationID != decisions[endorse].EventID.String() {
			t.Errorf("effect %d: %+v, logged as %s caused by %s", i, f[i], ev.ID, ev.Metadata.CausationID)
		}
	}
}
