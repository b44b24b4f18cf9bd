package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgretry"
)

// Service runs the register's commands and loads its aggregates. It is safe
// for concurrent use.
type Service struct {
	store     *eventstore.Store
	now       func() time.Time
	snapshots snapshots
}

// New returns a Service over store. now is the clock (time.Now in
// production); every event's business time comes from it.
func New(store *eventstore.Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// Request says who asks for a command and in which request.
type Request struct {
	Principal domain.Principal
	// RequestID identifies the request; it is also the correlation id of
	// the events unless CorrelationID is set.
	RequestID     string
	CorrelationID string
	// IdempotencyKey, when set, makes the command safe to send again: the
	// same key from the same principal returns the first call's result and
	// records nothing new, even when the expected version is stale by then.
	// A repeat sent while the first call runs (on any process) waits for it
	// and returns its result too.
	IdempotencyKey string
	// Recorded, when set, is called with the log position of the last event
	// the command recorded, or that its first run recorded when it is a
	// repeat: a query that waits for the read models to reach it sees the
	// command's effect (the API's consistency token).
	Recorded func(eventstore.Position)
}

// recorded reports pos to req.Recorded.
func (req Request) recorded(pos eventstore.Position) {
	if req.Recorded != nil {
		req.Recorded(pos)
	}
}

// Risk is a risk as folded from its stream, with the times the store
// recorded its first and last events.
type Risk struct {
	*domain.Risk
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Response is a strategic response as folded from its stream, with the
// times the store recorded its first and last events.
type Response struct {
	*domain.StrategicResponse
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Decision is a recorded decision with its DecisionRecorded event, whose id
// is the causation id of every effect.
type Decision struct {
	*domain.Decision
	Recorded eventstore.RecordedEvent
}

// AsOf selects a past state of an aggregate: the zero value is the current
// state; Time is the state as the register showed it then (recorded at or
// before it); Version is the state after that many events. Give at most one.
type AsOf struct {
	Time    time.Time
	Version int
}

// idempotencyNamespace seeds the event ids derived from idempotency keys.
var idempotencyNamespace = uuid.MustParse("7b0e4a43-6f3c-4a8e-9a55-2f0d2c8e1f10")

// maxEventsPerCommand bounds how many events of a command the idempotency
// look-up fetches; a decision appends one event per effect and one more.
const maxEventsPerCommand = 64

// eventID returns the id of the i-th event a command appends: derived from
// the principal and idempotency key when there is one, so that a repeated
// command finds its first run's events, else new.
func (req Request) eventID(i int) uuid.UUID {
	if req.IdempotencyKey == "" {
		return uuid.Must(uuid.NewV7())
	}
	return uuid.NewSHA1(idempotencyNamespace, fmt.Appendf(nil, "%s\x00%s\x00event\x00%d", req.Principal.Subject, req.IdempotencyKey, i))
}

// aggregateID returns the id of an aggregate a command creates.
func (req Request) aggregateID() string {
	if req.IdempotencyKey == "" {
		return uuid.Must(uuid.NewV7()).String()
	}
	return uuid.NewSHA1(idempotencyNamespace, fmt.Appendf(nil, "%s\x00%s\x00aggregate", req.Principal.Subject, req.IdempotencyKey)).String()
}

// priorRun looks for the events a command with the same idempotency key
// appended before. It returns the stream the first of them went to and that
// stream's version after them; found is false when there was no such run.
func (s *Service) priorRun(ctx context.Context, req Request, streamType string) (streamID string, version int, found bool, err error) {
	if req.IdempotencyKey == "" {
		return "", 0, false, nil
	}
	ids := make([]uuid.UUID, maxEventsPerCommand)
	for i := range ids {
		ids[i] = req.eventID(i)
	}
	var prior []eventstore.RecordedEvent
	err = pgretry.Read(ctx, func(ctx context.Context) (err error) {
		prior, err = s.store.EventsByID(ctx, ids)
		return err
	})
	if err != nil {
		return "", 0, false, err
	}
	if len(prior) == 0 {
		return "", 0, false, nil
	}
	first := prior[0]
	for _, e := range prior {
		if e.ID == ids[0] {
			first = e
		}
	}
	if first.StreamType != streamType {
		return "", 0, false, &domain.ValidationError{Fields: []domain.FieldError{{
			Field: "idempotencyKey", Message: "was already used for another kind of request"}}}
	}
	var last eventstore.Position
	for _, e := range prior {
		if e.StreamID == first.StreamID && int(e.Version) > version {
			version = int(e.Version)
		}
		if e.Position.Compare(last) > 0 {
			last = e.Position
		}
	}
	req.recorded(last)
	return first.StreamID, version, true, nil
}

// envelope returns the metadata of the events a request causes.
func (req Request) envelope() eventstore.Metadata {
	corr := req.CorrelationID
	if corr == "" {
		corr = req.RequestID
	}
	return eventstore.Metadata{Actor: req.Principal.Subject, CorrelationID: corr, RequestID: req.RequestID}
}

// storeEvents encodes domain events for the store, numbering their ids from
// first.
func (s *Service) storeEvents(req Request, first int, md eventstore.Metadata, events ...domain.Event) ([]eventstore.Event, error) {
	out := make([]eventstore.Event, len(events))
	now := s.now()
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("register: encode %s: %w", e.EventType(), err)
		}
		out[i] = eventstore.Event{
			ID:            req.eventID(first + i),
			Type:          e.EventType(),
			SchemaVersion: e.SchemaVersion(),
			Data:          data,
			Metadata:      md,
			OccurredAt:    now,
		}
	}
	return out, nil
}

// staleFrom turns the store's concurrency error into the domain's stale
// error, which carries the current version; expected maps stream ids to the
// versions the command expected. Other errors pass unchanged.
func staleFrom(err error, expected map[string]int) error {
	var ce *eventstore.ConcurrencyError
	if errors.As(err, &ce) {
		return &domain.StaleError{ID: ce.StreamID, Expected: expected[ce.StreamID], Current: int(ce.Current)}
	}
	return err
}

// folded is what load returns: an aggregate and its recorded times.
type folded[A any] struct {
	agg                  A
	createdAt, updatedAt time.Time
}

// load folds an aggregate of streamType from its stream, as of at.
func load[A any](ctx context.Context, s *Service, streamType, id string, at AsOf,
	fromHistory func(string, []domain.Event) (A, error),
) (folded[A], error) {
	var f folded[A]
	if at.Version < 0 || (at.Version > 0 && !at.Time.IsZero()) {
		return f, &domain.ValidationError{Fields: []domain.FieldError{{Field: "atVersion", Message: "give asOf or atVersion, not both, and no negative version"}}}
	}
	var recs []eventstore.RecordedEvent
	err := pgretry.Read(ctx, func(ctx context.Context) (err error) {
		recs, err = s.store.ReadStream(ctx, id, eventstore.ReadStreamOptions{ToVersion: int64(at.Version), RecordedUntil: at.Time})
		return err
	})
	if err != nil {
		return f, err
	}
	if len(recs) == 0 || recs[0].StreamType != streamType {
		return f, &domain.NotFoundError{Kind: streamType, ID: id}
	}
	events := make([]domain.Event, len(recs))
	for i, r := range recs {
		if events[i], err = domain.DecodeEvent(r.Type, r.SchemaVersion, r.Data); err != nil {
			return f, fmt.Errorf("register: %s %s version %d: %w", streamType, id, r.Version, err)
		}
	}
	if f.agg, err = fromHistory(id, events); err != nil {
		return f, err
	}
	f.createdAt, f.updatedAt = recs[0].RecordedAt, recs[len(recs)-1].RecordedAt
	return f, nil
}

// Risk returns a risk as of at.
func (s *Service) Risk(ctx context.Context, id string, at AsOf) (Risk, error) {
	f, err := load(ctx, s, domain.StreamRisk, id, at, domain.RiskFromHistory)
	return Risk{Risk: f.agg, CreatedAt: f.createdAt, UpdatedAt: f.updatedAt}, err
}

// Response returns a strategic response as of at.
func (s *Service) Response(ctx context.Context, id string, at AsOf) (Response, error) {
	f, err := load(ctx, s, domain.StreamResponse, id, at, domain.ResponseFromHistory)
	return Response{StrategicResponse: f.agg, CreatedAt: f.createdAt, UpdatedAt: f.updatedAt}, err
}

// Decision returns a recorded decision.
func (s *Service) Decision(ctx context.Context, id string) (Decision, error) {
	recs, err := s.store.ReadStream(ctx, id, eventstore.ReadStreamOptions{Limit: 1})
	if err != nil {
		return Decision{}, err
	}
	if len(recs) == 0 || recs[0].StreamType != domain.StreamDecision {
		return Decision{}, &domain.NotFoundError{Kind: domain.StreamDecision, ID: id}
	}
	e, err := domain.DecodeEvent(recs[0].Type, recs[0].SchemaVersion, recs[0].Data)
	if err != nil {
		return Decision{}, fmt.Errorf("register: decision %s: %w", id, err)
	}
	d, err := domain.DecisionFromHistory(id, []domain.Event{e})
	return Decision{Decision: d, Recorded: recs[0]}, err
}
