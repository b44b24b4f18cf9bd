package domain

import (
	"fmt"
	"slices"
	"time"
)

// Subject is an aggregate a decision was taken on, with the version of it
// the body saw.
type Subject struct {
	ID          string      `json:"id"`
	Kind        SubjectKind `json:"kind"`
	VersionSeen int         `json:"versionSeen"`
}

// Decision is a decision a governance body took at a session. It is one
// event stream of type StreamDecision holding a single DecisionRecorded
// event; the decision's effects are on its subjects' streams.
type Decision struct {
	id            string
	body          Body
	session       string
	kind          DecisionKind
	text          string
	recordedBy    string
	recordedAt    time.Time
	effectiveDate Date
	expiresOn     Date
	subjects      []Subject
	version       int
}

// DecisionFromHistory folds the events of decision id's stream. An empty
// history is a *NotFoundError.
func DecisionFromHistory(id string, events []Event) (*Decision, error) {
	d := &Decision{id: id}
	return d, fold(StreamDecision, id, d, events)
}

// Apply folds the DecisionRecorded event into the decision. Any other event,
// or a second DecisionRecorded, is an error wrapping ErrUnexpectedEvent.
func (d *Decision) Apply(e Event) error {
	r, ok := e.(DecisionRecorded)
	if !ok || d.version != 0 {
		return unexpected(StreamDecision, d.id, d.version, e)
	}
	d.body, d.session, d.kind, d.text = r.Body, r.Session, r.Kind, r.Text
	d.recordedBy, d.recordedAt = r.RecordedBy, r.RecordedAt
	d.effectiveDate, d.expiresOn = r.EffectiveDate, r.ExpiresOn
	d.subjects = slices.Clone(r.Subjects)
	d.version++
	return nil
}

// ID returns the decision's id.
func (d *Decision) ID() string { return d.id }

// Body returns the body that took the decision.
func (d *Decision) Body() Body { return d.body }

// Session returns the session, e.g. "Council, 139th/140th Sessions, June 2022".
func (d *Decision) Session() string { return d.session }

// Kind returns the kind of decision.
func (d *Decision) Kind() DecisionKind { return d.kind }

// Text returns the operative text.
func (d *Decision) Text() string { return d.text }

// RecordedBy returns the subject of the principal who recorded the decision.
func (d *Decision) RecordedBy() string { return d.recordedBy }

// RecordedAt returns when the decision was recorded.
func (d *Decision) RecordedAt() time.Time { return d.recordedAt }

// EffectiveDate returns the date the decision takes effect; ok is false when
// none was given.
func (d *Decision) EffectiveDate() (date Date, ok bool) {
	return d.effectiveDate, !d.effectiveDate.IsZero()
}

// ExpiresOn returns the date an ACCEPT_RISK decision expires; ok is false
// for other kinds.
func (d *Decision) ExpiresOn() (date Date, ok bool) { return d.expiresOn, !d.expiresOn.IsZero() }

// Subjects returns the subjects with the versions the body saw, in the order
// they were given.
func (d *Decision) Subjects() []Subject { return slices.Clone(d.subjects) }

// Version returns the number of events applied: 1 once recorded.
func (d *Decision) Version() int { return d.version }

// SubjectRef names a subject of a decision to record and the version of it
// the body saw.
type SubjectRef struct {
	ID              string
	Kind            SubjectKind
	ExpectedVersion int
}

// DecisionCommand is a decision to record.
type DecisionCommand struct {
	DecisionID    string       // the new decision's id, unique across all aggregates
	Body          Body         // the body that took it
	Session       string       // non-blank, at most MaxSessionLen
	Kind          DecisionKind // what it does
	Text          string       // operative text; non-blank, at most MaxDecisionTextLen
	Subjects      []SubjectRef // in the order the effects are wanted; no duplicates
	EffectiveDate Date         // the zero Date for none
	ExpiresOn     Date         // ACCEPT_RISK only, and required there
	RecordedBy    string       // subject of the recording principal
	RecordedAt    time.Time    // the clock time of recording
}

// SubjectStates holds the current state of every subject of a decision, by
// id, and also the risk of every response subject: ENDORSE and VERIFY move
// the response's risk too. Nil maps are treated as empty.
type SubjectStates struct {
	Risks     map[string]*Risk
	Responses map[string]*StrategicResponse
}

// Effect is an event a decision causes on another stream.
type Effect struct {
	StreamID   string
	StreamType string // StreamRisk or StreamResponse
	// ExpectedVersion is the stream's version before this event: the
	// subject's current version, plus one for each earlier effect of the same
	// decision on the same stream.
	ExpectedVersion int
	Event           Event
}

// DecisionOutcome is what recording a decision appends: Recorded to the
// decision's own stream and every effect to its stream, all in one
// transaction.
type DecisionOutcome struct {
	Recorded DecisionRecorded
	Effects  []Effect
}

// kindRule says who may take a kind of decision and on what.
type kindRule struct {
	body    Body        // the one body that may take it; "" for any body
	subject SubjectKind // the one subject kind it applies to; "" for either
	effects bool        // whether it changes its subjects (and so needs one)
}

// kindRules is the table of the contract: which body takes which kind.
var kindRules = map[DecisionKind]kindRule{
	DecisionKindFlag:       {body: BodyAuditCommittee, subject: SubjectKindRisk, effects: true},
	DecisionKindAdvice:     {body: BodyAuditCommittee},
	DecisionKindVerify:     {body: BodyAuditCommittee, subject: SubjectKindResponse, effects: true},
	DecisionKindRecommend:  {body: BodyPolicyCommission, subject: SubjectKindResponse, effects: true},
	DecisionKindReturn:     {body: BodyPolicyCommission, subject: SubjectKindResponse, effects: true},
	DecisionKindEndorse:    {body: BodyCouncil, subject: SubjectKindResponse, effects: true},
	DecisionKindReject:     {body: BodyCouncil, subject: SubjectKindResponse, effects: true},
	DecisionKindAcceptRisk: {body: BodyCouncil, subject: SubjectKindRisk, effects: true},
	DecisionKindCloseRisk:  {body: BodyCouncil, subject: SubjectKindRisk, effects: true},
	DecisionKindNote:       {},
}

// TakenBy reports whether body b may take decisions of kind k.
func (k DecisionKind) TakenBy(b Body) bool {
	rule, ok := kindRules[k]
	return ok && b.Valid() && (rule.body == "" || rule.body == b)
}

// RecordDecision checks a decision against the current state of its subjects
// and returns the DecisionRecorded event and the effect events, or an error
// and nothing. It changes nothing in subjects.
//
// Which body takes which kind, and what it does:
//
//	AUDIT_COMMITTEE    FLAG        risk: flagged (RiskFlagged)
//	                   ADVICE      no change
//	                   VERIFY      response IMPLEMENTED -> VERIFIED; its risk -> MONITORING
//	POLICY_COMMISSION  RECOMMEND   response SUBMITTED -> RECOMMENDED
//	                   RETURN      response SUBMITTED|RECOMMENDED -> RETURNED
//	COUNCIL            ENDORSE     response RECOMMENDED -> ENDORSED; its risk -> TREATING
//	                   REJECT      response SUBMITTED|RECOMMENDED -> REJECTED
//	                   ACCEPT_RISK risk -> TOLERATED until ExpiresOn
//	                   CLOSE_RISK  risk -> CLOSED (even a RED or flagged one)
//	any body           NOTE        no change
//
// The checks, in order, each failing with its own error type:
//   - input (*ValidationError): the fields' rules; kinds with effects need a
//     subject; no subject twice; ACCEPT_RISK needs ExpiresOn after the
//     effective date (or after the UTC date of RecordedAt when there is
//     none), and no other kind has ExpiresOn;
//   - the body and the subject kinds fit the decision kind
//     (*PreconditionError);
//   - every subject exists (*NotFoundError) and is at the version the body
//     saw (*StaleError naming the subject);
//   - every subject, and the risk of a response that ENDORSE or VERIFY
//     moves, is in a state that allows the effect (*PreconditionError). A
//     CLOSED or WITHDRAWN risk and a CLOSED, WITHDRAWN or REJECTED response
//     accept no effect; ADVICE and NOTE may name them.
//
// Effects come in subject order, each response's risk effect right after the
// response's. A risk already TREATING (ENDORSE) or MONITORING (VERIFY) gets
// no risk effect. FLAG on a risk flagged before records the new flag again.
func RecordDecision(cmd DecisionCommand, states SubjectStates) (DecisionOutcome, error) {
	if err := cmd.validate(); err != nil {
		return DecisionOutcome{}, err
	}
	rule := kindRules[cmd.Kind]
	if !cmd.Kind.TakenBy(cmd.Body) {
		return DecisionOutcome{}, preconditionf("%s cannot take a %s decision; %s decides it",
			cmd.Body, cmd.Kind, rule.body)
	}
	for _, ref := range cmd.Subjects {
		if rule.subject != "" && ref.Kind != rule.subject {
			return DecisionOutcome{}, preconditionf("%s applies to %s subjects, not to %s %s",
				cmd.Kind, rule.subject, ref.Kind, ref.ID)
		}
	}
	run := newDecisionRun(cmd, states)
	for _, ref := range cmd.Subjects {
		if err := run.checkCurrent(ref); err != nil {
			return DecisionOutcome{}, err
		}
	}
	for _, ref := range cmd.Subjects {
		if err := run.effect(ref); err != nil {
			return DecisionOutcome{}, err
		}
	}
	return DecisionOutcome{Recorded: cmd.recorded(), Effects: run.effects}, nil
}

// validate checks the input rules of a decision.
func (cmd DecisionCommand) validate() error {
	var v validator
	v.required("decisionId", cmd.DecisionID, MaxNameLen)
	v.enum("body", cmd.Body.Valid(), string(cmd.Body))
	v.enum("kind", cmd.Kind.Valid(), string(cmd.Kind))
	v.required("session", cmd.Session, MaxSessionLen)
	v.required("text", cmd.Text, MaxDecisionTextLen)
	v.required("recordedBy", cmd.RecordedBy, MaxNameLen)
	v.time("recordedAt", cmd.RecordedAt)
	seen := make(map[string]bool, len(cmd.Subjects))
	for i, ref := range cmd.Subjects {
		field := fmt.Sprintf("subjects[%d].", i)
		v.required(field+"id", ref.ID, MaxNameLen)
		v.check(!seen[ref.ID], field+"id", "names the same subject twice")
		seen[ref.ID] = true
		v.enum(field+"kind", ref.Kind.Valid(), string(ref.Kind))
		v.check(ref.ExpectedVersion >= 1, field+"expectedVersion", "must be at least 1")
	}
	if cmd.Kind.Valid() {
		v.check(len(cmd.Subjects) > 0 || !kindRules[cmd.Kind].effects, "subjects",
			fmt.Sprintf("%s decisions need at least one subject", cmd.Kind))
		cmd.validateExpiry(&v)
	}
	return v.err()
}

// validateExpiry checks that ExpiresOn is given exactly for ACCEPT_RISK and
// comes after the date the decision takes effect.
func (cmd DecisionCommand) validateExpiry(v *validator) {
	if cmd.Kind != DecisionKindAcceptRisk {
		v.check(cmd.ExpiresOn.IsZero(), "expiresOn", "only an ACCEPT_RISK decision expires")
		return
	}
	if cmd.ExpiresOn.IsZero() {
		v.add("expiresOn", "an ACCEPT_RISK decision needs an expiry date")
		return
	}
	from, field := cmd.EffectiveDate, "effectiveDate"
	if from.IsZero() {
		from, field = DateOf(cmd.RecordedAt.UTC()), "the recording date"
	}
	v.check(cmd.ExpiresOn.After(from), "expiresOn", "must be after "+field+" "+from.String())
}

// recorded returns the DecisionRecorded event of a checked command.
func (cmd DecisionCommand) recorded() DecisionRecorded {
	subjects := make([]Subject, len(cmd.Subjects))
	for i, ref := range cmd.Subjects {
		subjects[i] = Subject{ID: ref.ID, Kind: ref.Kind, VersionSeen: ref.ExpectedVersion}
	}
	return DecisionRecorded{
		Body:          cmd.Body,
		Session:       cmd.Session,
		Kind:          cmd.Kind,
		Text:          cmd.Text,
		Subjects:      subjects,
		EffectiveDate: cmd.EffectiveDate,
		ExpiresOn:     cmd.ExpiresOn,
		RecordedBy:    cmd.RecordedBy,
		RecordedAt:    cmd.RecordedAt.UTC(),
	}
}

// decisionRun works out a decision's effects on private copies of the
// subjects, so that two effects on one stream see each other and the
// caller's aggregates never change.
type decisionRun struct {
	cmd       DecisionCommand
	ref       DecisionRef
	states    SubjectStates
	risks     map[string]*Risk
	responses map[string]*StrategicResponse
	effects   []Effect
}

// newDecisionRun starts working out the effects of cmd.
func newDecisionRun(cmd DecisionCommand, states SubjectStates) *decisionRun {
	return &decisionRun{
		cmd:       cmd,
		ref:       DecisionRef{DecisionID: cmd.DecisionID, Body: cmd.Body, Session: cmd.Session},
		states:    states,
		risks:     make(map[string]*Risk),
		responses: make(map[string]*StrategicResponse),
	}
}

// risk returns the working copy of risk id.
func (run *decisionRun) risk(id string) (*Risk, error) {
	return workingCopy(run.risks, run.states.Risks, StreamRisk, id)
}

// response returns the working copy of response id.
func (run *decisionRun) response(id string) (*StrategicResponse, error) {
	return workingCopy(run.responses, run.states.Responses, StreamResponse, id)
}

// workingCopy returns the copy of aggregate id in copies, first copying it
// from states. A missing or unregistered aggregate is a *NotFoundError.
func workingCopy[A any, P interface {
	*A
	Version() int
}](copies, states map[string]P, kind, id string) (P, error) {
	if c, ok := copies[id]; ok {
		return c, nil
	}
	orig, ok := states[id]
	if !ok || orig == nil || orig.Version() == 0 {
		return nil, &NotFoundError{Kind: kind, ID: id}
	}
	c := P(new(A))
	*c = *orig
	copies[id] = c
	return c, nil
}

// checkCurrent checks that subject ref exists at the version the body saw.
func (run *decisionRun) checkCurrent(ref SubjectRef) error {
	var current int
	switch ref.Kind {
	case SubjectKindRisk:
		r, err := run.risk(ref.ID)
		if err != nil {
			return err
		}
		current = r.Version()
	default:
		s, err := run.response(ref.ID)
		if err != nil {
			return err
		}
		current = s.Version()
	}
	if ref.ExpectedVersion != current {
		return &StaleError{ID: ref.ID, Expected: ref.ExpectedVersion, Current: current}
	}
	return nil
}

// effect works out the effects of the decision on subject ref, whose
// working copy checkCurrent has made.
func (run *decisionRun) effect(ref SubjectRef) error {
	d := run.ref
	risk, response := run.risks[ref.ID], run.responses[ref.ID]
	switch run.cmd.Kind {
	case DecisionKindFlag:
		return run.onRisk(risk, RiskFlagged{DecisionRef: d})
	case DecisionKindAcceptRisk:
		return run.onRisk(risk, RiskTolerated{DecisionRef: d, ToleratedUntil: run.cmd.ExpiresOn})
	case DecisionKindCloseRisk:
		return run.onRisk(risk, RiskClosed{DecisionRef: d})
	case DecisionKindRecommend:
		return run.onResponse(response, ResponseRecommended{DecisionRef: d}, ResponseStatusSubmitted)
	case DecisionKindReturn:
		return run.onResponse(response, ResponseReturned{DecisionRef: d},
			ResponseStatusSubmitted, ResponseStatusRecommended)
	case DecisionKindReject:
		return run.onResponse(response, ResponseRejected{DecisionRef: d},
			ResponseStatusSubmitted, ResponseStatusRecommended)
	case DecisionKindEndorse:
		if err := run.onResponse(response, ResponseEndorsed{DecisionRef: d}, ResponseStatusRecommended); err != nil {
			return err
		}
		return run.onResponseRisk(response, RiskStatusTreating,
			RiskTreatmentStarted{DecisionRef: d, ResponseID: ref.ID})
	case DecisionKindVerify:
		if err := run.onResponse(response, ResponseVerified{DecisionRef: d}, ResponseStatusImplemented); err != nil {
			return err
		}
		return run.onResponseRisk(response, RiskStatusMonitoring,
			RiskMonitoringStarted{DecisionRef: d, ResponseID: ref.ID})
	}
	return nil // ADVICE and NOTE change nothing.
}

// onRisk adds effect e on risk r, which must not be CLOSED or WITHDRAWN.
func (run *decisionRun) onRisk(r *Risk, e Event) error {
	if err := r.requireActive(string(run.cmd.Kind)); err != nil {
		return err
	}
	return run.emit(StreamRisk, r.ID(), r, r.Version(), e)
}

// onResponse adds effect e on response s, which must be in one of the
// statuses from.
func (run *decisionRun) onResponse(s *StrategicResponse, e Event, from ...ResponseStatus) error {
	if err := s.requireStatus(Action(run.cmd.Kind), from...); err != nil {
		return err
	}
	return run.emit(StreamResponse, s.ID(), s, s.Version(), e)
}

// onResponseRisk adds effect e on the risk of response s, unless that risk
// is already in status to.
func (run *decisionRun) onResponseRisk(s *StrategicResponse, to RiskStatus, e Event) error {
	r, err := run.risk(s.RiskID())
	if err != nil {
		return err
	}
	if r.Status() == to {
		return nil
	}
	return run.onRisk(r, e)
}

// emit records effect e on stream id at version and applies it to the
// working copy a.
func (run *decisionRun) emit(streamType, id string, a applier, version int, e Event) error {
	if err := a.Apply(e); err != nil {
		return err
	}
	run.effects = append(run.effects, Effect{
		StreamID: id, StreamType: streamType, ExpectedVersion: version, Event: e,
	})
	return nil
}
