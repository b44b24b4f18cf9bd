package projection

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AllRisks returns every risk of the register as it stood then, in the
// register's order. It is meant for papers and exports, which show the
// whole register: for each risk of the register now, the last of its
// versions made by then, found by one descent of the history's order index
// (risk, from_at), so that it costs what the register costs, however many
// versions the log made.
func (p *Past) AllRisks(ctx context.Context) ([]Risk, error) {
	// Without JIT: the planner prices ten thousand descents high enough to
	// compile the statement, which costs more than it saves.
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("projection: all risks: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return nil, fmt.Errorf("projection: all risks: %w", err)
	}
	risks, err := queryAll(ctx, tx, "all risks", scanRisk, allRisksSQL, planned(p.at)...)
	if err != nil {
		return nil, err
	}
	out := make([]Risk, len(risks))
	for i, r := range risks {
		out[i] = *r
	}
	return out, nil
}

// allRisksSQL selects the versions valid at $1 of every risk, in the
// register's order. A risk's references never change, so its current row
// leads to its versions in the order index; of two versions made at the same
// instant the later one (the larger to_at) is the one valid then.
var allRisksSQL = `SELECT ` + prefixed("h", riskColumns) + ` FROM rm_risks c
	CROSS JOIN LATERAL (SELECT * FROM rm_risk_history h
		WHERE length(h.reference) = length(c.reference) AND h.reference = c.reference AND h.risk_id = c.risk_id
			AND h.from_at <= $1
		ORDER BY h.from_at DESC, h.to_at DESC LIMIT 1) h
	WHERE h.to_at > $1
	ORDER BY length(c.reference), c.reference, c.risk_id`

// DecisionsOfSession returns the decisions recorded by then whose session
// is sessionID, in log order.
func (p *Past) DecisionsOfSession(ctx context.Context, sessionID string) ([]Decision, error) {
	return queryAll(ctx, p.pool, "decisions of a session", scanDecision, "SELECT "+decisionColumns+
		" FROM rm_decisions WHERE data->>'session' = $1 AND recorded_at <= $2 ORDER BY position", planned(sessionID, p.at)...)
}
