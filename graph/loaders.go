package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph/model"
	"github.com/riskreg/riskreg/register"
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
// they stood at the key's instant.
func (r *Resolver) responsesOf(ctx context.Context, keys []asOfKey) (map[asOfKey][]*model.StrategicResponse, error) {
	latest := time.Time{}
	for _, k := range keys {
		if k.AsOf.IsZero() {
			latest = time.Time{}
			break
		}
		if k.AsOf.After(latest) {
			latest = k.AsOf
		}
	}
	proposed, err := r.readAll(ctx, eventstore.Filter{Types: []string{domain.EventResponseProposed}, Until: until(latest)})
	if err != nil {
		return nil, err
	}
	byRisk := make(map[string][]eventstore.RecordedEvent)
	for _, e := range proposed {
		var p domain.ResponseProposed
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return nil, fmt.Errorf("graph: response %s: %w", e.StreamID, err)
		}
		byRisk[p.RiskID] = append(byRisk[p.RiskID], e)
	}
	out := make(map[asOfKey][]*model.StrategicResponse, len(keys))
	for _, k := range keys {
		list := []*model.StrategicResponse{}
		for _, e := range byRisk[k.ID] {
			if !k.AsOf.IsZero() && e.RecordedAt.After(k.AsOf) {
				continue
			}
			resp, err := r.Register.Response(ctx, e.StreamID, register.AsOf{Time: k.AsOf})
			if err != nil {
				return nil, err
			}
			list = append(list, responseModel(resp, k.AsOf))
		}
		out[k] = list
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
