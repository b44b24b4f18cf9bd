package domain

import "time"

// Likelihood and impact are each rated on this scale.
const (
	MinScale = 1
	MaxScale = 5
)

// Rating is one assessment of a risk on the 5 x 5 matrix: likelihood and
// impact (1..5 each), a rationale, and who assessed it when. The score is
// likelihood x impact and the band follows from the score (see BandOf).
//
// A Rating is an immutable value; the zero Rating is not a valid rating.
type Rating struct {
	likelihood int
	impact     int
	rationale  string
	assessedBy string
	assessedAt time.Time
}

// NewRating validates its arguments and returns a Rating. assessedAt is
// converted to UTC.
func NewRating(likelihood, impact int, rationale, assessedBy string, assessedAt time.Time) (Rating, error) {
	var v validator
	validateRating(&v, likelihood, impact, rationale, assessedBy, assessedAt)
	if err := v.err(); err != nil {
		return Rating{}, err
	}
	return Rating{
		likelihood: likelihood,
		impact:     impact,
		rationale:  rationale,
		assessedBy: assessedBy,
		assessedAt: assessedAt.UTC(),
	}, nil
}

// validateRating checks the arguments of NewRating.
func validateRating(v *validator, likelihood, impact int, rationale, assessedBy string, assessedAt time.Time) {
	v.check(inScale(likelihood), "likelihood", "must be between 1 and 5")
	v.check(inScale(impact), "impact", "must be between 1 and 5")
	v.required("rationale", rationale, MaxRationaleLen)
	v.required("assessedBy", assessedBy, MaxNameLen)
	v.time("assessedAt", assessedAt)
}

// inScale reports whether n is a valid likelihood or impact.
func inScale(n int) bool { return n >= MinScale && n <= MaxScale }

// Likelihood returns the likelihood, 1..5.
func (r Rating) Likelihood() int { return r.likelihood }

// Impact returns the impact, 1..5.
func (r Rating) Impact() int { return r.impact }

// Score returns likelihood x impact.
func (r Rating) Score() int { return r.likelihood * r.impact }

// Band returns the band of the score.
func (r Rating) Band() Band { return BandOf(r.Score()) }

// Rationale returns why the assessor chose this rating.
func (r Rating) Rationale() string { return r.rationale }

// AssessedBy returns the subject of the principal who assessed the risk.
func (r Rating) AssessedBy() string { return r.assessedBy }

// AssessedAt returns when the risk was assessed.
func (r Rating) AssessedAt() time.Time { return r.assessedAt }

// BandOf returns the band of a score: GREEN up to 6, AMBER 8 to 12, RED from
// 15. Scores 7, 13 and 14 cannot be a product of two numbers in 1..5; BandOf
// counts 7 as AMBER and 13 and 14 as RED so that every integer has a band.
func BandOf(score int) Band {
	switch {
	case score <= 6:
		return BandGreen
	case score <= 12:
		return BandAmber
	default:
		return BandRed
	}
}
