package register

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// aggregate is what the single-stream commands need of a Risk or a
// StrategicResponse.
type aggregate interface {
	Version() int
	Apply(domain.Event) error
}

// change runs a command on one existing aggregate: it checks the principal's
// role, answers a repeated idempotency key with the first run's result, checks
// the expected version, lets decide produce the events, appends them with
// that expected version and returns the aggregate with them applied.
func change[A aggregate](ctx context.Context, s *Service, req Request, action domain.Action,
	streamType, id string, expected int,
	fromHistory func(string, []domain.Event) (A, error),
	decide func(A) ([]domain.Event, error),
) (folded[A], error) {
	if err := req.Principal.Authorize(action); err != nil {
		return folded[A]{}, err
	}
	if f, found, err := repeated(ctx, s, req, streamType, fromHistory); err != nil || found {
		return f, err
	}
	f, cached, err := current(ctx, s, streamType, id, fromHistory)
	if err != nil {
		return f, err
	}
	if cached && f.agg.Version() != expected {
		// The snapshot may be behind another process's writes: read.
		if f, err = load(ctx, s, streamType, id, AsOf{}, fromHistory); err != nil {
			return f, err
		}
	}
	if err := domain.CheckVersion(expected, f.agg.Version()); err != nil {
		var stale *domain.StaleError
		if errors.As(err, &stale) {
			stale.ID = id
			// A concurrent run with the same key may have moved it on.
			if f, found, rerr := raced(ctx, s, req, streamType, fromHistory); found || rerr != nil {
				return f, rerr
			}
		}
		return f, err
	}
	events, err := decide(f.agg)
	if err != nil || len(events) == 0 {
		return f, err
	}
	last, err := s.appendTo(ctx, req, streamType, id, eventstore.Exact(int64(expected)), events)
	if err != nil {
		s.snapshots.forget(id)
		if f, found, rerr := raced(ctx, s, req, streamType, fromHistory); found || rerr != nil {
			return f, rerr
		}
		return f, staleFrom(err, map[string]int{id: expected})
	}
	for _, e := range events {
		if err := f.agg.Apply(e); err != nil {
			return f, fmt.Errorf("register: apply %s to %s %s: %w", e.EventType(), streamType, id, err)
		}
	}
	f.updatedAt = last
	s.snapshots.put(id, f)
	return f, nil
}

// repeated answers a command whose idempotency key was used before with the
// aggregate as that first run left it; found is false for a new key.
func repeated[A any](ctx context.Context, s *Service, req Request, streamType string,
	fromHistory func(string, []domain.Event) (A, error),
) (f folded[A], found bool, err error) {
	prior, version, found, err := s.priorRun(ctx, req, streamType)
	if err != nil || !found {
		return f, false, err
	}
	f, err = load(ctx, s, streamType, prior, AsOf{Version: version}, fromHistory)
	return f, true, err
}

// raced answers a command whose append failed, or whose expected version
// was stale, with the result of a concurrent run with the same idempotency
// key, when there was one: the store refuses the second of two runs only once
// the first committed (its event ids are unique), and a version moved on by
// the first run was read after it committed, so the first run's events are
// there to read.
func raced[A any](ctx context.Context, s *Service, req Request, streamType string,
	fromHistory func(string, []domain.Event) (A, error),
) (f folded[A], found bool, err error) {
	if req.IdempotencyKey == "" {
		return f, false, nil
	}
	f, found, err = repeated(ctx, s, req, streamType, fromHistory)
	if err != nil {
		// The look-up failed too (the database went away under both): the
		// command's own error, which says whether it may have been
		// recorded, is the answer.
		return f, false, nil
	}
	return f, found, nil
}

// appendTo appends events to one stream and returns when the store recorded
// the last of them.
func (s *Service) appendTo(ctx context.Context, req Request, streamType, id string, expected eventstore.ExpectedVersion, events []domain.Event) (time.Time, error) {
	stored, err := s.storeEvents(req, 0, req.envelope(), events...)
	if err != nil {
		return time.Time{}, err
	}
	res, err := s.store.Append(ctx, eventstore.StreamAppend{StreamID: id, StreamType: streamType, Expected: expected, Events: stored})
	if err != nil {
		return time.Time{}, err
	}
	req.recorded(res.Last().Position)
	return res.Last().RecordedAt, nil
}

// create runs a command that starts a new aggregate's stream.
func create[A aggregate](ctx context.Context, s *Service, req Request, action domain.Action, streamType string,
	fromHistory func(string, []domain.Event) (A, error),
	decide func(id string) ([]domain.Event, error),
) (folded[A], error) {
	if err := req.Principal.Authorize(action); err != nil {
		return folded[A]{}, err
	}
	if f, found, err := repeated(ctx, s, req, streamType, fromHistory); err != nil || found {
		return f, err
	}
	id := req.aggregateID()
	events, err := decide(id)
	if err != nil {
		return folded[A]{}, err
	}
	at, err := s.appendTo(ctx, req, streamType, id, eventstore.NoStream, events)
	if err != nil {
		if f, found, rerr := raced(ctx, s, req, streamType, fromHistory); found || rerr != nil {
			return f, rerr
		}
		return folded[A]{}, err
	}
	agg, err := fromHistory(id, events)
	if err != nil {
		return folded[A]{}, err
	}
	f := folded[A]{agg: agg, createdAt: at, updatedAt: at}
	s.snapshots.put(id, f)
	return f, nil
}

func riskOf(f folded[*domain.Risk], err error) (Risk, error) {
	return Risk{Risk: f.agg, CreatedAt: f.createdAt, UpdatedAt: f.updatedAt}, err
}

func responseOf(f folded[*domain.StrategicResponse], err error) (Response, error) {
	return Response{StrategicResponse: f.agg, CreatedAt: f.createdAt, UpdatedAt: f.updatedAt}, err
}

// RegisterRisk registers a new risk and gives it the next reference (see
// references.go).
func (s *Service) RegisterRisk(ctx context.Context, req Request, in domain.RiskDetails) (Risk, error) {
	return riskOf(s.registerRisk(ctx, req, in))
}

// UpdateRisk changes a risk's descriptive fields.
func (s *Service) UpdateRisk(ctx context.Context, req Request, id string, expected int, c domain.RiskChanges) (Risk, error) {
	return riskOf(change(ctx, s, req, domain.ActionUpdateRisk, domain.StreamRisk, id, expected, domain.RiskFromHistory,
		func(r *domain.Risk) ([]domain.Event, error) { return r.Update(c) }))
}

// AssessRisk rates a risk; the principal is recorded as the assessor.
func (s *Service) AssessRisk(ctx context.Context, req Request, id string, expected int, kind domain.RatingKind, likelihood, impact int, rationale string) (Risk, error) {
	return riskOf(change(ctx, s, req, domain.ActionAssessRisk, domain.StreamRisk, id, expected, domain.RiskFromHistory,
		func(r *domain.Risk) ([]domain.Event, error) {
			return r.Assess(kind, likelihood, impact, rationale, req.Principal.Subject, s.now())
		}))
}

// CloseRisk closes a risk that is neither RED nor flagged.
func (s *Service) CloseRisk(ctx context.Context, req Request, id string, expected int, reason string) (Risk, error) {
	return riskOf(change(ctx, s, req, domain.ActionCloseRisk, domain.StreamRisk, id, expected, domain.RiskFromHistory,
		func(r *domain.Risk) ([]domain.Event, error) { return r.Close(reason) }))
}

// WithdrawRisk withdraws a risk.
func (s *Service) WithdrawRisk(ctx context.Context, req Request, id string, expected int, reason string) (Risk, error) {
	return riskOf(change(ctx, s, req, domain.ActionWithdrawRisk, domain.StreamRisk, id, expected, domain.RiskFromHistory,
		func(r *domain.Risk) ([]domain.Event, error) { return r.Withdraw(reason) }))
}

// ProposeResponse proposes a strategic response for a risk.
func (s *Service) ProposeResponse(ctx context.Context, req Request, riskID string, in domain.ResponseDetails) (Response, error) {
	return responseOf(create(ctx, s, req, domain.ActionProposeResponse, domain.StreamResponse, domain.ResponseFromHistory,
		func(id string) ([]domain.Event, error) {
			risk, err := s.Risk(ctx, riskID, AsOf{})
			if err != nil {
				return nil, err
			}
			return domain.ProposeResponse(id, risk.Risk, in)
		}))
}

// ReviseResponse revises a DRAFT or RETURNED response back to DRAFT.
func (s *Service) ReviseResponse(ctx context.Context, req Request, id string, expected int, c domain.ResponseChanges) (Response, error) {
	return responseOf(change(ctx, s, req, domain.ActionReviseResponse, domain.StreamResponse, id, expected, domain.ResponseFromHistory,
		func(r *domain.StrategicResponse) ([]domain.Event, error) { return r.Revise(c) }))
}

// ResponseTransition is a staff transition of a response that takes a note.
type ResponseTransition int

// The staff transitions of a response.
const (
	SubmitResponse ResponseTransition = iota
	StartResponse
	ReportImplementation
	CloseResponse
	WithdrawResponse
)

// transitions maps each transition to its action and command.
var transitions = map[ResponseTransition]struct {
	action domain.Action
	run    func(*domain.StrategicResponse, string) ([]domain.Event, error)
}{
	SubmitResponse:       {domain.ActionSubmitResponse, (*domain.StrategicResponse).Submit},
	StartResponse:        {domain.ActionStartResponse, (*domain.StrategicResponse).Start},
	ReportImplementation: {domain.ActionReportImplementation, (*domain.StrategicResponse).ReportImplementation},
	CloseResponse:        {domain.ActionCloseResponse, (*domain.StrategicResponse).Close},
	WithdrawResponse:     {domain.ActionWithdrawResponse, (*domain.StrategicResponse).Withdraw},
}

// TransitionResponse moves a response through a staff transition: submit
// (DRAFT -> SUBMITTED), start (ENDORSED -> IN_PROGRESS), report
// implementation (IN_PROGRESS -> IMPLEMENTED), close (VERIFIED -> CLOSED) or
// withdraw.
func (s *Service) TransitionResponse(ctx context.Context, req Request, t ResponseTransition, id string, expected int, note string) (Response, error) {
	tr, ok := transitions[t]
	if !ok {
		return Response{}, fmt.Errorf("register: unknown response transition %d", t)
	}
	return responseOf(change(ctx, s, req, tr.action, domain.StreamResponse, id, expected, domain.ResponseFromHistory,
		func(r *domain.StrategicResponse) ([]domain.Event, error) { return tr.run(r, note) }))
}
