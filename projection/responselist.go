package projection

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// Responses returns the page of strategic responses after the cursor after
// ("" for the first page), in the order they were proposed, with at most
// first responses; status, when not "", selects the responses in that
// status.
func (r *Reader) Responses(ctx context.Context, status domain.ResponseStatus, first int, after string) (Page[Response], error) {
	if err := checkFirst(first); err != nil {
		return Page[Response]{}, err
	}
	if status != "" && !status.Valid() {
		return Page[Response]{}, fmt.Errorf("%w: unknown response status %q", ErrInvalidInput, status)
	}
	pos, err := parseDecisionCursor(after)
	if err != nil {
		return Page[Response]{}, err
	}
	q := &sqlwhere.Builder{}
	if status != "" {
		q.Where("t.status = %s", string(status))
	}
	page, err := positionPage(ctx, r.pool, "responses", "rm_responses", "created_position", responseColumns, q, pos, first, scanResponse)
	return derefPage(page), err
}

// positionPage reads a page of a read model in the order of a log position
// column: the list's total count under q's conditions and the first items
// after pos. The view is read as t.
func positionPage[T any](ctx context.Context, db Querier, what, view, posColumn, columns string, q *sqlwhere.Builder,
	pos eventstore.Position, first int, scan pgx.RowToFunc[T],
) (Page[T], error) {
	where := q.Conditions()
	pageWhere := where
	if !pos.IsZero() {
		pageWhere += " AND t." + posColumn + " > " + q.Arg(pos.String())
	}
	sql := `SELECT total.n, page.* FROM (SELECT count(*) AS n FROM ` + view + ` t WHERE ` + where + `) total
		LEFT JOIN LATERAL (SELECT ` + columns + ` FROM ` + view + ` t WHERE ` + pageWhere + `
			ORDER BY t.` + posColumn + ` LIMIT ` + q.Arg(first+1) + `) page ON true`
	rows, err := db.Query(ctx, sql, planned(q.Args...)...)
	if err != nil {
		return Page[T]{}, fmt.Errorf("projection: %s: %w", what, err)
	}
	page, err := collectPage(rows, first, scan)
	if err != nil {
		return Page[T]{}, fmt.Errorf("projection: %s: %w", what, err)
	}
	return page, nil
}

// Cursor returns the response's cursor in the order responses were
// proposed, for the after argument of Reader.Responses.
func (s Response) Cursor() string { return s.CreatedPosition.String() }
