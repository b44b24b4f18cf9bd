package projection

import (
	"context"
	"time"
)

// AllRisks returns every risk of the register as it stood then, in the
// register's order, in one statement: a range of the index of the versions
// valid then, as long as the register, however long the log. It is meant
// for papers and exports, which show the whole register.
func (p *Past) AllRisks(ctx context.Context) ([]Risk, error) {
	risks, err := queryAll(ctx, p.pool, "all risks", scanRisk, "SELECT "+riskColumns+" FROM rm_risk_history r WHERE "+
		valid("r", "$1")+" ORDER BY length(r.reference), r.reference, r.risk_id", planned(p.at)...)
	if err != nil {
		return nil, err
	}
	out := make([]Risk, len(risks))
	for i, r := range risks {
		out[i] = *r
	}
	return out, nil
}

// DecisionsOfSession returns the decisions recorded by then whose session
// is sessionID, in log order.
func (p *Past) DecisionsOfSession(ctx context.Context, sessionID string) ([]Decision, error) {
	return queryAll(ctx, p.pool, "decisions of a session", scanDecision, "SELECT "+decisionColumns+
		" FROM rm_decisions WHERE data->>'session' = $1 AND recorded_at <= $2 ORDER BY position", planned(sessionID, p.at)...)
}

// ChangedRisks returns every risk that changed after from and up to to, in
// the register's order, as Changes does but all at once and without the
// events in between: two statements, whose cost follows the changes.
func (r *Reader) ChangedRisks(ctx context.Context, from, to time.Time) ([]Change, error) {
	from, to = from.UTC().Truncate(time.Microsecond), to.UTC().Truncate(time.Microsecond)
	after, err := queryAll(ctx, r.pool, "changed risks", scanRisk, `WITH changed AS MATERIALIZED (`+changedSQL+`)
		SELECT `+prefixed("r", riskColumns)+` FROM changed r ORDER BY length(r.reference), r.reference, r.risk_id`,
		planned(from, to)...)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(after))
	for i, risk := range after {
		ids[i] = risk.ID
	}
	before, err := r.At(from).RisksByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Change, len(after))
	for i, risk := range after {
		out[i] = Change{After: *risk}
		if b, ok := before[risk.ID]; ok {
			out[i].Before = &b
		}
	}
	return out, nil
}
