package register

import (
	"context"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// DecisionInput is a decision a clerk records.
type DecisionInput struct {
	Body          domain.Body
	Session       string
	Kind          domain.DecisionKind
	Text          string
	Subjects      []SubjectInput // the risks and responses decided on
	EffectiveDate domain.Date    // zero: none
	ExpiresOn     domain.Date    // ACCEPT_RISK only
}

// SubjectInput names a subject and the version of it the body decided on.
type SubjectInput struct {
	ID              string
	ExpectedVersion int
}

// RecordDecision records a governance decision: DecisionRecorded on the
// decision's own stream and every effect on its subject's stream, in one
// transaction. Each effect carries the decision id and, as causation id, the
// id of the DecisionRecorded event. A subject no longer at the version the
// body saw records nothing (*domain.StaleError).
func (s *Service) RecordDecision(ctx context.Context, req Request, in DecisionInput) (Decision, error) {
	if err := req.Principal.AuthorizeDecision(in.Body); err != nil {
		return Decision{}, err
	}
	if prior, _, found, err := s.priorRun(ctx, req, domain.StreamDecision); err != nil || found {
		return s.repeatedDecision(ctx, prior, err)
	}
	refs, states, err := s.subjectStates(ctx, in.Subjects)
	if err != nil {
		return Decision{}, err
	}
	cmd := domain.DecisionCommand{
		DecisionID:    req.aggregateID(),
		Body:          in.Body,
		Session:       in.Session,
		Kind:          in.Kind,
		Text:          in.Text,
		Subjects:      refs,
		EffectiveDate: in.EffectiveDate,
		ExpiresOn:     in.ExpiresOn,
		RecordedBy:    req.Principal.Subject,
		RecordedAt:    s.now(),
	}
	out, err := domain.RecordDecision(cmd, states)
	if err != nil {
		return Decision{}, err
	}

	md := req.envelope()
	md.DecisionID = cmd.DecisionID
	recorded, err := s.storeEvents(req, 0, md, out.Recorded)
	if err != nil {
		return Decision{}, err
	}
	appends := []eventstore.StreamAppend{{StreamID: cmd.DecisionID, StreamType: domain.StreamDecision, Expected: eventstore.NoStream, Events: recorded}}
	md.CausationID = recorded[0].ID.String()
	// Effects on one stream go in one StreamAppend, in the order the domain
	// gave them.
	byStream := make(map[string]int)
	expected := make(map[string]int)
	for i, eff := range out.Effects {
		ev, err := s.storeEvents(req, 1+i, md, eff.Event)
		if err != nil {
			return Decision{}, err
		}
		if j, ok := byStream[eff.StreamID]; ok {
			appends[j].Events = append(appends[j].Events, ev...)
			continue
		}
		byStream[eff.StreamID] = len(appends)
		expected[eff.StreamID] = eff.ExpectedVersion
		appends = append(appends, eventstore.StreamAppend{StreamID: eff.StreamID, StreamType: eff.StreamType,
			Expected: eventstore.Exact(int64(eff.ExpectedVersion)), Events: ev})
	}
	res, err := s.store.Append(ctx, appends...)
	for _, a := range appends[1:] {
		s.snapshots.forget(a.StreamID)
	}
	if err != nil {
		if req.IdempotencyKey != "" {
			if prior, _, found, rerr := s.priorRun(ctx, req, domain.StreamDecision); found || rerr != nil {
				return s.repeatedDecision(ctx, prior, rerr)
			}
		}
		return Decision{}, staleFrom(err, expected)
	}
	req.recorded(res.Last().Position)
	d, err := domain.DecisionFromHistory(cmd.DecisionID, []domain.Event{out.Recorded})
	return Decision{Decision: d, Recorded: res.Events[0]}, err
}

// subjectStates loads every subject, and the risk of every response subject,
// at its current version.
func (s *Service) subjectStates(ctx context.Context, subjects []SubjectInput) ([]domain.SubjectRef, domain.SubjectStates, error) {
	states := domain.SubjectStates{Risks: map[string]*domain.Risk{}, Responses: map[string]*domain.StrategicResponse{}}
	refs := make([]domain.SubjectRef, len(subjects))
	for i, sub := range subjects {
		refs[i] = domain.SubjectRef{ID: sub.ID, ExpectedVersion: sub.ExpectedVersion}
		streamType, _, found, err := s.store.StreamInfo(ctx, sub.ID)
		if err != nil {
			return nil, states, err
		}
		switch {
		case found && streamType == domain.StreamRisk:
			refs[i].Kind = domain.SubjectKindRisk
			if err := s.loadRiskInto(ctx, states, sub.ID); err != nil {
				return nil, states, err
			}
		case found && streamType == domain.StreamResponse:
			refs[i].Kind = domain.SubjectKindResponse
			r, err := s.Response(ctx, sub.ID, AsOf{})
			if err != nil {
				return nil, states, err
			}
			states.Responses[sub.ID] = r.StrategicResponse
			if err := s.loadRiskInto(ctx, states, r.RiskID()); err != nil {
				return nil, states, err
			}
		default:
			return nil, states, &domain.NotFoundError{Kind: "subject", ID: sub.ID}
		}
	}
	return refs, states, nil
}

func (s *Service) loadRiskInto(ctx context.Context, states domain.SubjectStates, id string) error {
	if _, ok := states.Risks[id]; ok {
		return nil
	}
	r, err := s.Risk(ctx, id, AsOf{})
	if err != nil {
		return err
	}
	states.Risks[id] = r.Risk
	return nil
}

// repeatedDecision answers a decision whose idempotency key was used before
// with the decision that first run recorded, or with err.
func (s *Service) repeatedDecision(ctx context.Context, prior string, err error) (Decision, error) {
	if err != nil {
		return Decision{}, err
	}
	return s.Decision(ctx, prior)
}
