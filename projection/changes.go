package projection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
)

// Change is a risk that changed between two instants: its state at both,
// and the events in between.
type Change struct {
	// Before is the risk at the first instant; nil when it was registered
	// after it.
	Before *Risk
	// After is the risk at the second instant.
	After Risk
	// EventIDs are the ids of the risk's events recorded after the first
	// instant and up to the second, oldest first.
	EventIDs []uuid.UUID
}

// changedSQL selects the risks with a version made after $1 and up to $2,
// as they stood at $2: a risk changed in between exactly when its version
// valid at $2 was made after $1, so these are the versions made in between
// that are still valid at $2, read from index (generation, from_at). The
// cost follows the changes between the instants, not the register or the
// log.
const changedSQL = `SELECT * FROM rm_risk_history r WHERE r.from_at > $1 AND r.from_at <= $2 AND r.to_at > $2`

// Changes returns the page of the risks that changed after from and up to
// to (each truncated to the microsecond, as recorded_at is), in the
// register's order, after the cursor after; filter selects them by their
// state at to.
func (r *Reader) Changes(ctx context.Context, from, to time.Time, filter RiskFilter, first int, after string) (Page[Change], error) {
	from, to = from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond)
	sql, args, err := risksPageSQL(filter, first, after, &to, &from, true)
	if err != nil {
		return Page[Change]{}, err
	}
	rows, err := r.pool.Query(ctx, sql, planned(args...)...)
	if err != nil {
		return Page[Change]{}, fmt.Errorf("projection: register changes: %w", err)
	}
	risks, err := collectPage(rows, first, scanRisk)
	if err != nil {
		return Page[Change]{}, fmt.Errorf("projection: register changes: %w", err)
	}
	ids := make([]string, len(risks.Items))
	for i, risk := range risks.Items {
		ids[i] = risk.ID
	}
	before, err := r.At(from).RisksByID(ctx, ids)
	if err != nil {
		return Page[Change]{}, err
	}
	events, err := r.eventsBetween(ctx, ids, from, to)
	if err != nil {
		return Page[Change]{}, err
	}
	page := Page[Change]{TotalCount: risks.TotalCount, HasNextPage: risks.HasNextPage, Items: make([]Change, len(ids))}
	for i, risk := range risks.Items {
		c := Change{After: *risk, EventIDs: events[risk.ID]}
		if b, ok := before[risk.ID]; ok {
			c.Before = &b
		}
		page.Items[i] = c
	}
	return page, nil
}

// Cursor returns the change's cursor: its risk's in the register's order.
func (c Change) Cursor() string { return c.After.Cursor() }

// eventsBetween returns the ids of the events of the given risks recorded
// after from and up to to, oldest first, by risk.
func (r *Reader) eventsBetween(ctx context.Context, riskIDs []string, from, to time.Time) (map[string][]uuid.UUID, error) {
	rows, err := r.pool.Query(ctx, `SELECT risk_id, event_id FROM rm_risk_history
		WHERE risk_id = ANY($1) AND from_at > $2 AND from_at <= $3 ORDER BY risk_id, version`, planned(riskIDs, from, to)...)
	if err != nil {
		return nil, fmt.Errorf("projection: events between: %w", err)
	}
	out := make(map[string][]uuid.UUID)
	var id string
	var eventID uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&id, &eventID}, func() error {
		out[id] = append(out[id], eventID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projection: events between: %w", err)
	}
	return out, nil
}

// DecisionsBetween returns, for each of the given ids, the decisions that
// named it recorded after from and up to to, oldest first.
func (r *Reader) DecisionsBetween(ctx context.Context, subjectIDs []string, from, to time.Time) (map[string][]Decision, error) {
	return decisionsRecorded(ctx, r.pool, subjectIDs, from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond))
}

// Cell is a place on a heat map.
type Cell struct{ Likelihood, Impact int }

// Move is a risk whose cell on a heat map differs between two instants.
type Move struct {
	// Risk is the risk at the second instant.
	Risk Risk
	// From and To are its cells at the two instants; nil when it was not on
	// the map (not registered or not rated yet, or CLOSED or WITHDRAWN).
	From, To *Cell
}

// ErrTooManyMoves is the error of Moves when more risks moved than it may
// return.
var ErrTooManyMoves = errors.New("projection: too many risks moved")

// Moves returns the risks whose cell on the heat map of kind moved after
// from and up to to, in the register's order. More than limit moves is an
// ErrTooManyMoves, and no moves: a caller that draws them needs all of
// them, and a window that long is better read page by page (Changes).
func (r *Reader) Moves(ctx context.Context, from, to time.Time, kind domain.RatingKind, limit int) ([]Move, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("%w: unknown rating kind %q", ErrInvalidInput, kind)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: the limit of moves must be positive, got %d", ErrInvalidInput, limit)
	}
	from, to = from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond)
	rows, err := r.pool.Query(ctx, movesSQL(kind), planned(from, to)...)
	if err != nil {
		return nil, fmt.Errorf("projection: heat map movement: %w", err)
	}
	var out []Move
	var bl, bi *int16
	var onMap bool
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		risk, err := scanRisk(prefixedRow{CollectableRow: row, prefix: []any{&bl, &bi, &onMap}})
		if err != nil {
			return struct{}{}, err
		}
		m := Move{Risk: *risk}
		if bl != nil {
			m.From = &Cell{Likelihood: int(*bl), Impact: int(*bi)}
		}
		if onMap {
			rating := risk.Rating(kind)
			m.To = &Cell{Likelihood: rating.Likelihood, Impact: rating.Impact}
		}
		if m.From != nil && m.To != nil && *m.From == *m.To || m.From == nil && m.To == nil {
			return struct{}{}, nil
		}
		if len(out) == limit {
			return struct{}{}, fmt.Errorf("%w: more than %d", ErrTooManyMoves, limit)
		}
		out = append(out, m)
		return struct{}{}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("projection: heat map movement: %w", err)
	}
	return out, nil
}

// movesSQL selects, for each risk that changed after $1 and up to $2, its
// cell on the heat map of kind at $1 (NULL when off the map), whether it is
// on the map at $2, and the risk at $2, in the register's order.
func movesSQL(kind domain.RatingKind) string {
	l, i := ratingColumns(kind)
	cell := `CASE WHEN %[1]s.status NOT IN ('CLOSED', 'WITHDRAWN') THEN %[1]s.` + l + ` END, %[1]s.` + i
	return `WITH changed AS MATERIALIZED (` + changedSQL + `)
		SELECT ` + fmt.Sprintf(cell, "b") + `, r.` + l + ` IS NOT NULL AND r.status NOT IN ('CLOSED', 'WITHDRAWN'), ` +
		prefixed("r", riskColumns) + `
		FROM changed r LEFT JOIN LATERAL (SELECT * FROM rm_risk_history b
			WHERE b.risk_id = r.risk_id AND b.from_at <= $1 AND b.to_at > $1 LIMIT 1) b ON true
		ORDER BY length(r.reference), r.reference, r.risk_id`
}

// prefixed qualifies each of a list of columns with alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
