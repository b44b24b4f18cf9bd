package domain

import (
	"fmt"
	"slices"
)

// Band is the colour of a rating's score on the 5 x 5 matrix.
type Band string

// The bands, as in the GraphQL enum Band.
const (
	BandGreen Band = "GREEN"
	BandAmber Band = "AMBER"
	BandRed   Band = "RED"
)

var bands = []Band{BandGreen, BandAmber, BandRed}

// Valid reports whether b is one of the defined bands.
func (b Band) Valid() bool { return slices.Contains(bands, b) }

// ParseBand returns the band named s, or a *ValidationError.
func ParseBand(s string) (Band, error) { return parseEnum("band", s, bands) }

// RatingKind says which of a risk's three ratings an assessment sets.
type RatingKind string

// The rating kinds, as in the GraphQL enum RatingKind.
const (
	// RatingKindInherent is the rating before any response.
	RatingKindInherent RatingKind = "INHERENT"
	// RatingKindResidual is the rating with the responses in place.
	RatingKindResidual RatingKind = "RESIDUAL"
	// RatingKindTarget is the rating the owner aims for.
	RatingKindTarget RatingKind = "TARGET"
)

var ratingKinds = []RatingKind{RatingKindInherent, RatingKindResidual, RatingKindTarget}

// Valid reports whether k is one of the defined rating kinds.
func (k RatingKind) Valid() bool { return slices.Contains(ratingKinds, k) }

// ParseRatingKind returns the rating kind named s, or a *ValidationError.
func ParseRatingKind(s string) (RatingKind, error) { return parseEnum("kind", s, ratingKinds) }

// RiskStatus is where a risk stands in the governance cycle.
type RiskStatus string

// The risk statuses, as in the GraphQL enum RiskStatus.
const (
	RiskStatusOpen       RiskStatus = "OPEN"
	RiskStatusAssessed   RiskStatus = "ASSESSED"
	RiskStatusTreating   RiskStatus = "TREATING"
	RiskStatusMonitoring RiskStatus = "MONITORING"
	RiskStatusTolerated  RiskStatus = "TOLERATED"
	RiskStatusClosed     RiskStatus = "CLOSED"
	RiskStatusWithdrawn  RiskStatus = "WITHDRAWN"
)

var riskStatuses = []RiskStatus{
	RiskStatusOpen, RiskStatusAssessed, RiskStatusTreating, RiskStatusMonitoring,
	RiskStatusTolerated, RiskStatusClosed, RiskStatusWithdrawn,
}

// activeRiskStatuses are the statuses in which a risk still accepts commands
// and decision effects.
var activeRiskStatuses = slices.DeleteFunc(slices.Clone(riskStatuses), RiskStatus.Terminal)

// Valid reports whether s is one of the defined risk statuses.
func (s RiskStatus) Valid() bool { return slices.Contains(riskStatuses, s) }

// Terminal reports whether s is CLOSED or WITHDRAWN: a risk in a terminal
// status accepts no further commands or decision effects.
func (s RiskStatus) Terminal() bool {
	return s == RiskStatusClosed || s == RiskStatusWithdrawn
}

// ParseRiskStatus returns the risk status named s, or a *ValidationError.
func ParseRiskStatus(s string) (RiskStatus, error) { return parseEnum("status", s, riskStatuses) }

// ResponseOption is the treatment option of a strategic response
// (ISO 31000 6.5.2, simplified).
type ResponseOption string

// The response options, as in the GraphQL enum ResponseOption.
const (
	ResponseOptionAvoid  ResponseOption = "AVOID"
	ResponseOptionReduce ResponseOption = "REDUCE"
	ResponseOptionShare  ResponseOption = "SHARE"
	ResponseOptionAccept ResponseOption = "ACCEPT"
)

var responseOptions = []ResponseOption{
	ResponseOptionAvoid, ResponseOptionReduce, ResponseOptionShare, ResponseOptionAccept,
}

// Valid reports whether o is one of the defined response options.
func (o ResponseOption) Valid() bool { return slices.Contains(responseOptions, o) }

// ParseResponseOption returns the option named s, or a *ValidationError.
func ParseResponseOption(s string) (ResponseOption, error) {
	return parseEnum("option", s, responseOptions)
}

// ResponseStatus is where a strategic response stands in the governance cycle.
type ResponseStatus string

// The response statuses, as in the GraphQL enum ResponseStatus.
const (
	ResponseStatusDraft       ResponseStatus = "DRAFT"
	ResponseStatusSubmitted   ResponseStatus = "SUBMITTED"
	ResponseStatusRecommended ResponseStatus = "RECOMMENDED"
	ResponseStatusReturned    ResponseStatus = "RETURNED"
	ResponseStatusEndorsed    ResponseStatus = "ENDORSED"
	ResponseStatusRejected    ResponseStatus = "REJECTED"
	ResponseStatusInProgress  ResponseStatus = "IN_PROGRESS"
	ResponseStatusImplemented ResponseStatus = "IMPLEMENTED"
	ResponseStatusVerified    ResponseStatus = "VERIFIED"
	ResponseStatusClosed      ResponseStatus = "CLOSED"
	ResponseStatusWithdrawn   ResponseStatus = "WITHDRAWN"
)

var responseStatuses = []ResponseStatus{
	ResponseStatusDraft, ResponseStatusSubmitted, ResponseStatusRecommended,
	ResponseStatusReturned, ResponseStatusEndorsed, ResponseStatusRejected,
	ResponseStatusInProgress, ResponseStatusImplemented, ResponseStatusVerified,
	ResponseStatusClosed, ResponseStatusWithdrawn,
}

// activeResponseStatuses are the statuses in which a response still accepts
// commands and decision effects.
var activeResponseStatuses = slices.DeleteFunc(slices.Clone(responseStatuses), ResponseStatus.Terminal)

// Valid reports whether s is one of the defined response statuses.
func (s ResponseStatus) Valid() bool { return slices.Contains(responseStatuses, s) }

// Terminal reports whether s is CLOSED, WITHDRAWN or REJECTED: a response in
// a terminal status accepts no further commands or decision effects.
func (s ResponseStatus) Terminal() bool {
	return s == ResponseStatusClosed || s == ResponseStatusWithdrawn || s == ResponseStatusRejected
}

// ParseResponseStatus returns the response status named s, or a
// *ValidationError.
func ParseResponseStatus(s string) (ResponseStatus, error) {
	return parseEnum("status", s, responseStatuses)
}

// Body is a governance body that takes decisions.
type Body string

// The bodies, as in the GraphQL enum Body.
const (
	BodyAuditCommittee   Body = "AUDIT_COMMITTEE"
	BodyPolicyCommission Body = "POLICY_COMMISSION"
	BodyCouncil          Body = "COUNCIL"
)

var bodies = []Body{BodyAuditCommittee, BodyPolicyCommission, BodyCouncil}

// Valid reports whether b is one of the defined bodies.
func (b Body) Valid() bool { return slices.Contains(bodies, b) }

// ParseBody returns the body named s, or a *ValidationError.
func ParseBody(s string) (Body, error) { return parseEnum("body", s, bodies) }

// DecisionKind is what a decision does; see RecordDecision for which body
// may take which kind and what it does to its subjects.
type DecisionKind string

// The decision kinds, as in the GraphQL enum DecisionKind.
const (
	DecisionKindFlag       DecisionKind = "FLAG"
	DecisionKindAdvice     DecisionKind = "ADVICE"
	DecisionKindVerify     DecisionKind = "VERIFY"
	DecisionKindRecommend  DecisionKind = "RECOMMEND"
	DecisionKindReturn     DecisionKind = "RETURN"
	DecisionKindEndorse    DecisionKind = "ENDORSE"
	DecisionKindReject     DecisionKind = "REJECT"
	DecisionKindAcceptRisk DecisionKind = "ACCEPT_RISK"
	DecisionKindCloseRisk  DecisionKind = "CLOSE_RISK"
	DecisionKindNote       DecisionKind = "NOTE"
)

var decisionKinds = []DecisionKind{
	DecisionKindFlag, DecisionKindAdvice, DecisionKindVerify, DecisionKindRecommend,
	DecisionKindReturn, DecisionKindEndorse, DecisionKindReject, DecisionKindAcceptRisk,
	DecisionKindCloseRisk, DecisionKindNote,
}

// Valid reports whether k is one of the defined decision kinds.
func (k DecisionKind) Valid() bool { return slices.Contains(decisionKinds, k) }

// ParseDecisionKind returns the decision kind named s, or a
// *ValidationError.
func ParseDecisionKind(s string) (DecisionKind, error) { return parseEnum("kind", s, decisionKinds) }

// SubjectKind is the kind of aggregate a decision names as a subject.
type SubjectKind string

// The subject kinds, as in the GraphQL enum SubjectKind.
const (
	SubjectKindRisk     SubjectKind = "RISK"
	SubjectKindResponse SubjectKind = "RESPONSE"
)

var subjectKinds = []SubjectKind{SubjectKindRisk, SubjectKindResponse}

// Valid reports whether k is one of the defined subject kinds.
func (k SubjectKind) Valid() bool { return slices.Contains(subjectKinds, k) }

// ParseSubjectKind returns the subject kind named s, or a *ValidationError.
func ParseSubjectKind(s string) (SubjectKind, error) { return parseEnum("kind", s, subjectKinds) }

// Role is a role a principal may hold; see Principal.Authorize.
type Role string

// The roles, spelled as in the contract.
const (
	RoleStaff            Role = "staff"
	RoleAuditCommittee   Role = "audit_committee"
	RolePolicyCommission Role = "policy_commission"
	RoleCouncil          Role = "council"
	RoleAuditor          Role = "auditor"
	RoleIntegration      Role = "integration"
	RoleAdmin            Role = "admin"
)

var roles = []Role{
	RoleStaff, RoleAuditCommittee, RolePolicyCommission, RoleCouncil,
	RoleAuditor, RoleIntegration, RoleAdmin,
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return slices.Contains(roles, r) }

// ParseRole returns the role named s, or a *ValidationError.
func ParseRole(s string) (Role, error) { return parseEnum("role", s, roles) }

// parseEnum returns s as a T when it is one of values, and a
// *ValidationError on field otherwise.
func parseEnum[T ~string](field, s string, values []T) (T, error) {
	if v := T(s); slices.Contains(values, v) {
		return v, nil
	}
	return "", invalid(field, unknownValue(s))
}

// unknownValue is the message for an enum value that is not defined.
func unknownValue(s string) string { return fmt.Sprintf("unknown value %q", s) }
