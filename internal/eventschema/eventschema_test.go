package eventschema_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/eventschema"
	"github.com/riskreg/riskreg/relay"
)

var update = flag.Bool("update", false, "write docs/events/ from the domain's event structs")

// schemaDir is where the schema files live.
var schemaDir = filepath.Join("..", "..", "docs", "events")

func TestEventsCoverDomain(t *testing.T) {
	var got []string
	infos, err := eventschema.Events()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range infos {
		got = append(got, e.Type)
	}
	if want := append(domain.EventTypes(), auth.EventTokenIssued, auth.EventTokenRevoked); !slices.Equal(got, want) {
		t.Errorf("eventschema lists %v,\ndomain has %v: add the new event to eventschema.events", got, want)
	}
}

// TestEnumsMatchDomain reads the enum constants from package domain's
// source, so that a new value cannot be missed.
func TestEnumsMatchDomain(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "..", "domain", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]reflect.Type{}
	for typ := range eventschema.Enums {
		names[typ.Name()] = typ
	}
	found := map[reflect.Type][]string{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok || spec.Type == nil || len(spec.Values) != len(spec.Names) {
				return true
			}
			ident, ok := spec.Type.(*ast.Ident)
			if !ok || names[ident.Name] == nil {
				return true
			}
			for _, v := range spec.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					found[names[ident.Name]] = append(found[names[ident.Name]], s)
				}
			}
			return true
		})
	}
	for typ, want := range eventschema.Enums {
		if got := found[typ]; !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("domain.%s has %v, eventschema.Enums lists %v", typ.Name(), got, want)
		}
		for _, v := range want {
			if !reflect.ValueOf(v).Convert(typ).Interface().(interface{ Valid() bool }).Valid() {
				t.Errorf("domain.%s(%q) is not Valid", typ.Name(), v)
			}
		}
	}
}

// TestSchemaFiles checks that docs/events/ holds exactly what the domain's
// structs generate for their current versions; files of older versions stay
// as they were (frozen).
func TestSchemaFiles(t *testing.T) {
	files, err := eventschema.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(schemaDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(schemaDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(schemaDir, name))
		if err != nil {
			t.Errorf("%v: run go test ./internal/eventschema -run TestSchemaFiles -update", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/events/%s differs from the domain's structs: a changed event needs the rules of docs/events.md "+
				"(a new schema version for a breaking change); then run go test ./internal/eventschema -run TestSchemaFiles -update", name)
		}
	}
	// Older versions: frozen files, one per version below the current one.
	infos, _ := eventschema.Events()
	current := map[string]int{}
	for _, e := range infos {
		current[e.Type] = e.SchemaVersion
	}
	entries, err := os.ReadDir(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^([A-Za-z]+)\.v([0-9]+)\.json$`)
	for _, entry := range entries {
		if _, ok := files[entry.Name()]; ok {
			continue
		}
		m := name.FindStringSubmatch(entry.Name())
		if m == nil {
			t.Errorf("docs/events/%s: not a schema file name", entry.Name())
			continue
		}
		v, _ := strconv.Atoi(m[2])
		if cur, ok := current[m[1]]; !ok || v >= cur {
			t.Errorf("docs/events/%s: no such event type or older version (current %d)", entry.Name(), cur)
		}
	}
}

// TestSchemasAcceptEvents validates an encoded value of every event type,
// with every field set and with none, and its envelope.
func TestSchemasAcceptEvents(t *testing.T) {
	v, err := eventschema.LoadValidator(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	infos, _ := eventschema.Events()
	for i, zero := range eventschema.EventValues() {
		info := infos[i]
		full := reflect.New(reflect.TypeOf(zero)).Elem()
		fill(full)
		for _, e := range []domain.Event{full.Interface().(domain.Event), optionalOnly(zero)} {
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Data(info.Type, info.SchemaVersion, data); err != nil {
				t.Errorf("%s rejects %s: %v", info.File, data, err)
			}
			rec := eventstore.RecordedEvent{
				ID: uuid.New(), StreamID: "s-1", StreamType: info.StreamType, Version: 1, Type: info.Type,
				SchemaVersion: info.SchemaVersion, Data: data, Metadata: eventstore.Metadata{Actor: "alice", DecisionID: "d-1"},
				OccurredAt: time.Now(), RecordedAt: time.Now(), Hash: make([]byte, 32),
			}
			env, err := json.Marshal(relay.EnvelopeOf(rec))
			if err != nil {
				t.Fatal(err)
			}
			// The zero position encodes as "": the log has none.
			env = bytes.Replace(env, []byte(`"position":""`), []byte(`"position":"00000000000000010000000000000001"`), 1)
			if err := v.Envelope(env); err != nil {
				t.Errorf("the envelope schema rejects %s: %v", env, err)
			}
		}
	}
	// And refuses what is not the contract.
	bad, _ := json.Marshal(domain.RiskAssessed{Kind: "SIDEWAYS"})
	if v.Data(domain.EventRiskAssessed, 2, bad) == nil {
		t.Errorf("RiskAssessed.v2.json accepts an unknown rating kind")
	}
}

// optionalOnly returns the zero value of an event, which leaves every
// optional field out; required fields are still encoded (as zero values).
func optionalOnly(zero domain.Event) domain.Event {
	v := reflect.New(reflect.TypeOf(zero)).Elem()
	fillRequired(v)
	return v.Interface().(domain.Event)
}

var at = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// fill sets every field of v to a valid value.
func fill(v reflect.Value) {
	t := v.Type()
	switch {
	case t == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(at))
		return
	case t == reflect.TypeFor[domain.Date]():
		v.Set(reflect.ValueOf(domain.DateOf(at)))
		return
	}
	if values, ok := eventschema.Enums[t]; ok {
		v.SetString(values[0])
		return
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(3)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(t, 1, 1))
		fill(v.Index(0))
	case reflect.Struct:
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// fillRequired sets only the fields without omitempty or omitzero, and only
// where their zero value would not be valid JSON for the contract (enums,
// slices); strings and numbers stay zero.
func fillRequired(v reflect.Value) {
	t := v.Type()
	for i := range v.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if strings.Contains(f.Tag.Get("json"), ",omit") {
			continue
		}
		switch {
		case f.Anonymous:
			fillRequired(v.Field(i))
		case eventschema.Enums[f.Type] != nil, f.Type.Kind() == reflect.Slice, f.Type == reflect.TypeFor[time.Time]():
			fill(v.Field(i))
		}
	}
}

// TestDocsListEveryEvent checks that docs/events.md documents every event
// type and links its schema.
func TestDocsListEveryEvent(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	infos, _ := eventschema.Events()
	for _, e := range infos {
		if !bytes.Contains(doc, []byte("(events/"+e.File+")")) {
			t.Errorf("docs/events.md does not link events/%s", e.File)
		}
	}
	if !bytes.Contains(doc, []byte("(events/"+eventschema.EnvelopeFile+")")) {
		t.Errorf("docs/events.md does not link events/%s", eventschema.EnvelopeFile)
	}
}
