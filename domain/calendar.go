package domain

import "slices"

// StreamCalendar is the stream type of the acts of time: one stream per
// subject (see CalendarStreamID) holds the RiskReviewOverdue,
// RiskToleranceLapsed and ResponseOverdue events of that risk or response.
// They are kept apart from the subject's own stream so that the passing of a
// date never moves the version a body saw and is about to decide on.
const StreamCalendar = "calendar"

// Stored type names of the acts of time.
const (
	EventRiskReviewOverdue   = "RiskReviewOverdue"
	EventRiskToleranceLapsed = "RiskToleranceLapsed"
	EventResponseOverdue     = "ResponseOverdue"
)

// CalendarStreamID returns the id of the calendar stream of a risk or
// response.
func CalendarStreamID(subjectID string) string { return "calendar:" + subjectID }

// RiskReviewOverdue: the risk's next review date passed without a new
// assessment. It is recorded once per review date.
type RiskReviewOverdue struct {
	RiskID    string `json:"riskId"`
	ReviewDue Date   `json:"reviewDue"`
}

// RiskToleranceLapsed: the date until which the Council accepted the risk
// passed. The risk is back before the Council: it heads the Council's
// suggested agenda until the Council decides on it again. It is recorded
// once per acceptance date.
type RiskToleranceLapsed struct {
	RiskID         string `json:"riskId"`
	ToleratedUntil Date   `json:"toleratedUntil"`
}

// ResponseOverdue: the response's due date passed before it was
// implemented. It is recorded once per due date.
type ResponseOverdue struct {
	ResponseID string `json:"responseId"`
	RiskID     string `json:"riskId"`
	DueDate    Date   `json:"dueDate"`
}

// EventType implements Event.
func (RiskReviewOverdue) EventType() string { return EventRiskReviewOverdue }

// EventType implements Event.
func (RiskToleranceLapsed) EventType() string { return EventRiskToleranceLapsed }

// EventType implements Event.
func (ResponseOverdue) EventType() string { return EventResponseOverdue }

// SchemaVersion implements Event.
func (RiskReviewOverdue) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskToleranceLapsed) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseOverdue) SchemaVersion() int { return 1 }

// ReviewPolicy says how many days after an assessment a risk is due for its
// next review, by the risk's band (the residual rating's, else the
// inherent's).
type ReviewPolicy struct {
	Red, Amber, Green int // days, each at least 1
}

// DefaultReviewPolicy reviews RED risks every 30 days, AMBER every 90 and
// GREEN every 180.
var DefaultReviewPolicy = ReviewPolicy{Red: 30, Amber: 90, Green: 180}

// Validate returns a *ValidationError unless every interval is at least one
// day and at most ten years.
func (p ReviewPolicy) Validate() error {
	var v validator
	for _, f := range []struct {
		name string
		days int
	}{{"review.red", p.Red}, {"review.amber", p.Amber}, {"review.green", p.Green}} {
		v.check(f.days >= 1 && f.days <= 3650, f.name, "must be between 1 and 3650 days")
	}
	return v.err()
}

// Days returns the review interval of band b; 0 for no band (a risk never
// assessed has no review date).
func (p ReviewPolicy) Days(b Band) int {
	switch b {
	case BandRed:
		return p.Red
	case BandAmber:
		return p.Amber
	case BandGreen:
		return p.Green
	}
	return 0
}

// NextReview returns the date a risk of band b assessed on assessed is due
// for review, or the zero Date when it has no band.
func (p ReviewPolicy) NextReview(b Band, assessed Date) Date {
	days := p.Days(b)
	if days == 0 || assessed.IsZero() {
		return Date{}
	}
	return assessed.AddDays(days)
}

// AddDays returns the date n days after d (before it for negative n); the
// zero Date stays zero.
func (d Date) AddDays(n int) Date {
	if d.IsZero() {
		return d
	}
	return DateOf(d.Time().AddDate(0, 0, n))
}

// Passed reports whether date d has passed on day today: a date lasts the
// whole day, so it passes at the start of the next one.
func (d Date) Passed(today Date) bool { return !d.IsZero() && d.Before(today) }

// CalendarSubject is what the acts of time need to know of a risk or
// response: its dates as they stand, and the dates already acted on.
type CalendarSubject struct {
	Kind   SubjectKind // RISK or RESPONSE
	ID     string
	RiskID string // for a response, its risk

	RiskStatus     RiskStatus     // for a risk
	ResponseStatus ResponseStatus // for a response

	NextReview     Date // a risk's next review date, zero if none
	ToleratedUntil Date // a TOLERATED risk's acceptance date
	DueDate        Date // a response's due date

	// Done are the keys (TimeAct.Key) of the acts already recorded.
	Done []string
}

// TimeAct is an act of time that is due: the event to record on the
// subject's calendar stream.
type TimeAct struct {
	SubjectID string
	Event     Event
	// On is the date that passed.
	On Date
}

// Key identifies the act: its event type, subject and date. An act is
// recorded at most once per key, so the event id is derived from it.
func (a TimeAct) Key() string { return timeActKey(a.Event.EventType(), a.SubjectID, a.On) }

func timeActKey(eventType, subject string, on Date) string {
	return eventType + "/" + subject + "/" + on.String()
}

// OccurredAt is the business time of the act: the start of the day after
// the date, when it passed.
func (a TimeAct) OccurredAt() Date { return a.On.AddDays(1) }

// reviewedStatuses are the statuses in which a risk is due for review:
// every status that is not terminal. A TOLERATED risk is still reviewed.
func reviewDue(s RiskStatus) bool { return s != "" && !s.Terminal() }

// awaitingDelivery reports whether a response in status s is still to be
// delivered, so that its due date can pass: it is not implemented, verified
// or in a terminal status.
func awaitingDelivery(s ResponseStatus) bool {
	switch s {
	case ResponseStatusImplemented, ResponseStatusVerified, "":
		return false
	}
	return !s.Terminal()
}

// ResponseStatusesAwaitingDelivery returns the statuses in which a response
// is still to be delivered: a response in one of them whose due date passed
// is overdue (DueTimeActs). Readers that select overdue responses in a
// query use it, so that the statuses are named once, here.
func ResponseStatusesAwaitingDelivery() []ResponseStatus {
	return slices.DeleteFunc(slices.Clone(responseStatuses), func(s ResponseStatus) bool { return !awaitingDelivery(s) })
}

// DueTimeActs returns the acts of time due on day today for subjects, in
// the order of subjects: every review date, acceptance and due date that
// has passed and was not acted on yet, however long ago it passed.
func DueTimeActs(today Date, subjects []CalendarSubject) []TimeAct {
	var acts []TimeAct
	for _, s := range subjects {
		add := func(e Event, on Date) {
			a := TimeAct{SubjectID: s.ID, Event: e, On: on}
			if !slices.Contains(s.Done, a.Key()) {
				acts = append(acts, a)
			}
		}
		switch s.Kind {
		case SubjectKindRisk:
			if reviewDue(s.RiskStatus) && s.NextReview.Passed(today) {
				add(RiskReviewOverdue{RiskID: s.ID, ReviewDue: s.NextReview}, s.NextReview)
			}
			if s.RiskStatus == RiskStatusTolerated && s.ToleratedUntil.Passed(today) {
				add(RiskToleranceLapsed{RiskID: s.ID, ToleratedUntil: s.ToleratedUntil}, s.ToleratedUntil)
			}
		case SubjectKindResponse:
			if awaitingDelivery(s.ResponseStatus) && s.DueDate.Passed(today) {
				add(ResponseOverdue{ResponseID: s.ID, RiskID: s.RiskID, DueDate: s.DueDate}, s.DueDate)
			}
		}
	}
	return acts
}

// TimeActKeyOf returns the key of a recorded act of time, and false for any
// other event.
func TimeActKeyOf(e Event) (string, bool) {
	switch e := e.(type) {
	case RiskReviewOverdue:
		return timeActKey(e.EventType(), e.RiskID, e.ReviewDue), true
	case RiskToleranceLapsed:
		return timeActKey(e.EventType(), e.RiskID, e.ToleratedUntil), true
	case ResponseOverdue:
		return timeActKey(e.EventType(), e.ResponseID, e.DueDate), true
	}
	return "", false
}
