package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

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

// importChunk is how many risks one append carries; importParallel is how
// many appends run at once (the store commits them in groups).
const (
	importChunk    = 200
	importParallel = 4
)

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
		ref := "R-0000"
		if !dryRun {
			if ref, err = s.nextReference(ctx); err != nil {
				return nil, err
			}
			out[i].Reference = ref
		}
		events, err := s.plan(risks[i], ref, actor)
		if err != nil {
			return nil, err
		}
		out[i].Events = events
		if dryRun {
			continue
		}
		stored, err := s.storeEvents(Request{}, 0, md, events...)
		if err != nil {
			return nil, err
		}
		for j := range stored {
			stored[j].ID = importEventID(risks[i].Key, j)
		}
		appends = append(appends, eventstore.StreamAppend{StreamID: out[i].ID, StreamType: domain.StreamRisk,
			Expected: eventstore.NoStream, Events: stored})
	}
	return out, s.appendChunks(ctx, appends)
}

// appendChunks appends streams in chunks of importChunk, importParallel at
// a time.
func (s *Service) appendChunks(ctx context.Context, streams []eventstore.StreamAppend) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, importParallel)
	for start := 0; start < len(streams); start += importChunk {
		chunk := streams[start:min(start+importChunk, len(streams))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := s.store.Append(ctx, chunk...); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
