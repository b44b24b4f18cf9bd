package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// world is a register driven by random commands in the property test. It
// plays the store: it applies the events a command returns to the live
// aggregates and keeps every stream's history.
type world struct {
	risks       map[string]*Risk
	responses   map[string]*StrategicResponse
	decisions   map[string]*Decision
	history     map[string][]Event
	decoded     map[string][]Event // history as encoded and decoded, extended by check
	riskIDs     []string
	responseIDs []string
	clock       time.Time
	lastID      int
}

func newWorld() *world {
	return &world{
		risks:     map[string]*Risk{},
		responses: map[string]*StrategicResponse{},
		decisions: map[string]*Decision{},
		history:   map[string][]Event{},
		decoded:   map[string][]Event{},
		clock:     t0,
	}
}

// rarely reports true a few times in a hundred. Shrinking makes it false.
// (rapid favours small and edge values, so the middle value is the rare one.)
func rarely(t *rapid.T, label string) bool { return rapid.IntRange(0, 29).Draw(t, label) == 15 }

// mostly draws from common, and rarely from rare: valid and invalid input,
// for example.
func mostly[V any](common, rare []V) *rapid.Generator[V] {
	return rapid.Custom(func(t *rapid.T) V {
		if rarely(t, "rare") {
			return rapid.SampledFrom(rare).Draw(t, "rare value")
		}
		return rapid.SampledFrom(common).Draw(t, "common value")
	})
}

// Input generators: mostly valid, sometimes blank, too long or unknown.
var (
	genTitle     = mostly([]string{"Data loss", "Fraud", "Reputation"}, []string{"", " ", strings.Repeat("x", 201)})
	genName      = mostly([]string{"Finance", "IT", "Audit Plan 2021"}, []string{"", strings.Repeat("y", 201)})
	genNote      = mostly([]string{"", "as agreed", "  "}, []string{strings.Repeat("z", 2001)})
	genReason    = mostly([]string{"resolved", "duplicate"}, []string{"", strings.Repeat("z", 2001)})
	genRationale = mostly([]string{"because"}, []string{"", strings.Repeat("r", 2001)})
	genScale     = mostly([]int{1, 2, 3, 4, 5}, []int{0, 6})
	genKind      = mostly(ratingKinds, []RatingKind{"CURRENT"})
	genOption    = mostly(responseOptions, []ResponseOption{"TRANSFER"})
	// The kinds that end an aggregate are rare, so that others get through
	// the whole cycle first.
	genDecisionKind = mostly(
		[]DecisionKind{
			DecisionKindVerify, DecisionKindRecommend, DecisionKindEndorse, DecisionKindFlag,
			DecisionKindAdvice, DecisionKindNote, DecisionKindAcceptRisk,
		},
		[]DecisionKind{DecisionKindReturn, DecisionKindReject, DecisionKindCloseRisk})
)

// optional draws nil or a value from g.
func optional[V any](t *rapid.T, g *rapid.Generator[V], label string) *V {
	if rapid.Bool().Draw(t, label+"?") {
		return nil
	}
	v := g.Draw(t, label)
	return &v
}

// newID returns a fresh id with a prefix.
func (w *world) newID(prefix string) string {
	w.lastID++
	return fmt.Sprintf("%s-%d", prefix, w.lastID)
}

// tick advances the clock: every command happens a little later.
func (w *world) tick() time.Time {
	w.clock = w.clock.Add(time.Minute + 7*time.Nanosecond)
	return w.clock
}

// commandFailed checks that a failed command returned a domain error type and
// no events.
func commandFailed(t *rapid.T, events []Event, err error) {
	t.Helper()
	var (
		invalid  *ValidationError
		pre      *PreconditionError
		stale    *StaleError
		notFound *NotFoundError
	)
	if !errors.As(err, &invalid) && !errors.As(err, &pre) && !errors.As(err, &stale) && !errors.As(err, &notFound) {
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
	if events != nil {
		t.Fatalf("events with an error: %v", events)
	}
}

// append applies events to the aggregate a of stream id and records them.
func (w *world) append(t *rapid.T, id string, a applier, events []Event) {
	t.Helper()
	for _, e := range events {
		if err := a.Apply(e); err != nil {
			t.Fatalf("Apply %s to %s: %v", e.EventType(), id, err)
		}
		w.history[id] = append(w.history[id], e)
	}
}

// onRisk runs a command on a random risk and commits its events.
func (w *world) onRisk(t *rapid.T, cmd func(*Risk) ([]Event, error)) {
	if len(w.riskIDs) == 0 {
		return
	}
	r := w.risks[rapid.SampledFrom(w.riskIDs).Draw(t, "risk")]
	before := stateOfRisk(r)
	events, err := cmd(r)
	if after := stateOfRisk(r); !reflect.DeepEqual(before, after) {
		t.Fatalf("a command changed risk %s", r.ID())
	}
	if err != nil {
		commandFailed(t, events, err)
		return
	}
	w.append(t, r.ID(), r, events)
}

// onResponse runs a command on a random response and commits its events.
// It mostly picks a response in one of the statuses from, so that responses
// get through the cycle; nil from means any response.
func (w *world) onResponse(t *rapid.T, from []ResponseStatus, cmd func(*StrategicResponse) ([]Event, error)) {
	candidates := slices.DeleteFunc(slices.Clone(w.responseIDs), func(id string) bool {
		return from != nil && !slices.Contains(from, w.responses[id].Status())
	})
	if len(candidates) == 0 || rarely(t, "any response") {
		candidates = w.responseIDs
	}
	if len(candidates) == 0 {
		return
	}
	s := w.responses[rapid.SampledFrom(candidates).Draw(t, "response")]
	before := stateOfResponse(s)
	events, err := cmd(s)
	if stateOfResponse(s) != before {
		t.Fatalf("a command changed response %s", s.ID())
	}
	if err != nil {
		commandFailed(t, events, err)
		return
	}
	w.append(t, s.ID(), s, events)
}

// actions are the random commands by name.
func (w *world) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"registerRisk": w.registerRisk,
		"updateRisk": func(t *rapid.T) {
			c := RiskChanges{
				Title: optional(t, genTitle, "title"), Description: optional(t, genTitle, "description"),
				Category: optional(t, genName, "category"), Source: optional(t, genName, "source"),
				Owner: optional(t, genName, "owner"),
			}
			w.onRisk(t, func(r *Risk) ([]Event, error) { return r.Update(c) })
		},
		"assessRisk": func(t *rapid.T) {
			kind := genKind.Draw(t, "kind")
			l, i := genScale.Draw(t, "likelihood"), genScale.Draw(t, "impact")
			rationale := genRationale.Draw(t, "rationale")
			at := w.tick()
			w.onRisk(t, func(r *Risk) ([]Event, error) { return r.Assess(kind, l, i, rationale, "alice", at) })
		},
		"closeRisk": func(t *rapid.T) {
			if !rarely(t, "close") {
				return
			}
			reason := genReason.Draw(t, "reason")
			w.onRisk(t, func(r *Risk) ([]Event, error) { return r.Close(reason) })
		},
		"withdrawRisk": func(t *rapid.T) {
			if !rarely(t, "withdraw") {
				return
			}
			reason := genReason.Draw(t, "reason")
			w.onRisk(t, func(r *Risk) ([]Event, error) { return r.Withdraw(reason) })
		},
		"proposeResponse": w.proposeResponse,
		"reviseResponse": func(t *rapid.T) {
			c := ResponseChanges{
				Title: optional(t, genTitle, "title"), Description: optional(t, genTitle, "description"),
				Option: optional(t, rapid.SampledFrom(responseOptions), "option"), Owner: optional(t, genName, "owner"),
				DueDate: optional(t, rapid.Custom(func(t *rapid.T) Date {
					return DateOf(t0.AddDate(0, 0, rapid.IntRange(0, 900).Draw(t, "days")))
				}), "dueDate"),
			}
			w.onResponse(t, nil, func(s *StrategicResponse) ([]Event, error) { return s.Revise(c) })
		},
		"submitResponse":       w.responseTransition(ResponseStatusDraft, (*StrategicResponse).Submit),
		"startResponse":        w.responseTransition(ResponseStatusEndorsed, (*StrategicResponse).Start),
		"reportImplementation": w.responseTransition(ResponseStatusInProgress, (*StrategicResponse).ReportImplementation),
		"closeResponse":        w.responseTransition(ResponseStatusVerified, (*StrategicResponse).Close),
		"withdrawResponse":     w.responseTransition("", (*StrategicResponse).Withdraw),
		"recordDecision":       w.recordDecision,
	}
}

// actionWeights says how often each action is drawn: decisions often, so
// that responses get through the whole cycle.
var actionWeights = map[string]int{
	"registerRisk": 3, "updateRisk": 2, "assessRisk": 4, "closeRisk": 1, "withdrawRisk": 1,
	"proposeResponse": 3, "reviseResponse": 3, "submitResponse": 6, "startResponse": 6,
	"reportImplementation": 6, "closeResponse": 6, "withdrawResponse": 1, "recordDecision": 40,
}

func (w *world) registerRisk(t *rapid.T) {
	if len(w.riskIDs) >= 3 {
		return
	}
	id := w.newID("risk")
	in := RiskDetails{
		Title: genTitle.Draw(t, "title"), Description: genTitle.Draw(t, "description"),
		Category: genName.Draw(t, "category"), Source: genName.Draw(t, "source"), Owner: genName.Draw(t, "owner"),
	}
	events, err := RegisterRisk(id, fmt.Sprintf("R-%04d", w.lastID), in)
	if err != nil {
		commandFailed(t, events, err)
		return
	}
	r := &Risk{id: id}
	w.append(t, id, r, events)
	w.risks[id] = r
	w.riskIDs = append(w.riskIDs, id)
}

func (w *world) proposeResponse(t *rapid.T) {
	if len(w.riskIDs) == 0 || len(w.responseIDs) >= 4 {
		return
	}
	risk := w.risks[rapid.SampledFrom(w.riskIDs).Draw(t, "risk")]
	id := w.newID("resp")
	in := ResponseDetails{
		Title: genTitle.Draw(t, "title"), Description: genTitle.Draw(t, "description"),
		Option: genOption.Draw(t, "option"),
		Owner:  genName.Draw(t, "owner"),
	}
	events, err := ProposeResponse(id, risk, in)
	if err != nil {
		commandFailed(t, events, err)
		return
	}
	s := &StrategicResponse{id: id}
	w.append(t, id, s, events)
	w.responses[id] = s
	w.responseIDs = append(w.responseIDs, id)
}

// responseTransition is an action running a staff transition with a note,
// mostly on a response in status from ("" for any).
func (w *world) responseTransition(from ResponseStatus, cmd func(*StrategicResponse, string) ([]Event, error)) func(*rapid.T) {
	var statuses []ResponseStatus
	if from != "" {
		statuses = []ResponseStatus{from}
	}
	return func(t *rapid.T) {
		note := genNote.Draw(t, "note")
		w.onResponse(t, statuses, func(s *StrategicResponse) ([]Event, error) { return cmd(s, note) })
	}
}

// recordDecision takes a random decision, mostly by the right body on
// subjects of the right kind at their current versions, and plays the store:
// each effect must be at its stream's current version.
func (w *world) recordDecision(t *rapid.T) {
	kind := genDecisionKind.Draw(t, "kind")
	rule := kindRules[kind]
	body := rule.body
	if body == "" || rarely(t, "wrong body") {
		body = rapid.SampledFrom(bodies).Draw(t, "body")
	}
	candidates := w.fitting(kind)
	if len(candidates) == 0 || rarely(t, "any subject") {
		candidates = append(slices.Clone(w.riskIDs), w.responseIDs...)
	}
	if len(candidates) == 0 {
		return
	}
	at := w.tick()
	cmd := DecisionCommand{
		DecisionID: w.newID("dec"), Body: body, Session: "Session", Kind: kind, Text: "Decided.",
		RecordedBy: "clerk", RecordedAt: at,
	}
	picked := rapid.Permutation(candidates).Draw(t, "subjects")
	picked = picked[:min(len(picked), mostly([]int{1, 1, 2, 3}, []int{0}).Draw(t, "how many"))]
	if len(picked) > 0 && rarely(t, "twice") {
		picked = append(picked, picked[0])
	}
	for _, id := range picked {
		ref := SubjectRef{ID: id, Kind: SubjectKindRisk, ExpectedVersion: len(w.history[id])}
		if _, ok := w.responses[id]; ok {
			ref.Kind = SubjectKindResponse
		}
		if rarely(t, "wrong kind") {
			ref.Kind = otherKind(ref.Kind)
		}
		ref.ExpectedVersion += mostly([]int{0}, []int{-1, 1}).Draw(t, "staleness")
		cmd.Subjects = append(cmd.Subjects, ref)
	}
	if rapid.Bool().Draw(t, "effective") {
		cmd.EffectiveDate = DateOf(at.AddDate(0, 0, rapid.IntRange(-5, 5).Draw(t, "effective in")))
	}
	if kind == DecisionKindAcceptRisk || rarely(t, "stray expiry") {
		cmd.ExpiresOn = DateOf(at.AddDate(0, 0, rapid.IntRange(-3, 400).Draw(t, "expires in")))
	}
	before := snapshotStates(SubjectStates{Risks: w.risks, Responses: w.responses})
	out, err := RecordDecision(cmd, SubjectStates{Risks: w.risks, Responses: w.responses})
	if !reflect.DeepEqual(before, snapshotStates(SubjectStates{Risks: w.risks, Responses: w.responses})) {
		t.Fatal("RecordDecision changed a subject")
	}
	if err != nil {
		commandFailed(t, nil, err)
		return
	}
	if !kind.TakenBy(body) {
		t.Fatalf("%s recorded a %s decision", body, kind)
	}
	for _, ref := range cmd.Subjects {
		if ref.ExpectedVersion != len(w.history[ref.ID]) {
			t.Fatalf("decided on %s at version %d, current %d", ref.ID, ref.ExpectedVersion, len(w.history[ref.ID]))
		}
	}
	for _, e := range out.Effects {
		var a interface {
			applier
			Version() int
		}
		switch e.StreamType {
		case StreamRisk:
			a = w.risks[e.StreamID]
		case StreamResponse:
			a = w.responses[e.StreamID]
		}
		if a == nil || a.Version() != e.ExpectedVersion {
			t.Fatalf("effect %s on %s expects version %d", e.Event.EventType(), e.StreamID, e.ExpectedVersion)
		}
		w.append(t, e.StreamID, a, []Event{e.Event})
	}
	d := &Decision{id: cmd.DecisionID}
	w.append(t, cmd.DecisionID, d, []Event{out.Recorded})
	w.decisions[cmd.DecisionID] = d
}

// fitting returns the ids of the aggregates a decision of kind can take
// effect on, so that random decisions get responses through the cycle.
func (w *world) fitting(kind DecisionKind) []string {
	var ids []string
	switch kindRules[kind].subject {
	case SubjectKindRisk:
		for _, id := range w.riskIDs {
			if !w.risks[id].Status().Terminal() {
				ids = append(ids, id)
			}
		}
	case SubjectKindResponse:
		var effect string
		for name, k := range map[string]DecisionKind{
			EventResponseVerified: DecisionKindVerify, EventResponseRecommended: DecisionKindRecommend,
			EventResponseReturned: DecisionKindReturn, EventResponseEndorsed: DecisionKindEndorse,
			EventResponseRejected: DecisionKindReject,
		} {
			if k == kind {
				effect = name
			}
		}
		for _, id := range w.responseIDs {
			if slices.Contains(effectRules[effect].from, string(w.responses[id].Status())) {
				ids = append(ids, id)
			}
		}
	default:
		ids = append(slices.Clone(w.riskIDs), w.responseIDs...)
	}
	return ids
}

// otherKind returns the subject kind that is not k.
func otherKind(k SubjectKind) SubjectKind {
	if k == SubjectKindRisk {
		return SubjectKindResponse
	}
	return SubjectKindRisk
}

// roundTrip encodes events as the store would and decodes them again.
func roundTrip(t *rapid.T, events []Event) []Event {
	t.Helper()
	out := make([]Event, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = DecodeEvent(e.EventType(), e.SchemaVersion(), data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// decodedHistory returns id's history as encoded to JSON and decoded again.
// A history only grows and a recorded event never changes, so each event is
// round-tripped once, when check first sees it.
func (w *world) decodedHistory(t *rapid.T, id string) []Event {
	h, d := w.history[id], w.decoded[id]
	if len(d) < len(h) {
		d = append(d, roundTrip(t, h[len(d):])...)
		w.decoded[id] = d
	}
	return d[:len(h):len(h)]
}

// check verifies the invariants of every aggregate after every step.
func (w *world) check(t *rapid.T) {
	for id, r := range w.risks {
		h := w.history[id]
		if r.Version() != len(h) {
			t.Fatalf("risk %s: version %d, %d events", id, r.Version(), len(h))
		}
		replayed, err := RiskFromHistory(id, w.decodedHistory(t, id))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := stateOfRisk(replayed), stateOfRisk(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("risk %s replays to\n%+v\nlive\n%+v", id, got, want)
		}
		checkRisk(t, r)
		checkRiskHistory(t, id, h)
	}
	for id, s := range w.responses {
		h := w.history[id]
		if s.Version() != len(h) {
			t.Fatalf("response %s: version %d, %d events", id, s.Version(), len(h))
		}
		replayed, err := ResponseFromHistory(id, w.decodedHistory(t, id))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := stateOfResponse(replayed), stateOfResponse(s); got != want {
			t.Fatalf("response %s replays to\n%+v\nlive\n%+v", id, got, want)
		}
		if !s.Status().Valid() || w.risks[s.RiskID()] == nil {
			t.Fatalf("response %s: status %q, risk %q", id, s.Status(), s.RiskID())
		}
		checkResponseHistory(t, id, h)
	}
	for id, d := range w.decisions {
		replayed, err := DecisionFromHistory(id, w.decodedHistory(t, id))
		if err != nil {
			t.Fatal(err)
		}
		if d.Version() != 1 || !reflect.DeepEqual(replayed, d) || !d.Kind().TakenBy(d.Body()) {
			t.Fatalf("decision %s: %+v, replayed %+v", id, d, replayed)
		}
		for _, s := range d.Subjects() {
			if s.VersionSeen > len(w.history[s.ID]) {
				t.Fatalf("decision %s saw %s at version %d of %d", id, s.ID, s.VersionSeen, len(w.history[s.ID]))
			}
		}
	}
}

// checkRisk verifies the invariants of a risk's current state.
func checkRisk(t *rapid.T, r *Risk) {
	if !r.Status().Valid() {
		t.Fatalf("risk %s: status %q", r.ID(), r.Status())
	}
	for _, kind := range ratingKinds {
		rating, ok := r.Rating(kind)
		if ok && (!inScale(rating.Likelihood()) || !inScale(rating.Impact()) || strings.TrimSpace(rating.Rationale()) == "") {
			t.Fatalf("risk %s: %s rating %+v", r.ID(), kind, rating)
		}
	}
	// The first inherent rating moves an OPEN risk to ASSESSED, and only
	// the first inherent rating makes a risk ASSESSED.
	_, hasInherent := r.Rating(RatingKindInherent)
	if (r.Status() == RiskStatusOpen && hasInherent) || (r.Status() == RiskStatusAssessed && !hasInherent) {
		t.Fatalf("risk %s: status %s with inherent rating %v", r.ID(), r.Status(), hasInherent)
	}
	if _, tolerated := r.ToleratedUntil(); tolerated != (r.Status() == RiskStatusTolerated) {
		t.Fatalf("risk %s: status %s, tolerated %v", r.ID(), r.Status(), tolerated)
	}
}

// effectRules gives, for each effect event, the body that causes it and the
// statuses its aggregate may be in before it.
var effectRules = map[string]struct {
	body Body
	from []string
}{
	EventRiskFlagged:           {BodyAuditCommittee, nil},
	EventRiskTolerated:         {BodyCouncil, nil},
	EventRiskTreatmentStarted:  {BodyCouncil, nil},
	EventRiskMonitoringStarted: {BodyAuditCommittee, nil},
	EventResponseRecommended:   {BodyPolicyCommission, []string{"SUBMITTED"}},
	EventResponseReturned:      {BodyPolicyCommission, []string{"SUBMITTED", "RECOMMENDED"}},
	EventResponseEndorsed:      {BodyCouncil, []string{"RECOMMENDED"}},
	EventResponseRejected:      {BodyCouncil, []string{"SUBMITTED", "RECOMMENDED"}},
	EventResponseVerified:      {BodyAuditCommittee, []string{"IMPLEMENTED"}},
}

// decisionOf returns the DecisionRef embedded in an effect event.
func decisionOf(e Event) (DecisionRef, bool) {
	v := reflect.ValueOf(e)
	if f := v.FieldByName("DecisionRef"); f.IsValid() {
		return f.Interface().(DecisionRef), true
	}
	return DecisionRef{}, false
}

// checkRiskHistory replays a risk's events one by one and checks that each
// was allowed in the state before it.
func checkRiskHistory(t *rapid.T, id string, h []Event) {
	r := &Risk{id: id}
	for i, e := range h {
		if r.Version() > 0 && r.Status().Terminal() {
			t.Fatalf("risk %s: %s after %s", id, e.EventType(), r.Status())
		}
		band, rated := r.Band()
		red := rated && band == BandRed
		ref, byDecision := decisionOf(e)
		switch e := e.(type) {
		case RiskClosed:
			if e.ByDecision() && ref.Body != BodyCouncil {
				t.Fatalf("risk %s closed by %s", id, ref.Body)
			}
			if !e.ByDecision() && (red || r.Flagged()) {
				t.Fatalf("risk %s: staff closed it while RED %v / flagged %v", id, red, r.Flagged())
			}
		case RiskWithdrawn:
			if red || r.Flagged() {
				t.Fatalf("risk %s: staff withdrew it while RED %v / flagged %v", id, red, r.Flagged())
			}
		default:
			if rule, ok := effectRules[e.EventType()]; ok && (!byDecision || ref.Body != rule.body) {
				t.Fatalf("risk %s: event %d %s by %+v", id, i, e.EventType(), ref)
			}
		}
		if err := r.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
}

// checkResponseHistory replays a response's events one by one and checks
// that each was allowed in the status before it: in particular that it
// started only after ENDORSED and closed only after VERIFIED.
func checkResponseHistory(t *rapid.T, id string, h []Event) {
	s := &StrategicResponse{id: id}
	for _, e := range h {
		before := string(s.Status())
		if s.Version() > 0 && s.Status().Terminal() {
			t.Fatalf("response %s: %s after %s", id, e.EventType(), before)
		}
		var from []string
		switch e.(type) {
		case ResponseRevised:
			from = []string{"DRAFT", "RETURNED"}
		case ResponseSubmitted:
			from = []string{"DRAFT"}
		case ResponseStarted:
			from = []string{"ENDORSED"}
		case ResponseImplemented:
			from = []string{"IN_PROGRESS"}
		case ResponseClosed:
			from = []string{"VERIFIED"}
		}
		if rule, ok := effectRules[e.EventType()]; ok {
			from = rule.from
			if ref, _ := decisionOf(e); ref.Body != rule.body {
				t.Fatalf("response %s: %s by %s", id, e.EventType(), ref.Body)
			}
		}
		if from != nil && !slices.Contains(from, before) {
			t.Fatalf("response %s: %s in %s", id, e.EventType(), before)
		}
		if err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPropertyRandomCommandSequences runs random command sequences over a
// few risks and responses, with random decisions among them, and checks
// after every step that no aggregate's version, replay or invariants went
// wrong.
func TestPropertyRandomCommandSequences(t *testing.T) {
	var names []string
	for name, weight := range actionWeights {
		for range weight {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld()
		actions := w.actions()
		for steps := 100 + rapid.IntRange(0, 100).Draw(t, "more steps"); steps > 0; steps-- {
			actions[rapid.SampledFrom(names).Draw(t, "action")](t)
			w.check(t)
		}
	})
}
