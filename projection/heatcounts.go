package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
)

// HeatMapCellIDs returns the ids of the risks in one cell of the heat map
// of the given rating kind, in the register's order.
func (r *Reader) HeatMapCellIDs(ctx context.Context, kind domain.RatingKind, likelihood, impact int) ([]string, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	return queryAll(ctx, r.pool, "heat map cell", pgx.RowTo[string], `SELECT risk_id FROM rm_heat_map
		WHERE kind = $1 AND likelihood = $2 AND impact = $3 ORDER BY length(reference), reference, risk_id`,
		planned(string(kind), likelihood, impact)...)
}

// Place is a cell of the heat map: a likelihood and an impact.
type Place struct{ Likelihood, Impact int }

// Places returns the cell of every risk on the heat map, by risk id.
func (h HeatMap) Places() map[string]Place {
	places := make(map[string]Place)
	for _, c := range h.Cells {
		for _, id := range c.RiskIDs {
			places[id] = Place{c.Likelihood, c.Impact}
		}
	}
	return places
}

// HeatMapChanges returns the risks whose last event was recorded after
// since, each with its cell on the heat map of the given rating kind now, or
// nil when it is not on it. Every other risk stands where it stood at since,
// so these are all a comparison with since needs to read.
func (r *Reader) HeatMapChanges(ctx context.Context, kind domain.RatingKind, since time.Time) (map[string]*Place, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	rows, err := r.pool.Query(ctx, `SELECT r.risk_id, h.likelihood, h.impact FROM rm_risks r
		LEFT JOIN rm_heat_map h ON h.risk_id = r.risk_id AND h.kind = $1 WHERE r.updated_at > $2`, planned(string(kind), since)...)
	if err != nil {
		return nil, fmt.Errorf("projection: heat map changes: %w", err)
	}
	changes := make(map[string]*Place)
	var id string
	var l, i *int
	if _, err := pgx.ForEachRow(rows, []any{&id, &l, &i}, func() error {
		changes[id] = nil
		if l != nil && i != nil {
			changes[id] = &Place{Likelihood: *l, Impact: *i}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("projection: heat map changes: %w", err)
	}
	return changes, nil
}

// checkKind checks the rating kind of a heat-map read.
func checkKind(kind domain.RatingKind) error {
	if !kind.Valid() {
		return fmt.Errorf("%w: unknown rating kind %q", ErrInvalidInput, kind)
	}
	return nil
}
