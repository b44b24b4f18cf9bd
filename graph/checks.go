package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// operationChecks refuses, before anything runs and before the complexity
// is computed, what the GraphQL layer lets through but the contract does
// not: `first` over MaxPage (BAD_USER_INPUT), a string literal with a lone
// UTF-16 surrogate escape (BAD_USER_INPUT naming the argument or input
// field), an enum value of a variable that matches only in another case
// (GRAPHQL_VALIDATION_FAILED, as for any other invalid variable value), and
// introspection while it is off (GRAPHQL_VALIDATION_FAILED).
type operationChecks struct {
	schema        *ast.Schema
	introspection bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = operationChecks{}

// ExtensionName implements graphql.HandlerExtension.
func (operationChecks) ExtensionName() string { return "OperationChecks" }

// Validate implements graphql.HandlerExtension.
func (operationChecks) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (c operationChecks) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	op := opCtx.Operation
	if op == nil {
		return nil
	}
	for _, v := range op.VariableDefinitions {
		path := ast.Path{ast.PathName("variable"), ast.PathName(v.Variable)}
		if err := c.checkEnums(v.Type, opCtx.Variables[v.Variable], path); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	var visit func(set ast.SelectionSet) *gqlerror.Error
	visit = func(set ast.SelectionSet) *gqlerror.Error {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if err := c.checkField(s, opCtx.Variables); err != nil {
					return err
				}
				if err := visit(s.SelectionSet); err != nil {
					return err
				}
			case *ast.InlineFragment:
				if err := visit(s.SelectionSet); err != nil {
					return err
				}
			case *ast.FragmentSpread:
				// A fragment's checks do not depend on where it is spread.
				if s.Definition != nil && !seen[s.Name] {
					seen[s.Name] = true
					if err := visit(s.Definition.SelectionSet); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return visit(op.SelectionSet)
}

func (c operationChecks) checkField(f *ast.Field, vars map[string]any) *gqlerror.Error {
	if !c.introspection && (f.Name == "__schema" || f.Name == "__type") {
		return validationError("introspection is turned off on this server")
	}
	for _, arg := range f.Arguments {
		if arg.Name == "first" {
			v, err := arg.Value.Value(vars)
			if n, ok := intValue(v); err == nil && ok && n > MaxPage {
				return inputError(badInput("first", fmt.Sprintf("must be at most %d, got %d", MaxPage, n)))
			}
		}
		if err := checkLiterals(arg.Value, arg.Name); err != nil {
			return err
		}
	}
	return nil
}

// intValue returns v as an integer when it is one.
func intValue(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), n == float64(int64(n))
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// checkLiterals refuses a string literal in v (or in its lists and input
// objects) written with a lone UTF-16 surrogate escape: the parser would
// turn it into U+FFFD and store that.
func checkLiterals(v *ast.Value, field string) *gqlerror.Error {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case ast.StringValue, ast.BlockValue:
		// The parser decodes a lone surrogate to U+FFFD; only then is the
		// source worth a look, since U+FFFD itself is a fine character.
		if strings.ContainsRune(v.Raw, utf8.RuneError) && v.Position != nil && v.Position.Src != nil {
			src := []rune(v.Position.Src.Input)
			if v.Position.Start >= 0 && v.Position.End <= len(src) && v.Position.Start <= v.Position.End {
				if bad, ok := loneSurrogate(string(src[v.Position.Start:v.Position.End])); ok {
					return inputError(badInput(field, fmt.Sprintf("has a lone UTF-16 surrogate escape %s, which is no character", bad)))
				}
			}
		}
	case ast.ListValue:
		for _, child := range v.Children {
			if err := checkLiterals(child.Value, field); err != nil {
				return err
			}
		}
	case ast.ObjectValue:
		for _, child := range v.Children {
			if err := checkLiterals(child.Value, child.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkEnums refuses an enum value in a variable's value v of type t that is
// not exactly one of the enum's values: the variable validation compares
// them without regard to case, the resolvers with.
func (c operationChecks) checkEnums(t *ast.Type, v any, path ast.Path) *gqlerror.Error {
	if v == nil || t == nil {
		return nil
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return c.checkEnums(t.Elem, v, path)
		}
		for i, item := range list {
			if err := c.checkEnums(t.Elem, item, append(path[:len(path):len(path)], ast.PathIndex(i))); err != nil {
				return err
			}
		}
		return nil
	}
	def := c.schema.Types[t.NamedType]
	if def == nil {
		return nil
	}
	switch def.Kind {
	case ast.Enum:
		if s, ok := v.(string); ok && def.EnumValues.ForName(s) == nil {
			names := make([]string, len(def.EnumValues))
			for i, e := range def.EnumValues {
				names[i] = e.Name
			}
			err := validationError(fmt.Sprintf("%q is not a valid %s: one of %s", s, def.Name, strings.Join(names, ", ")))
			err.Path = path
			return err
		}
	case ast.InputObject:
		fields, _ := v.(map[string]any)
		for _, f := range def.Fields {
			if err := c.checkEnums(f.Type, fields[f.Name], append(path[:len(path):len(path)], ast.PathName(f.Name))); err != nil {
				return err
			}
		}
	}
	return nil
}

// inputError is a BAD_USER_INPUT answer for err, a *domain.ValidationError,
// given before anything runs; the error presenter adds its code and fields.
func inputError(err error) *gqlerror.Error {
	return &gqlerror.Error{Message: err.Error(), Err: err}
}

// loneSurrogate finds a \uXXXX escape of a UTF-16 surrogate in s (JSON or
// GraphQL string source) that is not half of a high-low pair; it returns the
// escape.
func loneSurrogate(s string) (string, bool) {
	for i := 0; i+6 <= len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++ // an escaped character, perhaps a backslash
			continue
		}
		r, ok := hex4(s[i+2 : i+6])
		switch {
		case !ok:
		case r >= 0xD800 && r < 0xDC00:
			if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
				if r2, ok := hex4(s[i+8 : i+12]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					i += 11
					continue
				}
			}
			return s[i : i+6], true
		case r >= 0xDC00 && r <= 0xDFFF:
			return s[i : i+6], true
		}
		i += 5
	}
	return "", false
}

func hex4(s string) (rune, bool) {
	var r rune
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
