package relay

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/riskreg/riskreg/eventstore"
)

// Metadata keys of every published message. The message UUID is the event
// id. Keys whose value would be empty (an event with no correlation,
// causation or decision id) are left out.
const (
	MetaEventType     = "event_type"
	MetaStreamID      = "stream_id"
	MetaStreamType    = "stream_type"
	MetaVersion       = "version"
	MetaSchemaVersion = "schema_version"
	MetaPosition      = "position"
	MetaActor         = "actor"
	// MetaCorrelationID is Watermill's own key, so that its CorrelationID
	// middleware carries it on.
	MetaCorrelationID = middleware.CorrelationIDMetadataKey
	MetaCausationID   = "causation_id"
	MetaDecisionID    = "decision_id"
	// MetaSource is the Source of the envelope, when there is one.
	MetaSource = "source"
)

// Envelope is the public form of an event: the payload of every published
// message. It has the fields of the GraphQL contract's Event type, plus the
// schema version of Data and the event's hash. Integrations depend on it, so
// it changes only as docs/events.md allows.
type Envelope struct {
	ID            string          // event UUID
	Position      string          // opaque cursor into the global log; string order is log order
	StreamID      string          // the aggregate's id
	StreamType    string          // "risk", "response" or "decision"
	Version       int64           // 1-based position in its stream
	Type          string          // e.g. "RiskAssessed"
	SchemaVersion int             // version of Data's shape (see docs/events/)
	Data          json.RawMessage // the event's body, at its current schema version
	OccurredAt    time.Time       // business time, UTC
	RecordedAt    time.Time       // commit time in the store, UTC
	Actor         string          // subject of the principal whose request caused it
	CorrelationID string          // "" when none (null in JSON)
	CausationID   string          // "" when none (null in JSON)
	DecisionID    string          // "" when none (null in JSON)
	Hash          string          // hex SHA-256 chaining the event to its stream's previous one
	// Source names the riskreg instance whose relay published the event
	// (relay Config.Source; riskreg's --source-id), so that consumers of a
	// broker that several registers share can tell them apart. "" (null in
	// JSON) when the publisher set none.
	Source string
}

// envelopeJSON is the wire form of Envelope: every field is present, and the
// optional ids are null when empty, as in GraphQL.
type envelopeJSON struct {
	ID            string          `json:"id"`
	Position      string          `json:"position"`
	StreamID      string          `json:"streamId"`
	StreamType    string          `json:"streamType"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
	OccurredAt    string          `json:"occurredAt"`
	RecordedAt    string          `json:"recordedAt"`
	Actor         string          `json:"actor"`
	CorrelationID *string         `json:"correlationId"`
	CausationID   *string         `json:"causationId"`
	DecisionID    *string         `json:"decisionId"`
	Hash          string          `json:"hash"`
	Source        *string         `json:"source"`
}

// MarshalJSON encodes the envelope with times in RFC 3339 with nanoseconds,
// UTC, and null for missing ids.
func (e Envelope) MarshalJSON() ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return json.Marshal(envelopeJSON{
		ID:            e.ID,
		Position:      e.Position,
		StreamID:      e.StreamID,
		StreamType:    e.StreamType,
		Version:       e.Version,
		Type:          e.Type,
		SchemaVersion: e.SchemaVersion,
		Data:          data,
		OccurredAt:    e.OccurredAt.UTC().Format(time.RFC3339Nano),
		RecordedAt:    e.RecordedAt.UTC().Format(time.RFC3339Nano),
		Actor:         e.Actor,
		CorrelationID: nullable(e.CorrelationID),
		CausationID:   nullable(e.CausationID),
		DecisionID:    nullable(e.DecisionID),
		Hash:          e.Hash,
		Source:        nullable(e.Source),
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	var w envelopeJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("relay: decode envelope: %w", err)
	}
	occurred, err := time.Parse(time.RFC3339Nano, w.OccurredAt)
	if err != nil {
		return fmt.Errorf("relay: decode envelope occurredAt: %w", err)
	}
	recorded, err := time.Parse(time.RFC3339Nano, w.RecordedAt)
	if err != nil {
		return fmt.Errorf("relay: decode envelope recordedAt: %w", err)
	}
	*e = Envelope{
		ID:            w.ID,
		Position:      w.Position,
		StreamID:      w.StreamID,
		StreamType:    w.StreamType,
		Version:       w.Version,
		Type:          w.Type,
		SchemaVersion: w.SchemaVersion,
		Data:          w.Data,
		OccurredAt:    occurred.UTC(),
		RecordedAt:    recorded.UTC(),
		Actor:         w.Actor,
		CorrelationID: deref(w.CorrelationID),
		CausationID:   deref(w.CausationID),
		DecisionID:    deref(w.DecisionID),
		Hash:          w.Hash,
		Source:        deref(w.Source),
	}
	return nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// EnvelopeOf returns the public form of a recorded event. Give it events read
// with the register's upcasters, so that Data is at its current schema
// version.
func EnvelopeOf(e eventstore.RecordedEvent) Envelope {
	return Envelope{
		ID:            e.ID.String(),
		Position:      e.Position.String(),
		StreamID:      e.StreamID,
		StreamType:    e.StreamType,
		Version:       e.Version,
		Type:          e.Type,
		SchemaVersion: max(e.SchemaVersion, 1),
		Data:          e.Data,
		OccurredAt:    e.OccurredAt.UTC(),
		RecordedAt:    e.RecordedAt.UTC(),
		Actor:         e.Metadata.Actor,
		CorrelationID: e.Metadata.CorrelationID,
		CausationID:   e.Metadata.CausationID,
		DecisionID:    e.Metadata.DecisionID,
		Hash:          hex.EncodeToString(e.Hash),
	}
}

// NewMessage returns the message the relay publishes for e: UUID = event id,
// the Meta... metadata, and the JSON envelope as payload, with no source.
func NewMessage(e eventstore.RecordedEvent) (*message.Message, error) {
	return NewMessageFrom(e, "")
}

// NewMessageFrom is NewMessage with the envelope's Source.
func NewMessageFrom(e eventstore.RecordedEvent, source string) (*message.Message, error) {
	env := EnvelopeOf(e)
	env.Source = source
	payload, err := env.MarshalJSON() // directly: json.Marshal would scan it again
	if err != nil {
		return nil, fmt.Errorf("relay: encode event %s: %w", env.ID, err)
	}
	msg := message.NewMessage(env.ID, payload)
	md := msg.Metadata
	md.Set(MetaEventType, env.Type)
	md.Set(MetaStreamID, env.StreamID)
	md.Set(MetaStreamType, env.StreamType)
	md.Set(MetaVersion, strconv.FormatInt(env.Version, 10))
	md.Set(MetaSchemaVersion, strconv.Itoa(env.SchemaVersion))
	md.Set(MetaPosition, env.Position)
	md.Set(MetaActor, env.Actor)
	for k, v := range map[string]string{
		MetaCorrelationID: env.CorrelationID,
		MetaCausationID:   env.CausationID,
		MetaDecisionID:    env.DecisionID,
		MetaSource:        env.Source,
	} {
		if v != "" {
			md.Set(k, v)
		}
	}
	return msg, nil
}

// DecodeMessage returns the envelope a relayed message carries.
func DecodeMessage(msg *message.Message) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(msg.Payload, &env); err != nil {
		return Envelope{}, err
	}
	return env, nil
}
