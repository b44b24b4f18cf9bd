package eventstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Event is an event to append.
type Event struct {
	// ID identifies the event; when zero, Append assigns a new one. A client
	// that retries an append sends the same ids, and the store then answers
	// with the original result instead of appending twice.
	ID uuid.UUID
	// Type is the stable, past-tense name of the event, e.g. "RiskAssessed".
	Type string
	// SchemaVersion is the version of Data's shape; 0 means 1.
	SchemaVersion int
	// Data is the event's JSON body.
	Data json.RawMessage
	// Metadata is the envelope: who, why, in which request.
	Metadata Metadata
	// OccurredAt is the business time; zero means the time of the append.
	// It is stored with microsecond precision.
	OccurredAt time.Time
}

// Metadata is the envelope every event carries.
type Metadata struct {
	// Actor is the subject of the principal whose request caused the event.
	Actor string
	// CorrelationID groups every event caused by one request or process.
	CorrelationID string
	// CausationID is the id of the event that caused this one, if any.
	CausationID string
	// DecisionID is set on every event a governance decision caused.
	DecisionID string
	// RequestID is the id of the request that caused the event.
	RequestID string
	// Extra holds any further metadata as a JSON object; nil means none.
	Extra json.RawMessage
}

// RecordedEvent is an event as stored in the log.
type RecordedEvent struct {
	ID            uuid.UUID
	Position      Position
	StreamID      string
	StreamType    string
	Version       int64 // 1-based position in its stream
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	OccurredAt    time.Time
	RecordedAt    time.Time
	// PrevHash is the Hash of the previous event of the stream (32 zero
	// bytes for the first event); Hash chains this event to it.
	PrevHash []byte
	Hash     []byte
}

// ExpectedVersion states what an append expects of a stream. Use Any,
// NoStream, StreamExists or Exact; the zero value is not valid.
type ExpectedVersion struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectInvalid expectKind = iota
	expectAny
	expectNoStream
	expectStreamExists
	expectExact
)

var (
	// Any appends whatever the stream's version.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream appends only to a stream that has no events yet.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists appends only to a stream that has events.
	StreamExists = ExpectedVersion{kind: expectStreamExists}
)

// Exact appends only when the stream is at version v (0: no events yet).
func Exact(v int64) ExpectedVersion { return ExpectedVersion{kind: expectExact, version: v} }

func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectAny:
		return "any version"
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "an existing stream"
	case expectExact:
		return fmt.Sprintf("version %d", e.version)
	}
	return "an invalid expected version"
}

func (e ExpectedVersion) valid() bool {
	return e.kind != expectInvalid && (e.kind != expectExact || e.version >= 0)
}

// allows reports whether a stream at version current satisfies e.
func (e ExpectedVersion) allows(current int64) bool {
	switch e.kind {
	case expectAny:
		return true
	case expectNoStream:
		return current == 0
	case expectStreamExists:
		return current > 0
	case expectExact:
		return current == e.version
	}
	return false
}

// StreamAppend is the part of an append that goes to one stream.
type StreamAppend struct {
	StreamID   string
	StreamType string // e.g. "risk"; a stream keeps the type of its first event
	Expected   ExpectedVersion
	Events     []Event
	// Numbered, when set, numbers the stream's events from a gap-free
	// counter inside the append's transaction; Events is then ignored.
	Numbered *Numbered
}

// Numbered makes an append take the next value of a named counter in the
// transaction that records it, so that the values the counter hands out are
// gap-free, in commit order, never reused, and taken only by appends that
// commit: a refused or rolled-back append takes none. Appends on one
// counter are serialised by its row lock.
type Numbered struct {
	// Counter names the counter (table event_counters; a missing one
	// starts at 0, so its first value is 1).
	Counter string
	// Events returns the stream's events given the counter's value n. It
	// is called once with n = 0 when the append is checked, and again in
	// the transaction with the real value (again for each attempt); it must
	// return the same number of events with the same ids each time, and be
	// quick: the store's writer waits for it.
	Events func(n int64) ([]Event, error)
}

// AppendResult is what an append recorded.
type AppendResult struct {
	// Events are the recorded events in the order they were given, stream by
	// stream.
	Events []RecordedEvent
}

// Last returns the last recorded event.
func (r AppendResult) Last() RecordedEvent { return r.Events[len(r.Events)-1] }

// StreamVersion returns the version streamID reached with this append, or 0
// when the append did not touch it.
func (r AppendResult) StreamVersion(streamID string) int64 {
	var v int64
	for _, e := range r.Events {
		if e.StreamID == streamID && e.Version > v {
			v = e.Version
		}
	}
	return v
}
