// Package eventschema generates the JSON Schemas of riskreg's public event
// contract from the domain's event structs: one schema per event type and
// schema version, and one of the envelope the relay publishes. The files
// under docs/events/ are its output; a test fails when they and the domain
// drift apart. Run
//
//	go test ./internal/eventschema -run TestSchemaFiles -update
//
// to write them again after a compatible change (see docs/events.md).
package eventschema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/relay"
)

// Draft is the JSON Schema dialect of every schema.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// events lists one value of every event struct; a test checks it against
// domain.EventTypes().
var events = []domain.Event{
	domain.RiskRegistered{}, domain.RiskUpdated{}, domain.RiskAssessed{}, domain.RiskFlagged{},
	domain.RiskTolerated{}, domain.RiskTreatmentStarted{}, domain.RiskMonitoringStarted{},
	domain.RiskClosed{}, domain.RiskWithdrawn{},
	domain.ResponseProposed{}, domain.ResponseRevised{}, domain.ResponseSubmitted{},
	domain.ResponseRecommended{}, domain.ResponseReturned{}, domain.ResponseEndorsed{},
	domain.ResponseRejected{}, domain.ResponseStarted{}, domain.ResponseImplemented{},
	domain.ResponseVerified{}, domain.ResponseClosed{}, domain.ResponseWithdrawn{},
	domain.DecisionRecorded{},
	domain.RiskReviewOverdue{}, domain.RiskToleranceLapsed{}, domain.ResponseOverdue{},
	domain.SessionScheduled{}, domain.ItemTabled{},
}

// accessEvents lists the events of the access stream (package auth), which
// are not the domain's but are published like them.
var accessEvents = []domain.Event{auth.TokenIssued{}, auth.TokenRevoked{}}

// Enums gives the values of the domain's string enums, as their JSON
// Schema "enum". A test checks it against the constants in package domain.
var Enums = map[reflect.Type][]string{
	reflect.TypeFor[domain.Body]():           {"AUDIT_COMMITTEE", "POLICY_COMMISSION", "COUNCIL"},
	reflect.TypeFor[domain.DecisionKind]():   {"FLAG", "ADVICE", "VERIFY", "RECOMMEND", "RETURN", "ENDORSE", "REJECT", "ACCEPT_RISK", "CLOSE_RISK", "NOTE"},
	reflect.TypeFor[domain.RatingKind]():     {"INHERENT", "RESIDUAL", "TARGET"},
	reflect.TypeFor[domain.ResponseOption](): {"AVOID", "REDUCE", "SHARE", "ACCEPT"},
	reflect.TypeFor[domain.SubjectKind]():    {"RISK", "RESPONSE"},
}

// Event describes one event type of the contract.
type Event struct {
	Type          string // e.g. "RiskAssessed"
	StreamType    string // "risk", "response" or "decision"
	SchemaVersion int    // current version of its data
	File          string // schema file name, e.g. "RiskAssessed.v2.json"
	ID            string // the schema's $id
}

// Events returns every event type with its current schema version: the
// domain's in the order of domain.EventTypes(), then the access stream's.
func Events() ([]Event, error) {
	out := make([]Event, 0, len(events)+len(accessEvents))
	for i, e := range EventValues() {
		stream := auth.AccessStreamType
		if i < len(events) {
			var err error
			if stream, err = domain.EventStreamType(e.EventType()); err != nil {
				return nil, err
			}
		}
		out = append(out, Event{
			Type: e.EventType(), StreamType: stream, SchemaVersion: e.SchemaVersion(),
			File: fileName(e.EventType(), e.SchemaVersion()), ID: schemaID(e.EventType(), e.SchemaVersion()),
		})
	}
	return out, nil
}

// EventValues returns a zero value of every event struct, in the order of
// Events.
func EventValues() []domain.Event { return slices.Concat(events, accessEvents) }

func fileName(eventType string, version int) string {
	return fmt.Sprintf("%s.v%d.json", eventType, version)
}

func schemaID(eventType string, version int) string {
	return fmt.Sprintf("urn:riskreg:event:%s:v%d", eventType, version)
}

// EnvelopeFile and EnvelopeID name the envelope's schema.
const (
	EnvelopeFile = "envelope.v1.json"
	EnvelopeID   = "urn:riskreg:envelope:v1"
)

// CheckpointFile and CheckpointID name the schema of the log checkpoint
// messages (relay.CheckpointMessage).
const (
	CheckpointFile = "log-checkpoint.v1.json"
	CheckpointID   = "urn:riskreg:log-checkpoint:v1"
)

// Generate returns the current schema files by name: the data schema of
// every event type at its current version, the envelope's, and the log
// checkpoint message's.
func Generate() (map[string][]byte, error) {
	infos, err := Events()
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(infos)+1)
	for i, e := range EventValues() {
		info := infos[i]
		s, err := schemaOf(reflect.TypeOf(e))
		if err != nil {
			return nil, fmt.Errorf("eventschema: %s: %w", info.Type, err)
		}
		doc := map[string]any{
			"$schema":     Draft,
			"$id":         info.ID,
			"title":       fmt.Sprintf("%s data, schema version %d", info.Type, info.SchemaVersion),
			"description": fmt.Sprintf("The data of a %s event (stream type %q). See docs/events.md.", info.Type, info.StreamType),
		}
		for k, v := range s {
			doc[k] = v
		}
		if files[info.File], err = encode(doc); err != nil {
			return nil, err
		}
	}
	env, err := encode(envelopeSchema(infos))
	if err != nil {
		return nil, err
	}
	files[EnvelopeFile] = env
	cp, err := schemaOf(reflect.TypeFor[relay.CheckpointMessage]())
	if err != nil {
		return nil, fmt.Errorf("eventschema: checkpoint message: %w", err)
	}
	cp["$schema"], cp["$id"] = Draft, CheckpointID
	cp["title"] = "riskreg log checkpoint message, version 1"
	cp["description"] = "The payload of every message a relay publishes on riskreg.log.checkpoint: a signed checkpoint of the Merkle log. See docs/events.md."
	if files[CheckpointFile], err = encode(cp); err != nil {
		return nil, err
	}
	return files, nil
}

func encode(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// schema is one JSON Schema object.
type schema = map[string]any

var (
	timeType = reflect.TypeFor[time.Time]()
	dateType = reflect.TypeFor[domain.Date]()
)

// schemaOf returns the schema of values of t as encoding/json writes them.
func schemaOf(t reflect.Type) (schema, error) {
	switch {
	case t == timeType:
		return schema{"type": "string", "format": "date-time"}, nil
	case t == dateType:
		// The zero Date (no date) encodes as null.
		return schema{"type": []string{"string", "null"}, "format": "date"}, nil
	}
	if values, ok := Enums[t]; ok {
		return schema{"type": "string", "enum": values}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return schema{"type": "string"}, nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		return schema{"type": "integer"}, nil
	case reflect.Uint64:
		return schema{"type": "integer", "minimum": 0}, nil
	case reflect.Bool:
		return schema{"type": "boolean"}, nil
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.Slice:
		items, err := schemaOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return schema{"type": "array", "items": items}, nil
	case reflect.Struct:
		props := map[string]any{}
		required := []string{}
		if err := addFields(t, props, &required); err != nil {
			return nil, err
		}
		s := schema{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s, nil
	}
	return nil, fmt.Errorf("no JSON Schema for Go type %s", t)
}

// addFields adds the JSON fields of struct t, flattening embedded structs as
// encoding/json does.
func addFields(t reflect.Type, props map[string]any, required *[]string) error {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if err := addFields(f.Type, props, required); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		s, err := schemaOf(f.Type)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		optional := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		if typ, ok := s["type"].(string); ok && f.Type.Kind() == reflect.Pointer && !optional {
			s["type"] = []string{typ, "null"} // a nil pointer encodes as null
		}
		props[name] = s
		if !optional {
			*required = append(*required, name)
		}
	}
	return nil
}

// envelopeSchema is the schema of relay.Envelope's JSON form; each event
// type's data refers to its own schema.
func envelopeSchema(infos []Event) schema {
	id := schema{"type": "string", "format": "uuid"}
	optionalID := schema{"type": []string{"string", "null"}}
	stamp := schema{"type": "string", "format": "date-time"}
	var byType []any
	var types []string
	for _, e := range infos {
		types = append(types, e.Type)
		byType = append(byType, schema{
			"if": schema{"properties": schema{"type": schema{"const": e.Type}}},
			"then": schema{"properties": schema{
				"streamType":    schema{"const": e.StreamType},
				"schemaVersion": schema{"const": e.SchemaVersion},
				"data":          schema{"$ref": e.ID},
			}},
		})
	}
	return schema{
		"$schema":     Draft,
		"$id":         EnvelopeID,
		"title":       "riskreg event envelope, version 1",
		"description": "The payload of every message the relay publishes: the fields of the GraphQL contract's Event type, plus schemaVersion and hash. See docs/events.md.",
		"type":        "object",
		"required": []string{"id", "position", "streamId", "streamType", "version", "type", "schemaVersion", "data",
			"occurredAt", "recordedAt", "actor", "correlationId", "causationId", "decisionId", "hash"},
		"properties": schema{
			"id":            id,
			"position":      schema{"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "opaque cursor into the global log; string order is log order"},
			"streamId":      schema{"type": "string", "minLength": 1},
			"streamType":    schema{"enum": []string{domain.StreamRisk, domain.StreamResponse, domain.StreamDecision, domain.StreamCalendar, domain.StreamSession, auth.AccessStreamType}},
			"version":       schema{"type": "integer", "minimum": 1},
			"type":          schema{"enum": types},
			"schemaVersion": schema{"type": "integer", "minimum": 1},
			"data":          schema{"type": "object"},
			"occurredAt":    stamp,
			"recordedAt":    stamp,
			"actor":         schema{"type": "string"},
			"correlationId": optionalID,
			"causationId":   optionalID,
			"decisionId":    optionalID,
			"hash":          schema{"type": "string", "pattern": "^[0-9a-f]{64}$"},
			"source":        schema{"type": []string{"string", "null"}, "description": "the riskreg instance that published the event (--source-id); absent or null from publishers that set none"},
		},
		"allOf": byType,
	}
}
