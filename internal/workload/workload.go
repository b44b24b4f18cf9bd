// Package workload drives the register with random governance commands for
// tests and benchmarks: the domain decides each command, as the register
// does, and what it decides is appended to an event store (or handed to
// another sink). A Workload keeps the aggregates it wrote, folded by the
// domain, as the truth to compare read models with; Concurrent appends from
// several goroutines at once, as a busy register does.
//
// Unlike the domain's property test, which feeds the domain invalid input on
// purpose, the workload issues commands a register in use would: valid
// input, mostly accepted, on a register that grows.
package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Write is what one command appends to one stream: Events after Version.
type Write struct {
	StreamID   string
	StreamType string
	Version    int // the stream's version before the events
	Events     []domain.Event
	Meta       []eventstore.Metadata // one per event
	IDs        []uuid.UUID           // one per event; uuid.Nil lets the store assign one
	// V1 stores the write's RiskAssessed events in schema version 1 (no
	// kind), as old logs hold them.
	V1 bool
}

// Event returns the write's ith event as the register stores it, with its
// metadata and id.
func (w Write) Event(i int) eventstore.Event {
	ev := Stored(w.Events[i], w.Meta[i])
	ev.ID = w.IDs[i]
	if a, ok := w.Events[i].(domain.RiskAssessed); ok && w.V1 {
		ev.Data, _ = json.Marshal(map[string]any{"likelihood": a.Likelihood, "impact": a.Impact,
			"rationale": a.Rationale, "assessedBy": a.AssessedBy, "assessedAt": a.AssessedAt})
		ev.SchemaVersion = 1
	}
	return ev
}

// Stored returns a domain event as the register stores it, in its current
// schema, with meta.
func Stored(e domain.Event, meta eventstore.Metadata) eventstore.Event {
	data, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("workload: encode %s: %v", e.EventType(), err))
	}
	return eventstore.Event{Type: e.EventType(), SchemaVersion: e.SchemaVersion(), Data: data, Metadata: meta}
}

// Sink takes the writes of one command, all of them or none.
type Sink func(ctx context.Context, writes []Write) error

// StoreSink appends each command's writes to store in one multi-stream
// append, each stream at its exact version. When last is not nil, each
// append sets it to the position of its last event; such a sink is for one
// goroutine.
func StoreSink(store *eventstore.Store, last *eventstore.Position) Sink {
	return func(ctx context.Context, writes []Write) error {
		appends := make([]eventstore.StreamAppend, len(writes))
		for i, w := range writes {
			events := make([]eventstore.Event, len(w.Events))
			for j := range w.Events {
				events[j] = w.Event(j)
			}
			appends[i] = eventstore.StreamAppend{StreamID: w.StreamID, StreamType: w.StreamType,
				Expected: eventstore.Exact(int64(w.Version)), Events: events}
		}
		res, err := store.Append(ctx, appends...)
		if err != nil {
			return err
		}
		if last != nil {
			*last = res.Last().Position
		}
		return nil
	}
}

// Workload issues commands to the register and keeps what they wrote. It
// is for one goroutine.
type Workload struct {
	// V1Assessments stores the first INHERENT assessment and every fourth
	// after it as a schema version 1 RiskAssessed (no kind), as old logs
	// hold them.
	V1Assessments bool

	rng       *rand.Rand
	sink      Sink
	risks     map[string]*domain.Risk
	riskIDs   []string
	responses map[string]*domain.StrategicResponse
	respIDs   []string
	decisions []string
	refs      *atomic.Int64 // the last risk reference given, shared by workloads on one log
	assessed  int
}

// New returns a workload whose random choices follow seed, handing its
// writes to sink. Its risks get the references R-0001, R-0002 and so on.
func New(seed uint64, sink Sink) *Workload {
	return newWorkload(seed, sink, new(atomic.Int64))
}

func newWorkload(seed uint64, sink Sink, refs *atomic.Int64) *Workload {
	return &Workload{
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sink:      sink,
		risks:     make(map[string]*domain.Risk),
		responses: make(map[string]*domain.StrategicResponse),
		refs:      refs,
	}
}

// Risks returns the risks the workload wrote, by id, as the domain folded
// them. The map is the workload's own: read it, do not change it.
func (w *Workload) Risks() map[string]*domain.Risk { return w.risks }

// Responses returns the strategic responses the workload wrote, by id, as
// the domain folded them. The map is the workload's own: read it, do not
// change it.
func (w *Workload) Responses() map[string]*domain.StrategicResponse { return w.responses }

// Decisions returns the ids of the decisions the workload recorded, in order.
func (w *Workload) Decisions() []string { return slices.Clone(w.decisions) }

// commit hands writes to the sink and, when it takes them, folds them into
// the workload's aggregates.
func (w *Workload) commit(ctx context.Context, writes ...Write) error {
	if err := w.sink(ctx, writes); err != nil {
		return err
	}
	for _, wr := range writes {
		var err error
		switch wr.StreamType {
		case domain.StreamRisk:
			err = fold(w.risks, &w.riskIDs, wr, domain.RiskFromHistory)
		case domain.StreamResponse:
			err = fold(w.responses, &w.respIDs, wr, domain.ResponseFromHistory)
		case domain.StreamDecision:
			w.decisions = append(w.decisions, wr.StreamID)
		}
		if err != nil {
			return fmt.Errorf("workload: fold its own events: %w", err)
		}
	}
	return nil
}

// fold applies a write's events to its aggregate in m, or starts the
// aggregate with fromHistory (and lists it in ids) when the write is the
// stream's first.
func fold[A interface{ Apply(domain.Event) error }](m map[string]A, ids *[]string, wr Write,
	fromHistory func(string, []domain.Event) (A, error)) error {
	a, ok := m[wr.StreamID]
	if !ok {
		a, err := fromHistory(wr.StreamID, wr.Events)
		if err != nil {
			return err
		}
		m[wr.StreamID] = a
		*ids = append(*ids, wr.StreamID)
		return nil
	}
	for _, e := range wr.Events {
		if err := a.Apply(e); err != nil {
			return err
		}
	}
	return nil
}

// single is a write of one command's events to one stream by staff.
func single(id, streamType string, version int, events []domain.Event) Write {
	meta := make([]eventstore.Metadata, len(events))
	for i := range meta {
		meta[i] = eventstore.Metadata{Actor: "staff", CorrelationID: uuid.NewString()}
	}
	return Write{StreamID: id, StreamType: streamType, Version: version, Events: events, Meta: meta,
		IDs: make([]uuid.UUID, len(events))}
}

// Register registers a risk and returns its id.
func (w *Workload) Register(ctx context.Context, title, description, category, owner string) (string, error) {
	id := uuid.NewString()
	events, err := domain.RegisterRisk(id, fmt.Sprintf("R-%04d", w.refs.Add(1)), domain.RiskDetails{
		Title: title, Description: description, Category: category, Source: "Audit Plan 2021", Owner: owner})
	if err != nil {
		return "", err
	}
	return id, w.commit(ctx, single(id, domain.StreamRisk, 0, events))
}

// Assess rates risk id likelihood l and impact i.
func (w *Workload) Assess(ctx context.Context, id string, kind domain.RatingKind, l, i int) error {
	r := w.risks[id]
	events, err := r.Assess(kind, l, i, fmt.Sprintf("rated %dx%d", l, i), "assessor", time.Now())
	if err != nil || len(events) == 0 {
		return err
	}
	wr := single(id, domain.StreamRisk, r.Version(), events)
	if kind == domain.RatingKindInherent && w.V1Assessments {
		wr.V1 = w.assessed%4 == 0
		w.assessed++
	}
	return w.commit(ctx, wr)
}

// Update changes risk id's details.
func (w *Workload) Update(ctx context.Context, id string, c domain.RiskChanges) error {
	r := w.risks[id]
	events, err := r.Update(c)
	if err != nil || len(events) == 0 {
		return err
	}
	return w.commit(ctx, single(id, domain.StreamRisk, r.Version(), events))
}

// Propose proposes a response to risk riskID and returns its id.
func (w *Workload) Propose(ctx context.Context, riskID, title string) (string, error) {
	id := uuid.NewString()
	events, err := domain.ProposeResponse(id, w.risks[riskID], domain.ResponseDetails{
		Title: title, Description: "what we will do", Option: domain.ResponseOptionReduce, Owner: "Head of IT",
		DueDate: domain.DateOf(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		return "", err
	}
	return id, w.commit(ctx, single(id, domain.StreamResponse, 0, events))
}

// Respond runs a staff transition of response id.
func (w *Workload) Respond(ctx context.Context, id string, step func(*domain.StrategicResponse) ([]domain.Event, error)) error {
	s := w.responses[id]
	events, err := step(s)
	if err != nil || len(events) == 0 {
		return err
	}
	return w.commit(ctx, single(id, domain.StreamResponse, s.Version(), events))
}

// Decide records a decision of body on subjects (risk or response ids) at
// their current versions, with its effects, in one append, the way the
// register does: every effect carries the decision id and, as causation,
// the DecisionRecorded event's id. It returns the decision's id.
func (w *Workload) Decide(ctx context.Context, body domain.Body, kind domain.DecisionKind, subjects ...string) (string, error) {
	id := uuid.NewString()
	cmd := domain.DecisionCommand{DecisionID: id, Body: body, Session: "Session " + string(body), Kind: kind,
		Text: "Decided: " + string(kind), RecordedBy: "clerk", RecordedAt: time.Now()}
	if kind == domain.DecisionKindAcceptRisk {
		cmd.ExpiresOn = domain.DateOf(time.Now().UTC().AddDate(1, 0, 0))
	}
	for _, sid := range subjects {
		if r, ok := w.risks[sid]; ok {
			cmd.Subjects = append(cmd.Subjects, domain.SubjectRef{ID: sid, Kind: domain.SubjectKindRisk, ExpectedVersion: r.Version()})
		} else {
			cmd.Subjects = append(cmd.Subjects, domain.SubjectRef{ID: sid, Kind: domain.SubjectKindResponse,
				ExpectedVersion: w.responses[sid].Version()})
		}
	}
	out, err := domain.RecordDecision(cmd, domain.SubjectStates{Risks: w.risks, Responses: w.responses})
	if err != nil {
		return "", err
	}
	recordedID := uuid.Must(uuid.NewV7())
	corr := uuid.NewString()
	writes := []Write{{StreamID: id, StreamType: domain.StreamDecision, Events: []domain.Event{out.Recorded},
		Meta: []eventstore.Metadata{{Actor: "clerk", CorrelationID: corr, DecisionID: id}}, IDs: []uuid.UUID{recordedID}}}
	for _, f := range out.Effects {
		meta := eventstore.Metadata{Actor: "clerk", CorrelationID: corr, CausationID: recordedID.String(), DecisionID: id}
		i := slices.IndexFunc(writes, func(wr Write) bool { return wr.StreamID == f.StreamID })
		if i < 0 {
			writes = append(writes, Write{StreamID: f.StreamID, StreamType: f.StreamType, Version: f.ExpectedVersion})
			i = len(writes) - 1
		}
		writes[i].Events = append(writes[i].Events, f.Event)
		writes[i].Meta = append(writes[i].Meta, meta)
		writes[i].IDs = append(writes[i].IDs, uuid.Nil)
	}
	return id, w.commit(ctx, writes...)
}

// CycleEvents is the number of events Cycle appends.
const CycleEvents = 9

// Cycle runs one risk's governance cycle: it registers a risk and assesses
// its inherent rating, proposes and submits a response, and records a
// Policy Commission RECOMMEND and a Council ENDORSE of it, each decision
// with its effects in one multi-stream append.
func (w *Workload) Cycle(ctx context.Context) error {
	risk, err := w.Register(ctx, "Loss of revenue data", "Ageing servers -> data loss -> no reconciliation",
		Categories[w.rng.IntN(len(Categories))], Owners[w.rng.IntN(len(Owners))])
	if err != nil {
		return err
	}
	if err := w.Assess(ctx, risk, domain.RatingKindInherent, 4, 5); err != nil {
		return err
	}
	resp, err := w.Propose(ctx, risk, "Replace the servers")
	if err != nil {
		return err
	}
	if err := w.Respond(ctx, resp, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Submit("") }); err != nil {
		return err
	}
	if _, err := w.Decide(ctx, domain.BodyPolicyCommission, domain.DecisionKindRecommend, resp); err != nil {
		return err
	}
	_, err = w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindEndorse, resp)
	return err
}

// pickRisk returns a random risk that pred accepts, or "".
func (w *Workload) pickRisk(pred func(*domain.Risk) bool) string {
	return pick(w.rng, w.riskIDs, func(id string) bool { return pred(w.risks[id]) })
}

// pickResponse returns a random response in one of the statuses, or "".
func (w *Workload) pickResponse(statuses ...domain.ResponseStatus) string {
	return pick(w.rng, w.respIDs, func(id string) bool { return slices.Contains(statuses, w.responses[id].Status()) })
}

// pick returns a random element of ids that ok accepts, trying a few.
func pick(rng *rand.Rand, ids []string, ok func(string) bool) string {
	for range 8 {
		if len(ids) == 0 {
			return ""
		}
		if id := ids[rng.IntN(len(ids))]; ok(id) {
			return id
		}
	}
	return ""
}

// Categories and Owners are the categories and owners the workload's risks
// have, for tests that filter by them.
var (
	Categories = []string{"Financial", "Operational", "Strategic", "Compliance"}
	Owners     = []string{"Director of Finance", "Head of IT", "Secretary General", "Director of Compliance"}
)

var words = []string{"revenue", "data", "supplier", "customs", "outage", "fraud", "reputation", "Sécurité", "staff", "budget"}

// Step runs one random command. Commands the domain refuses are skipped.
func (w *Workload) Step(ctx context.Context) error {
	active := func(r *domain.Risk) bool { return !r.Status().Terminal() }
	var err error
	switch n := w.rng.IntN(100); {
	case n < 14 || len(w.riskIDs) < 5:
		t := words[w.rng.IntN(len(words))] + " " + words[w.rng.IntN(len(words))]
		_, err = w.Register(ctx, "Loss of "+t, "Cause -> "+t+" -> consequence", Categories[w.rng.IntN(len(Categories))],
			Owners[w.rng.IntN(len(Owners))])
	case n < 36:
		if id := w.pickRisk(active); id != "" {
			kinds := []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget}
			err = w.Assess(ctx, id, kinds[w.rng.IntN(3)], 1+w.rng.IntN(5), 1+w.rng.IntN(5))
		}
	case n < 42:
		if id := w.pickRisk(active); id != "" {
			owner := Owners[w.rng.IntN(len(Owners))]
			title := "Updated " + words[w.rng.IntN(len(words))]
			err = w.Update(ctx, id, domain.RiskChanges{Owner: &owner, Title: &title})
		}
	case n < 52:
		if id := w.pickRisk(active); id != "" {
			_, err = w.Propose(ctx, id, "Respond with "+words[w.rng.IntN(len(words))])
		}
	case n < 58:
		if id := w.pickResponse(domain.ResponseStatusDraft); id != "" {
			err = w.Respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Submit("") })
		}
	case n < 61:
		if id := w.pickResponse(domain.ResponseStatusReturned); id != "" {
			title := "Revised " + words[w.rng.IntN(len(words))]
			err = w.Respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) {
				return s.Revise(domain.ResponseChanges{Title: &title})
			})
		}
	case n < 66:
		if id := w.pickResponse(domain.ResponseStatusEndorsed); id != "" {
			err = w.Respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Start("go") })
		}
	case n < 70:
		if id := w.pickResponse(domain.ResponseStatusInProgress); id != "" {
			err = w.Respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.ReportImplementation("") })
		}
	case n < 72:
		if id := w.pickResponse(domain.ResponseStatusVerified); id != "" {
			err = w.Respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Close("") })
		}
	case n < 73:
		if id := w.pickResponse(domain.ResponseStatusDraft, domain.ResponseStatusSubmitted); id != "" {
			err = w.Respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Withdraw("") })
		}
	case n < 74:
		if id := w.pickRisk(active); id != "" {
			end := w.risks[id].Close
			if w.rng.IntN(2) == 0 {
				end = w.risks[id].Withdraw
			}
			var events []domain.Event
			if events, err = end("no longer relevant"); err == nil {
				err = w.commit(ctx, single(id, domain.StreamRisk, w.risks[id].Version(), events))
			}
		}
	default:
		err = w.randomDecision(ctx)
	}
	if isRefusal(err) {
		return nil
	}
	return err
}

// randomDecision records a decision of a random kind on suitable subjects.
func (w *Workload) randomDecision(ctx context.Context) error {
	active := func(r *domain.Risk) bool { return !r.Status().Terminal() }
	var err error
	switch w.rng.IntN(9) {
	case 0:
		if id := w.pickRisk(active); id != "" {
			_, err = w.Decide(ctx, domain.BodyAuditCommittee, domain.DecisionKindFlag, id)
		}
	case 1, 2:
		if id := w.pickResponse(domain.ResponseStatusSubmitted); id != "" {
			_, err = w.Decide(ctx, domain.BodyPolicyCommission, domain.DecisionKindRecommend, id)
		}
	case 3:
		if id := w.pickResponse(domain.ResponseStatusSubmitted, domain.ResponseStatusRecommended); id != "" {
			_, err = w.Decide(ctx, domain.BodyPolicyCommission, domain.DecisionKindReturn, id)
		}
	case 4, 5:
		if id := w.pickResponse(domain.ResponseStatusRecommended); id != "" {
			_, err = w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindEndorse, id)
		}
	case 6:
		if id := w.pickResponse(domain.ResponseStatusImplemented); id != "" {
			_, err = w.Decide(ctx, domain.BodyAuditCommittee, domain.DecisionKindVerify, id)
		}
	case 7:
		if id := w.pickRisk(active); id != "" {
			kind := []domain.DecisionKind{domain.DecisionKindAcceptRisk, domain.DecisionKindCloseRisk}[w.rng.IntN(2)]
			_, err = w.Decide(ctx, domain.BodyCouncil, kind, id)
		}
	default:
		a, b := w.pickRisk(active), w.pickResponse(domain.ResponseStatusDraft, domain.ResponseStatusSubmitted)
		var subjects []string
		for _, id := range []string{a, b} {
			if id != "" {
				subjects = append(subjects, id)
			}
		}
		_, err = w.Decide(ctx, domain.BodyCouncil, domain.DecisionKindNote, subjects...)
	}
	return err
}

// isRefusal reports whether err is the domain refusing a command, which a
// random workload expects now and then.
func isRefusal(err error) bool {
	return errors.Is(err, domain.ErrInvalidInput) || errors.Is(err, domain.ErrPrecondition)
}
