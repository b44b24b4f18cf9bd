package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// Past is the register as it stood at one instant, read from the temporal
// read models: every read is an index range look-up of the versions valid
// then, so it costs what the same read of the current register costs,
// however long the log. It answers what a Snapshot of Reader.AsOf answers,
// equally; AsOf, which folds the log, stays as the reference that tests
// compare it with.
type Past struct {
	pool *pgxpool.Pool
	// at is the instant, to the microsecond (what recorded_at holds): the
	// versions with from_at <= at < to_at.
	at time.Time
}

// At returns the register as it stood at t: after every event recorded at
// or before t. The temporal read models are kept by the risks, responses
// and decisions projections, so t must lie before their position for the
// answer to be whole (see Reader.WaitFor).
func (r *Reader) At(t time.Time) *Past {
	return &Past{pool: r.pool, at: t.UTC().Truncate(time.Microsecond)}
}

// Time returns the instant p shows, to the microsecond.
func (p *Past) Time() time.Time { return p.at }

// valid is the condition on a history view aliased h that selects the
// versions valid at the instant in argument arg.
func valid(h, arg string) string {
	return fmt.Sprintf("%[1]s.from_at <= %[2]s AND %[1]s.to_at > %[2]s", h, arg)
}

// Risks returns a page of the register as Reader.Risks does.
func (p *Past) Risks(ctx context.Context, filter RiskFilter, first int, after string) (Page[Risk], error) {
	return risksPage(ctx, p.pool, filter, first, after, &p.at, true)
}

// RisksWithoutTotal returns a page of the register as Risks does, without
// its total count (TotalCount is -1), which costs a probe per group of risks
// as of an instant.
func (p *Past) RisksWithoutTotal(ctx context.Context, filter RiskFilter, first int, after string) (Page[Risk], error) {
	return risksPage(ctx, p.pool, filter, first, after, &p.at, false)
}

// risksPage answers Reader.Risks (at nil) and Past.Risks: a page and its
// total count in one statement. The total is a sum over the groups the
// filter selects, of their counts now or of their counters' values at the
// instant (one index probe per group), unless the filter searches text,
// which has no counter: then the risks are counted.
func risksPage(ctx context.Context, pool *pgxpool.Pool, filter RiskFilter, first int, after string, at *time.Time, total bool) (Page[Risk], error) {
	sql, args, err := risksPageSQL(filter, first, after, at, nil, total)
	if err != nil {
		return Page[Risk]{}, err
	}
	rows, err := pool.Query(ctx, sql, planned(args...)...)
	if err != nil {
		return Page[Risk]{}, fmt.Errorf("projection: risks: %w", err)
	}
	page, err := collectPage(rows, first, scanRisk)
	if err != nil {
		return Page[Risk]{}, fmt.Errorf("projection: risks: %w", err)
	}
	return derefPage(page), nil
}

// risksPageSQL returns the statement of risksPage and its arguments.
//
// With since set (and at), it selects the risks that changed after since:
// the versions valid at at made after since, one per changed risk, found
// from index (generation, from_at) in the versions made in between; their
// total is counted.
func risksPageSQL(filter RiskFilter, first int, after string, at, since *time.Time, total bool) (string, []any, error) {
	key, hasKey, err := riskPageArgs(filter, first, after)
	if err != nil {
		return "", nil, err
	}
	q := &sqlwhere.Builder{}
	from, count := "rm_risks r", ""
	var atArg string
	if at != nil {
		from, atArg = "rm_risk_history r", q.Arg(*at)
		q.Where(valid("r", atArg))
	}
	if since != nil {
		q.Where("r.from_at > %s", *since)
	}
	filter.sqlWhere(q)
	where := q.Conditions()
	switch {
	case !total:
		count = `SELECT -1::bigint AS n`
	case filter.Search != "" || !filter.CalendarFilter.IsZero() || since != nil:
		// No group counts these filters: count the rows.
		count = `SELECT count(*) AS n FROM ` + from + ` WHERE ` + where
	default:
		groups := &sqlwhere.Builder{Args: q.Args}
		filter.sqlWhere(groups)
		count = `SELECT COALESCE(sum(r.n), 0)::bigint AS n FROM rm_risk_groups r WHERE ` + groups.Conditions()
		if at != nil {
			count = `SELECT COALESCE(sum(c.n), 0)::bigint AS n FROM rm_risk_groups r
				CROSS JOIN LATERAL (SELECT n FROM rm_risk_counts c WHERE c.counter = r.counter AND c.at <= ` + atArg + `
					ORDER BY c.at DESC, c.pos DESC LIMIT 1) c
				WHERE ` + groups.Conditions()
		}
		q.Args = groups.Args
	}
	pageWhere := where
	if hasKey {
		pageWhere += fmt.Sprintf(" AND (length(r.reference), r.reference, r.risk_id) > (%s, %s, %s)",
			q.Arg(len([]rune(key.reference))), q.Arg(key.reference), q.Arg(key.id))
	}
	sql := `SELECT total.n, page.* FROM (` + count + `) total
		LEFT JOIN LATERAL (SELECT ` + riskColumns + ` FROM ` + from + ` WHERE ` + pageWhere + `
			ORDER BY length(r.reference), r.reference, r.risk_id LIMIT ` + q.Arg(first+1) + `) page ON true`
	return sql, q.Args, nil
}

// RisksByID returns the risks with the given ids as they stood then, by id;
// ids of no risk then are left out.
func (p *Past) RisksByID(ctx context.Context, ids []string) (map[string]Risk, error) {
	risks, err := queryAll(ctx, p.pool, "risks by id", scanRisk,
		"SELECT "+riskColumns+" FROM rm_risk_history r WHERE r.risk_id = ANY($1) AND "+valid("r", "$2"), planned(ids, p.at)...)
	if err != nil {
		return nil, err
	}
	return byID(risks, func(r *Risk) string { return r.ID }), nil
}

// RiskVersion returns version v of the risk with the given id, and whether
// there is one.
func (r *Reader) RiskVersion(ctx context.Context, id string, v int) (Risk, bool, error) {
	risks, err := queryAll(ctx, r.pool, "risk version", scanRisk,
		"SELECT "+riskColumns+" FROM rm_risk_history WHERE risk_id = $1 AND version = $2", planned(id, int64(v))...)
	if err != nil || len(risks) == 0 {
		return Risk{}, false, err
	}
	return *risks[0], true, nil
}

// ResponseVersion returns version v of the response with the given id, and
// whether there is one.
func (r *Reader) ResponseVersion(ctx context.Context, id string, v int) (Response, bool, error) {
	responses, err := queryAll(ctx, r.pool, "response version", scanResponse,
		"SELECT "+responseColumns+" FROM rm_response_history WHERE response_id = $1 AND version = $2", planned(id, int64(v))...)
	if err != nil || len(responses) == 0 {
		return Response{}, false, err
	}
	return *responses[0], true, nil
}

// ResponsesByID returns the responses with the given ids as they stood then,
// by id.
func (p *Past) ResponsesByID(ctx context.Context, ids []string) (map[string]Response, error) {
	return responsesByID(ctx, p.pool, ids, &p.at)
}

// ResponsesByRisk returns the responses to each of the given risks as they
// stood then, in the order they were proposed, by risk id.
func (p *Past) ResponsesByRisk(ctx context.Context, riskIDs []string) (map[string][]Response, error) {
	return responsesByRisk(ctx, p.pool, riskIDs, &p.at)
}

// Responses returns the page of the responses as they stood then that filter
// selects, after the cursor after (a position a response was proposed at),
// in the order they were proposed, with at most first of them: what
// Snapshot.ResponsesAsOf answers. Overdue is judged on the instant's day by
// the domain's rule. With total false, TotalCount is -1: the total visits
// every version valid then, the page only its own.
func (p *Past) Responses(ctx context.Context, filter ResponseFilter, first int, after string, total bool) (Page[Response], error) {
	if err := checkFirst(first); err != nil {
		return Page[Response]{}, err
	}
	if err := filter.validate(); err != nil {
		return Page[Response]{}, err
	}
	if after != "" {
		if _, err := eventstore.ParsePosition(after); err != nil {
			return Page[Response]{}, fmt.Errorf("%w: malformed response cursor %q", ErrInvalidInput, after)
		}
	}
	q := &sqlwhere.Builder{}
	q.Where(valid("h", q.Arg(p.at)))
	filter.sqlWhere(q, "h")
	if filter.Overdue != nil {
		// domain.Date.Passed: a due date before the day.
		var awaiting []string
		for _, st := range domain.ResponseStatusesAwaitingDelivery() {
			awaiting = append(awaiting, string(st))
		}
		q.Where("COALESCE(h.status = ANY(%s) AND h.due_date < %s, false) = %s",
			awaiting, pgDate(domain.DateOf(p.at)), *filter.Overdue)
	}
	where := q.Conditions()
	count := `SELECT -1::bigint AS n`
	if total {
		count = `SELECT count(*) AS n FROM rm_response_history h WHERE ` + where
	}
	var page string
	if filter.RiskID != "" {
		// One risk's responses: its versions, by index (risk_id, created_position).
		pageWhere := where
		if after != "" {
			pageWhere += " AND h.created_position > " + q.Arg(after)
		}
		page = `SELECT ` + responseColumns + ` FROM rm_response_history h WHERE ` + pageWhere + `
			ORDER BY h.created_position LIMIT ` + q.Arg(first+1)
	} else {
		// The responses in the order they were proposed (which the current
		// read model indexes; none is ever deleted), each as it stood then.
		pageWhere := "true"
		if after != "" {
			pageWhere = "c.created_position > " + q.Arg(after)
		}
		page = `SELECT h.* FROM rm_responses c CROSS JOIN LATERAL (SELECT ` + responseColumns + `
				FROM rm_response_history h WHERE h.response_id = c.response_id AND ` + where + `) h
			WHERE ` + pageWhere + ` ORDER BY c.created_position LIMIT ` + q.Arg(first+1)
	}
	rows, err := p.pool.Query(ctx, `SELECT total.n, page.* FROM (`+count+`) total LEFT JOIN LATERAL (`+page+`) page ON true`,
		planned(q.Args...)...)
	if err != nil {
		return Page[Response]{}, fmt.Errorf("projection: responses: %w", err)
	}
	out, err := collectPage(rows, first, scanResponse)
	if err != nil {
		return Page[Response]{}, fmt.Errorf("projection: responses: %w", err)
	}
	return derefPage(out), nil
}

// DecisionsBySubject returns, for each of the given ids, the decisions
// recorded by then that named it, oldest first.
func (p *Past) DecisionsBySubject(ctx context.Context, subjectIDs []string) (map[string][]Decision, error) {
	return decisionsBySubject(ctx, p.pool, subjectIDs, &p.at)
}

// HeatMap returns the heat map of the given kind as it stood then, as
// Reader.HeatMap does. Its counts come from the cells' counters; its risk
// ids from the versions valid then, which costs as much as the register is
// large (HeatMapCounts does without them).
func (p *Past) HeatMap(ctx context.Context, kind domain.RatingKind) (HeatMap, error) {
	h, err := heatMapCounts(ctx, p.pool, kind, &p.at)
	if err != nil {
		return HeatMap{}, err
	}
	l, i := ratingColumns(kind)
	rows, err := p.pool.Query(ctx, `SELECT `+l+`, `+i+`, array_agg(risk_id ORDER BY length(reference), reference, risk_id)
		FROM rm_risk_history h WHERE `+valid("h", "$1")+` AND `+l+` IS NOT NULL AND status NOT IN ('CLOSED', 'WITHDRAWN')
		GROUP BY 1, 2`, planned(p.at)...)
	if err != nil {
		return HeatMap{}, fmt.Errorf("projection: heat map: %w", err)
	}
	var likelihood, impact int
	var ids []string
	_, err = pgx.ForEachRow(rows, []any{&likelihood, &impact, &ids}, func() error {
		if c := h.cell(likelihood, impact); c != nil {
			c.RiskIDs = ids
		}
		return nil
	})
	if err != nil {
		return HeatMap{}, fmt.Errorf("projection: heat map: %w", err)
	}
	return h, nil
}

// HeatMapCounts returns the heat map of the given kind as it stood then,
// with the cells' counts and without their risk ids: 25 index probes.
func (p *Past) HeatMapCounts(ctx context.Context, kind domain.RatingKind) (HeatMap, error) {
	return heatMapCounts(ctx, p.pool, kind, &p.at)
}

// HeatMapCounts returns the heat map of the given kind with the cells'
// counts and without their risk ids.
func (r *Reader) HeatMapCounts(ctx context.Context, kind domain.RatingKind) (HeatMap, error) {
	return heatMapCounts(ctx, r.pool, kind, nil)
}

// heatMapCounts reads the counters of the heat map's cells as of at (nil:
// now).
func heatMapCounts(ctx context.Context, pool *pgxpool.Pool, kind domain.RatingKind, at *time.Time) (HeatMap, error) {
	if !kind.Valid() {
		return HeatMap{}, fmt.Errorf("%w: unknown rating kind %q", ErrInvalidInput, kind)
	}
	h := newHeatMap(kind)
	counters := make([]string, len(h.Cells))
	for i, c := range h.Cells {
		counters[i] = cellCounter(kind, c.Likelihood, c.Impact)
	}
	var instant any = infinity
	if at != nil {
		instant = *at
	}
	rows, err := pool.Query(ctx, `SELECT k.i, c.n FROM unnest($1::text[]) WITH ORDINALITY AS k(counter, i)
		CROSS JOIN LATERAL (SELECT n FROM rm_risk_counts c WHERE c.counter = k.counter AND c.at <= $2
			ORDER BY c.at DESC, c.pos DESC LIMIT 1) c`, planned(counters, instant)...)
	if err != nil {
		return HeatMap{}, fmt.Errorf("projection: heat map counts: %w", err)
	}
	var i, n int
	_, err = pgx.ForEachRow(rows, []any{&i, &n}, func() error {
		h.Cells[i-1].Count = n
		return nil
	})
	if err != nil {
		return HeatMap{}, fmt.Errorf("projection: heat map counts: %w", err)
	}
	return h, nil
}

// byID returns rows by their id.
func byID[T any](rows []*T, id func(*T) string) map[string]T {
	out := make(map[string]T, len(rows))
	for _, r := range rows {
		out[id(r)] = *r
	}
	return out
}

// ratingColumns returns the likelihood and impact columns of the rating of
// kind, which is valid.
func ratingColumns(kind domain.RatingKind) (likelihood, impact string) {
	prefix := map[domain.RatingKind]string{domain.RatingKindInherent: "inherent", domain.RatingKindResidual: "residual",
		domain.RatingKindTarget: "target"}[kind]
	return prefix + "_likelihood", prefix + "_impact"
}

// Decisions returns a page of the decisions recorded by then, as
// Reader.Decisions does.
func (p *Past) Decisions(ctx context.Context, body domain.Body, first int, after string) (Page[Decision], error) {
	return decisionsPage(ctx, p.pool, body, first, after, &p.at)
}
