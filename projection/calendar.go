package projection

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// NameCalendar keeps the governance calendar: review dates, acceptances and
// due dates with the acts of time recorded on them, sessions and their
// tabled items, and the material changes of subjects.
const NameCalendar = "calendar"

// Calendar returns the projection of the governance calendar (rm_cal_*).
func Calendar() Projection { return calendarProjection{} }

type calendarProjection struct{}

func (calendarProjection) Name() string { return NameCalendar }

func (calendarProjection) Tables() []string {
	return []string{"rm_cal_risks_gen", "rm_cal_responses_gen", "rm_cal_sessions_gen", "rm_cal_items_gen", "rm_cal_changes_gen"}
}

// calRisk is the calendar's row of a risk.
type calRisk struct {
	ID, Reference, Title, Owner string
	Status                      domain.RiskStatus
	Inherent, Residual          int // scores, 0 when not rated
	Flagged                     bool
	AssessedOn                  domain.Date
	ToleratedUntil              domain.Date
	ReviewOverdue               domain.Date // the review date that passed, while no assessment followed
	Lapsed                      domain.Date // the acceptance that lapsed, while the Council did not decide again
	RedSince                    time.Time
	FlaggedAt                   time.Time
	Done                        []string
	Version                     int64
	UpdatedAt                   time.Time
}

// score is the score of the residual rating, else of the inherent one.
func (r *calRisk) score() int {
	if r.Residual > 0 {
		return r.Residual
	}
	return r.Inherent
}

// band is the band of score, "" when not rated.
func (r *calRisk) band() domain.Band {
	if s := r.score(); s > 0 {
		return domain.BandOf(s)
	}
	return ""
}

// calResponse is the calendar's row of a response.
type calResponse struct {
	ID, RiskID, Title, Owner string
	Status                   domain.ResponseStatus
	DueDate                  domain.Date
	Overdue                  domain.Date // the due date that passed, while it stands
	StatusSince              time.Time
	Done                     []string
	Version                  int64
	CreatedPosition          string
}

// calSession is a session of a body.
type calSession struct {
	ID       string
	Body     domain.Body
	Date     domain.Date
	Title    string
	Version  int64
	Position string
}

// calState is what one batch folds: the rows it touched, by id, and the
// rows it adds. It is the batch's Changes.
type calState struct {
	risks     map[string]*calRisk
	responses map[string]*calResponse
	sessions  map[string]*calSession
	existing  map[string]bool // ids whose rows are stored already
	items     [][]any
	changes   [][]any
}

// Prepare reads the rows of the subjects and sessions the batch touches,
// with q, and folds the batch into them. A live batch reads with the pool,
// before its transaction (as the other projections do: the transaction's
// fence and checkpoint check make that safe), so that the transaction only
// writes, in the round trip of its checks.
func (calendarProjection) Prepare(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent) (Changes, error) {
	decoded, err := calendarDecoded(batchOf(events))
	if err != nil {
		return nil, err
	}
	st, err := loadCalState(ctx, q, gen, events, decoded)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		if decoded[i] == nil {
			continue
		}
		if err := st.apply(gen, e, decoded[i]); err != nil {
			return nil, NewEventError(e, err)
		}
	}
	return st, nil
}

// loadCalState reads the stored rows of the subjects and sessions that
// events (decoded: nil for the events the calendar passes over) touch.
func loadCalState(ctx context.Context, q Querier, gen int64, events []eventstore.RecordedEvent, decoded []domain.Event) (*calState, error) {
	st := newCalState()
	var risks, responses, sessions []string
	for i, e := range events {
		switch d := decoded[i].(type) {
		case nil:
		case domain.RiskReviewOverdue:
			risks = append(risks, d.RiskID)
		case domain.RiskToleranceLapsed:
			risks = append(risks, d.RiskID)
		case domain.ResponseOverdue:
			responses = append(responses, d.ResponseID)
		default:
			switch e.StreamType {
			case domain.StreamRisk:
				risks = append(risks, e.StreamID)
			case domain.StreamResponse:
				responses = append(responses, e.StreamID)
			case domain.StreamSession:
				sessions = append(sessions, e.StreamID)
			}
		}
	}
	err := loadCal(ctx, q, gen, "rm_cal_risks_gen", "risk_id", calRiskColumns, risks, scanCalRisk, func(r *calRisk) {
		st.risks[r.ID], st.existing[r.ID] = r, true
	})
	if err == nil {
		err = loadCal(ctx, q, gen, "rm_cal_responses_gen", "response_id", calResponseColumns, responses, scanCalResponse, func(r *calResponse) {
			st.responses[r.ID], st.existing[r.ID] = r, true
		})
	}
	if err == nil {
		err = loadCal(ctx, q, gen, "rm_cal_sessions_gen", "session_id", calSessionColumns, sessions, scanCalSession, func(s *calSession) {
			st.sessions[s.ID], st.existing[s.ID] = s, true
		})
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// loadCal reads the rows of generation gen of table whose key is one of
// ids, and hands each to put.
func loadCal[T any](ctx context.Context, q Querier, gen int64, table, key, columns string, ids []string,
	scan pgx.RowToFunc[*T], put func(*T),
) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := queryAll(ctx, q, "load from "+table, scan,
		fmt.Sprintf("SELECT %s FROM %s WHERE slot = $1 AND generation = $2 AND %s = ANY($3)", columns, table, key),
		planned(slotOf(gen), gen, ids)...)
	for _, r := range rows {
		put(r)
	}
	return err
}

// change records a material change of subject by event e, when d is one.
func (st *calState) change(gen int64, subject string, e eventstore.RecordedEvent, d domain.Event, before domain.Scores) {
	kind, summary, ok := domain.MaterialChange(d, before)
	if !ok {
		return
	}
	st.changes = append(st.changes, []any{slotOf(gen), gen, subject, e.Position.String(), pgUUID(e.ID), e.Type,
		string(kind), summary, e.RecordedAt})
}

// apply folds one event.
func (st *calState) apply(gen int64, e eventstore.RecordedEvent, d domain.Event) error {
	switch d := d.(type) {
	case domain.RiskRegistered:
		r := &calRisk{ID: e.StreamID}
		st.risks[e.StreamID] = r
		return st.applyRisk(gen, r, e, d)
	case domain.ResponseProposed:
		s := &calResponse{ID: e.StreamID}
		st.responses[e.StreamID] = s
		return s.apply(e, d)
	case domain.SessionScheduled:
		st.sessions[e.StreamID] = &calSession{ID: e.StreamID, Body: d.Body, Date: d.Date, Title: d.Title,
			Version: e.Version, Position: e.Position.String()}
		return nil
	case domain.ItemTabled:
		s := st.sessions[e.StreamID]
		if s == nil {
			return unexpected(e)
		}
		s.Version = e.Version
		st.items = append(st.items, []any{slotOf(gen), gen, e.StreamID, e.Position.String(), d.SubjectID,
			string(d.SubjectKind), d.Version, d.Note})
		return nil
	case domain.RiskReviewOverdue, domain.RiskToleranceLapsed, domain.ResponseOverdue:
		return st.applyTimeAct(gen, e, d)
	}
	switch e.StreamType {
	case domain.StreamRisk:
		r := st.risks[e.StreamID]
		if r == nil {
			return unexpected(e)
		}
		return st.applyRisk(gen, r, e, d)
	case domain.StreamResponse:
		s := st.responses[e.StreamID]
		if s == nil {
			return unexpected(e)
		}
		st.change(gen, s.ID, e, d, domain.Scores{})
		if err := s.apply(e, d); err != nil {
			return err
		}
	}
	return nil
}

// apply folds one event of a response stream into s with the domain's own
// Apply, and keeps the calendar's dates: when the status last changed, and
// the overdue due date while it stands.
func (s *calResponse) apply(e eventstore.RecordedEvent, d domain.Event) error {
	agg := domain.ResponseFromState(domain.ResponseState{ID: s.ID, RiskID: s.RiskID, Title: s.Title, Owner: s.Owner,
		DueDate: s.DueDate, Status: s.Status, Version: int(s.Version)})
	if err := agg.Apply(d); err != nil {
		return fmt.Errorf("projection: calendar: %w", err)
	}
	next := agg.State()
	if next.DueDate != s.DueDate {
		s.Overdue = domain.Date{}
	}
	s.RiskID, s.Title, s.Owner, s.DueDate, s.Status = next.RiskID, next.Title, next.Owner, next.DueDate, next.Status
	s.StatusSince, s.Version = e.RecordedAt, e.Version
	if s.CreatedPosition == "" {
		s.CreatedPosition = e.Position.String()
	}
	return nil
}

// applyRisk folds one event of a risk stream into r with the domain's own
// Apply, and keeps the calendar's dates: when the risk was last assessed and
// flagged, since when it is RED, and the lapse of its acceptance until the
// Council decides on it again.
func (st *calState) applyRisk(gen int64, r *calRisk, e eventstore.RecordedEvent, d domain.Event) error {
	wasRed := r.band() == domain.BandRed
	st.change(gen, r.ID, e, d, domain.Scores{Inherent: r.Inherent, Residual: r.Residual})
	agg := domain.RiskFromState(domain.RiskState{ID: r.ID, Reference: r.Reference, Title: r.Title, Owner: r.Owner,
		Status: r.Status, Inherent: scoreRating(r.Inherent), Residual: scoreRating(r.Residual), Flagged: r.Flagged,
		ToleratedUntil: r.ToleratedUntil, Version: int(r.Version)})
	if err := agg.Apply(d); err != nil {
		return fmt.Errorf("projection: calendar: %w", err)
	}
	next := agg.State()
	if _, accepted := d.(domain.RiskTolerated); accepted || next.Status != r.Status {
		r.Lapsed = domain.Date{} // the Council decided on the risk again
	}
	r.Reference, r.Title, r.Owner, r.Status = next.Reference, next.Title, next.Owner, next.Status
	r.Inherent, r.Residual = ratingScore(next.Inherent), ratingScore(next.Residual)
	r.ToleratedUntil = next.ToleratedUntil
	switch d := d.(type) {
	case domain.RiskAssessed:
		r.AssessedOn = domain.DateOf(d.AssessedAt.UTC())
		r.ReviewOverdue = domain.Date{}
	case domain.RiskFlagged:
		r.FlaggedAt = e.RecordedAt
	}
	r.Flagged = next.Flagged
	switch isRed := r.band() == domain.BandRed; {
	case isRed && !wasRed:
		r.RedSince = e.RecordedAt
	case !isRed:
		r.RedSince = time.Time{}
	}
	r.Version, r.UpdatedAt = e.Version, e.RecordedAt
	return nil
}

// scoreRating stands for a rating of which the calendar keeps only the score
// (0 when not rated): score x 1 folds and scores as the rating did.
func scoreRating(score int) *domain.RatingState {
	if score == 0 {
		return nil
	}
	return &domain.RatingState{Likelihood: score, Impact: 1}
}

// ratingScore is the score of a rating, 0 when not rated.
func ratingScore(r *domain.RatingState) int {
	if r == nil {
		return 0
	}
	return r.Score()
}

// applyTimeAct folds an act of time into its subject's row.
func (st *calState) applyTimeAct(gen int64, e eventstore.RecordedEvent, d domain.Event) error {
	key, _ := domain.TimeActKeyOf(d)
	switch d := d.(type) {
	case domain.RiskReviewOverdue:
		r := st.risks[d.RiskID]
		if r == nil {
			return unexpected(e)
		}
		r.ReviewOverdue, r.Done = d.ReviewDue, append(r.Done, key)
	case domain.RiskToleranceLapsed:
		r := st.risks[d.RiskID]
		if r == nil {
			return unexpected(e)
		}
		st.change(gen, r.ID, e, d, domain.Scores{})
		r.Done = append(r.Done, key)
		if r.Status == domain.RiskStatusTolerated && r.ToleratedUntil == d.ToleratedUntil {
			r.Lapsed = d.ToleratedUntil
		}
	case domain.ResponseOverdue:
		s := st.responses[d.ResponseID]
		if s == nil {
			return unexpected(e)
		}
		s.Done = append(s.Done, key)
		if s.DueDate == d.DueDate {
			s.Overdue = d.DueDate
		}
	}
	return nil
}

// calTableWrite is what a batch writes to one table of the calendar: it
// replaces the rows whose key is in replace and adds rows.
type calTableWrite struct {
	table, key string
	replace    []string
	columns    []string
	rows       [][]any
}

// writes returns the writes that replace the touched rows and add the new
// ones.
func (st *calState) writes(gen int64) []calTableWrite {
	slot := slotOf(gen)
	var risks, responses, sessions [][]any
	var replaceRisks, replaceResponses, replaceSessions []string
	for _, id := range sortedKeys(st.risks) {
		r := st.risks[id]
		if st.existing[id] {
			replaceRisks = append(replaceRisks, id)
		}
		risks = append(risks, []any{slot, gen, r.ID, r.Reference, r.Title, r.Owner, string(r.Status), nullString(string(r.band())),
			r.score(), r.Inherent, r.Residual, r.Flagged, pgDate(r.AssessedOn), pgDate(r.ToleratedUntil),
			pgDate(r.ReviewOverdue), pgDate(r.Lapsed), pgTime(r.RedSince), pgTime(r.FlaggedAt), nonNil(r.Done), r.Version, r.UpdatedAt})
	}
	for _, id := range sortedKeys(st.responses) {
		s := st.responses[id]
		if st.existing[id] {
			replaceResponses = append(replaceResponses, id)
		}
		responses = append(responses, []any{slot, gen, s.ID, s.RiskID, s.Title, s.Owner, string(s.Status), pgDate(s.DueDate),
			pgDate(s.Overdue), s.StatusSince, nonNil(s.Done), s.Version, s.CreatedPosition})
	}
	for _, id := range sortedKeys(st.sessions) {
		s := st.sessions[id]
		if st.existing[id] {
			replaceSessions = append(replaceSessions, id)
		}
		sessions = append(sessions, []any{slot, gen, s.ID, string(s.Body), pgDate(s.Date), s.Title, s.Version, s.Position})
	}
	return []calTableWrite{
		{"rm_cal_risks_gen", "risk_id", replaceRisks, calRiskCopyColumns, risks},
		{"rm_cal_responses_gen", "response_id", replaceResponses, calResponseCopyColumns, responses},
		{"rm_cal_sessions_gen", "session_id", replaceSessions, calSessionCopyColumns, sessions},
		{"rm_cal_items_gen", "", nil, calItemCopyColumns, st.items},
		{"rm_cal_changes_gen", "", nil, calChangeCopyColumns, st.changes},
	}
}

// Write replaces the touched rows and adds the new ones, with COPY.
func (st *calState) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	for _, w := range st.writes(gen) {
		if err := deleteKeys(ctx, tx, w.table, w.key, gen, w.replace); err != nil {
			return err
		}
		if err := copyRows(ctx, tx, w.table, w.columns, w.rows); err != nil {
			return err
		}
	}
	return nil
}

// queueable reports whether the batch is small enough to write in the
// round trip of its transaction's checks: at most queueRows rows per table.
func (st *calState) queueable() bool {
	return max(len(st.risks), len(st.responses), len(st.sessions), len(st.items), len(st.changes)) <= queueRows
}

func (st *calState) queue(b *pgx.Batch, gen int64) error {
	for _, w := range st.writes(gen) {
		queueDeleteKeys(b, w.table, w.key, gen, w.replace)
		queueInsert(b, w.table, w.columns, w.rows)
	}
	return nil
}

var (
	calRiskCopyColumns = []string{"slot", "generation", "risk_id", "reference", "title", "owner", "status", "band", "score",
		"inherent_score", "residual_score", "flagged", "assessed_on", "tolerated_until", "review_overdue", "lapsed",
		"red_since", "flagged_at", "done", "version", "updated_at"}
	calResponseCopyColumns = []string{"slot", "generation", "response_id", "risk_id", "title", "owner", "status", "due_date",
		"overdue", "status_since", "done", "version", "created_position"}
	calSessionCopyColumns = []string{"slot", "generation", "session_id", "body", "date", "title", "version", "position"}
	calItemCopyColumns    = []string{"slot", "generation", "session_id", "position", "subject_id", "subject_kind", "version_tabled", "note"}
	calChangeCopyColumns  = []string{"slot", "generation", "subject_id", "position", "event_id", "event_type", "kind", "summary", "recorded_at"}
)

const (
	calRiskColumns = `risk_id, reference, title, owner, status, inherent_score, residual_score, flagged, assessed_on,
	tolerated_until, review_overdue, lapsed, red_since, flagged_at, done, version, updated_at`
	calResponseColumns = `response_id, risk_id, title, owner, status, due_date, overdue, status_since, done, version, created_position`
	calSessionColumns  = `session_id, body, date, title, version, position`
)

func scanCalRisk(row pgx.CollectableRow) (*calRisk, error) {
	var r calRisk
	var status string
	var inherent, residual int16
	var assessed, tolerated, overdue, lapsed pgtype.Date
	var red, flaggedAt pgtype.Timestamptz
	if err := row.Scan(&r.ID, &r.Reference, &r.Title, &r.Owner, &status, &inherent, &residual, &r.Flagged, &assessed,
		&tolerated, &overdue, &lapsed, &red, &flaggedAt, &r.Done, &r.Version, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Status, r.Inherent, r.Residual = domain.RiskStatus(status), int(inherent), int(residual)
	r.AssessedOn, r.ToleratedUntil, r.ReviewOverdue, r.Lapsed = dateOf(assessed), dateOf(tolerated), dateOf(overdue), dateOf(lapsed)
	r.RedSince, r.FlaggedAt = red.Time, flaggedAt.Time
	return &r, nil
}

func scanCalResponse(row pgx.CollectableRow) (*calResponse, error) {
	var s calResponse
	var status string
	var due, overdue pgtype.Date
	if err := row.Scan(&s.ID, &s.RiskID, &s.Title, &s.Owner, &status, &due, &overdue, &s.StatusSince, &s.Done,
		&s.Version, &s.CreatedPosition); err != nil {
		return nil, err
	}
	s.Status, s.DueDate, s.Overdue = domain.ResponseStatus(status), dateOf(due), dateOf(overdue)
	return &s, nil
}

func scanCalSession(row pgx.CollectableRow) (*calSession, error) {
	var s calSession
	var body string
	var date pgtype.Date
	if err := row.Scan(&s.ID, &body, &date, &s.Title, &s.Version, &s.Position); err != nil {
		return nil, err
	}
	s.Body, s.Date = domain.Body(body), dateOf(date)
	return &s, nil
}

// pgDate returns d for a date column, NULL for the zero Date.
func pgDate(d domain.Date) pgtype.Date {
	if d.IsZero() {
		return pgtype.Date{}
	}
	return pgtype.Date{Time: d.Time(), Valid: true}
}

// dateOf returns the Date of a date column, zero for NULL.
func dateOf(d pgtype.Date) domain.Date {
	if !d.Valid {
		return domain.Date{}
	}
	return domain.DateOf(d.Time)
}

// pgTime returns t for a timestamptz column, NULL for the zero time.
func pgTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// nullString returns s, or NULL for "".
func nullString(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// nonNil returns s, or an empty slice for nil (a NOT NULL array column).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sortedKeys returns the keys of m in order, so that writes are the same
// whatever the map's order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
