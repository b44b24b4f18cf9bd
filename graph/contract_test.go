package graph_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// contractPath is the public contract, kept outside the repository; the
// committed copy is graph/schema.graphqls.
const contractPath = "../../shared/contract/core.graphql"

// loadSchema parses the SDL files into a schema.
func loadSchema(t *testing.T, files ...string) *ast.Schema {
	t.Helper()
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	schema, err := gqlparser.LoadSchema(sources...)
	if err != nil {
		t.Fatalf("parse %v: %v", files, err)
	}
	return schema
}

// TestSchemaContainsTheContract checks that every type, field, argument
// (with its type and default), input field, interface and enum value of the
// contract is in the service's schema with the same signature.
func TestSchemaContainsTheContract(t *testing.T) {
	contract := loadSchema(t, "schema.graphqls")
	if _, err := os.Stat(contractPath); err == nil {
		// The committed copy must be the contract itself, comments included.
		want, _ := os.ReadFile(contractPath)
		got, _ := os.ReadFile("schema.graphqls")
		if string(want) != string(got) {
			t.Errorf("graph/schema.graphqls differs from %s: copy the contract again", contractPath)
		}
		contract = loadSchema(t, contractPath)
	}
	files, err := filepath.Glob("*.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	service := loadSchema(t, files...)
	checkContains(t, contract, service)
}

func checkContains(t *testing.T, contract, service *ast.Schema) {
	t.Helper()
	for name, want := range contract.Types {
		if want.BuiltIn {
			continue
		}
		got := service.Types[name]
		if got == nil {
			t.Errorf("type %s is missing", name)
			continue
		}
		if got.Kind != want.Kind {
			t.Errorf("type %s is %s, contract says %s", name, got.Kind, want.Kind)
		}
		for _, iface := range want.Interfaces {
			if !contains(got.Interfaces, iface) {
				t.Errorf("type %s does not implement %s", name, iface)
			}
		}
		for _, v := range want.EnumValues {
			if got.EnumValues.ForName(v.Name) == nil {
				t.Errorf("enum value %s.%s is missing", name, v.Name)
			}
		}
		for _, wf := range want.Fields {
			gf := got.Fields.ForName(wf.Name)
			if gf == nil {
				t.Errorf("field %s.%s is missing", name, wf.Name)
				continue
			}
			if gf.Type.String() != wf.Type.String() {
				t.Errorf("field %s.%s has type %s, contract says %s", name, wf.Name, gf.Type, wf.Type)
			}
			if valueString(gf.DefaultValue) != valueString(wf.DefaultValue) {
				t.Errorf("input field %s.%s defaults to %s, contract says %s", name, wf.Name, valueString(gf.DefaultValue), valueString(wf.DefaultValue))
			}
			for _, wa := range wf.Arguments {
				ga := gf.Arguments.ForName(wa.Name)
				switch {
				case ga == nil:
					t.Errorf("argument %s.%s(%s) is missing", name, wf.Name, wa.Name)
				case ga.Type.String() != wa.Type.String():
					t.Errorf("argument %s.%s(%s) has type %s, contract says %s", name, wf.Name, wa.Name, ga.Type, wa.Type)
				case valueString(ga.DefaultValue) != valueString(wa.DefaultValue):
					t.Errorf("argument %s.%s(%s) defaults to %s, contract says %s", name, wf.Name, wa.Name,
						valueString(ga.DefaultValue), valueString(wa.DefaultValue))
				}
			}
			// Arguments the service adds must be optional, or old clients break.
			for _, ga := range gf.Arguments {
				if wf.Arguments.ForName(ga.Name) == nil && ga.Type.NonNull && ga.DefaultValue == nil {
					t.Errorf("argument %s.%s(%s) is new and required", name, wf.Name, ga.Name)
				}
			}
		}
	}
	for _, root := range []struct {
		name      string
		want, got *ast.Definition
	}{
		{"query", contract.Query, service.Query},
		{"mutation", contract.Mutation, service.Mutation},
		{"subscription", contract.Subscription, service.Subscription},
	} {
		if (root.want == nil) != (root.got == nil) || (root.want != nil && root.want.Name != root.got.Name) {
			t.Errorf("%s root type differs from the contract", root.name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func valueString(v *ast.Value) string {
	if v == nil {
		return "<none>"
	}
	return v.String()
}

// TestContractCheckCatchesDrift makes sure the check fails on a changed
// schema: a changed argument type, a missing enum value and a missing field.
func TestContractCheckCatchesDrift(t *testing.T) {
	contract := gqlparser.MustLoadSchema(&ast.Source{Input: `
type Query { a(first: Int = 50): [String!]!, b: Int }
enum E { X Y }`})
	drifted := gqlparser.MustLoadSchema(&ast.Source{Input: `
type Query { a(first: Int = 10): [String!]! }
enum E { X }`})
	rec := &testing.T{}
	checkContains(rec, contract, drifted)
	if !rec.Failed() {
		t.Error("a schema with a changed default, a missing field and a missing enum value passed the contract check")
	}
}
