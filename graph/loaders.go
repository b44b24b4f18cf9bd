package graph

import (
	"context"
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
// one per risk (no N+1).
type loaders struct {
	responses *dataloadgen.Loader[asOfKey, []*model.StrategicResponse]
	decisions *dataloadgen.Loader[asOfKey, []*model.Decision]
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
	return &loaders{
		responses: dataloadgen.NewMappedLoader(r.responsesOf, dataloadgen.WithWait(time.Millisecond)),
		decisions: dataloadgen.NewMappedLoader(r.decisionsOf, dataloadgen.WithWait(time.Millisecond)),
	}
}

// responsesOf returns the responses of each risk in keys, oldest first, as
// they stood at the key's instant: one scan of the log per instant asked.
func (r *Resolver) responsesOf(ctx context.Context, keys []asOfKey) (map[asOfKey][]*model.StrategicResponse, error) {
	byInstant := make(map[time.Time]map[string][]*model.StrategicResponse)
	out := make(map[asOfKey][]*model.StrategicResponse, len(keys))
	for _, k := range keys {
		byRisk, ok := byInstant[k.AsOf]
		if !ok {
			all, err := r.responsesAsOf(ctx, k.AsOf)
			if err != nil {
				return nil, err
			}
			byRisk = make(map[string][]*model.StrategicResponse)
			for _, resp := range all {
				byRisk[resp.RiskID()] = append(byRisk[resp.RiskID()], responseModel(resp, k.AsOf))
			}
			byInstant[k.AsOf] = byRisk
		}
		out[k] = byRisk[k.ID]
		if out[k] == nil {
			out[k] = []*model.StrategicResponse{}
		}
	}
	return out, nil
}

// decisionsOf returns the decisions that named each subject in keys, oldest
// first, recorded at or before the key's instant.
func (r *Resolver) decisionsOf(ctx context.Context, keys []asOfKey) (map[asOfKey][]*model.Decision, error) {
	all, err := r.recordedDecisions(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	bySubject := make(map[string][]recordedDecision)
	for _, d := range all {
		for _, s := range d.model.Subjects {
			bySubject[s.ID] = append(bySubject[s.ID], d)
		}
	}
	out := make(map[asOfKey][]*model.Decision, len(keys))
	for _, k := range keys {
		list := []*model.Decision{}
		for _, d := range bySubject[k.ID] {
			if k.AsOf.IsZero() || !d.event.RecordedAt.After(k.AsOf) {
				list = append(list, d.model)
			}
		}
		out[k] = list
	}
	return out, nil
}
