package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Session is a session of a body as the calendar keeps it.
type Session struct {
	ID       string
	Body     domain.Body
	Date     domain.Date
	Title    string
	Version  int
	Position eventstore.Position // of its SessionScheduled event
	Items    []TabledItem        // in the order they were tabled
}

// CutOff is the end of the session's day (UTC): what happened before it is
// the session's business.
func (s Session) CutOff() time.Time { return s.Date.AddDays(1).Time() }

// TabledItem is a subject tabled for a session, with the version tabled and
// the version it has now.
type TabledItem struct {
	SubjectID     string
	Kind          domain.SubjectKind
	VersionTabled int
	VersionNow    int
	Note          string
	Position      eventstore.Position // of its ItemTabled event
}

// SessionsByID returns the sessions with the given ids and their items, by
// id.
func (r *Reader) SessionsByID(ctx context.Context, ids []string) (map[string]Session, error) {
	sessions, err := r.sessions(ctx, `WHERE s.session_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Session, len(sessions))
	for _, s := range sessions {
		out[s.ID] = s
	}
	return out, nil
}

// Sessions returns the sessions of body ("" for every body), by date then
// position.
func (r *Reader) Sessions(ctx context.Context, body domain.Body) ([]Session, error) {
	if body != "" && !body.Valid() {
		return nil, fmt.Errorf("%w: unknown body %q", ErrInvalidInput, body)
	}
	return r.sessions(ctx, `WHERE ($1 = '' OR s.body = $1)`, string(body))
}

// PreviousSession returns the session of the same body before s (by date,
// then by when it was scheduled), and whether there is one.
func (r *Reader) PreviousSession(ctx context.Context, s Session) (Session, bool, error) {
	prev, err := r.sessions(ctx, `WHERE s.body = $1 AND (s.date, s.position) < ($2, $3) ORDER BY s.date DESC, s.position DESC LIMIT 1`,
		string(s.Body), pgDate(s.Date), s.Position.String())
	if err != nil || len(prev) == 0 {
		return Session{}, false, err
	}
	return prev[0], true, nil
}

// sessions reads sessions with a condition on rm_cal_sessions s (and an
// order; by date and position otherwise), with their items.
func (r *Reader) sessions(ctx context.Context, where string, args ...any) ([]Session, error) {
	rows, err := queryAll(ctx, r.pool, "sessions", func(row pgx.CollectableRow) (Session, error) {
		var s Session
		var body, pos string
		var date pgtype.Date
		if err := row.Scan(&s.ID, &body, &date, &s.Title, &s.Version, &pos); err != nil {
			return s, err
		}
		s.Body, s.Date = domain.Body(body), dateOf(date)
		var err error
		s.Position, err = eventstore.ParsePosition(pos)
		return s, err
	}, `SELECT * FROM (SELECT s.session_id, s.body, s.date, s.title, s.version, s.position FROM rm_cal_sessions s `+where+`) s
		ORDER BY s.date, s.position`, planned(args...)...)
	if err != nil || len(rows) == 0 {
		return rows, err
	}
	ids := make([]string, len(rows))
	for i, s := range rows {
		ids[i] = s.ID
	}
	items, err := queryAll(ctx, r.pool, "tabled items", func(row pgx.CollectableRow) (struct {
		session string
		TabledItem
	}, error,
	) {
		var it struct {
			session string
			TabledItem
		}
		var kind, pos string
		var now pgtype.Int8
		if err := row.Scan(&it.session, &it.SubjectID, &kind, &it.VersionTabled, &it.Note, &pos, &now); err != nil {
			return it, err
		}
		it.Kind, it.VersionNow = domain.SubjectKind(kind), int(now.Int64)
		var err error
		it.Position, err = eventstore.ParsePosition(pos)
		return it, err
	}, `SELECT i.session_id, i.subject_id, i.subject_kind, i.version_tabled, i.note, i.position,
			COALESCE(rk.version, rs.version)
		FROM rm_cal_items i LEFT JOIN rm_cal_risks rk ON rk.risk_id = i.subject_id
			LEFT JOIN rm_cal_responses rs ON rs.response_id = i.subject_id
		WHERE i.session_id = ANY($1) ORDER BY i.session_id, i.position`, planned(ids)...)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(rows))
	for i, s := range rows {
		index[s.ID] = i
	}
	for _, it := range items {
		s := &rows[index[it.session]]
		s.Items = append(s.Items, it.TabledItem)
	}
	return rows, nil
}

// AgendaFacts returns what the agenda rules need to know of every risk and
// response, with the decisions of body whose subjects changed materially
// since they were taken: risks in reference order, then responses in the
// order they were proposed.
func (r *Reader) AgendaFacts(ctx context.Context, body domain.Body) ([]domain.AgendaFacts, error) {
	stale, err := queryAll(ctx, r.pool, "stale decisions", func(row pgx.CollectableRow) ([2]string, error) {
		var x [2]string
		return x, row.Scan(&x[0], &x[1])
	}, `SELECT s.subject_id, s.decision_id FROM rm_decision_subjects s
		JOIN rm_decisions d ON d.decision_id = s.decision_id
		WHERE d.body = $1 AND EXISTS (SELECT 1 FROM rm_cal_changes c WHERE c.subject_id = s.subject_id AND c.position > s.position)
		GROUP BY s.subject_id, s.decision_id ORDER BY min(s.position)`, planned(string(body))...)
	if err != nil {
		return nil, err
	}
	staleBy := make(map[string][]string)
	for _, x := range stale {
		staleBy[x[0]] = append(staleBy[x[0]], x[1])
	}
	risks, err := queryAll(ctx, r.pool, "agenda risks", func(row pgx.CollectableRow) (domain.AgendaFacts, error) {
		f := domain.AgendaFacts{Kind: domain.SubjectKindRisk}
		var status string
		var band pgtype.Text
		var red, flagged pgtype.Timestamptz
		if err := row.Scan(&f.ID, &status, &band, &red, &flagged, &f.Lapsed, &f.ReviewOverdue); err != nil {
			return f, err
		}
		f.Band, f.RedSince, f.FlaggedAt = domain.Band(band.String), red.Time, flagged.Time
		f.Terminal, f.StaleDecisions = domain.RiskStatus(status).Terminal(), staleBy[f.ID]
		return f, nil
	}, `SELECT risk_id, status, band, red_since, flagged_at, lapsed IS NOT NULL, review_overdue IS NOT NULL
		FROM rm_cal_risks ORDER BY length(reference), reference`)
	if err != nil {
		return nil, err
	}
	responses, err := queryAll(ctx, r.pool, "agenda responses", func(row pgx.CollectableRow) (domain.AgendaFacts, error) {
		f := domain.AgendaFacts{Kind: domain.SubjectKindResponse}
		var status string
		if err := row.Scan(&f.ID, &status, &f.Overdue); err != nil {
			return f, err
		}
		f.ResponseStatus = domain.ResponseStatus(status)
		f.Terminal, f.StaleDecisions = f.ResponseStatus.Terminal(), staleBy[f.ID]
		return f, nil
	}, `SELECT response_id, status, overdue IS NOT NULL FROM rm_cal_responses ORDER BY created_position`)
	if err != nil {
		return nil, err
	}
	return append(risks, responses...), nil
}

// SuggestedAgenda returns the suggested agenda of session s: the domain's
// rules (domain.SuggestAgenda) over the register as the calendar shows it,
// since the cut-off of the body's previous session up to s's.
func (r *Reader) SuggestedAgenda(ctx context.Context, s Session) ([]domain.AgendaSuggestion, error) {
	facts, err := r.AgendaFacts(ctx, s.Body)
	if err != nil {
		return nil, err
	}
	var since time.Time
	prev, ok, err := r.PreviousSession(ctx, s)
	if err != nil {
		return nil, err
	}
	if ok {
		since = prev.CutOff()
	}
	tabled := make([]string, len(s.Items))
	for i, it := range s.Items {
		tabled[i] = it.SubjectID
	}
	return domain.SuggestAgenda(s.Body, since, s.CutOff(), facts, tabled), nil
}

// DecisionsOfSession returns the decisions whose session is sessionID, in
// log order.
func (r *Reader) DecisionsOfSession(ctx context.Context, sessionID string) ([]Decision, error) {
	return queryAll(ctx, r.pool, "decisions of a session", scanDecision,
		"SELECT "+decisionColumns+" FROM rm_decisions WHERE data->>'session' = $1 ORDER BY position", planned(sessionID)...)
}
