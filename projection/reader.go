package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// Reader answers the API's queries from the read models: each read is one
// SQL statement on the views of the active generations, so a read never
// mixes two generations, even while a rebuild swaps them. Reads that take
// ids are batched, for dataloaders. It is safe for concurrent use.
type Reader struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
	names []string // the projections WaitFor waits for by default
	// how far the read models and the log were seen to follow this
	// process's own writes
	ownWrites, logWrites mark
}

// NewReader returns a Reader of the built-in projections' read models in
// store's database. Time travel (AsOf) reads the log through store.
func NewReader(store *eventstore.Store) *Reader {
	var names []string
	for _, p := range Builtin() {
		names = append(names, p.Name())
	}
	return &Reader{store: store, pool: store.Pool(), names: names}
}

// RisksByID returns the risks with the given ids, by id; ids of no risk are
// left out.
func (r *Reader) RisksByID(ctx context.Context, ids []string) (map[string]Risk, error) {
	risks, err := queryAll(ctx, r.pool, "risks by id", scanRisk,
		"SELECT "+riskColumns+" FROM rm_risks WHERE risk_id = ANY($1)", planned(ids)...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Risk, len(risks))
	for _, risk := range risks {
		byID[risk.ID] = *risk
	}
	return byID, nil
}

// Risk returns the risk with the given id, and whether there is one.
func (r *Reader) Risk(ctx context.Context, id string) (Risk, bool, error) {
	risks, err := r.RisksByID(ctx, []string{id})
	risk, ok := risks[id]
	return risk, ok, err
}

// Risks returns the page of the register that filter selects after the
// cursor after ("" for the first page), in the register's order (by
// reference, see Risk.Cursor), with at most first risks.
func (r *Reader) Risks(ctx context.Context, filter RiskFilter, first int, after string) (Page[Risk], error) {
	return risksPage(ctx, r.pool, filter, first, after, nil, true)
}

// RisksWithoutTotal returns a page of the register as Risks does, without
// its total count (TotalCount is -1).
func (r *Reader) RisksWithoutTotal(ctx context.Context, filter RiskFilter, first int, after string) (Page[Risk], error) {
	return risksPage(ctx, r.pool, filter, first, after, nil, false)
}

// ResponsesByID returns the responses with the given ids, by id.
func (r *Reader) ResponsesByID(ctx context.Context, ids []string) (map[string]Response, error) {
	return responsesByID(ctx, r.pool, ids, nil)
}

// ResponsesByRisk returns the responses to each of the given risks, in the
// order they were proposed, by risk id.
func (r *Reader) ResponsesByRisk(ctx context.Context, riskIDs []string) (map[string][]Response, error) {
	return responsesByRisk(ctx, r.pool, riskIDs, nil)
}

// responsesByID answers Reader.ResponsesByID (at nil) and
// Past.ResponsesByID.
func responsesByID(ctx context.Context, pool *pgxpool.Pool, ids []string, at *time.Time) (map[string]Response, error) {
	responses, err := responses(ctx, pool, "response_id", ids, at)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Response, len(responses))
	for _, s := range responses {
		byID[s.ID] = s
	}
	return byID, nil
}

// responsesByRisk answers Reader.ResponsesByRisk (at nil) and
// Past.ResponsesByRisk.
func responsesByRisk(ctx context.Context, pool *pgxpool.Pool, riskIDs []string, at *time.Time) (map[string][]Response, error) {
	responses, err := responses(ctx, pool, "risk_id", riskIDs, at)
	if err != nil {
		return nil, err
	}
	byRisk := make(map[string][]Response)
	for _, s := range responses {
		byRisk[s.RiskID] = append(byRisk[s.RiskID], s)
	}
	return byRisk, nil
}

// responses returns the responses whose column (response_id or risk_id)
// holds one of ids, now (at nil) or as they stood at at, in the order they
// were proposed.
func responses(ctx context.Context, pool *pgxpool.Pool, column string, ids []string, at *time.Time) ([]Response, error) {
	sql := "SELECT " + responseColumns + " FROM rm_responses h WHERE h." + column + " = ANY($1) ORDER BY h.created_position"
	args := []any{ids}
	if at != nil {
		sql = "SELECT " + responseColumns + " FROM rm_response_history h WHERE h." + column + " = ANY($1) AND " +
			valid("h", "$2") + " ORDER BY h.created_position"
		args = append(args, *at)
	}
	responses, err := queryAll(ctx, pool, "responses", scanResponse, sql, planned(args...)...)
	if err != nil {
		return nil, err
	}
	out := make([]Response, len(responses))
	for i, s := range responses {
		out[i] = *s
	}
	return out, nil
}

// DecisionsByID returns the decisions with the given ids, by id.
func (r *Reader) DecisionsByID(ctx context.Context, ids []string) (map[string]Decision, error) {
	decisions, err := queryAll(ctx, r.pool, "decisions by id", scanDecision,
		"SELECT "+decisionColumns+" FROM rm_decisions WHERE decision_id = ANY($1)", planned(ids)...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Decision, len(decisions))
	for _, d := range decisions {
		byID[d.ID] = d
	}
	return byID, nil
}

// Decisions returns the page of decisions after the cursor after ("" for the
// first page), oldest first, with at most first decisions; body, when not
// "", selects that body's decisions.
func (r *Reader) Decisions(ctx context.Context, body domain.Body, first int, after string) (Page[Decision], error) {
	return decisionsPage(ctx, r.pool, body, first, after, nil)
}

// decisionsPage answers Reader.Decisions (at nil) and Past.Decisions: the
// decisions recorded at or before at.
func decisionsPage(ctx context.Context, pool *pgxpool.Pool, body domain.Body, first int, after string, at *time.Time) (Page[Decision], error) {
	pos, err := decisionPageArgs(body, first, after)
	if err != nil {
		return Page[Decision]{}, err
	}
	q := &sqlwhere.Builder{}
	if body != "" {
		q.Where("t.body = %s", string(body))
	}
	if at != nil {
		q.Where("t.recorded_at <= %s", *at)
	}
	return positionPage(ctx, pool, "decisions", "rm_decisions", "position", decisionColumns, q, pos, first, scanDecision)
}

// DecisionsBySubject returns, for each of the given risk or response ids,
// the decisions that named it as a subject, oldest first.
func (r *Reader) DecisionsBySubject(ctx context.Context, subjectIDs []string) (map[string][]Decision, error) {
	return decisionsBySubject(ctx, r.pool, subjectIDs, nil)
}

// decisionsBySubject answers Reader.DecisionsBySubject (at nil) and
// Past.DecisionsBySubject: the decisions recorded at or before at.
func decisionsBySubject(ctx context.Context, pool *pgxpool.Pool, subjectIDs []string, at *time.Time) (map[string][]Decision, error) {
	var until any = infinity
	if at != nil {
		until = *at
	}
	return decisionsRecorded(ctx, pool, subjectIDs, negInfinity, until)
}

// negInfinity is an instant before every decision.
var negInfinity = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}

// decisionsRecorded returns, for each of the given ids, the decisions that
// named it recorded after since and at or before until, oldest first.
func decisionsRecorded(ctx context.Context, pool *pgxpool.Pool, subjectIDs []string, since, until any) (map[string][]Decision, error) {
	rows, err := pool.Query(ctx, `SELECT s.subject_id, `+decisionColumns+`
		FROM rm_decision_subjects s JOIN rm_decisions d USING (decision_id, position)
		WHERE s.subject_id = ANY($1) AND s.recorded_at > $2 AND s.recorded_at <= $3 ORDER BY s.subject_id, s.position`,
		planned(subjectIDs, since, until)...)
	if err != nil {
		return nil, fmt.Errorf("projection: decisions by subject: %w", err)
	}
	var subject string
	bySubject := make(map[string][]Decision)
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		d, err := scanDecision(prefixedRow{CollectableRow: row, prefix: []any{&subject}})
		bySubject[subject] = append(bySubject[subject], d)
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("projection: decisions by subject: %w", err)
	}
	return bySubject, nil
}

// Effects returns the effects of each of the given decisions, in log order.
func (r *Reader) Effects(ctx context.Context, decisionIDs []string) (map[string][]Effect, error) {
	effects, err := queryAll(ctx, r.pool, "effects", scanEffect, "SELECT "+effectColumns+
		" FROM rm_decision_effects WHERE decision_id = ANY($1) ORDER BY decision_id, position", planned(decisionIDs)...)
	if err != nil {
		return nil, err
	}
	byDecision := make(map[string][]Effect)
	for _, f := range effects {
		byDecision[f.DecisionID] = append(byDecision[f.DecisionID], f)
	}
	return byDecision, nil
}

// HeatMap returns the heat map of the given rating kind: for each of the 25
// cells of the matrix, the risks whose rating of that kind falls in it, in
// the register's order. CLOSED and WITHDRAWN risks are left out.
func (r *Reader) HeatMap(ctx context.Context, kind domain.RatingKind) (HeatMap, error) {
	if err := checkKind(kind); err != nil {
		return HeatMap{}, err
	}
	rows, err := r.pool.Query(ctx, `SELECT likelihood, impact, array_agg(risk_id ORDER BY length(reference), reference, risk_id)
		FROM rm_heat_map WHERE kind = $1 GROUP BY likelihood, impact`, planned(string(kind))...)
	if err != nil {
		return HeatMap{}, fmt.Errorf("projection: heat map: %w", err)
	}
	h := newHeatMap(kind)
	var likelihood, impact int
	var ids []string
	_, err = pgx.ForEachRow(rows, []any{&likelihood, &impact, &ids}, func() error {
		c := h.cell(likelihood, impact)
		if c == nil {
			return fmt.Errorf("rating %dx%d is off the matrix", likelihood, impact)
		}
		c.RiskIDs, c.Count = ids, len(ids)
		return nil
	})
	if err != nil {
		return HeatMap{}, fmt.Errorf("projection: heat map: %w", err)
	}
	return h, nil
}

// Status returns the status of the built-in projections.
func (r *Reader) Status(ctx context.Context) ([]Status, error) {
	return ReadStatus(ctx, r.pool, r.names...)
}

// prefixedRow is a row whose first columns are scanned into prefix before
// the columns a row scanner expects.
type prefixedRow struct {
	pgx.CollectableRow
	prefix []any
}

func (r prefixedRow) Scan(dest ...any) error {
	return r.CollectableRow.Scan(append(r.prefix, dest...)...)
}

// collectPage reads the rows of a page query that asked for first+1 items:
// each row is the list's total count followed by an item's columns, which
// are NULL when the page is empty.
func collectPage[T any](rows pgx.Rows, first int, scan pgx.RowToFunc[T]) (Page[T], error) {
	defer rows.Close()
	var page Page[T]
	for rows.Next() {
		if rows.RawValues()[1] == nil { // no item: only the count
			if err := rows.Scan(append([]any{&page.TotalCount}, make([]any, len(rows.RawValues())-1)...)...); err != nil {
				return Page[T]{}, err
			}
			continue
		}
		item, err := scan(prefixedRow{CollectableRow: rows, prefix: []any{&page.TotalCount}})
		if err != nil {
			return Page[T]{}, err
		}
		page.Items = append(page.Items, item)
	}
	if err := rows.Err(); err != nil {
		return Page[T]{}, err
	}
	if len(page.Items) > first {
		page.Items, page.HasNextPage = page.Items[:first], true
	}
	return page, nil
}

// queryAll runs a query and scans every row; what names the read in errors.
// planned prefixes a read's arguments with the mode that plans the statement
// for the values given, every time. The read models are views that pick the
// active generation in sub-selects and partial indexes that match literal
// values; a plan cached for any value (what pgx's statement cache leads to
// after a few runs) cannot prune partitions or use those indexes, and
// measured several times slower.
func planned(args ...any) []any {
	return append([]any{pgx.QueryExecModeExec}, args...)
}

func queryAll[T any](ctx context.Context, q Querier, what string, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("projection: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("projection: %s: %w", what, err)
	}
	return out, nil
}

// derefPage returns a page of values from a page of pointers.
func derefPage[T any](p Page[*T]) Page[T] {
	out := Page[T]{Items: make([]T, len(p.Items)), TotalCount: p.TotalCount, HasNextPage: p.HasNextPage}
	for i, v := range p.Items {
		out.Items[i] = *v
	}
	return out
}
