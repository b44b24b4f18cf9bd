package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// write is what one command appends to one stream: events after version.
type write struct {
	streamID   string
	streamType string
	version    int // the stream's version before the events
	events     []domain.Event
	meta       []eventstore.Metadata // one per event
	ids        []uuid.UUID           // one per event; uuid.Nil lets the store assign one
}

// workload drives the register with the domain's own commands, the way the
// register package does, and hands what they decide to append to a sink:
// the store, or a bulk writer for benchmarks. It keeps the aggregates it
// wrote, folded by the domain, as the truth to compare read models with.
type workload struct {
	rng       *rand.Rand
	sink      func(ctx context.Context, writes []write) error
	risks     map[string]*domain.Risk
	riskIDs   []string
	responses map[string]*domain.StrategicResponse
	respIDs   []string
	decisions []string
	refs      int
	// v1Assessments makes every fourth INHERENT assessment be stored as a
	// schema version 1 RiskAssessed (no kind), as old logs hold them.
	v1Assessments bool
	assessed      int
}

func newWorkload(seed uint64, sink func(context.Context, []write) error) *workload {
	return &workload{
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sink:      sink,
		risks:     make(map[string]*domain.Risk),
		responses: make(map[string]*domain.StrategicResponse),
	}
}

// storeSink appends each command's writes in one multi-stream append.
func storeSink(store *eventstore.Store, last *eventstore.Position) func(context.Context, []write) error {
	return func(ctx context.Context, writes []write) error {
		appends := make([]eventstore.StreamAppend, len(writes))
		for i, w := range writes {
			events := make([]eventstore.Event, len(w.events))
			for j, e := range w.events {
				events[j] = storedEvent(e, w.meta[j])
				events[j].ID = w.ids[j]
			}
			appends[i] = eventstore.StreamAppend{StreamID: w.streamID, StreamType: w.streamType,
				Expected: eventstore.Exact(int64(w.version)), Events: events}
		}
		res, err := store.Append(ctx, appends...)
		if err == nil {
			*last = res.Last().Position
		}
		return err
	}
}

// storedEvent is a domain event as the register stores it. A RiskAssessed
// event whose metadata asks for it (Extra {"v1": true}) is stored in schema
// version 1.
func storedEvent(e domain.Event, meta eventstore.Metadata) eventstore.Event {
	data, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	version := e.SchemaVersion()
	if a, ok := e.(domain.RiskAssessed); ok && string(meta.Extra) == `{"v1": true}` {
		data, _ = json.Marshal(map[string]any{"likelihood": a.Likelihood, "impact": a.Impact,
			"rationale": a.Rationale, "assessedBy": a.AssessedBy, "assessedAt": a.AssessedAt})
		version = 1
		meta.Extra = nil
	}
	return eventstore.Event{Type: e.EventType(), SchemaVersion: version, Data: data, Metadata: meta}
}

// commit hands writes to the sink and, when it takes them, folds them into
// the workload's aggregates.
func (w *workload) commit(ctx context.Context, writes ...write) error {
	if err := w.sink(ctx, writes); err != nil {
		return err
	}
	for _, wr := range writes {
		for _, e := range wr.events {
			var err error
			switch wr.streamType {
			case domain.StreamRisk:
				if r := w.risks[wr.streamID]; r != nil {
					err = r.Apply(e)
				} else {
					w.risks[wr.streamID], err = domain.RiskFromHistory(wr.streamID, []domain.Event{e})
					w.riskIDs = append(w.riskIDs, wr.streamID)
				}
			case domain.StreamResponse:
				if s := w.responses[wr.streamID]; s != nil {
					err = s.Apply(e)
				} else {
					w.responses[wr.streamID], err = domain.ResponseFromHistory(wr.streamID, []domain.Event{e})
					w.respIDs = append(w.respIDs, wr.streamID)
				}
			case domain.StreamDecision:
				w.decisions = append(w.decisions, wr.streamID)
			}
			if err != nil {
				return fmt.Errorf("fold the workload's own events: %w", err)
			}
		}
	}
	return nil
}

// single is a write of one command's events to one stream by staff.
func single(id, streamType string, version int, events []domain.Event, extra ...json.RawMessage) write {
	meta := make([]eventstore.Metadata, len(events))
	ids := make([]uuid.UUID, len(events))
	for i := range meta {
		meta[i] = eventstore.Metadata{Actor: "staff", CorrelationID: uuid.NewString()}
		if len(extra) > 0 {
			meta[i].Extra = extra[0]
		}
	}
	return write{streamID: id, streamType: streamType, version: version, events: events, meta: meta, ids: ids}
}

func (w *workload) register(ctx context.Context, title, description, category, owner string) (string, error) {
	w.refs++
	id := uuid.NewString()
	events, err := domain.RegisterRisk(id, fmt.Sprintf("R-%04d", w.refs), domain.RiskDetails{
		Title: title, Description: description, Category: category, Source: "Audit Plan 2021", Owner: owner})
	if err != nil {
		return "", err
	}
	return id, w.commit(ctx, single(id, domain.StreamRisk, 0, events))
}

func (w *workload) assess(ctx context.Context, id string, kind domain.RatingKind, l, i int) error {
	r := w.risks[id]
	events, err := r.Assess(kind, l, i, fmt.Sprintf("rated %dx%d", l, i), "assessor", time.Now())
	if err != nil || len(events) == 0 {
		return err
	}
	var extra []json.RawMessage
	if kind == domain.RatingKindInherent && w.v1Assessments {
		if w.assessed++; w.assessed%4 == 0 {
			extra = append(extra, json.RawMessage(`{"v1": true}`))
		}
	}
	return w.commit(ctx, single(id, domain.StreamRisk, r.Version(), events, extra...))
}

func (w *workload) update(ctx context.Context, id string, c domain.RiskChanges) error {
	r := w.risks[id]
	events, err := r.Update(c)
	if err != nil || len(events) == 0 {
		return err
	}
	return w.commit(ctx, single(id, domain.StreamRisk, r.Version(), events))
}

func (w *workload) propose(ctx context.Context, riskID, title string) (string, error) {
	id := uuid.NewString()
	events, err := domain.ProposeResponse(id, w.risks[riskID], domain.ResponseDetails{
		Title: title, Description: "what we will do", Option: domain.ResponseOptionReduce, Owner: "Head of IT",
		DueDate: domain.DateOf(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		return "", err
	}
	return id, w.commit(ctx, single(id, domain.StreamResponse, 0, events))
}

// respond runs a staff transition of a response.
func (w *workload) respond(ctx context.Context, id string, step func(*domain.StrategicResponse) ([]domain.Event, error)) error {
	s := w.responses[id]
	events, err := step(s)
	if err != nil || len(events) == 0 {
		return err
	}
	return w.commit(ctx, single(id, domain.StreamResponse, s.Version(), events))
}

// decide records a decision on subjects (risk or response ids) at their
// current versions, with its effects, in one append, the way the register
// does: every effect carries the decision id and, as causation, the
// DecisionRecorded event's id.
func (w *workload) decide(ctx context.Context, body domain.Body, kind domain.DecisionKind, subjects ...string) (string, error) {
	id := uuid.NewString()
	cmd := domain.DecisionCommand{DecisionID: id, Body: body, Session: "Session " + string(body), Kind: kind,
		Text: "Decided: " + string(kind), RecordedBy: "clerk", RecordedAt: time.Now()}
	if kind == domain.DecisionKindAcceptRisk {
		cmd.ExpiresOn = domain.DateOf(time.Now().UTC().AddDate(1, 0, 0))
	}
	states := domain.SubjectStates{Risks: w.risks, Responses: w.responses}
	for _, sid := range subjects {
		if r, ok := w.risks[sid]; ok {
			cmd.Subjects = append(cmd.Subjects, domain.SubjectRef{ID: sid, Kind: domain.SubjectKindRisk, ExpectedVersion: r.Version()})
		} else {
			cmd.Subjects = append(cmd.Subjects, domain.SubjectRef{ID: sid, Kind: domain.SubjectKindResponse,
				ExpectedVersion: w.responses[sid].Version()})
		}
	}
	out, err := domain.RecordDecision(cmd, states)
	if err != nil {
		return "", err
	}
	recordedID := uuid.Must(uuid.NewV7())
	corr := uuid.NewString()
	writes := []write{{streamID: id, streamType: domain.StreamDecision, events: []domain.Event{out.Recorded},
		meta: []eventstore.Metadata{{Actor: "clerk", CorrelationID: corr, DecisionID: id}}, ids: []uuid.UUID{recordedID}}}
	for _, f := range out.Effects {
		meta := eventstore.Metadata{Actor: "clerk", CorrelationID: corr, CausationID: recordedID.String(), DecisionID: id}
		i := slices.IndexFunc(writes, func(wr write) bool { return wr.streamID == f.StreamID })
		if i < 0 {
			writes = append(writes, write{streamID: f.StreamID, streamType: f.StreamType, version: f.ExpectedVersion})
			i = len(writes) - 1
		}
		writes[i].events = append(writes[i].events, f.Event)
		writes[i].meta = append(writes[i].meta, meta)
		writes[i].ids = append(writes[i].ids, uuid.Nil)
	}
	return id, w.commit(ctx, writes...)
}

// pickRisk returns a random risk that pred accepts, or "".
func (w *workload) pickRisk(pred func(*domain.Risk) bool) string {
	return pick(w.rng, w.riskIDs, func(id string) bool { return pred(w.risks[id]) })
}

// pickResponse returns a random response in one of the statuses, or "".
func (w *workload) pickResponse(statuses ...domain.ResponseStatus) string {
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

var (
	categories = []string{"Financial", "Operational", "Strategic", "Compliance"}
	owners     = []string{"Director of Finance", "Head of IT", "Secretary General", "Director of Compliance"}
	words      = []string{"revenue", "data", "supplier", "customs", "outage", "fraud", "reputation", "Sécurité", "staff", "budget"}
)

// step runs one random command. Commands the domain refuses are skipped.
func (w *workload) step(ctx context.Context) error {
	active := func(r *domain.Risk) bool { return !r.Status().Terminal() }
	var err error
	switch n := w.rng.IntN(100); {
	case n < 14 || len(w.riskIDs) < 5:
		t := words[w.rng.IntN(len(words))] + " " + words[w.rng.IntN(len(words))]
		_, err = w.register(ctx, "Loss of "+t, "Cause -> "+t+" -> consequence", categories[w.rng.IntN(len(categories))],
			owners[w.rng.IntN(len(owners))])
	case n < 36:
		if id := w.pickRisk(active); id != "" {
			kinds := []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget}
			err = w.assess(ctx, id, kinds[w.rng.IntN(3)], 1+w.rng.IntN(5), 1+w.rng.IntN(5))
		}
	case n < 42:
		if id := w.pickRisk(active); id != "" {
			owner := owners[w.rng.IntN(len(owners))]
			title := "Updated " + words[w.rng.IntN(len(words))]
			err = w.update(ctx, id, domain.RiskChanges{Owner: &owner, Title: &title})
		}
	case n < 52:
		if id := w.pickRisk(active); id != "" {
			_, err = w.propose(ctx, id, "Respond with "+words[w.rng.IntN(len(words))])
		}
	case n < 58:
		if id := w.pickResponse(domain.ResponseStatusDraft); id != "" {
			err = w.respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Submit("") })
		}
	case n < 61:
		if id := w.pickResponse(domain.ResponseStatusReturned); id != "" {
			title := "Revised " + words[w.rng.IntN(len(words))]
			err = w.respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) {
				return s.Revise(domain.ResponseChanges{Title: &title})
			})
		}
	case n < 66:
		if id := w.pickResponse(domain.ResponseStatusEndorsed); id != "" {
			err = w.respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Start("go") })
		}
	case n < 70:
		if id := w.pickResponse(domain.ResponseStatusInProgress); id != "" {
			err = w.respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.ReportImplementation("") })
		}
	case n < 72:
		if id := w.pickResponse(domain.ResponseStatusVerified); id != "" {
			err = w.respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Close("") })
		}
	case n < 73:
		if id := w.pickResponse(domain.ResponseStatusDraft, domain.ResponseStatusSubmitted); id != "" {
			err = w.respond(ctx, id, func(s *domain.StrategicResponse) ([]domain.Event, error) { return s.Withdraw("") })
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
func (w *workload) randomDecision(ctx context.Context) error {
	active := func(r *domain.Risk) bool { return !r.Status().Terminal() }
	var err error
	switch w.rng.IntN(9) {
	case 0:
		if id := w.pickRisk(active); id != "" {
			_, err = w.decide(ctx, domain.BodyAuditCommittee, domain.DecisionKindFlag, id)
		}
	case 1, 2:
		if id := w.pickResponse(domain.ResponseStatusSubmitted); id != "" {
			_, err = w.decide(ctx, domain.BodyPolicyCommission, domain.DecisionKindRecommend, id)
		}
	case 3:
		if id := w.pickResponse(domain.ResponseStatusSubmitted, domain.ResponseStatusRecommended); id != "" {
			_, err = w.decide(ctx, domain.BodyPolicyCommission, domain.DecisionKindReturn, id)
		}
	case 4, 5:
		if id := w.pickResponse(domain.ResponseStatusRecommended); id != "" {
			_, err = w.decide(ctx, domain.BodyCouncil, domain.DecisionKindEndorse, id)
		}
	case 6:
		if id := w.pickResponse(domain.ResponseStatusImplemented); id != "" {
			_, err = w.decide(ctx, domain.BodyAuditCommittee, domain.DecisionKindVerify, id)
		}
	case 7:
		if id := w.pickRisk(active); id != "" {
			kind := []domain.DecisionKind{domain.DecisionKindAcceptRisk, domain.DecisionKindCloseRisk}[w.rng.IntN(2)]
			_, err = w.decide(ctx, domain.BodyCouncil, kind, id)
		}
	default:
		a, b := w.pickRisk(active), w.pickResponse(domain.ResponseStatusDraft, domain.ResponseStatusSubmitted)
		var subjects []string
		for _, id := range []string{a, b} {
			if id != "" {
				subjects = append(subjects, id)
			}
		}
		_, err = w.decide(ctx, domain.BodyCouncil, domain.DecisionKindNote, subjects...)
	}
	return err
}

// isRefusal reports whether err is the domain refusing a command, which a
// random workload expects now and then.
func isRefusal(err error) bool {
	return errors.Is(err, domain.ErrInvalidInput) || errors.Is(err, domain.ErrPrecondition)
}
