package projection_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/workload"
	"github.com/riskreg/riskreg/projection"
)

func pastLister(ctx context.Context, p *projection.Past) lister {
	return lister{
		risks: func(f projection.RiskFilter, n int, after string) (projection.Page[projection.Risk], error) {
			return p.Risks(ctx, f, n, after)
		},
		decisions: func(b domain.Body, n int, after string) (projection.Page[projection.Decision], error) {
			return p.Decisions(ctx, b, n, after)
		},
		responsesByRisk: func(ids []string) (map[string][]projection.Response, error) {
			return p.ResponsesByRisk(ctx, ids)
		},
		decisionsBySubject: func(ids []string) (map[string][]projection.Decision, error) {
			return p.DecisionsBySubject(ctx, ids)
		},
		effects: noEffects,
		heatMap: func(k domain.RatingKind) (projection.HeatMap, error) { return p.HeatMap(ctx, k) },
	}
}

// noEffects stands for the effects in comparisons of the past: no read of
// the API asks for effects as of an instant.
func noEffects([]string) (map[string][]projection.Effect, error) { return nil, nil }

// filtersToCount are filters of every kind the contract offers, alone and
// combined.
func filtersToCount() []projection.RiskFilter {
	yes, no := true, false
	fs := []projection.RiskFilter{{}, {Flagged: &yes}, {Flagged: &no}, {Search: "fraud"}, {Search: "r-00"},
		{Band: domain.BandRed, Owner: workload.Owners[0]}, {Status: domain.RiskStatusAssessed, Category: workload.Categories[1], Flagged: &no}}
	for _, b := range []domain.Band{domain.BandGreen, domain.BandAmber, domain.BandRed} {
		fs = append(fs, projection.RiskFilter{Band: b})
	}
	for _, s := range []domain.RiskStatus{domain.RiskStatusOpen, domain.RiskStatusAssessed, domain.RiskStatusTreating,
		domain.RiskStatusMonitoring, domain.RiskStatusTolerated, domain.RiskStatusClosed, domain.RiskStatusWithdrawn} {
		fs = append(fs, projection.RiskFilter{Status: s})
	}
	for _, o := range workload.Owners {
		fs = append(fs, projection.RiskFilter{Owner: o})
	}
	for _, c := range workload.Categories {
		fs = append(fs, projection.RiskFilter{Category: c})
	}
	return fs
}

// Model-based: after random workloads, the register as of 200 random
// instants read from the temporal read models equals the fold of the log up
// to each instant (AsOf): every risk with every field, page by page, the
// responses, the decisions and which subjects they named, the heat maps
// with their counts and risks, and (at every fourth instant) the totals and
// first page of every filter. Instants
// include the exact recordedAt of events, a microsecond before, random
// points between, and instants between the events of one multi-stream
// decision. Versions: random versions of risks and responses read by number
// equal the fold of the log up to them.
func TestPastEqualsAsOfFold(t *testing.T) {
	const workloads, instantsPer = 2, 100
	for w := range workloads {
		e := newEnv(t)
		e.work.V1Assessments = w == 0
		start(t, runnerConfig(e.store))
		seed := uint64(time.Now().UnixNano())
		t.Logf("instants drawn with seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		for range 3 {
			e.steps(100)
		}
		e.waitCaughtUp()
		ctx := context.Background()
		events, err := e.store.ReadAll(ctx, eventstore.Position{}, 100_000, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		instants := []time.Time{events[0].RecordedAt.Add(-time.Second), events[len(events)-1].RecordedAt}
		var inDecision []time.Time
		for i, ev := range events {
			// An effect of a decision after the first event of its append:
			// its recordedAt lies between the decision's events.
			if ev.Metadata.DecisionID != "" && i > 0 && events[i-1].Metadata.DecisionID == ev.Metadata.DecisionID {
				inDecision = append(inDecision, ev.RecordedAt.Add(-time.Microsecond), ev.RecordedAt)
			}
		}
		if len(inDecision) == 0 {
			t.Fatal("the workload recorded no decision with effects")
		}
		for len(instants) < instantsPer {
			ev := events[rng.IntN(len(events))]
			switch rng.IntN(4) {
			case 0:
				instants = append(instants, ev.RecordedAt)
			case 1:
				instants = append(instants, ev.RecordedAt.Add(-time.Microsecond))
			case 2:
				instants = append(instants, ev.RecordedAt.Add(time.Duration(rng.IntN(2000))*time.Microsecond+time.Duration(rng.IntN(1000))))
			default:
				instants = append(instants, inDecision[rng.IntN(len(inDecision))])
			}
		}
		for i, at := range instants {
			comparePast(t, e, at, i%4 == 0)
			if i%5 == 0 {
				from, to := at, instants[rng.IntN(len(instants))]
				if to.Before(from) {
					from, to = to, from
				}
				compareChanges(t, e, from, to)
			}
		}
		compareVersions(t, e, rng, 50)
		// Years on, past the workload's due dates: the responses still
		// awaiting delivery are overdue on that day.
		late := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		snap, err := e.reader.AsOf(ctx, late)
		if err != nil {
			t.Fatal(err)
		}
		yes := true
		if overdue, err := snap.ResponsesAsOf(projection.ResponseFilter{Overdue: &yes}); err != nil || len(overdue) == 0 {
			t.Fatalf("no response overdue on %s (%v): the comparison below would not test the filter", late, err)
		}
		compareResponseLists(t, snap, e.reader.At(late), late)
	}
}

// comparePast compares the temporal read models at at with the fold of the
// log up to at, and the totals of every filter when totals is set.
func comparePast(t *testing.T, e *env, at time.Time, totals bool) {
	t.Helper()
	ctx := context.Background()
	snap, err := e.reader.AsOf(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	fold := snapshotLister(snap)
	fold.effects = noEffects
	want, err := readAll(fold)
	if err != nil {
		t.Fatal(err)
	}
	past := e.reader.At(at)
	got, err := readAll(pastLister(ctx, past))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("as of %s (%d risks):", at.Format(time.RFC3339Nano), len(want.Risks))
		diffModels(t, got, want)
		return
	}
	for _, kind := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget} {
		h, err := past.HeatMapCounts(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := snap.HeatMap(kind)
		for i, c := range h.Cells {
			if c.Count != w.Cells[i].Count {
				t.Errorf("as of %s, %s cell %dx%d counts %d, the fold %d", at, kind, c.Likelihood, c.Impact, c.Count, w.Cells[i].Count)
			}
		}
	}
	if !totals {
		return
	}
	compareResponseLists(t, snap, past, at)
	for _, f := range filtersToCount() {
		g, err := past.Risks(ctx, f, 3, "")
		if err != nil {
			t.Fatal(err)
		}
		w, err := snap.Risks(f, 3, "")
		if err != nil {
			t.Fatal(err)
		}
		if g.TotalCount != w.TotalCount || g.HasNextPage != w.HasNextPage || len(g.Items) != len(w.Items) ||
			len(g.Items) > 0 && !reflect.DeepEqual(g.Items, w.Items) {
			t.Errorf("as of %s, filter %+v: total %d, %d risks; the fold: total %d, %d risks", at, f, g.TotalCount, len(g.Items),
				w.TotalCount, len(w.Items))
		}
	}
}

// compareResponseLists compares the lists of responses as of at, for a
// set of filters, page by page, with the fold's.
func compareResponseLists(t *testing.T, snap *projection.Snapshot, past *projection.Past, at time.Time) {
	t.Helper()
	ctx := context.Background()
	all, err := snap.ResponsesAsOf(projection.ResponseFilter{})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	filters := []projection.ResponseFilter{{}, {Overdue: &yes}, {Overdue: &no}, {Status: domain.ResponseStatusDraft},
		{DueBefore: domain.DateOf(at).AddDays(30)}}
	if len(all) > 0 {
		r := all[len(all)/2]
		filters = append(filters, projection.ResponseFilter{Owner: r.Owner}, projection.ResponseFilter{RiskID: r.RiskID},
			projection.ResponseFilter{RiskID: r.RiskID, Status: r.Status, Overdue: &no})
	}
	for _, f := range filters {
		want, err := snap.ResponsesAsOf(f)
		if err != nil {
			t.Fatal(err)
		}
		var got []projection.Response
		after := ""
		for {
			page, err := past.Responses(ctx, f, 3, after, true)
			if err != nil {
				t.Fatal(err)
			}
			if page.TotalCount != len(want) {
				t.Errorf("as of %s, responses %+v: total %d, the fold %d", at, f, page.TotalCount, len(want))
			}
			got = append(got, page.Items...)
			if !page.HasNextPage || len(page.Items) == 0 {
				break
			}
			after = page.Items[len(page.Items)-1].CreatedPosition.String()
		}
		if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
			t.Errorf("as of %s, responses %+v: %d, the fold %d", at, f, len(got), len(want))
		}
	}
}

// compareVersions compares n random versions of risks and responses read
// by number with the fold of the log up to them.
func compareVersions(t *testing.T, e *env, rng *rand.Rand, n int) {
	t.Helper()
	ctx := context.Background()
	var streams []string
	if err := e.pool.QueryRow(ctx, "SELECT array_agg(stream_id) FROM streams WHERE stream_type <> 'decision'").Scan(&streams); err != nil {
		t.Fatal(err)
	}
	for range n {
		id := streams[rng.IntN(len(streams))]
		events, err := e.store.ReadStream(ctx, id, eventstore.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []int{1 + rng.IntN(len(events)), len(events)} {
			at := events[v-1].RecordedAt
			if v < len(events) && events[v].RecordedAt.Equal(at) {
				continue // no instant shows this version
			}
			snap, err := e.reader.AsOf(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			if events[0].StreamType == domain.StreamRisk {
				got, ok, err := e.reader.RiskVersion(ctx, id, v)
				want, found := snap.Risk(id)
				if err != nil || !ok || !found || !reflect.DeepEqual(got, want) {
					t.Errorf("risk %s version %d: %+v (%v, %v); the fold: %+v", id, v, got, ok, err, want)
				}
				continue
			}
			got, ok, err := e.reader.ResponseVersion(ctx, id, v)
			want := snap.ResponsesByID([]string{id})[id]
			if err != nil || !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("response %s version %d: %+v (%v, %v); the fold: %+v", id, v, got, ok, err, want)
			}
		}
	}
}

// compareChanges compares what changed between from and to, and which risks
// moved on the heat maps, with two folds of the log.
func compareChanges(t *testing.T, e *env, from, to time.Time) {
	t.Helper()
	ctx := context.Background()
	before, err := e.reader.AsOf(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	after, err := e.reader.AsOf(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	all, err := after.Risks(projection.RiskFilter{}, projection.MaxPageSize, "")
	if err != nil {
		t.Fatal(err)
	}
	var want []projection.Change
	for _, r := range all.Items {
		b, ok := before.Risk(r.ID)
		if ok && b.Version == r.Version {
			continue
		}
		c := projection.Change{After: r}
		if ok {
			c.Before = &b
		}
		want = append(want, c)
	}
	got, err := e.reader.Changes(ctx, from, to, projection.RiskFilter{}, projection.MaxPageSize, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalCount != len(want) || len(got.Items) != len(want) {
		t.Fatalf("changes from %s to %s: %d (%d listed), the folds: %d", from, to, got.TotalCount, len(got.Items), len(want))
	}
	for i, c := range got.Items {
		w := want[i]
		if !reflect.DeepEqual(c.After, w.After) || !reflect.DeepEqual(c.Before, w.Before) ||
			len(c.EventIDs) != w.After.Version-beforeVersion(w.Before) {
			t.Errorf("change %d from %s to %s: %+v, the folds: %+v", i, from, to, c, w)
		}
	}
	for _, kind := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget} {
		var wantMoves []string
		for _, c := range want {
			if cellOf(c.Before, kind) != cellOf(&c.After, kind) {
				wantMoves = append(wantMoves, c.After.ID)
			}
		}
		// The limit is exact: as many moves as it allows are returned, one
		// more is an error.
		moves, err := e.reader.Moves(ctx, from, to, kind, max(len(wantMoves), 1))
		if err != nil {
			t.Fatal(err)
		}
		if len(wantMoves) > 1 {
			if _, err := e.reader.Moves(ctx, from, to, kind, len(wantMoves)-1); !errors.Is(err, projection.ErrTooManyMoves) {
				t.Errorf("%s moves from %s to %s with a limit of %d of %d: %v, want ErrTooManyMoves", kind, from, to, len(wantMoves)-1, len(wantMoves), err)
			}
		}
		var gotMoves []string
		for _, m := range moves {
			gotMoves = append(gotMoves, m.Risk.ID)
			b, a := projection.Cell{}, projection.Cell{}
			if m.From != nil {
				b = *m.From
			}
			if m.To != nil {
				a = *m.To
			}
			var wb *projection.Risk
			if r, ok := before.Risk(m.Risk.ID); ok {
				wb = &r
			}
			if b != cellOf(wb, kind) || a != cellOf(&m.Risk, kind) {
				t.Errorf("%s move of %s from %s to %s: %v -> %v", kind, m.Risk.ID, from, to, m.From, m.To)
			}
		}
		if !reflect.DeepEqual(gotMoves, wantMoves) {
			t.Errorf("%s moves from %s to %s: %v, the folds: %v", kind, from, to, gotMoves, wantMoves)
		}
	}
}

func beforeVersion(r *projection.Risk) int {
	if r == nil {
		return 0
	}
	return r.Version
}

// cellOf returns the cell of r on the heat map of kind; the zero Cell when
// it is not on it.
func cellOf(r *projection.Risk, kind domain.RatingKind) projection.Cell {
	if r == nil || r.Status.Terminal() || r.Rating(kind) == nil {
		return projection.Cell{}
	}
	g := r.Rating(kind)
	return projection.Cell{Likelihood: g.Likelihood, Impact: g.Impact}
}
