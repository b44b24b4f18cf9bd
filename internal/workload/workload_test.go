package workload

import (
	"context"
	"testing"

	"github.com/riskreg/riskreg/domain"
)

// memory is a sink that keeps every write.
type memory struct{ writes [][]Write }

func (m *memory) sink(_ context.Context, writes []Write) error {
	m.writes = append(m.writes, writes)
	return nil
}

func (m *memory) events() int {
	n := 0
	for _, ws := range m.writes {
		for _, w := range ws {
			n += len(w.Events)
		}
	}
	return n
}

func TestCycle(t *testing.T) {
	var m memory
	w := New(1, m.sink)
	w.V1Assessments = true
	ctx := context.Background()
	for range 5 {
		if err := w.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.events(); n != 5*CycleEvents {
		t.Fatalf("5 cycles wrote %d events, want %d", n, 5*CycleEvents)
	}
	var v1, multi int
	for _, ws := range m.writes {
		if len(ws) > 1 {
			multi++
			recorded := ws[0].IDs[0].String()
			for _, wr := range ws[1:] {
				for _, md := range wr.Meta {
					if md.CausationID != recorded || md.DecisionID != ws[0].StreamID {
						t.Errorf("effect metadata %+v, want caused by %s in decision %s", md, recorded, ws[0].StreamID)
					}
				}
			}
		}
		for _, wr := range ws {
			for i := range wr.Events {
				if e := wr.Event(i); e.Type == domain.EventRiskAssessed && e.SchemaVersion == 1 {
					v1++
				}
			}
		}
	}
	// The first and the fifth inherent assessment.
	if v1 != 2 || multi != 10 {
		t.Errorf("%d assessments in schema version 1 (want 2), %d multi-stream appends (want 10)", v1, multi)
	}
	if len(w.Risks()) != 5 || len(w.Responses()) != 5 || len(w.Decisions()) != 10 {
		t.Errorf("%d risks, %d responses, %d decisions; want 5, 5, 10", len(w.Risks()), len(w.Responses()), len(w.Decisions()))
	}
	for _, s := range w.Responses() {
		if s.Status() != domain.ResponseStatusEndorsed {
			t.Errorf("response %s is %s after its cycle, want ENDORSED", s.ID(), s.Status())
		}
	}
}

// TestStepsAreSeeded: the same seed gives the same commands, and random
// steps reach decisions, responses through their cycle and ended risks.
func TestStepsAreSeeded(t *testing.T) {
	run := func() (*Workload, *memory) {
		var m memory
		w := New(7, m.sink)
		for range 2000 {
			if err := w.Step(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return w, &m
	}
	a, ma := run()
	b, mb := run()
	if ma.events() != mb.events() || len(a.Risks()) != len(b.Risks()) || len(a.Decisions()) != len(b.Decisions()) {
		t.Fatalf("one seed, two workloads: %d and %d events", ma.events(), mb.events())
	}
	seen := map[string]bool{}
	for _, ws := range ma.writes {
		for _, w := range ws {
			for _, e := range w.Events {
				seen[e.EventType()] = true
			}
		}
	}
	for _, want := range []string{domain.EventDecisionRecorded, domain.EventResponseClosed, domain.EventRiskClosed,
		domain.EventRiskTolerated, domain.EventResponseReturned, domain.EventRiskFlagged} {
		if !seen[want] {
			t.Errorf("2,000 steps wrote no %s", want)
		}
	}
}
