package domain

import "time"

// Stream types: every aggregate is one stream of one of these types.
const (
	StreamRisk     = "risk"
	StreamResponse = "response"
	StreamDecision = "decision"
)

// Stored event type names. They are part of the event log's format and never
// change, whatever the Go types are called.
const (
	EventRiskRegistered        = "RiskRegistered"
	EventRiskUpdated           = "RiskUpdated"
	EventRiskAssessed          = "RiskAssessed"
	EventRiskFlagged           = "RiskFlagged"
	EventRiskTolerated         = "RiskTolerated"
	EventRiskTreatmentStarted  = "RiskTreatmentStarted"
	EventRiskMonitoringStarted = "RiskMonitoringStarted"
	EventRiskClosed            = "RiskClosed"
	EventRiskWithdrawn         = "RiskWithdrawn"

	EventResponseProposed    = "ResponseProposed"
	EventResponseRevised     = "ResponseRevised"
	EventResponseSubmitted   = "ResponseSubmitted"
	EventResponseRecommended = "ResponseRecommended"
	EventResponseReturned    = "ResponseReturned"
	EventResponseEndorsed    = "ResponseEndorsed"
	EventResponseRejected    = "ResponseRejected"
	EventResponseStarted     = "ResponseStarted"
	EventResponseImplemented = "ResponseImplemented"
	EventResponseVerified    = "ResponseVerified"
	EventResponseClosed      = "ResponseClosed"
	EventResponseWithdrawn   = "ResponseWithdrawn"

	EventDecisionRecorded = "DecisionRecorded"
)

// Event is a fact that happened to one aggregate. Its data is the JSON
// encoding of the value (json.Marshal); the envelope (stream, version, actor,
// correlation, causation, decision id, occurred_at) belongs to the store.
//
// Events are passed and applied as values, never as pointers.
type Event interface {
	// EventType returns the stored type name, one of the Event... constants.
	EventType() string
	// SchemaVersion returns the version of the data's shape, from 1.
	SchemaVersion() int
}

// DecisionRef names the decision that caused an effect event. It is embedded
// in every effect event, so its fields appear at the top level of the data.
type DecisionRef struct {
	DecisionID string `json:"decisionId,omitempty"`
	Body       Body   `json:"body,omitempty"`
	Session    string `json:"session,omitempty"`
}

// RiskRegistered: a risk was entered in the register. Its status is OPEN.
type RiskRegistered struct {
	Reference   string `json:"reference"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Category    string `json:"category"`
	Source      string `json:"source"`
	Owner       string `json:"owner"`
}

// RiskUpdated: some descriptive fields of a risk changed. Only the changed
// fields are present.
type RiskUpdated struct {
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Category    *string `json:"category,omitempty"`
	Source      *string `json:"source,omitempty"`
	Owner       *string `json:"owner,omitempty"`
}

// RiskAssessed: one of a risk's ratings was set. The first INHERENT rating
// moves an OPEN risk to ASSESSED.
//
// Schema history: version 1 had no kind and always meant INHERENT (see
// UpcastRiskAssessedV1); version 2 added kind.
type RiskAssessed struct {
	Kind       RatingKind `json:"kind"`
	Likelihood int        `json:"likelihood"`
	Impact     int        `json:"impact"`
	Rationale  string     `json:"rationale"`
	AssessedBy string     `json:"assessedBy"`
	AssessedAt time.Time  `json:"assessedAt"`
}

// RiskFlagged: the Audit Committee flagged the risk as a red risk (FLAG).
type RiskFlagged struct {
	DecisionRef
}

// RiskTolerated: the Council accepted the risk until a date (ACCEPT_RISK).
// Its status is TOLERATED.
type RiskTolerated struct {
	DecisionRef
	ToleratedUntil Date `json:"toleratedUntil"`
}

// RiskTreatmentStarted: the Council endorsed a response to the risk
// (ENDORSE), so the risk is being treated. Its status is TREATING.
type RiskTreatmentStarted struct {
	DecisionRef
	ResponseID string `json:"responseId"`
}

// RiskMonitoringStarted: the Audit Committee verified a response to the
// risk (VERIFY), so the risk is being monitored. Its status is MONITORING.
type RiskMonitoringStarted struct {
	DecisionRef
	ResponseID string `json:"responseId"`
}

// RiskClosed: the risk was closed, either by staff (with a reason and no
// decision) or by a Council CLOSE_RISK decision (with the decision and no
// reason). Its status is CLOSED.
type RiskClosed struct {
	DecisionRef
	Reason string `json:"reason,omitempty"`
}

// ByDecision reports whether a decision (rather than staff) closed the risk.
func (e RiskClosed) ByDecision() bool { return e.DecisionID != "" }

// RiskWithdrawn: staff withdrew the risk from the register. Its status is
// WITHDRAWN.
type RiskWithdrawn struct {
	Reason string `json:"reason"`
}

// ResponseProposed: staff proposed a strategic response to a risk. Its
// status is DRAFT.
type ResponseProposed struct {
	RiskID      string         `json:"riskId"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Option      ResponseOption `json:"option"`
	Owner       string         `json:"owner"`
	DueDate     Date           `json:"dueDate,omitzero"`
}

// ResponseRevised: staff revised a DRAFT or RETURNED response. Only the
// changed fields are present. Its status is DRAFT.
type ResponseRevised struct {
	Title       *string         `json:"title,omitempty"`
	Description *string         `json:"description,omitempty"`
	Option      *ResponseOption `json:"option,omitempty"`
	Owner       *string         `json:"owner,omitempty"`
	DueDate     *Date           `json:"dueDate,omitempty"`
}

// ResponseSubmitted: staff put the response before the Policy Commission.
// Its status is SUBMITTED.
type ResponseSubmitted struct {
	Note string `json:"note,omitempty"`
}

// ResponseRecommended: the Policy Commission recommended the response to the
// Council (RECOMMEND). Its status is RECOMMENDED.
type ResponseRecommended struct {
	DecisionRef
}

// ResponseReturned: the Policy Commission returned the response for revision
// (RETURN). Its status is RETURNED.
type ResponseReturned struct {
	DecisionRef
}

// ResponseEndorsed: the Council endorsed the response (ENDORSE). Its status
// is ENDORSED.
type ResponseEndorsed struct {
	DecisionRef
}

// ResponseRejected: the Council rejected the response (REJECT). Its status
// is REJECTED, which is final.
type ResponseRejected struct {
	DecisionRef
}

// ResponseStarted: staff started implementing the response. Its status is
// IN_PROGRESS.
type ResponseStarted struct {
	Note string `json:"note,omitempty"`
}

// ResponseImplemented: staff reported the response implemented. Its status
// is IMPLEMENTED.
type ResponseImplemented struct {
	Note string `json:"note,omitempty"`
}

// ResponseVerified: the Audit Committee verified the implementation
// (VERIFY). Its status is VERIFIED.
type ResponseVerified struct {
	DecisionRef
}

// ResponseClosed: staff closed the verified response. Its status is CLOSED.
type ResponseClosed struct {
	Note string `json:"note,omitempty"`
}

// ResponseWithdrawn: staff withdrew the response. Its status is WITHDRAWN.
type ResponseWithdrawn struct {
	Note string `json:"note,omitempty"`
}

// DecisionRecorded: a body took a decision. It is the only event of a
// decision's stream; its effects are on the subjects' streams.
type DecisionRecorded struct {
	Body          Body         `json:"body"`
	Session       string       `json:"session"`
	Kind          DecisionKind `json:"kind"`
	Text          string       `json:"text"`
	Subjects      []Subject    `json:"subjects"`
	EffectiveDate Date         `json:"effectiveDate,omitzero"`
	ExpiresOn     Date         `json:"expiresOn,omitzero"`
	RecordedBy    string       `json:"recordedBy"`
	RecordedAt    time.Time    `json:"recordedAt"`
}

// EventType implements Event.
func (RiskRegistered) EventType() string { return EventRiskRegistered }

// EventType implements Event.
func (RiskUpdated) EventType() string { return EventRiskUpdated }

// EventType implements Event.
func (RiskAssessed) EventType() string { return EventRiskAssessed }

// EventType implements Event.
func (RiskFlagged) EventType() string { return EventRiskFlagged }

// EventType implements Event.
func (RiskTolerated) EventType() string { return EventRiskTolerated }

// EventType implements Event.
func (RiskTreatmentStarted) EventType() string { return EventRiskTreatmentStarted }

// EventType implements Event.
func (RiskMonitoringStarted) EventType() string { return EventRiskMonitoringStarted }

// EventType implements Event.
func (RiskClosed) EventType() string { return EventRiskClosed }

// EventType implements Event.
func (RiskWithdrawn) EventType() string { return EventRiskWithdrawn }

// EventType implements Event.
func (ResponseProposed) EventType() string { return EventResponseProposed }

// EventType implements Event.
func (ResponseRevised) EventType() string { return EventResponseRevised }

// EventType implements Event.
func (ResponseSubmitted) EventType() string { return EventResponseSubmitted }

// EventType implements Event.
func (ResponseRecommended) EventType() string { return EventResponseRecommended }

// EventType implements Event.
func (ResponseReturned) EventType() string { return EventResponseReturned }

// EventType implements Event.
func (ResponseEndorsed) EventType() string { return EventResponseEndorsed }

// EventType implements Event.
func (ResponseRejected) EventType() string { return EventResponseRejected }

// EventType implements Event.
func (ResponseStarted) EventType() string { return EventResponseStarted }

// EventType implements Event.
func (ResponseImplemented) EventType() string { return EventResponseImplemented }

// EventType implements Event.
func (ResponseVerified) EventType() string { return EventResponseVerified }

// EventType implements Event.
func (ResponseClosed) EventType() string { return EventResponseClosed }

// EventType implements Event.
func (ResponseWithdrawn) EventType() string { return EventResponseWithdrawn }

// EventType implements Event.
func (DecisionRecorded) EventType() string { return EventDecisionRecorded }

// SchemaVersion implements Event.
func (RiskRegistered) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskUpdated) SchemaVersion() int { return 1 }

// SchemaVersion implements Event: version 2 added the rating kind.
func (RiskAssessed) SchemaVersion() int { return 2 }

// SchemaVersion implements Event.
func (RiskFlagged) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskTolerated) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskTreatmentStarted) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskMonitoringStarted) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskClosed) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (RiskWithdrawn) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseProposed) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseRevised) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseSubmitted) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseRecommended) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseReturned) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseEndorsed) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseRejected) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseStarted) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseImplemented) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseVerified) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseClosed) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ResponseWithdrawn) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (DecisionRecorded) SchemaVersion() int { return 1 }
