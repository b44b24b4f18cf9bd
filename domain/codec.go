package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// eventSpec describes one stored event type.
type eventSpec struct {
	name    string
	stream  string
	version int
	decode  func(data []byte) (Event, error)
}

// specOf describes the event type E, which belongs to streams of type stream.
func specOf[E Event](stream string) eventSpec {
	var zero E
	return eventSpec{
		name:    zero.EventType(),
		stream:  stream,
		version: zero.SchemaVersion(),
		decode: func(data []byte) (Event, error) {
			var e E
			if err := json.Unmarshal(data, &e); err != nil {
				return nil, fmt.Errorf("decode %s: %w", zero.EventType(), err)
			}
			return e, nil
		},
	}
}

// eventSpecs lists every event type, stream by stream.
var eventSpecs = []eventSpec{
	specOf[RiskRegistered](StreamRisk),
	specOf[RiskUpdated](StreamRisk),
	specOf[RiskAssessed](StreamRisk),
	specOf[RiskFlagged](StreamRisk),
	specOf[RiskTolerated](StreamRisk),
	specOf[RiskTreatmentStarted](StreamRisk),
	specOf[RiskMonitoringStarted](StreamRisk),
	specOf[RiskClosed](StreamRisk),
	specOf[RiskWithdrawn](StreamRisk),
	specOf[ResponseProposed](StreamResponse),
	specOf[ResponseRevised](StreamResponse),
	specOf[ResponseSubmitted](StreamResponse),
	specOf[ResponseRecommended](StreamResponse),
	specOf[ResponseReturned](StreamResponse),
	specOf[ResponseEndorsed](StreamResponse),
	specOf[ResponseRejected](StreamResponse),
	specOf[ResponseStarted](StreamResponse),
	specOf[ResponseImplemented](StreamResponse),
	specOf[ResponseVerified](StreamResponse),
	specOf[ResponseClosed](StreamResponse),
	specOf[ResponseWithdrawn](StreamResponse),
	specOf[DecisionRecorded](StreamDecision),
	specOf[RiskReviewOverdue](StreamCalendar),
	specOf[RiskToleranceLapsed](StreamCalendar),
	specOf[ResponseOverdue](StreamCalendar),
	specOf[SessionScheduled](StreamSession),
	specOf[ItemTabled](StreamSession),
}

// eventSpecByName indexes eventSpecs by type name.
var eventSpecByName = func() map[string]eventSpec {
	m := make(map[string]eventSpec, len(eventSpecs))
	for _, s := range eventSpecs {
		m[s.name] = s
	}
	return m
}()

// lookupEvent returns the spec of eventType or an error wrapping
// ErrUnknownEvent.
func lookupEvent(eventType string) (eventSpec, error) {
	s, ok := eventSpecByName[eventType]
	if !ok {
		return eventSpec{}, fmt.Errorf("%w: %q", ErrUnknownEvent, eventType)
	}
	return s, nil
}

// EventTypes returns the type name of every event, grouped by stream.
func EventTypes() []string {
	names := make([]string, len(eventSpecs))
	for i, s := range eventSpecs {
		names[i] = s.name
	}
	return names
}

// EventStreamType returns the stream type (StreamRisk, StreamResponse or
// StreamDecision) that events of eventType belong to.
func EventStreamType(eventType string) (string, error) {
	s, err := lookupEvent(eventType)
	return s.stream, err
}

// DecodeEvent decodes the data of a stored event of the given type. Only the
// current schema version of each type is accepted: upcast older data first
// (see UpcastRiskAssessedV1). An unknown type wraps ErrUnknownEvent, another
// schema version wraps ErrUnsupportedSchemaVersion.
//
// The decoded event is a value of the type's struct, e.g. RiskAssessed.
func DecodeEvent(eventType string, schemaVersion int, data []byte) (Event, error) {
	s, err := lookupEvent(eventType)
	if err != nil {
		return nil, err
	}
	if schemaVersion != s.version {
		return nil, fmt.Errorf("%w: %s version %d (current is %d)",
			ErrUnsupportedSchemaVersion, eventType, schemaVersion, s.version)
	}
	return s.decode(data)
}

// riskAssessedV1 is the data of RiskAssessed at schema version 1, before
// ratings had kinds: every assessment set the inherent rating.
type riskAssessedV1 struct {
	Likelihood int       `json:"likelihood"`
	Impact     int       `json:"impact"`
	Rationale  string    `json:"rationale"`
	AssessedBy string    `json:"assessedBy"`
	AssessedAt time.Time `json:"assessedAt"`
}

// UpcastRiskAssessedV1 turns the data of a version 1 RiskAssessed event into
// version 2 data with kind INHERENT, which is what version 1 always meant.
func UpcastRiskAssessedV1(data []byte) ([]byte, error) {
	var v1 riskAssessedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, fmt.Errorf("upcast %s v1: %w", EventRiskAssessed, err)
	}
	return json.Marshal(RiskAssessed{
		Kind:       RatingKindInherent,
		Likelihood: v1.Likelihood,
		Impact:     v1.Impact,
		Rationale:  v1.Rationale,
		AssessedBy: v1.AssessedBy,
		AssessedAt: v1.AssessedAt,
	})
}
