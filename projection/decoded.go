package projection

import (
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// eventBatch is a batch of events with, when a rebuild decoded them ahead
// (see decodeBatch), their data decoded once for every projection that
// reads them. Without it, each projection decodes what it reads.
type eventBatch struct {
	events  []eventstore.RecordedEvent
	decoded []domain.Event // nil, or the data of events[i] (nil when it failed)
	errs    []error        // with decoded: why events[i] failed to decode
}

// batchOf returns the batch of events, decoded as they are read.
func batchOf(events []eventstore.RecordedEvent) eventBatch { return eventBatch{events: events} }

// decodeBatch returns the batch of events with every event's data decoded.
// An event that fails to decode fails only the projections that read it.
func decodeBatch(events []eventstore.RecordedEvent) eventBatch {
	b := eventBatch{events: events, decoded: make([]domain.Event, len(events)), errs: make([]error, len(events))}
	for i, e := range events {
		b.decoded[i], b.errs[i] = decode(e)
	}
	return b
}

// decode returns the decoded data of the i-th event.
func (b eventBatch) decode(i int) (domain.Event, error) {
	if b.decoded == nil {
		return decode(b.events[i])
	}
	return b.decoded[i], b.errs[i]
}
