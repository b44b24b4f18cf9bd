package domain_test

import (
	"fmt"
	"time"

	"github.com/riskreg/riskreg/domain"
)

// must panics on an error; it keeps the example short.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The governance cycle: staff register and assess a risk and propose a
// response, the Policy Commission recommends it and the Council endorses it,
// which also moves the risk to TREATING. The caller plays the store: it
// appends the returned events and applies them.
func Example() {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	events := must(domain.RegisterRisk("risk-1", "R-0001", domain.RiskDetails{
		Title: "Loss of revenue data", Description: "Ageing servers -> data loss -> no reconciliation",
		Category: "Financial", Source: "Audit Plan 2021", Owner: "Director of Finance",
	}))
	risk := must(domain.RiskFromHistory("risk-1", events))
	apply := func(a interface{ Apply(domain.Event) error }, events []domain.Event) {
		for _, e := range events {
			if err := a.Apply(e); err != nil {
				panic(err)
			}
		}
	}
	apply(risk, must(risk.Assess(domain.RatingKindInherent, 4, 5, "Two outages in 2025", "alice", at)))
	band, _ := risk.Band()
	fmt.Println(risk.Reference(), risk.Status(), band, "version", risk.Version())

	response := must(domain.ResponseFromHistory("resp-1", must(domain.ProposeResponse("resp-1", risk,
		domain.ResponseDetails{Title: "Replace the servers", Option: domain.ResponseOptionReduce, Owner: "Head of IT"}))))
	apply(response, must(response.Submit("")))

	decide := func(body domain.Body, kind domain.DecisionKind) {
		out := must(domain.RecordDecision(domain.DecisionCommand{
			DecisionID: fmt.Sprintf("dec-%s", kind), Body: body, Session: "2027 session", Kind: kind,
			Text: "Decided.", RecordedBy: "clerk", RecordedAt: at,
			Subjects: []domain.SubjectRef{
				{ID: response.ID(), Kind: domain.SubjectKindResponse, ExpectedVersion: response.Version()},
			},
		}, domain.SubjectStates{
			Risks:     map[string]*domain.Risk{risk.ID(): risk},
			Responses: map[string]*domain.StrategicResponse{response.ID(): response},
		}))
		for _, effect := range out.Effects {
			fmt.Printf("%s %s@%d %s\n", kind, effect.StreamID, effect.ExpectedVersion, effect.Event.EventType())
			if effect.StreamType == domain.StreamRisk {
				apply(risk, []domain.Event{effect.Event})
			} else {
				apply(response, []domain.Event{effect.Event})
			}
		}
	}
	decide(domain.BodyPolicyCommission, domain.DecisionKindRecommend)
	decide(domain.BodyCouncil, domain.DecisionKindEndorse)
	fmt.Println(response.Status(), risk.Status())

	_, err := risk.Close("no longer relevant")
	fmt.Println(err)
	// Output:
	// R-0001 ASSESSED RED version 2
	// RECOMMEND resp-1@2 ResponseRecommended
	// ENDORSE resp-1@3 ResponseEndorsed
	// ENDORSE risk-1@2 RiskTreatmentStarted
	// ENDORSED TREATING
	// failed precondition: risk risk-1 is RED; only a Council CLOSE_RISK decision can end it
}
