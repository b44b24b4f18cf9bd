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

// streamReader is a projection that tells the stream types whose events'
// data it decodes.
type streamReader interface {
	decodes(streamType string) bool
}

// decodedBy returns whether one of ps decodes the events of a stream type:
// all when one of them does not tell.
func decodedBy(ps []Projection) func(streamType string) bool {
	readers := make([]streamReader, len(ps))
	for i, p := range ps {
		r, ok := p.(streamReader)
		if !ok {
			return func(string) bool { return true }
		}
		readers[i] = r
	}
	return func(streamType string) bool {
		for _, r := range readers {
			if r.decodes(streamType) {
				return true
			}
		}
		return false
	}
}

// decodeBatch returns the batch of events with the data of those of the
// stream types wanted decoded; the others are decoded as they are read. An
// event that fails to decode fails only the projections that read it.
func decodeBatch(events []eventstore.RecordedEvent, wanted func(streamType string) bool) eventBatch {
	b := eventBatch{events: events, decoded: make([]domain.Event, len(events)), errs: make([]error, len(events))}
	for i, e := range events {
		if wanted(e.StreamType) {
			b.decoded[i], b.errs[i] = decode(e)
		}
	}
	return b
}

// decode returns the decoded data of the i-th event.
func (b eventBatch) decode(i int) (domain.Event, error) {
	if b.decoded == nil || b.decoded[i] == nil && b.errs[i] == nil {
		return decode(b.events[i])
	}
	return b.decoded[i], b.errs[i]
}
