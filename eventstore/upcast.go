package eventstore

import (
	"encoding/json"
	"fmt"
)

// An Upcaster turns the data of an event of one schema version into the data
// of the next version.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// Upcasters maps old schema versions of event types forward, one version at a
// time, when events are read. The log itself is never changed: the hash chain
// covers the stored form.
type Upcasters struct {
	steps map[upcastKey]Upcaster
}

type upcastKey struct {
	eventType string
	from      int
}

// NewUpcasters returns an empty registry.
func NewUpcasters() *Upcasters {
	return &Upcasters{steps: make(map[upcastKey]Upcaster)}
}

// Register makes fn turn eventType's data of schema version from into version
// from+1. Register every step from the oldest version to the current one;
// register all of them before the store reads.
func (u *Upcasters) Register(eventType string, from int, fn Upcaster) {
	u.steps[upcastKey{eventType: eventType, from: from}] = fn
}

// upcast applies every registered step to e, in place.
func (u *Upcasters) upcast(e *RecordedEvent) error {
	for {
		fn, ok := u.steps[upcastKey{eventType: e.Type, from: e.SchemaVersion}]
		if !ok {
			return nil
		}
		data, err := fn(e.Data)
		if err != nil {
			return fmt.Errorf("eventstore: upcast %s v%d of event %s: %w", e.Type, e.SchemaVersion, e.ID, err)
		}
		e.Data = data
		e.SchemaVersion++
	}
}
