package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/graph/model"
)

// Assumed sizes of the lists whose length no argument bounds, for the
// complexity of a query.
const (
	listResponses = 10  // responses of one risk
	listDecisions = 10  // decisions naming one subject
	listEffects   = 10  // effects of one decision
	listHeatCells = 25  // cells of the heat map, each with its risks
	listMoves     = 100 // moves of heatMapMovement (at most MaxMoves)
	listChanged   = 10  // events of one risk between two instants
)

// complexity makes each list field cost its children times the number of
// items it may return: `first` for connections, an assumed size otherwise.
func complexity() ComplexityRoot {
	var c ComplexityRoot
	times := func(first *int, def int) func(int) int {
		n := def
		if first != nil && *first > 0 {
			n = *first
		}
		return func(child int) int { return 1 + n*child }
	}
	c.Query.Risks = func(child int, _ *model.RiskFilter, first *int, _ *string, _ *time.Time) int {
		return times(first, 50)(child)
	}
	c.Query.Decisions = func(child int, _ *domain.Body, first *int, _ *string) int { return times(first, 50)(child) }
	c.Query.Events = func(child int, first *int, _ *string, _ *string, _ []string, _ *time.Time, _ *time.Time, _ *string, _ *string) int {
		return times(first, 100)(child)
	}
	c.Query.HeatMap = func(child int, _ *time.Time, _ *domain.RatingKind) int { return 1 + child }
	c.HeatMap.Cells = func(child int) int { return 1 + listHeatCells*child }
	c.HeatMapCell.Risks = func(child int) int { return 1 + listResponses*child }
	c.Risk.History = func(child int, first *int, _ *string) int { return times(first, 100)(child) }
	c.Risk.Responses = func(child int) int { return 1 + listResponses*child }
	c.Risk.Decisions = func(child int) int { return 1 + listDecisions*child }
	c.StrategicResponse.History = func(child int, first *int, _ *string) int { return times(first, 100)(child) }
	c.StrategicResponse.Decisions = func(child int) int { return 1 + listDecisions*child }
	c.Decision.Effects = func(child int) int { return 1 + listEffects*child }
	c.Query.RegisterChanges = func(child int, _ time.Time, _ *time.Time, _ *model.RiskFilter, first *int, _ *string) int {
		return times(first, 50)(child)
	}
	c.RiskChange.Events = func(child int) int { return 1 + listChanged*child }
	c.RiskChange.Decisions = func(child int) int { return 1 + listDecisions*child }
	c.Query.HeatMapMovement = func(child int, _ time.Time, _ *time.Time, _ *domain.RatingKind) int { return 1 + listMoves*child }
	calendarComplexity(&c, times)
	return c
}

// shapeLimit refuses operations nested deeper than maxDepth or with more than
// maxAliases aliased fields, before anything runs. Introspection fields
// (__schema, __type) do not count towards the depth, so the standard
// introspection query passes.
type shapeLimit struct {
	maxDepth, maxAliases int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (shapeLimit) ExtensionName() string { return "ShapeLimit" }

// Validate implements graphql.HandlerExtension.
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (l shapeLimit) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	aliases := 0
	depth := selectionDepth(opCtx.Operation.SelectionSet, &aliases, 0)
	switch {
	case depth > l.maxDepth:
		return validationError(fmt.Sprintf("the query is nested %d levels deep; the limit is %d", depth, l.maxDepth))
	case aliases > l.maxAliases:
		return validationError(fmt.Sprintf("the query has %d aliases; the limit is %d", aliases, l.maxAliases))
	}
	return nil
}

// selectionDepth returns the depth of set and counts its aliased fields.
// Fragments are expanded where they are used; validation has already refused
// fragment cycles.
func selectionDepth(set ast.SelectionSet, aliases *int, seen int) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				continue
			}
			if s.Alias != "" && s.Alias != s.Name {
				*aliases++
			}
			d = 1 + selectionDepth(s.SelectionSet, aliases, seen)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, aliases, seen)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, aliases, seen)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

func validationError(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": errcode.ValidationFailed}}
}
