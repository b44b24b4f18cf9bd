package model

import (
	"encoding/json"
	"time"

	"github.com/riskreg/riskreg/domain"
)

// Risk is a risk as the API shows it.
type Risk struct {
	ID             string
	Reference      string
	Title          string
	Description    string
	Category       string
	Source         string
	Owner          string
	Status         domain.RiskStatus
	Inherent       *Rating
	Residual       *Rating
	Target         *Rating
	Band           *domain.Band
	Flagged        bool
	ToleratedUntil *domain.Date
	Version        int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// AsOf is the instant the risk was read as of; zero for the current
	// state. Its responses and decisions are read as of the same instant.
	AsOf time.Time
}

// IsNode marks Risk as a Node.
func (Risk) IsNode() {}

// GetID returns the risk's id.
func (r Risk) GetID() string { return r.ID }

// StrategicResponse is a strategic response as the API shows it.
type StrategicResponse struct {
	ID          string
	RiskID      string
	Title       string
	Description string
	Option      domain.ResponseOption
	Owner       string
	DueDate     *domain.Date
	Status      domain.ResponseStatus
	Version     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// AsOf is the instant the response was read as of; zero for now.
	AsOf time.Time
}

// IsNode marks StrategicResponse as a Node.
func (StrategicResponse) IsNode() {}

// GetID returns the response's id.
func (r StrategicResponse) GetID() string { return r.ID }

// Decision is a recorded governance decision as the API shows it.
type Decision struct {
	ID            string
	Body          domain.Body
	Session       string
	Kind          domain.DecisionKind
	Text          string
	RecordedBy    string
	RecordedAt    time.Time
	EffectiveDate *domain.Date
	ExpiresOn     *domain.Date
	Subjects      []*DecisionSubject
}

// IsNode marks Decision as a Node.
func (Decision) IsNode() {}

// GetID returns the decision's id.
func (d Decision) GetID() string { return d.ID }

// Event is one event of the log.
type Event struct {
	ID            string
	Position      string
	StreamID      string
	StreamType    string
	Version       int
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	OccurredAt    time.Time
	RecordedAt    time.Time
	Actor         string
	CorrelationID *string
	CausationID   *string
	DecisionID    *string
	RequestID     *string
	Hash          string
}

// HeatMapCell is a cell of a heat map as the API shows it; its risks are
// read only when asked for.
type HeatMapCell struct {
	Likelihood int
	Impact     int
	Band       domain.Band
	Count      int
	// Kind and AsOf say which heat map the cell is of (AsOf zero: now).
	Kind domain.RatingKind
	AsOf time.Time
}

// RiskChange is a risk that changed between two instants.
type RiskChange struct {
	Risk      *Risk
	Before    *RiskState
	After     *RiskState
	Events    []*Event
	Decisions []*Decision
}
