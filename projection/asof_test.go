package projection_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// The register as of a time, from one scan of the log, equals folding each
// stream by itself up to that time; times compare with recordedAt, bounds
// included.
func TestAsOfEqualsFoldPerStream(t *testing.T) {
	e := newEnv(t)
	e.work.V1Assessments = true
	ctx := context.Background()
	var marks []time.Time
	for range 4 {
		e.steps(80)
		events, err := e.store.ReadAll(ctx, eventstore.Position{}, 100_000, eventstore.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		// The exact recordedAt of the last event, and just before it.
		last := events[len(events)-1].RecordedAt
		marks = append(marks, last, last.Add(-time.Microsecond))
	}
	marks = append(marks, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))

	var streams []string
	if err := e.pool.QueryRow(ctx, "SELECT array_agg(stream_id) FROM streams").Scan(&streams); err != nil {
		t.Fatal(err)
	}
	for _, at := range marks {
		snap, err := e.reader.AsOf(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		want := projection.RiskFilter{}
		all, err := snap.Risks(want, projection.MaxPageSize, "")
		if err != nil {
			t.Fatal(err)
		}
		risks := 0
		heat := make(map[[2]int][]string)
		for _, id := range streams {
			events, err := e.store.ReadStream(ctx, id, eventstore.ReadStreamOptions{RecordedUntil: at})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 || events[0].StreamType != domain.StreamRisk {
				if len(events) > 0 && events[0].StreamType == domain.StreamResponse {
					checkResponseAsOf(t, snap, id, events)
				}
				continue
			}
			risks++
			a, err := domain.RiskFromHistory(id, decodeAll(t, events))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := snap.Risk(id)
			band, _ := a.Band()
			until, _ := a.ToleratedUntil()
			if !ok || got.Version != a.Version() || got.Status != a.Status() || got.Band != band || got.Flagged != a.Flagged() ||
				got.Title != a.Title() || got.Owner != a.Owner() || got.ToleratedUntil != until ||
				!got.CreatedAt.Equal(events[0].RecordedAt) || !got.UpdatedAt.Equal(events[len(events)-1].RecordedAt) {
				t.Errorf("as of %s, risk %s is %+v; folding its stream gives version %d, %s, band %q", at, id, got,
					a.Version(), a.Status(), band)
			}
			for _, kind := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget} {
				rating, rated := a.Rating(kind)
				g := got.Rating(kind)
				if rated != (g != nil) || rated && (g.Likelihood != rating.Likelihood() || g.Impact != rating.Impact() ||
					!g.AssessedAt.Equal(rating.AssessedAt())) {
					t.Errorf("as of %s, risk %s %s rating %+v, folding its stream gives %+v", at, id, kind, g, rating)
				}
				if rated && kind == domain.RatingKindResidual && !a.Status().Terminal() {
					cell := [2]int{rating.Likelihood(), rating.Impact()}
					heat[cell] = append(heat[cell], id)
				}
			}
		}
		if all.TotalCount != risks {
			t.Errorf("as of %s: %d risks, folding the streams gives %d", at, all.TotalCount, risks)
		}
		h, err := snap.HeatMap(domain.RatingKindResidual)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range h.Cells {
			want := heat[[2]int{c.Likelihood, c.Impact}]
			if c.Count != len(want) || !sameSet(c.RiskIDs, want) {
				t.Errorf("as of %s, residual cell %dx%d holds %v, folding the streams gives %v", at, c.Likelihood, c.Impact, c.RiskIDs, want)
			}
		}
	}

	// Now, the snapshot and the live read models agree on everything.
	start(t, runnerConfig(e.store))
	e.waitCaughtUp()
	e.assertFoldEqual()
}

func checkResponseAsOf(t *testing.T, snap *projection.Snapshot, id string, events []eventstore.RecordedEvent) {
	t.Helper()
	a, err := domain.ResponseFromHistory(id, decodeAll(t, events))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := snap.ResponsesByID([]string{id})[id]
	if !ok || got.Version != a.Version() || got.Status != a.Status() || got.Title != a.Title() || got.RiskID != a.RiskID() {
		t.Errorf("as of %s, response %s is %+v; folding its stream gives version %d, %s", snap.AsOf, id, got, a.Version(), a.Status())
	}
}

func decodeAll(t *testing.T, events []eventstore.RecordedEvent) []domain.Event {
	t.Helper()
	out := make([]domain.Event, len(events))
	for i, e := range events {
		d, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
