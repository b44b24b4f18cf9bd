package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

const (
	maxStreamID = 200
	maxTypeName = 200
)

// prepare validates an append and copies it, filling in event ids, schema
// versions and times, so that the caller's slices are never changed.
func (s *Store) prepare(streams []StreamAppend) (*appendRequest, error) {
	if len(streams) == 0 {
		return nil, invalidf("an append needs at least one stream")
	}
	now := time.Now()
	req := &appendRequest{
		streams:   make([]StreamAppend, len(streams)),
		canonical: make([][]canonicalEvent, len(streams)),
		done:      make(chan appendOutcome, 1),
	}
	seenStreams := make(map[string]bool, len(streams))
	seenIDs := make(map[uuid.UUID]bool)
	for i, sa := range streams {
		switch {
		case sa.StreamID == "":
			return nil, invalidf("stream %d: empty stream id", i)
		case len(sa.StreamID) > maxStreamID:
			return nil, invalidf("stream %d: stream id longer than %d bytes", i, maxStreamID)
		case sa.StreamType == "":
			return nil, invalidf("stream %q: empty stream type", sa.StreamID)
		case !sa.Expected.valid():
			return nil, invalidf("stream %q: unknown expected version form", sa.StreamID)
		case len(sa.Events) == 0 && sa.Numbered == nil:
			return nil, invalidf("stream %q: no events", sa.StreamID)
		case seenStreams[sa.StreamID]:
			return nil, invalidf("stream %q appears twice in one append", sa.StreamID)
		}
		seenStreams[sa.StreamID] = true
		if sa.Numbered != nil {
			if err := s.prepareNumbered(&sa); err != nil {
				return nil, err
			}
		}
		events := make([]Event, len(sa.Events))
		req.canonical[i] = make([]canonicalEvent, len(sa.Events))
		for j, e := range sa.Events {
			c, err := s.prepareEvent(&e, now)
			if err != nil {
				return nil, fmt.Errorf("stream %q event %d: %w", sa.StreamID, j, err)
			}
			req.canonical[i][j] = c
			if seenIDs[e.ID] {
				return nil, invalidf("event id %s appears twice in one append", e.ID)
			}
			seenIDs[e.ID] = true
			events[j] = e
		}
		sa.Events = events
		req.streams[i] = sa
		req.events += len(events)
	}
	return req, nil
}

func (s *Store) prepareEvent(e *Event, now time.Time) (canonicalEvent, error) {
	switch {
	case e.Type == "":
		return canonicalEvent{}, invalidf("empty event type")
	case len(e.Type) > maxTypeName:
		return canonicalEvent{}, invalidf("event type longer than %d bytes", maxTypeName)
	case e.SchemaVersion < 0:
		return canonicalEvent{}, invalidf("negative schema version")
	case len(e.Data)+len(e.Metadata.Extra) > s.cfg.MaxEventSize:
		return canonicalEvent{}, invalidf("event of %d bytes is over the limit of %d", len(e.Data)+len(e.Metadata.Extra), s.cfg.MaxEventSize)
	}
	if err := checkJSON(e.Data); err != nil {
		return canonicalEvent{}, fmt.Errorf("data: %w", err)
	}
	if e.Metadata.Extra == nil {
		e.Metadata.Extra = json.RawMessage("{}")
	} else if err := checkJSON(e.Metadata.Extra); err != nil {
		return canonicalEvent{}, fmt.Errorf("metadata: %w", err)
	} else if t := bytes.TrimLeft(e.Metadata.Extra, " \t\r\n"); t[0] != '{' {
		return canonicalEvent{}, invalidf("metadata must be a JSON object")
	}
	if e.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return canonicalEvent{}, fmt.Errorf("eventstore: new event id: %w", err)
		}
		e.ID = id
	}
	if e.SchemaVersion == 0 {
		e.SchemaVersion = 1
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now
	}
	// PostgreSQL keeps microseconds; the hash must see what is stored.
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	var c canonicalEvent
	var err error
	if c.data, err = canonicalJSON(e.Data); err != nil {
		return canonicalEvent{}, fmt.Errorf("data: %w", err)
	}
	if c.extra, err = canonicalJSON(e.Metadata.Extra); err != nil {
		return canonicalEvent{}, fmt.Errorf("metadata: %w", err)
	}
	return c, nil
}

// checkJSON accepts what PostgreSQL's jsonb accepts: valid JSON without the
// NUL character, which jsonb cannot hold.
func checkJSON(b json.RawMessage) error {
	if len(b) == 0 || !json.Valid(b) {
		return invalidf("not valid JSON")
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		return invalidf(`JSON with \u0000 cannot be stored`)
	}
	return nil
}
