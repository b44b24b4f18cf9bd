package register

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// importNamespace seeds the ids of imported risks and their events.
var importNamespace = uuid.MustParse("c5a1f0e2-7d3b-4e59-9a64-0b8e2f41d7c3")

// NewRisk is a risk to import: registered, then assessed (inherent).
type NewRisk struct {
	// Key identifies the row it comes from (its file and content): the
	// risk's id and its events' ids derive from it, so importing the same
	// row again creates nothing.
	Key        string
	Details    domain.RiskDetails
	Likelihood int
	Impact     int
	Rationale  string
}

// ImportedRisk is what importing one NewRisk wrote or would write.
type ImportedRisk struct {
	ID        string
	Reference string // "" in a dry run
	// Existed is true when an earlier import of the same row created the
	// risk: nothing was written for it.
	Existed bool
	// Events are the events written (or, in a dry run, to be written) to
	// the risk's stream; none when it existed.
	Events []domain.Event
}

// importChunk is how many risks one append carries.
const importChunk = 200

// CheckNewRisk returns the domain's *ValidationError for a risk to import,
// or nil when it can be registered and assessed.
func (s *Service) CheckNewRisk(nr NewRisk, actor string) error {
	_, err := s.plan(nr, "R-0000", actor)
	return err
}

// plan returns the events that register and assess nr under reference ref.
func (s *Service) plan(nr NewRisk, ref, actor string) ([]domain.Event, error) {
	id := importID(nr.Key)
	events, err := domain.RegisterRisk(id, ref, nr.Details)
	if err != nil {
		return nil, err
	}
	risk, err := domain.RiskFromHistory(id, events)
	if err != nil {
		return nil, err
	}
	assessed, err := risk.Assess(domain.RatingKindInherent, nr.Likelihood, nr.Impact, nr.Rationale, actor, s.now())
	if err != nil {
		return nil, err
	}
	return append(events, assessed...), nil
}

// importID returns the id of the risk imported from the row with key.
func importID(key string) string {
	return uuid.NewSHA1(importNamespace, []byte("risk\x00"+key)).String()
}

// importEventID returns the id of the i-th event of the risk imported from
// the row with key.
func importEventID(key string, i int) uuid.UUID {
	return uuid.NewSHA1(importNamespace, fmt.Appendf(nil, "event\x00%s\x00%d", key, i))
}

// ImportRisks registers and assesses risks, appending many risks per
// transaction. Risks an earlier import created (same keys) are reported and
// left alone. With dryRun, nothing is written and no reference is taken:
// the result says what would be written. Every risk is checked before
// anything is written; a risk the domain refuses fails the whole call.
func (s *Service) ImportRisks(ctx context.Context, req Request, risks []NewRisk, dryRun bool) ([]ImportedRisk, error) {
	for _, a := range []domain.Action{domain.ActionRegisterRisk, domain.ActionAssessRisk} {
		if err := req.Principal.Authorize(a); err != nil {
			return nil, err
		}
	}
	actor := req.Principal.Subject
	out := make([]ImportedRisk, len(risks))
	firstIDs := make([]uuid.UUID, len(risks))
	for i, nr := range risks {
		if err := s.CheckNewRisk(nr, actor); err != nil {
			return nil, fmt.Errorf("risk %d: %w", i+1, err)
		}
		out[i].ID = importID(nr.Key)
		firstIDs[i] = importEventID(nr.Key, 0)
	}
	existing, err := s.store.EventsByID(ctx, firstIDs)
	if err != nil {
		return nil, err
	}
	refs := make(map[string]string, len(existing))
	for _, e := range existing {
		var reg domain.RiskRegistered
		if err := json.Unmarshal(e.Data, &reg); err != nil {
			return nil, fmt.Errorf("register: imported risk %s: %w", e.StreamID, err)
		}
		refs[e.StreamID] = reg.Reference
	}
	var todo []int
	for i := range risks {
		if ref, ok := refs[out[i].ID]; ok {
			out[i].Reference, out[i].Existed = ref, true
			continue
		}
		todo = append(todo, i)
	}
	md := req.envelope()
	appends := make([]eventstore.StreamAppend, 0, len(todo))
	for _, i := range todo {
		// The store numbers each risk in the append's transaction (see
		// referenceCounter); until then the events carry reference 0.
		events, err := s.plan(risks[i], reference(0), actor)
		if err != nil {
			return nil, err
		}
		out[i].Events = events
		if dryRun {
			continue
		}
		nr := risks[i]
		appends = append(appends, eventstore.StreamAppend{StreamID: out[i].ID, StreamType: domain.StreamRisk,
			Expected: eventstore.NoStream, Numbered: &eventstore.Numbered{Counter: referenceCounter,
				Events: func(n int64) ([]eventstore.Event, error) {
					events, err := s.plan(nr, reference(n), actor)
					if err != nil {
						return nil, err
					}
					stored, err := s.storeEvents(Request{}, 0, md, events...)
					for j := range stored {
						stored[j].ID = importEventID(nr.Key, j)
					}
					return stored, err
				}}})
	}
	recorded, err := s.appendChunks(ctx, req, appends)
	if err != nil {
		return out, err
	}
	for i := range out {
		if e, ok := recorded[out[i].ID]; ok {
			var reg domain.RiskRegistered
			if err := json.Unmarshal(e.Data, &reg); err != nil {
				return nil, fmt.Errorf("register: imported risk %s: %w", e.StreamID, err)
			}
			out[i].Reference = reg.Reference
		}
	}
	return out, nil
}

// appendChunks appends streams in chunks of importChunk, one after the
// other, so that the risks take their references in the order of the rows
// (appends on the reference counter are serialised by its row lock in any
// case). It returns the first recorded event of each stream, by stream, and
// reports the position of the last to req.
func (s *Service) appendChunks(ctx context.Context, req Request, streams []eventstore.StreamAppend) (map[string]eventstore.RecordedEvent, error) {
	first := make(map[string]eventstore.RecordedEvent, len(streams))
	for start := 0; start < len(streams); start += importChunk {
		res, err := s.store.Append(ctx, streams[start:min(start+importChunk, len(streams))]...)
		if err != nil {
			return first, err
		}
		req.recorded(res.Last().Position)
		for _, e := range res.Events {
			if _, ok := first[e.StreamID]; !ok {
				first[e.StreamID] = e
			}
		}
	}
	return first, nil
}
