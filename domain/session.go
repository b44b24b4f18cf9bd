package domain

import "slices"

// StreamSession is the stream type of a Session.
const StreamSession = "session"

// Stored type names of a session's events.
const (
	EventSessionScheduled = "SessionScheduled"
	EventItemTabled       = "ItemTabled"
)

// Actions on sessions: staff (the secretariat) prepare them.
const (
	ActionScheduleSession Action = "scheduleSession"
	ActionTableItem       Action = "tableItem"
)

// MaxNoteLen bounds the note of a tabled item.
const MaxNoteLen = MaxReasonLen

// SessionScheduled: staff scheduled a session of a body.
type SessionScheduled struct {
	Body        Body   `json:"body"`
	Date        Date   `json:"date"`
	Title       string `json:"title"`
	ScheduledBy string `json:"scheduledBy"`
}

// ItemTabled: staff tabled a risk or response for a session, as it stood at
// Version: the paper the body reads is that version.
type ItemTabled struct {
	SubjectID   string      `json:"subjectId"`
	SubjectKind SubjectKind `json:"subjectKind"`
	Version     int         `json:"version"`
	Note        string      `json:"note,omitempty"`
	TabledBy    string      `json:"tabledBy"`
}

// EventType implements Event.
func (SessionScheduled) EventType() string { return EventSessionScheduled }

// EventType implements Event.
func (ItemTabled) EventType() string { return EventItemTabled }

// SchemaVersion implements Event.
func (SessionScheduled) SchemaVersion() int { return 1 }

// SchemaVersion implements Event.
func (ItemTabled) SchemaVersion() int { return 1 }

// TabledItem is a subject on a session's agenda, pinned at a version.
type TabledItem struct {
	SubjectID   string
	SubjectKind SubjectKind
	Version     int
	Note        string
}

// Session is a meeting of a governance body: its date, title and the items
// tabled for it. It is one event stream of type StreamSession.
type Session struct {
	id      string
	body    Body
	date    Date
	title   string
	items   []TabledItem
	version int
}

// SessionFromHistory folds the events of session id's stream. An empty
// history is a *NotFoundError.
func SessionFromHistory(id string, events []Event) (*Session, error) {
	s := &Session{id: id}
	return s, fold(StreamSession, id, s, events)
}

// ScheduleSession validates a new session and returns its SessionScheduled
// event. The caller assigns id (unique across all aggregates).
func ScheduleSession(id string, body Body, date Date, title, actor string) ([]Event, error) {
	var v validator
	v.required("id", id, MaxNameLen)
	v.enum("body", body.Valid(), string(body))
	v.check(!date.IsZero(), "date", "must be a date")
	v.required("title", title, MaxSessionLen)
	v.required("scheduledBy", actor, MaxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{SessionScheduled{Body: body, Date: date, Title: title, ScheduledBy: actor}}, nil
}

// TableItem returns an ItemTabled event that puts a subject, as it stands
// at version, on the session's agenda. A subject is tabled once per session.
func (s *Session) TableItem(subjectID string, kind SubjectKind, version int, note, actor string) ([]Event, error) {
	var v validator
	v.required("subjectId", subjectID, MaxNameLen)
	v.enum("subjectKind", kind.Valid(), string(kind))
	v.check(version >= 1, "version", "must be at least 1")
	v.optional("note", note, MaxNoteLen)
	v.required("tabledBy", actor, MaxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if s.version == 0 {
		return nil, &NotFoundError{Kind: StreamSession, ID: s.id}
	}
	if slices.ContainsFunc(s.items, func(it TabledItem) bool { return it.SubjectID == subjectID }) {
		return nil, preconditionf("%s is already tabled for session %s", subjectID, s.id)
	}
	return []Event{ItemTabled{SubjectID: subjectID, SubjectKind: kind, Version: version, Note: note, TabledBy: actor}}, nil
}

// Apply folds one event of the session's stream into its state.
func (s *Session) Apply(e Event) error {
	if _, first := e.(SessionScheduled); first != (s.version == 0) {
		return unexpected(StreamSession, s.id, s.version, e)
	}
	switch e := e.(type) {
	case SessionScheduled:
		s.body, s.date, s.title = e.Body, e.Date, e.Title
	case ItemTabled:
		s.items = append(s.items, TabledItem{SubjectID: e.SubjectID, SubjectKind: e.SubjectKind, Version: e.Version, Note: e.Note})
	default:
		return unexpected(StreamSession, s.id, s.version, e)
	}
	s.version++
	return nil
}

// Clone returns a copy of the session that shares nothing with it.
func (s *Session) Clone() *Session {
	c := *s
	c.items = slices.Clone(s.items)
	return &c
}

// ID returns the session's id.
func (s *Session) ID() string { return s.id }

// Body returns the body that meets.
func (s *Session) Body() Body { return s.body }

// Date returns the date of the session.
func (s *Session) Date() Date { return s.date }

// Title returns the title, e.g. "Council, 141st Session".
func (s *Session) Title() string { return s.title }

// Items returns the tabled items in the order they were tabled.
func (s *Session) Items() []TabledItem { return slices.Clone(s.items) }

// Version returns the number of events applied.
func (s *Session) Version() int { return s.version }

// ActionReadPapers is downloading a session's papers.
const ActionReadPapers Action = "readPapers"

// paperRoles may download papers: the secretariat, the clerks of the
// bodies and auditors; integrations may not.
var paperRoles = []Role{RoleStaff, RoleAdmin, RoleAuditCommittee, RolePolicyCommission, RoleCouncil, RoleAuditor}

// AuthorizePapers returns a *ForbiddenError unless p may download a
// session's papers.
func (p Principal) AuthorizePapers() error {
	if slices.ContainsFunc(paperRoles, p.HasRole) {
		return nil
	}
	return &ForbiddenError{Subject: p.Subject, Action: string(ActionReadPapers)}
}
