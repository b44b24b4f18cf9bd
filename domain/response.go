package domain

// StrategicResponse is the treatment plan for one risk, taken through the
// governance cycle: proposed and revised by staff, recommended or returned by
// the Policy Commission, endorsed or rejected by the Council, implemented by
// staff and verified by the Audit Committee before staff close it. It is one
// event stream of type StreamResponse.
//
// The zero StrategicResponse is not proposed; build one with
// ResponseFromHistory. It holds no references, so copying the struct copies
// its state.
type StrategicResponse struct {
	id          string
	riskID      string
	title       string
	description string
	option      ResponseOption
	owner       string
	dueDate     Date
	status      ResponseStatus
	version     int
}

// ResponseDetails are the fields of a new strategic response.
type ResponseDetails struct {
	Title       string         // non-blank, at most MaxTitleLen
	Description string         // may be empty, at most MaxDescriptionLen
	Option      ResponseOption // a defined option
	Owner       string         // non-blank, at most MaxNameLen
	DueDate     Date           // the zero Date for none
}

// ResponseChanges are the fields to change when revising a response; nil
// leaves a field as it is. The rules of ResponseDetails apply to the fields
// given. A due date, once set, can be changed but not removed.
type ResponseChanges struct {
	Title       *string
	Description *string
	Option      *ResponseOption
	Owner       *string
	DueDate     *Date
}

// ResponseFromHistory folds the events of response id's stream, oldest
// first. An empty history is a *NotFoundError.
func ResponseFromHistory(id string, events []Event) (*StrategicResponse, error) {
	s := &StrategicResponse{id: id}
	return s, fold(StreamResponse, id, s, events)
}

// ProposeResponse validates a new response to risk and returns its
// ResponseProposed event. The caller assigns id (unique across all
// aggregates). The risk must exist and not be CLOSED or WITHDRAWN.
func ProposeResponse(id string, risk *Risk, in ResponseDetails) ([]Event, error) {
	var v validator
	v.required("id", id, MaxNameLen)
	v.required("title", in.Title, MaxTitleLen)
	v.optional("description", in.Description, MaxDescriptionLen)
	v.enum("option", in.Option.Valid(), string(in.Option))
	v.required("owner", in.Owner, MaxNameLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if risk == nil {
		return nil, &NotFoundError{Kind: StreamRisk}
	}
	if err := risk.requireActive(string(ActionProposeResponse)); err != nil {
		return nil, err
	}
	return []Event{ResponseProposed{
		RiskID:      risk.ID(),
		Title:       in.Title,
		Description: in.Description,
		Option:      in.Option,
		Owner:       in.Owner,
		DueDate:     in.DueDate,
	}}, nil
}

// Revise returns a ResponseRevised event with the fields of c that differ
// from the response's. A DRAFT response with nothing to change yields no
// event; a RETURNED response always yields one, since revising it moves it
// back to DRAFT.
func (s *StrategicResponse) Revise(c ResponseChanges) ([]Event, error) {
	var v validator
	v.optionalPtr("title", c.Title, MaxTitleLen, true)
	v.optionalPtr("description", c.Description, MaxDescriptionLen, false)
	if c.Option != nil {
		v.enum("option", c.Option.Valid(), string(*c.Option))
	}
	v.optionalPtr("owner", c.Owner, MaxNameLen, true)
	if c.DueDate != nil {
		v.check(!c.DueDate.IsZero(), "dueDate", "must be a date")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	err := s.requireStatus(ActionReviseResponse, ResponseStatusDraft, ResponseStatusReturned)
	if err != nil {
		return nil, err
	}
	e := ResponseRevised{
		Title:       changed(s.title, c.Title),
		Description: changed(s.description, c.Description),
		Option:      changed(s.option, c.Option),
		Owner:       changed(s.owner, c.Owner),
		DueDate:     changed(s.dueDate, c.DueDate),
	}
	if e == (ResponseRevised{}) && s.status == ResponseStatusDraft {
		return nil, nil
	}
	return []Event{e}, nil
}

// Submit returns a ResponseSubmitted event: the response goes before the
// Policy Commission. Only a DRAFT response can be submitted.
func (s *StrategicResponse) Submit(note string) ([]Event, error) {
	return s.transition(ActionSubmitResponse, note, ResponseSubmitted{Note: note}, ResponseStatusDraft)
}

// Start returns a ResponseStarted event. Implementation starts only after
// the Council endorsed the response.
func (s *StrategicResponse) Start(note string) ([]Event, error) {
	return s.transition(ActionStartResponse, note, ResponseStarted{Note: note}, ResponseStatusEndorsed)
}

// ReportImplementation returns a ResponseImplemented event. Only an
// IN_PROGRESS response can be reported implemented.
func (s *StrategicResponse) ReportImplementation(note string) ([]Event, error) {
	return s.transition(ActionReportImplementation, note, ResponseImplemented{Note: note},
		ResponseStatusInProgress)
}

// Close returns a ResponseClosed event. Only a response the Audit Committee
// VERIFIED can be closed.
func (s *StrategicResponse) Close(note string) ([]Event, error) {
	return s.transition(ActionCloseResponse, note, ResponseClosed{Note: note}, ResponseStatusVerified)
}

// Withdraw returns a ResponseWithdrawn event. Any response that is not
// CLOSED, WITHDRAWN or REJECTED can be withdrawn.
func (s *StrategicResponse) Withdraw(note string) ([]Event, error) {
	return s.transition(ActionWithdrawResponse, note, ResponseWithdrawn{Note: note},
		activeResponseStatuses...)
}

// transition checks a staff transition with an optional note and returns e.
func (s *StrategicResponse) transition(action Action, note string, e Event, from ...ResponseStatus) ([]Event, error) {
	var v validator
	v.optional("note", note, MaxReasonLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.requireStatus(action, from...); err != nil {
		return nil, err
	}
	return []Event{e}, nil
}

// requireStatus returns an error unless the response is proposed and in one
// of the allowed statuses; action names what was refused.
func (s *StrategicResponse) requireStatus(action Action, allowed ...ResponseStatus) error {
	if s.version == 0 {
		return &NotFoundError{Kind: StreamResponse, ID: s.id}
	}
	return requireStatus(StreamResponse, s.id, string(action), s.status, allowed...)
}

// Apply folds one event of the response's stream into its state. Like
// Risk.Apply, it checks the stream's shape, not the business rules.
func (s *StrategicResponse) Apply(e Event) error {
	if _, first := e.(ResponseProposed); first != (s.version == 0) {
		return unexpected(StreamResponse, s.id, s.version, e)
	}
	switch e := e.(type) {
	case ResponseProposed:
		s.riskID, s.title, s.description = e.RiskID, e.Title, e.Description
		s.option, s.owner, s.dueDate = e.Option, e.Owner, e.DueDate
		s.status = ResponseStatusDraft
	case ResponseRevised:
		set(&s.title, e.Title)
		set(&s.description, e.Description)
		set(&s.option, e.Option)
		set(&s.owner, e.Owner)
		set(&s.dueDate, e.DueDate)
		s.status = ResponseStatusDraft
	case ResponseSubmitted:
		s.status = ResponseStatusSubmitted
	case ResponseRecommended:
		s.status = ResponseStatusRecommended
	case ResponseReturned:
		s.status = ResponseStatusReturned
	case ResponseEndorsed:
		s.status = ResponseStatusEndorsed
	case ResponseRejected:
		s.status = ResponseStatusRejected
	case ResponseStarted:
		s.status = ResponseStatusInProgress
	case ResponseImplemented:
		s.status = ResponseStatusImplemented
	case ResponseVerified:
		s.status = ResponseStatusVerified
	case ResponseClosed:
		s.status = ResponseStatusClosed
	case ResponseWithdrawn:
		s.status = ResponseStatusWithdrawn
	default:
		return unexpected(StreamResponse, s.id, s.version, e)
	}
	s.version++
	return nil
}

// ID returns the response's id.
func (s *StrategicResponse) ID() string { return s.id }

// RiskID returns the id of the risk the response treats.
func (s *StrategicResponse) RiskID() string { return s.riskID }

// Title returns the title.
func (s *StrategicResponse) Title() string { return s.title }

// Description returns the description.
func (s *StrategicResponse) Description() string { return s.description }

// Option returns the treatment option.
func (s *StrategicResponse) Option() ResponseOption { return s.option }

// Owner returns the response owner.
func (s *StrategicResponse) Owner() string { return s.owner }

// DueDate returns the due date; ok is false when there is none.
func (s *StrategicResponse) DueDate() (due Date, ok bool) { return s.dueDate, !s.dueDate.IsZero() }

// Status returns the status.
func (s *StrategicResponse) Status() ResponseStatus { return s.status }

// Version returns the number of events applied, which is the version of the
// response's stream.
func (s *StrategicResponse) Version() int { return s.version }
