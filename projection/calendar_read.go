package projection

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/sqlwhere"
)

// CalendarSubjects returns every risk and response that may have a date to
// pass, with the next review date of each risk worked out by policy and the
// acts of time already recorded: what domain.DueTimeActs needs. Risks come
// first, in reference order, then responses in the order they were proposed.
func (r *Reader) CalendarSubjects(ctx context.Context, policy domain.ReviewPolicy) ([]domain.CalendarSubject, error) {
	risks, err := queryAll(ctx, r.pool, "calendar subjects", func(row pgx.CollectableRow) (domain.CalendarSubject, error) {
		var s domain.CalendarSubject
		var status string
		var band pgtype.Text
		var assessed, tolerated pgtype.Date
		if err := row.Scan(&s.ID, &status, &band, &assessed, &tolerated, &s.Done); err != nil {
			return s, err
		}
		s.Kind, s.RiskStatus = domain.SubjectKindRisk, domain.RiskStatus(status)
		s.NextReview = policy.NextReview(domain.Band(band.String), dateOf(assessed))
		s.ToleratedUntil = dateOf(tolerated)
		return s, nil
	}, `SELECT risk_id, status, band, assessed_on, tolerated_until, done FROM rm_cal_risks
		WHERE status NOT IN ('CLOSED', 'WITHDRAWN') AND (assessed_on IS NOT NULL OR tolerated_until IS NOT NULL)
		ORDER BY length(reference), reference`)
	if err != nil {
		return nil, err
	}
	responses, err := queryAll(ctx, r.pool, "calendar subjects", func(row pgx.CollectableRow) (domain.CalendarSubject, error) {
		var s domain.CalendarSubject
		var status string
		var due pgtype.Date
		if err := row.Scan(&s.ID, &s.RiskID, &status, &due, &s.Done); err != nil {
			return s, err
		}
		s.Kind, s.ResponseStatus, s.DueDate = domain.SubjectKindResponse, domain.ResponseStatus(status), dateOf(due)
		return s, nil
	}, `SELECT response_id, risk_id, status, due_date, done FROM rm_cal_responses
		WHERE due_date IS NOT NULL ORDER BY created_position`)
	if err != nil {
		return nil, err
	}
	return append(risks, responses...), nil
}

// CalendarFilter selects risks by the acts of time that stand on them.
type CalendarFilter struct {
	// ReviewOverdue: a RiskReviewOverdue stands (no assessment since).
	ReviewOverdue *bool
	// AcceptanceLapsed: a RiskToleranceLapsed stands (the Council has not
	// decided on the risk since).
	AcceptanceLapsed *bool
}

// IsZero reports whether the filter selects everything.
func (f CalendarFilter) IsZero() bool { return f.ReviewOverdue == nil && f.AcceptanceLapsed == nil }

// sqlWhere adds the filter's conditions on rm_risks r to q.
func (f CalendarFilter) sqlWhere(q *sqlwhere.Builder) {
	if f.ReviewOverdue != nil {
		q.Where("EXISTS (SELECT 1 FROM rm_cal_risks c WHERE c.risk_id = r.risk_id AND c.review_overdue IS NOT NULL) = %s", *f.ReviewOverdue)
	}
	if f.AcceptanceLapsed != nil {
		q.Where("EXISTS (SELECT 1 FROM rm_cal_risks c WHERE c.risk_id = r.risk_id AND c.lapsed IS NOT NULL) = %s", *f.AcceptanceLapsed)
	}
}

// RiskCalendar is what the calendar says of a risk.
type RiskCalendar struct {
	NextReview       domain.Date // zero when never assessed or no longer reviewed
	ReviewOverdue    domain.Date // the review date that passed, zero if none stands
	AcceptanceLapsed domain.Date // the acceptance that lapsed, zero if none stands
}

// RiskCalendars returns the calendar of the risks with the given ids, by id.
func (r *Reader) RiskCalendars(ctx context.Context, ids []string, policy domain.ReviewPolicy) (map[string]RiskCalendar, error) {
	type row struct {
		id string
		RiskCalendar
	}
	rows, err := queryAll(ctx, r.pool, "risk calendars", func(cr pgx.CollectableRow) (row, error) {
		var out row
		var status string
		var band pgtype.Text
		var assessed, overdue, lapsed pgtype.Date
		if err := cr.Scan(&out.id, &status, &band, &assessed, &overdue, &lapsed); err != nil {
			return out, err
		}
		if !domain.RiskStatus(status).Terminal() {
			out.NextReview = policy.NextReview(domain.Band(band.String), dateOf(assessed))
		}
		out.ReviewOverdue, out.AcceptanceLapsed = dateOf(overdue), dateOf(lapsed)
		return out, nil
	}, `SELECT risk_id, status, band, assessed_on, review_overdue, lapsed FROM rm_cal_risks WHERE risk_id = ANY($1)`, planned(ids)...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]RiskCalendar, len(rows))
	for _, x := range rows {
		out[x.id] = x.RiskCalendar
	}
	return out, nil
}

// RiskIDByReference returns the id of the risk with reference ref ("R-0042"),
// and whether there is one.
func (r *Reader) RiskIDByReference(ctx context.Context, ref string) (string, bool, error) {
	ids, err := queryAll(ctx, r.pool, "risk by reference", pgx.RowTo[string],
		`SELECT risk_id FROM rm_cal_risks WHERE reference = $1`, planned(ref)...)
	if err != nil || len(ids) == 0 {
		return "", false, err
	}
	return ids[0], true, nil
}

// RiskOrder is an order of the register.
type RiskOrder string

// The orders of RisksBy.
const (
	// OrderByReference: R-0002 before R-0010.
	OrderByReference RiskOrder = "REFERENCE"
	// OrderByScore: the highest score (residual, else inherent) first.
	OrderByScore RiskOrder = "SCORE"
	// OrderByNextReview: the earliest next review date first; risks without
	// one last.
	OrderByNextReview RiskOrder = "NEXT_REVIEW"
)

// offsetCursor is the cursor of a list read by offset.
func offsetCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "o:%d", offset))
}

// parseOffsetCursor parses what offsetCursor returns; "" is offset 0.
func parseOffsetCursor(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	n, ok := strings.CutPrefix(string(b), "o:")
	offset, perr := strconv.Atoi(n)
	if err != nil || !ok || perr != nil || offset < 0 {
		return 0, fmt.Errorf("%w: malformed cursor %q", ErrInvalidInput, s)
	}
	return offset, nil
}

// OrderedRisk is a risk of an ordered list with its cursor.
type OrderedRisk struct {
	Risk
	Cursor string
}

// RisksBy returns the page of the register that filter selects after the
// cursor after, in the given order, with at most first risks. policy sets
// the next review dates.
func (r *Reader) RisksBy(ctx context.Context, filter RiskFilter, order RiskOrder, policy domain.ReviewPolicy, first int, after string) (Page[OrderedRisk], error) {
	if err := checkFirst(first); err != nil {
		return Page[OrderedRisk]{}, err
	}
	if err := filter.validate(); err != nil {
		return Page[OrderedRisk]{}, err
	}
	offset, err := parseOffsetCursor(after)
	if err != nil {
		return Page[OrderedRisk]{}, err
	}
	q := &sqlwhere.Builder{}
	filter.sqlWhere(q)
	where := q.Conditions()
	var orderBy string
	switch order {
	case OrderByReference, "":
		orderBy = "length(r.reference), r.reference, r.risk_id"
	case OrderByScore:
		orderBy = "COALESCE(c.score, 0) DESC, length(r.reference), r.reference, r.risk_id"
	case OrderByNextReview:
		orderBy = fmt.Sprintf(`CASE WHEN r.status IN ('CLOSED', 'WITHDRAWN') THEN NULL ELSE c.assessed_on + CASE c.band
			WHEN 'RED' THEN %s::int WHEN 'AMBER' THEN %s::int WHEN 'GREEN' THEN %s::int END END NULLS LAST,
			length(r.reference), r.reference, r.risk_id`, q.Arg(policy.Red), q.Arg(policy.Amber), q.Arg(policy.Green))
	default:
		return Page[OrderedRisk]{}, fmt.Errorf("%w: unknown order %q", ErrInvalidInput, order)
	}
	sql := `SELECT total.n, page.* FROM (SELECT count(*) AS n FROM rm_risks r WHERE ` + where + `) total
		LEFT JOIN LATERAL (SELECT ` + prefixed("r", riskColumns) + ` FROM rm_risks r LEFT JOIN rm_cal_risks c ON c.risk_id = r.risk_id
			WHERE ` + where + ` ORDER BY ` + orderBy + ` OFFSET ` + q.Arg(offset) + ` LIMIT ` + q.Arg(first+1) + `) page ON true`
	rows, err := r.pool.Query(ctx, sql, planned(q.Args...)...)
	if err != nil {
		return Page[OrderedRisk]{}, fmt.Errorf("projection: risks by %s: %w", order, err)
	}
	page, err := collectPage(rows, first, scanRisk)
	if err != nil {
		return Page[OrderedRisk]{}, fmt.Errorf("projection: risks by %s: %w", order, err)
	}
	out := Page[OrderedRisk]{TotalCount: page.TotalCount, HasNextPage: page.HasNextPage}
	for i, risk := range page.Items {
		out.Items = append(out.Items, OrderedRisk{Risk: *risk, Cursor: offsetCursor(offset + i + 1)})
	}
	return out, nil
}

// ResponseFilter selects responses. Its fields combine with AND; zero
// fields select everything.
type ResponseFilter struct {
	Status    domain.ResponseStatus
	Owner     string
	RiskID    string
	Overdue   *bool       // a ResponseOverdue stands for its current due date
	DueBefore domain.Date // due before this date
}

// validate checks the filter's enum values.
func (f ResponseFilter) validate() error {
	if f.Status != "" && !f.Status.Valid() {
		return fmt.Errorf("%w: unknown response status %q", ErrInvalidInput, f.Status)
	}
	return nil
}

// sqlWhere adds to q the conditions of the filter's fields but Overdue on
// the responses aliased alias, which have the columns status, owner,
// risk_id and due_date.
func (f ResponseFilter) sqlWhere(q *sqlwhere.Builder, alias string) {
	if f.Status != "" {
		q.Where(alias+".status = %s", string(f.Status))
	}
	if f.Owner != "" {
		q.Where(alias+".owner = %s", f.Owner)
	}
	if f.RiskID != "" {
		q.Where(alias+".risk_id = %s", f.RiskID)
	}
	if !f.DueBefore.IsZero() {
		q.Where(alias+".due_date < %s", pgDate(f.DueBefore))
	}
}

// ResponseIDs returns the ids of the page of responses that filter selects
// after the cursor after, in the order they were proposed, with at most
// first of them; cursors are the ids' positions in that order. With total
// false, TotalCount is -1: the total visits every response the filter
// selects, the page only its own.
func (r *Reader) ResponseIDs(ctx context.Context, filter ResponseFilter, first int, after string, total bool) (Page[Cursored], error) {
	if err := checkFirst(first); err != nil {
		return Page[Cursored]{}, err
	}
	if err := filter.validate(); err != nil {
		return Page[Cursored]{}, err
	}
	q := &sqlwhere.Builder{}
	filter.sqlWhere(q, "c")
	if filter.Overdue != nil {
		q.Where("(c.overdue IS NOT NULL) = %s", *filter.Overdue)
	}
	where := q.Conditions()
	pageWhere := where
	if after != "" {
		if _, err := eventstore.ParsePosition(after); err != nil {
			return Page[Cursored]{}, fmt.Errorf("%w: malformed response cursor %q", ErrInvalidInput, after)
		}
		pageWhere += " AND c.created_position > " + q.Arg(after)
	}
	count := `SELECT -1::bigint AS n`
	if total {
		count = `SELECT count(*) AS n FROM rm_cal_responses c WHERE ` + where
	}
	sql := `SELECT total.n, page.* FROM (` + count + `) total
		LEFT JOIN LATERAL (SELECT c.response_id, c.created_position FROM rm_cal_responses c WHERE ` + pageWhere + `
			ORDER BY c.created_position LIMIT ` + q.Arg(first+1) + `) page ON true`
	rows, err := r.pool.Query(ctx, sql, planned(q.Args...)...)
	if err != nil {
		return Page[Cursored]{}, fmt.Errorf("projection: responses: %w", err)
	}
	page, err := collectPage(rows, first, func(row pgx.CollectableRow) (*Cursored, error) {
		var c Cursored
		return &c, row.Scan(&c.ID, &c.Cursor)
	})
	if err != nil {
		return Page[Cursored]{}, fmt.Errorf("projection: responses: %w", err)
	}
	return derefPage(page), nil
}

// Cursored is an id in a list with its cursor.
type Cursored struct {
	ID, Cursor string
}

// ResponsesAsOf returns the responses of the snapshot that filter selects,
// in the order they were proposed; overdue is judged on the snapshot's day
// by the domain's rule.
func (s *Snapshot) ResponsesAsOf(filter ResponseFilter) ([]Response, error) {
	if err := filter.validate(); err != nil {
		return nil, err
	}
	var out []Response
	for _, resp := range s.responses {
		switch {
		case filter.Status != "" && resp.Status != filter.Status,
			filter.Owner != "" && resp.Owner != filter.Owner,
			filter.RiskID != "" && resp.RiskID != filter.RiskID,
			!filter.DueBefore.IsZero() && (resp.DueDate.IsZero() || !resp.DueDate.Before(filter.DueBefore)):
			continue
		}
		if filter.Overdue != nil {
			acts := domain.DueTimeActs(domain.DateOf(s.AsOf.UTC()), []domain.CalendarSubject{{Kind: domain.SubjectKindResponse,
				ID: resp.ID, ResponseStatus: resp.Status, DueDate: resp.DueDate}})
			if (len(acts) > 0) != *filter.Overdue {
				continue
			}
		}
		out = append(out, resp)
	}
	slices.SortFunc(out, func(a, b Response) int { return a.CreatedPosition.Compare(b.CreatedPosition) })
	return out, nil
}

// ResponsesOverdue returns, of the responses with the given ids, those on
// which a ResponseOverdue stands, with the due date that passed.
func (r *Reader) ResponsesOverdue(ctx context.Context, ids []string) (map[string]domain.Date, error) {
	type row struct {
		id  string
		due domain.Date
	}
	rows, err := queryAll(ctx, r.pool, "overdue responses", func(cr pgx.CollectableRow) (row, error) {
		var out row
		var d pgtype.Date
		err := cr.Scan(&out.id, &d)
		out.due = dateOf(d)
		return out, err
	}, `SELECT response_id, overdue FROM rm_cal_responses WHERE response_id = ANY($1) AND overdue IS NOT NULL`, planned(ids)...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]domain.Date, len(rows))
	for _, x := range rows {
		out[x.id] = x.due
	}
	return out, nil
}

// SubjectChange is a material change of a decision's subject after the
// decision (domain.MaterialChange).
type SubjectChange struct {
	DecisionID string
	SubjectID  string
	Position   eventstore.Position
	EventID    uuid.UUID
	EventType  string
	Kind       domain.ChangeKind
	Summary    string
	RecordedAt time.Time
}

// SubjectChangesSince returns, by decision id, the material changes of each
// decision's subjects made after the decision, in log order.
func (r *Reader) SubjectChangesSince(ctx context.Context, decisionIDs []string) (map[string][]SubjectChange, error) {
	changes, err := queryAll(ctx, r.pool, "subject changes", scanSubjectChange,
		`SELECT s.decision_id, c.subject_id, c.position, c.event_id, c.event_type, c.kind, c.summary, c.recorded_at
		FROM rm_decision_subjects s JOIN rm_cal_changes c ON c.subject_id = s.subject_id AND c.position > s.position
		WHERE s.decision_id = ANY($1) ORDER BY s.decision_id, c.position`, planned(decisionIDs)...)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]SubjectChange)
	for _, c := range changes {
		out[c.DecisionID] = append(out[c.DecisionID], c)
	}
	return out, nil
}

func scanSubjectChange(row pgx.CollectableRow) (SubjectChange, error) {
	var c SubjectChange
	var pos, kind string
	if err := row.Scan(&c.DecisionID, &c.SubjectID, &pos, &c.EventID, &c.EventType, &kind, &c.Summary, &c.RecordedAt); err != nil {
		return c, err
	}
	c.Kind = domain.ChangeKind(kind)
	var err error
	c.Position, err = eventstore.ParsePosition(pos)
	return c, err
}
