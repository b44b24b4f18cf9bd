package graph

import (
	"context"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/riskreg/riskreg/graph/model"
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
	calendar  *calendarLoaders

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
	l.calendar = newCalendarLoaders(r)
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
