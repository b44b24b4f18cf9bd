package projection

import (
	"context"
	"fmt"

	"github.com/riskreg/riskreg/domain"
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
		q.Where("s.status = %s", string(status))
	}
	where := q.Conditions()
	pageWhere := where
	if !pos.IsZero() {
		pageWhere += " AND s.created_position > " + q.Arg(pos.String())
	}
	sql := `SELECT total.n, page.* FROM (SELECT count(*) AS n FROM rm_responses s WHERE ` + where + `) total
		LEFT JOIN LATERAL (SELECT ` + responseColumns + ` FROM rm_responses s WHERE ` + pageWhere + `
			ORDER BY s.created_position LIMIT ` + q.Arg(first+1) + `) page ON true`
	rows, err := r.pool.Query(ctx, sql, planned(q.Args...)...)
	if err != nil {
		return Page[Response]{}, fmt.Errorf("projection: responses: %w", err)
	}
	page, err := collectPage(rows, first, scanResponse)
	if err != nil {
		return Page[Response]{}, fmt.Errorf("projection: responses: %w", err)
	}
	return derefPage(page), nil
}

// Cursor returns the response's cursor in the order responses were
// proposed, for the after argument of Reader.Responses.
func (s Response) Cursor() string { return s.CreatedPosition.String() }
