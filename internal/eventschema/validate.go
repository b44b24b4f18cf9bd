package eventschema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator checks envelopes and event data against the schema files of a
// directory such as docs/events.
type Validator struct {
	c        *jsonschema.Compiler
	envelope *jsonschema.Schema
}

// LoadValidator loads every schema file in dir.
func LoadValidator(dir string) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("eventschema: %w", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("eventschema: %w", err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("eventschema: %s: %w", e.Name(), err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("eventschema: %s: %w", e.Name(), err)
		}
	}
	envelope, err := c.Compile(EnvelopeID)
	if err != nil {
		return nil, fmt.Errorf("eventschema: %w", err)
	}
	return &Validator{c: c, envelope: envelope}, nil
}

// Envelope validates a message payload, its data included.
func (v *Validator) Envelope(payload []byte) error {
	return validate(v.envelope, payload)
}

// Checkpoint validates the payload of a log checkpoint message.
func (v *Validator) Checkpoint(payload []byte) error {
	sch, err := v.c.Compile(CheckpointID)
	if err != nil {
		return fmt.Errorf("eventschema: %w", err)
	}
	return validate(sch, payload)
}

// Data validates the data of an event of the given type and schema version.
func (v *Validator) Data(eventType string, schemaVersion int, data []byte) error {
	sch, err := v.c.Compile(schemaID(eventType, schemaVersion))
	if err != nil {
		return fmt.Errorf("eventschema: %w", err)
	}
	return validate(sch, data)
}

func validate(sch *jsonschema.Schema, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("eventschema: %w", err)
	}
	return sch.Validate(v)
}
