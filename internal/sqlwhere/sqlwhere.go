// Package sqlwhere builds the WHERE clause of a query from optional
// conditions, with numbered parameters ($1, $2, ...) for their values.
package sqlwhere

import (
	"fmt"
	"strings"
)

// Builder collects conditions and their arguments. The zero value is ready.
type Builder struct {
	conds []string
	// Args are the query's arguments, in placeholder order.
	Args []any
}

// Arg adds an argument and returns its placeholder.
func (b *Builder) Arg(v any) string {
	b.Args = append(b.Args, v)
	return fmt.Sprintf("$%d", len(b.Args))
}

// Where adds a condition; each %s in format becomes the placeholder of the
// next value.
func (b *Builder) Where(format string, values ...any) {
	ph := make([]any, len(values))
	for i, v := range values {
		ph[i] = b.Arg(v)
	}
	b.conds = append(b.conds, fmt.Sprintf(format, ph...))
}

// Conditions returns the conditions joined with AND, or "true" when there
// are none.
func (b *Builder) Conditions() string {
	if len(b.conds) == 0 {
		return "true"
	}
	return strings.Join(b.conds, " AND ")
}
