package register_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/register"
)

// Risk references are gap-free in register order: refused registrations
// take no number, and concurrent registrations through two stores (two
// processes) on one register take each number once.
func TestReferencesAreGapFree(t *testing.T) {
	a, storeA := newService(t)
	storeB, err := eventstore.New(storeA.Pool(), eventstore.Config{Upcasters: register.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(storeB.Close)
	b := register.New(storeB, time.Now)
	ctx := context.Background()

	keyed := staff
	keyed.IdempotencyKey = "once"
	var refs []string
	refs = append(refs, must(a.RegisterRisk(ctx, keyed, details("First"))).Reference())
	for range 3 {
		if _, err := a.RegisterRisk(ctx, staff, details("")); err == nil {
			t.Fatal("a risk without a title was registered")
		}
		if _, err := a.RegisterRisk(ctx, ac, details("Not staff's")); !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("registration by the Audit Committee: %v, want forbidden", err)
		}
		if again := must(b.RegisterRisk(ctx, keyed, details("First"))); again.Reference() != refs[0] {
			t.Fatalf("repeated key answered %s, want %s", again.Reference(), refs[0])
		}
	}

	const workers, each = 8, 5
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		svc := a
		if w%2 == 1 {
			svc = b
		}
		wg.Go(func() {
			for i := range each {
				r, err := svc.RegisterRisk(ctx, staff, details(fmt.Sprintf("Concurrent %d.%d", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				refs = append(refs, r.Reference())
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	slices.Sort(refs)
	want := make([]string, 1+workers*each)
	for i := range want {
		want[i] = fmt.Sprintf("R-%04d", i+1)
	}
	if !slices.Equal(refs, want) {
		t.Errorf("references %v, want %v", refs, want)
	}
}
