package register

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// referenceCounter is the event store counter that numbers risk
// references. The store advances it in the transaction that records the
// RiskRegistered event, so references are gap-free in register (commit)
// order, never reused, and taken only by registrations that commit: a
// refused registration (bad input, no permission, a repeated idempotency
// key) never reaches the store, and one that fails there rolls its number
// back with it.
const referenceCounter = "risk-reference"

// reference formats a risk reference number: "R-0007".
func reference(n int64) string { return fmt.Sprintf("R-%04d", n) }

// registerRisk runs RegisterRisk: create's steps, with the RiskRegistered
// event numbered by the store.
func (s *Service) registerRisk(ctx context.Context, req Request, in domain.RiskDetails) (folded[*domain.Risk], error) {
	if err := req.Principal.Authorize(domain.ActionRegisterRisk); err != nil {
		return folded[*domain.Risk]{}, err
	}
	if f, found, err := repeated(ctx, s, req, domain.StreamRisk, domain.RiskFromHistory); err != nil || found {
		return f, err
	}
	id := req.aggregateID()
	// Check the input before the store numbers anything.
	if _, err := domain.RegisterRisk(id, reference(0), in); err != nil {
		return folded[*domain.Risk]{}, err
	}
	md := req.envelope()
	var ids []uuid.UUID // the same ids for every numbering of the events
	res, err := s.store.Append(ctx, eventstore.StreamAppend{
		StreamID: id, StreamType: domain.StreamRisk, Expected: eventstore.NoStream,
		Numbered: &eventstore.Numbered{Counter: referenceCounter, Events: func(n int64) ([]eventstore.Event, error) {
			events, err := domain.RegisterRisk(id, reference(n), in)
			if err != nil {
				return nil, err
			}
			stored, err := s.storeEvents(req, 0, md, events...)
			for i := range stored {
				if i < len(ids) {
					stored[i].ID = ids[i]
				} else {
					ids = append(ids, stored[i].ID)
				}
			}
			return stored, err
		}},
	})
	if err != nil {
		// A concurrent run with the same key may have recorded it first.
		if f, found, rerr := raced(ctx, s, req, domain.StreamRisk, domain.RiskFromHistory); found || rerr != nil {
			return f, rerr
		}
		return folded[*domain.Risk]{}, err
	}
	req.recorded(res.Last().Position)
	events := make([]domain.Event, len(res.Events))
	for i, r := range res.Events {
		if events[i], err = domain.DecodeEvent(r.Type, r.SchemaVersion, r.Data); err != nil {
			return folded[*domain.Risk]{}, fmt.Errorf("register: risk %s: %w", id, err)
		}
	}
	agg, err := domain.RiskFromHistory(id, events)
	if err != nil {
		return folded[*domain.Risk]{}, err
	}
	f := folded[*domain.Risk]{agg: agg, createdAt: res.Events[0].RecordedAt, updatedAt: res.Last().RecordedAt}
	s.snapshots.put(id, f)
	return f, nil
}
