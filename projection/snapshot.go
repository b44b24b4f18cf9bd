package projection

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// asOfPage is how many events AsOf reads at a time.
const asOfPage = 10_000

// Snapshot is the whole register as it stood at one time: every risk,
// response and decision folded by the domain's aggregates from the events
// recorded until then. It answers the same reads as a Reader. It is not
// changed after AsOf returns it, so it is safe for concurrent use.
type Snapshot struct {
	// AsOf is the time the snapshot shows.
	AsOf time.Time
	// Position is the position of the last event folded into it.
	Position eventstore.Position

	risks              []Risk // in the register's order
	riskIndex          map[string]int
	responses          map[string]Response
	responsesByRisk    map[string][]Response
	decisions          []Decision // in log order
	decisionsBySubject map[string][]Decision
	effects            map[string][]Effect
}

// AsOf returns the register as it stood at time t: folded from every event
// recorded at or before t, read in one ordered scan of the log. It is meant
// for the API's asOf arguments: its cost grows with the log, not with the
// register.
func (r *Reader) AsOf(ctx context.Context, t time.Time) (*Snapshot, error) {
	// recorded_at has microseconds, and the store's Until is exclusive.
	until := t.Truncate(time.Microsecond).Add(time.Microsecond)
	f := newFolder()
	var pos eventstore.Position
	for {
		events, err := r.store.ReadAll(ctx, pos, asOfPage, eventstore.Filter{Until: until})
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			if err := f.apply(e); err != nil {
				return nil, err
			}
		}
		if len(events) > 0 {
			pos = events[len(events)-1].Position
		}
		if len(events) < asOfPage {
			break
		}
	}
	s := f.snapshot()
	s.AsOf, s.Position = t, pos
	return s, nil
}

// folder folds events into the domain's aggregates.
type folder struct {
	risks     map[string]*folded[domain.Risk]
	responses map[string]*folded[domain.StrategicResponse]
	decisions []Decision
	effects   map[string][]Effect
}

// folded is an aggregate and the envelope of its first and last events.
type folded[A any] struct {
	agg              *A
	created, updated time.Time
	createdPos       eventstore.Position
}

func newFolder() *folder {
	return &folder{
		risks:     make(map[string]*folded[domain.Risk]),
		responses: make(map[string]*folded[domain.StrategicResponse]),
		effects:   make(map[string][]Effect),
	}
}

// apply folds one event of the log.
func (f *folder) apply(e eventstore.RecordedEvent) error {
	if effect, ok := effectOf(e); ok {
		f.effects[effect.DecisionID] = append(f.effects[effect.DecisionID], effect)
	}
	var err error
	switch e.StreamType {
	case domain.StreamRisk:
		err = foldInto(f.risks, e, domain.RiskFromHistory)
	case domain.StreamResponse:
		err = foldInto(f.responses, e, domain.ResponseFromHistory)
	case domain.StreamDecision:
		var d domain.Event
		if d, err = decode(e); err == nil {
			var a *domain.Decision
			if a, err = domain.DecisionFromHistory(e.StreamID, []domain.Event{d}); err == nil {
				f.decisions = append(f.decisions, DecisionFromAggregate(a, e.Position, e.ID))
			}
		}
	}
	if err != nil {
		return fmt.Errorf("projection: fold the log: %w", err)
	}
	return nil
}

// foldInto applies e to its aggregate in m, starting it with fromHistory.
func foldInto[A any, P interface {
	*A
	Apply(domain.Event) error
}](m map[string]*folded[A], e eventstore.RecordedEvent, fromHistory func(string, []domain.Event) (P, error)) error {
	d, err := decode(e)
	if err != nil {
		return err
	}
	f, ok := m[e.StreamID]
	if !ok {
		a, err := fromHistory(e.StreamID, []domain.Event{d})
		if err != nil {
			return NewEventError(e, err)
		}
		m[e.StreamID] = &folded[A]{agg: (*A)(a), created: e.RecordedAt, updated: e.RecordedAt, createdPos: e.Position}
		return nil
	}
	if err := P(f.agg).Apply(d); err != nil {
		return NewEventError(e, err)
	}
	f.updated = e.RecordedAt
	return nil
}

// snapshot returns what the folder folded.
func (f *folder) snapshot() *Snapshot {
	s := &Snapshot{
		riskIndex:          make(map[string]int, len(f.risks)),
		responses:          make(map[string]Response, len(f.responses)),
		responsesByRisk:    make(map[string][]Response),
		decisions:          f.decisions,
		decisionsBySubject: make(map[string][]Decision),
		effects:            f.effects,
	}
	for _, r := range f.risks {
		s.risks = append(s.risks, RiskFromAggregate(r.agg, r.created, r.updated))
	}
	slices.SortFunc(s.risks, func(a, b Risk) int { return keyOf(&a).compare(keyOf(&b)) })
	for i, r := range s.risks {
		s.riskIndex[r.ID] = i
	}
	for _, r := range f.responses {
		s.responses[r.agg.ID()] = ResponseFromAggregate(r.agg, r.created, r.updated, r.createdPos)
	}
	for _, r := range sortedBy(s.responses, func(a, b Response) int { return a.CreatedPosition.Compare(b.CreatedPosition) }) {
		s.responsesByRisk[r.RiskID] = append(s.responsesByRisk[r.RiskID], r)
	}
	for _, d := range f.decisions {
		for _, sub := range d.Subjects {
			s.decisionsBySubject[sub.ID] = append(s.decisionsBySubject[sub.ID], d)
		}
	}
	return s
}

// sortedBy returns the values of m sorted by cmp.
func sortedBy[K comparable, V any](m map[K]V, cmp func(a, b V) int) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, cmp)
	return out
}

// Risk returns the risk with the given id, and whether there was one.
func (s *Snapshot) Risk(id string) (Risk, bool) {
	i, ok := s.riskIndex[id]
	if !ok {
		return Risk{}, false
	}
	return s.risks[i], true
}

// Risks returns a page of the register as Reader.Risks does.
func (s *Snapshot) Risks(filter RiskFilter, first int, after string) (Page[Risk], error) {
	key, hasKey, err := riskPageArgs(filter, first, after)
	if err != nil {
		return Page[Risk]{}, err
	}
	var page Page[Risk]
	for i := range s.risks {
		r := &s.risks[i]
		if !filter.Match(r) {
			continue
		}
		page.TotalCount++
		if hasKey && keyOf(r).compare(key) <= 0 {
			continue
		}
		if len(page.Items) == first {
			page.HasNextPage = true
			continue
		}
		page.Items = append(page.Items, *r)
	}
	return page, nil
}

// HeatMap returns the heat map of the given kind as Reader.HeatMap does.
func (s *Snapshot) HeatMap(kind domain.RatingKind) (HeatMap, error) {
	if err := checkKind(kind); err != nil {
		return HeatMap{}, err
	}
	h := newHeatMap(kind)
	for i := range s.risks {
		r := &s.risks[i]
		rating := r.Rating(kind)
		if rating == nil || !r.onHeatMap() {
			continue
		}
		if c := h.cell(rating.Likelihood, rating.Impact); c != nil {
			c.RiskIDs = append(c.RiskIDs, r.ID)
			c.Count++
		}
	}
	return h, nil
}

// ResponsesByID returns the responses with the given ids, by id.
func (s *Snapshot) ResponsesByID(ids []string) map[string]Response {
	out := make(map[string]Response)
	for _, id := range ids {
		if r, ok := s.responses[id]; ok {
			out[id] = r
		}
	}
	return out
}

// ResponsesByRisk returns the responses to each of the given risks, in the
// order they were proposed.
func (s *Snapshot) ResponsesByRisk(riskIDs []string) map[string][]Response {
	return pick(s.responsesByRisk, riskIDs)
}

// DecisionsBySubject returns, for each of the given ids, the decisions
// recorded by then that named it, oldest first.
func (s *Snapshot) DecisionsBySubject(subjectIDs []string) map[string][]Decision {
	return pick(s.decisionsBySubject, subjectIDs)
}

// Decisions returns a page of the decisions recorded by then, as
// Reader.Decisions does.
func (s *Snapshot) Decisions(body domain.Body, first int, after string) (Page[Decision], error) {
	pos, err := decisionPageArgs(body, first, after)
	if err != nil {
		return Page[Decision]{}, err
	}
	var page Page[Decision]
	for _, d := range s.decisions {
		if body != "" && d.Body != body {
			continue
		}
		page.TotalCount++
		if d.Position.Compare(pos) <= 0 {
			continue
		}
		if len(page.Items) == first {
			page.HasNextPage = true
			continue
		}
		page.Items = append(page.Items, d)
	}
	return page, nil
}

// Effects returns the effects of each of the given decisions, in log order.
func (s *Snapshot) Effects(decisionIDs []string) map[string][]Effect {
	return pick(s.effects, decisionIDs)
}

// pick returns the entries of m for keys.
func pick[V any](m map[string][]V, keys []string) map[string][]V {
	out := make(map[string][]V)
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}
