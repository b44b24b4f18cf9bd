package domain

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// referencePattern is the form of a risk's human reference, e.g. "R-0007".
var referencePattern = regexp.MustCompile(`^R-[0-9]{4,}$`)

// Risk is an entry of the register: something that may happen, with its
// ratings and its place in the governance cycle. It is one event stream of
// type StreamRisk.
//
// The zero Risk is not registered; build one with RiskFromHistory. A Risk
// holds no references, so copying the struct copies its state.
type Risk struct {
	id             string
	reference      string
	title          string
	description    string
	category       string
	source         string
	owner          string
	status         RiskStatus
	ratings        [3]Rating // indexed by ratingIndex
	rated          [3]bool
	flagged        bool
	toleratedUntil Date
	version        int
}

// RiskDetails are the descriptive fields of a new risk.
type RiskDetails struct {
	Title       string // non-blank, at most MaxTitleLen
	Description string // cause -> event -> consequence; non-blank, at most MaxDescriptionLen
	Category    string // non-blank, at most MaxNameLen
	Source      string // e.g. "Audit Plan 2021"; non-blank, at most MaxNameLen
	Owner       string // non-blank, at most MaxNameLen
}

// RiskChanges are the descriptive fields to change on a risk; nil leaves a
// field as it is. The rules of RiskDetails apply to the fields given.
type RiskChanges struct {
	Title       *string
	Description *string
	Category    *string
	Source      *string
	Owner       *string
}

// RiskFromHistory folds the events of risk id's stream, oldest first. An
// empty history is a *NotFoundError.
func RiskFromHistory(id string, events []Event) (*Risk, error) {
	r := &Risk{id: id}
	return r, fold(StreamRisk, id, r, events)
}

// RegisterRisk validates a new risk and returns its RiskRegistered event.
// The caller assigns id (unique across all aggregates) and reference (unique
// among risks, of the form "R-0007").
func RegisterRisk(id, reference string, in RiskDetails) ([]Event, error) {
	var v validator
	v.required("id", id, MaxNameLen)
	v.check(referencePattern.MatchString(reference), "reference",
		`must be "R-" followed by at least four digits`)
	v.required("title", in.Title, MaxTitleLen)
	v.required("description", in.Description, MaxDescriptionLen)
	v.required("category", in.Category, MaxNameLen)
	v.required("source", in.Source, MaxNameLen)
	v.required("owner", in.Owner, MaxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{RiskRegistered{
		Reference:   reference,
		Title:       in.Title,
		Description: in.Description,
		Category:    in.Category,
		Source:      in.Source,
		Owner:       in.Owner,
	}}, nil
}

// Update returns a RiskUpdated event with the fields of c that differ from
// the risk's, or no event when nothing changes. The risk must not be CLOSED
// or WITHDRAWN.
func (r *Risk) Update(c RiskChanges) ([]Event, error) {
	var v validator
	v.optionalPtr("title", c.Title, MaxTitleLen, true)
	v.optionalPtr("description", c.Description, MaxDescriptionLen, true)
	v.optionalPtr("category", c.Category, MaxNameLen, true)
	v.optionalPtr("source", c.Source, MaxNameLen, true)
	v.optionalPtr("owner", c.Owner, MaxNameLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := r.requireActive(string(ActionUpdateRisk)); err != nil {
		return nil, err
	}
	e := RiskUpdated{
		Title:       changed(r.title, c.Title),
		Description: changed(r.description, c.Description),
		Category:    changed(r.category, c.Category),
		Source:      changed(r.source, c.Source),
		Owner:       changed(r.owner, c.Owner),
	}
	if e == (RiskUpdated{}) {
		return nil, nil
	}
	return []Event{e}, nil
}

// Assess returns a RiskAssessed event that sets the rating of the given kind,
// assessed by actor at time at (converted to UTC). The risk must not be
// CLOSED or WITHDRAWN. The first INHERENT rating moves an OPEN risk to
// ASSESSED; other assessments leave the status as it is.
func (r *Risk) Assess(kind RatingKind, likelihood, impact int, rationale, actor string, at time.Time) ([]Event, error) {
	var v validator
	v.enum("kind", kind.Valid(), string(kind))
	validateRating(&v, likelihood, impact, rationale, actor, at)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := r.requireActive(string(ActionAssessRisk)); err != nil {
		return nil, err
	}
	return []Event{RiskAssessed{
		Kind:       kind,
		Likelihood: likelihood,
		Impact:     impact,
		Rationale:  rationale,
		AssessedBy: actor,
		AssessedAt: at.UTC(),
	}}, nil
}

// Close returns a RiskClosed event for a staff closure with a non-blank
// reason. Staff cannot close a RED or flagged risk: only a Council
// CLOSE_RISK decision can (see RecordDecision).
func (r *Risk) Close(reason string) ([]Event, error) {
	return r.end(ActionCloseRisk, reason, RiskClosed{Reason: reason})
}

// Withdraw returns a RiskWithdrawn event with a non-blank reason. Like
// Close, it is refused for a RED or flagged risk.
func (r *Risk) Withdraw(reason string) ([]Event, error) {
	return r.end(ActionWithdrawRisk, reason, RiskWithdrawn{Reason: reason})
}

// end checks a staff closure or withdrawal and returns e.
func (r *Risk) end(action Action, reason string, e Event) ([]Event, error) {
	var v validator
	v.required("reason", reason, MaxReasonLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := r.requireActive(string(action)); err != nil {
		return nil, err
	}
	if band, ok := r.Band(); ok && band == BandRed {
		return nil, preconditionf("risk %s is RED; only a Council CLOSE_RISK decision can end it", r.id)
	}
	if r.flagged {
		return nil, preconditionf("risk %s is flagged; only a Council CLOSE_RISK decision can end it", r.id)
	}
	return []Event{e}, nil
}

// requireActive returns an error unless the risk is registered and not in a
// terminal status; action names what was refused.
func (r *Risk) requireActive(action string) error {
	if r.version == 0 {
		return &NotFoundError{Kind: StreamRisk, ID: r.id}
	}
	return requireStatus(StreamRisk, r.id, action, r.status, activeRiskStatuses...)
}

// Apply folds one event of the risk's stream into its state. It checks that
// the event belongs to a risk stream and comes in a possible place, but not
// the business rules: events are facts, already checked by the command that
// produced them, and a replay must reproduce them whatever today's rules say.
func (r *Risk) Apply(e Event) error {
	if _, first := e.(RiskRegistered); first != (r.version == 0) {
		return unexpected(StreamRisk, r.id, r.version, e)
	}
	switch e := e.(type) {
	case RiskRegistered:
		r.reference, r.title, r.description = e.Reference, e.Title, e.Description
		r.category, r.source, r.owner = e.Category, e.Source, e.Owner
		r.status = RiskStatusOpen
	case RiskUpdated:
		set(&r.title, e.Title)
		set(&r.description, e.Description)
		set(&r.category, e.Category)
		set(&r.source, e.Source)
		set(&r.owner, e.Owner)
	case RiskAssessed:
		i := slices.Index(ratingKinds, e.Kind)
		if i < 0 {
			return fmt.Errorf("%w: %s with rating kind %q", ErrUnexpectedEvent, e.EventType(), e.Kind)
		}
		r.ratings[i] = Rating{
			likelihood: e.Likelihood,
			impact:     e.Impact,
			rationale:  e.Rationale,
			assessedBy: e.AssessedBy,
			assessedAt: e.AssessedAt,
		}
		r.rated[i] = true
		if e.Kind == RatingKindInherent && r.status == RiskStatusOpen {
			r.setStatus(RiskStatusAssessed)
		}
	case RiskFlagged:
		r.flagged = true
	case RiskTolerated:
		r.setStatus(RiskStatusTolerated)
		r.toleratedUntil = e.ToleratedUntil
	case RiskTreatmentStarted:
		r.setStatus(RiskStatusTreating)
	case RiskMonitoringStarted:
		r.setStatus(RiskStatusMonitoring)
	case RiskClosed:
		r.setStatus(RiskStatusClosed)
	case RiskWithdrawn:
		r.setStatus(RiskStatusWithdrawn)
	default:
		return unexpected(StreamRisk, r.id, r.version, e)
	}
	r.version++
	return nil
}

// setStatus changes the status; a risk that stops being TOLERATED loses its
// toleratedUntil date.
func (r *Risk) setStatus(s RiskStatus) {
	r.status = s
	if s != RiskStatusTolerated {
		r.toleratedUntil = Date{}
	}
}

// ID returns the risk's id.
func (r *Risk) ID() string { return r.id }

// Reference returns the human reference, e.g. "R-0007".
func (r *Risk) Reference() string { return r.reference }

// Title returns the title.
func (r *Risk) Title() string { return r.title }

// Description returns the description (cause -> event -> consequence).
func (r *Risk) Description() string { return r.description }

// Category returns the category.
func (r *Risk) Category() string { return r.category }

// Source returns where the risk was identified, e.g. "Audit Plan 2021".
func (r *Risk) Source() string { return r.source }

// Owner returns the risk owner.
func (r *Risk) Owner() string { return r.owner }

// Status returns the status.
func (r *Risk) Status() RiskStatus { return r.status }

// Rating returns the rating of the given kind, and whether it has been set.
func (r *Risk) Rating(kind RatingKind) (Rating, bool) {
	i := slices.Index(ratingKinds, kind)
	if i < 0 || !r.rated[i] {
		return Rating{}, false
	}
	return r.ratings[i], true
}

// Band returns the band of the residual rating if set, else of the inherent
// rating; ok is false when neither is set.
func (r *Risk) Band() (band Band, ok bool) {
	for _, kind := range []RatingKind{RatingKindResidual, RatingKindInherent} {
		if rating, ok := r.Rating(kind); ok {
			return rating.Band(), true
		}
	}
	return "", false
}

// Flagged reports whether the Audit Committee flagged the risk as a red risk.
func (r *Risk) Flagged() bool { return r.flagged }

// ToleratedUntil returns the date until which the Council accepted the risk;
// ok is false unless the risk is TOLERATED.
func (r *Risk) ToleratedUntil() (until Date, ok bool) {
	return r.toleratedUntil, !r.toleratedUntil.IsZero()
}

// Version returns the number of events applied, which is the version of the
// risk's stream.
func (r *Risk) Version() int { return r.version }
