package projection

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
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
