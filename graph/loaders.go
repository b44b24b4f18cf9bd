package graph

import (
	"context"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/projection"
)

// asOfKey names an aggregate as read at an instant (zero: now).
type asOfKey struct {
	ID   string
	AsOf time.Time
}

// loaders batch the look-ups of one operation's nested lists, so that a page
// of risks with their responses and decisions costs one read per level, not
// one per risk (no N+1). They also hold the operation's views of the
// register, so that every field read as of one instant reads one snapshot.
type loaders struct {
	r         *Resolver
	responses *dataloadgen.Loader[asOfKey, []*model.StrategicResponse]
	decisions *dataloadgen.Loader[asOfKey, []*model.Decision]

	mu    sync.Mutex
	views map[time.Time]registerView
	heat  heatMaps
}

type loadersKey struct{}

// withLoaders returns ctx with fresh loaders for one operation.
func withLoaders(ctx context.Context, r *Resolver) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders(r))
}

// loadersFrom returns the operation's loaders, or new ones when ctx has none.
func loadersFrom(ctx context.Context, r *Resolver) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(r)
}

func newLoaders(r *Resolver) *loaders {
	l := &loaders{r: r, views: make(map[time.Time]registerView)}
	l.responses = dataloadgen.NewMappedLoader(l.responsesOf, dataloadgen.WithWait(time.Millisecond))
	l.decisions = dataloadgen.NewMappedLoader(l.decisionsOf, dataloadgen.WithWait(time.Millisecond))
	return l
}

// view returns the register as the operation reads it at asOf: the read
// models for now (zero), else the temporal read models at asOf. Either way
// the read models first catch up with this process's own writes.
func (l *loaders) view(ctx context.Context, asOf time.Time) (registerView, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.views[asOf]; ok {
		return v, nil
	}
	var v registerView = l.r.current(ctx)
	if !asOf.IsZero() {
		v = l.r.Reader.At(asOf)
	}
	l.views[asOf] = v
	return v, nil
}

// byInstant groups keys by the instant they are read at.
func byInstant(keys []asOfKey) map[time.Time][]string {
	out := make(map[time.Time][]string)
	for _, k := range keys {
		out[k.AsOf] = append(out[k.AsOf], k.ID)
	}
	return out
}

// responsesOf returns the responses of each risk in keys, oldest first, as
// they stood at the key's instant: one read per instant.
func (l *loaders) responsesOf(ctx context.Context, keys []asOfKey) (map[asOfKey][]*model.StrategicResponse, error) {
	out := make(map[asOfKey][]*model.StrategicResponse, len(keys))
	for at, ids := range byInstant(keys) {
		v, err := l.view(ctx, at)
		if err != nil {
			return nil, err
		}
		byRisk, err := v.ResponsesByRisk(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			list := []*model.StrategicResponse{}
			for _, resp := range byRisk[id] {
				list = append(list, responseFromRead(resp, at))
			}
			out[asOfKey{ID: id, AsOf: at}] = list
		}
	}
	return out, nil
}

// decisionsOf returns the decisions that named each subject in keys, oldest
// first, recorded at or before the key's instant.
func (l *loaders) decisionsOf(ctx context.Context, keys []asOfKey) (map[asOfKey][]*model.Decision, error) {
	out := make(map[asOfKey][]*model.Decision, len(keys))
	for at, ids := range byInstant(keys) {
		v, err := l.view(ctx, at)
		if err != nil {
			return nil, err
		}
		bySubject, err := v.DecisionsBySubject(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			list := []*model.Decision{}
			for _, d := range bySubject[id] {
				list = append(list, decisionFromRead(d))
			}
			out[asOfKey{ID: id, AsOf: at}] = list
		}
	}
	return out, nil
}

// riskFromRead converts a risk of the read models read as of asOf (zero:
// now).
func riskFromRead(r projection.Risk, asOf time.Time) *model.Risk {
	m := &model.Risk{
		ID:          r.ID,
		Reference:   r.Reference,
		Title:       r.Title,
		Description: r.Description,
		Category:    r.Category,
		Source:      r.Source,
		Owner:       r.Owner,
		Status:      model.RiskStatus(r.Status),
		Inherent:    ratingFromRead(r.Inherent),
		Residual:    ratingFromRead(r.Residual),
		Target:      ratingFromRead(r.Target),
		Flagged:     r.Flagged,
		Version:     r.Version,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		AsOf:        asOf,
	}
	if r.Band != "" {
		band := model.Band(r.Band)
		m.Band = &band
	}
	if !r.ToleratedUntil.IsZero() {
		d := r.ToleratedUntil
		m.ToleratedUntil = &d
	}
	return m
}

func ratingFromRead(r *projection.Rating) *model.Rating {
	if r == nil {
		return nil
	}
	return &model.Rating{
		Likelihood: r.Likelihood,
		Impact:     r.Impact,
		Score:      r.Score(),
		Band:       model.Band(r.Band()),
		Rationale:  r.Rationale,
		AssessedBy: r.AssessedBy,
		AssessedAt: r.AssessedAt,
	}
}

// responseFromRead converts a response of the read models read as of asOf.
func responseFromRead(r projection.Response, asOf time.Time) *model.StrategicResponse {
	m := &model.StrategicResponse{
		ID:          r.ID,
		RiskID:      r.RiskID,
		Title:       r.Title,
		Description: r.Description,
		Option:      model.ResponseOption(r.Option),
		Owner:       r.Owner,
		Status:      model.ResponseStatus(r.Status),
		Version:     r.Version,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		AsOf:        asOf,
	}
	if !r.DueDate.IsZero() {
		d := r.DueDate
		m.DueDate = &d
	}
	return m
}

func decisionFromRead(d projection.Decision) *model.Decision {
	m := &model.Decision{
		ID:         d.ID,
		Body:       model.Body(d.Body),
		Session:    d.Session,
		Kind:       model.DecisionKind(d.Kind),
		Text:       d.Text,
		RecordedBy: d.RecordedBy,
		RecordedAt: d.RecordedAt,
	}
	if !d.EffectiveDate.IsZero() {
		e := d.EffectiveDate
		m.EffectiveDate = &e
	}
	if !d.ExpiresOn.IsZero() {
		e := d.ExpiresOn
		m.ExpiresOn = &e
	}
	for _, s := range d.Subjects {
		m.Subjects = append(m.Subjects, &model.DecisionSubject{ID: s.ID, Kind: model.SubjectKind(s.Kind), VersionSeen: s.VersionSeen})
	}
	return m
}
