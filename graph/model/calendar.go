package model

import "github.com/riskreg/riskreg/domain"

// Session is a session of a body as the API shows it.
type Session struct {
	ID      string
	Body    domain.Body
	Date    domain.Date
	Title   string
	Version int
}

// IsNode marks Session as a Node.
func (Session) IsNode() {}

// GetID returns the session's id.
func (s Session) GetID() string { return s.ID }

// TabledItem is a subject tabled for a session.
type TabledItem struct {
	SubjectID          string
	Kind               domain.SubjectKind
	Note               string
	VersionTabled      int
	VersionNow         int
	ChangedSinceTabled bool
}

// AgendaSuggestion is a subject suggested for a session's agenda.
type AgendaSuggestion struct {
	Reason     AgendaReason
	Kind       domain.SubjectKind
	SubjectID  string
	DecisionID *string
}

// SubjectChange is a material change of a decision's subject.
type SubjectChange struct {
	SubjectID string
	Kind      SubjectChangeKind
	Summary   string
	// EventID is the id of the event that made the change.
	EventID string
}
