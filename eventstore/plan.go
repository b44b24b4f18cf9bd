package eventstore

import "github.com/google/uuid"

// streamHead is a stream's version and last hash.
type streamHead struct {
	streamType string
	version    int64
	hash       []byte
}

type existingEvent struct {
	rec  RecordedEvent
	same bool // same stream, type, schema version and data as the new event with its id
}

// lookupExisting settles a request whose events are stored already: found is
// true when all of them are, with the original events; a partial or different
// match is a *DuplicateEventError.
func lookupExisting(r *appendRequest, existing map[uuid.UUID]existingEvent) (prior []*RecordedEvent, found bool, err error) {
	if len(existing) == 0 {
		return nil, false, nil
	}
	for _, sa := range r.streams {
		for _, e := range sa.Events {
			x, ok := existing[e.ID]
			switch {
			case ok && (x.same || (sa.Numbered != nil && x.rec.StreamID == sa.StreamID && x.rec.Type == e.Type)):
				// A numbered event's data holds its number, which a retry
				// cannot know: the same id on the same stream is the retry.
				prior = append(prior, &x.rec)
			case ok:
				return nil, false, &DuplicateEventError{EventID: e.ID.String()}
			}
		}
	}
	switch len(prior) {
	case 0:
		return nil, false, nil
	case r.events:
		return prior, true, nil
	}
	// Some events of the append are stored and some are not: not a retry of
	// one append.
	return nil, false, &DuplicateEventError{EventID: prior[0].ID.String()}
}

func claimsAny(r *appendRequest, claimed map[uuid.UUID]bool) bool {
	for _, sa := range r.streams {
		for _, e := range sa.Events {
			if claimed[e.ID] {
				return true
			}
		}
	}
	return false
}

// checkExpected checks every stream of r against the heads as the batch has
// planned them so far.
func checkExpected(r *appendRequest, heads map[string]*streamHead) error {
	for _, sa := range r.streams {
		var current int64
		if h := heads[sa.StreamID]; h != nil {
			current = h.version
			if current > 0 && h.streamType != sa.StreamType {
				return invalidf("stream %q is of type %q, not %q", sa.StreamID, h.streamType, sa.StreamType)
			}
		}
		if !sa.Expected.allows(current) {
			return &ConcurrencyError{StreamID: sa.StreamID, Expected: sa.Expected, Current: current}
		}
	}
	return nil
}

// planRequest numbers and hashes r's events and advances the heads.
func planRequest(r *appendRequest, heads map[string]*streamHead) []*RecordedEvent {
	recs := make([]*RecordedEvent, 0, r.events)
	for i, sa := range r.streams {
		h := heads[sa.StreamID]
		if h == nil || h.version == 0 {
			h = &streamHead{streamType: sa.StreamType, hash: genesisHash}
			heads[sa.StreamID] = h
		}
		for j, e := range sa.Events {
			rec := &RecordedEvent{
				ID:            e.ID,
				StreamID:      sa.StreamID,
				StreamType:    sa.StreamType,
				Version:       h.version + 1,
				Type:          e.Type,
				SchemaVersion: e.SchemaVersion,
				Data:          e.Data,
				Metadata:      e.Metadata,
				OccurredAt:    e.OccurredAt,
				PrevHash:      h.hash,
			}
			c := r.canonical[i][j]
			rec.Hash = chainHash(rec.PrevHash, rec, c.data, c.extra)
			h.version, h.hash = rec.Version, rec.Hash
			recs = append(recs, rec)
		}
	}
	return recs
}
