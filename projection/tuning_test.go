package projection_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// analyzeCount returns how many times table was analyzed by an ANALYZE
// command (autovacuum's analyses are counted apart).
func analyzeCount(t *testing.T, e *env, table string) int64 {
	t.Helper()
	return maintenanceCount(t, e, "analyze_count", table)
}

// maintenanceCount returns a counter of pg_stat_user_tables for table.
func maintenanceCount(t *testing.T, e *env, counter, table string) int64 {
	t.Helper()
	var n int64
	err := e.pool.QueryRow(context.Background(),
		"SELECT "+counter+" FROM pg_stat_user_tables WHERE relname = $1", table).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A runner has the partitions of the generation it fills vacuumed and
// analyzed once it has applied 1,000 events, and not before: the planner
// then knows that a partition holds one generation, and counts can read
// indexes alone.
func TestRunnerAnalyzesGrowingReadModels(t *testing.T) {
	e := newEnv(t)
	tables := []string{"rm_risks_gen_1", "rm_responses_gen_1", "rm_decisions_gen_1"}
	count := func() (n int64) {
		for _, table := range tables {
			n += analyzeCount(t, e, table)
		}
		return n
	}
	var applied sync.Map // projection name -> events applied
	cfg := runnerConfig(e.store)
	cfg.OnApplied = func(name string, events []eventstore.RecordedEvent) {
		n, _ := applied.LoadOrStore(name, new(int))
		*n.(*int) += len(events)
	}
	start(t, cfg)
	e.steps(100)
	e.waitCaughtUp()
	var total int64
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total >= 1000 {
		t.Fatalf("the first part of the workload wrote %d events; the test needs fewer than 1,000", total)
	}
	if n := count(); n != 0 {
		t.Errorf("the read models were analyzed %d times after %d events, want none before 1,000", n, total)
	}

	for total < 1000 {
		e.steps(100)
		if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&total); err != nil {
			t.Fatal(err)
		}
	}
	e.waitCaughtUp()
	deadline := time.Now().Add(20 * time.Second)
	for _, table := range tables {
		for analyzeCount(t, e, table) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s not analyzed after the runner applied %d events", table, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := maintenanceCount(t, e, "vacuum_count", table); n == 0 {
			t.Errorf("%s analyzed but not vacuumed", table)
		}
	}
}

// A rebuild analyzes the generation it filled before swapping it in, so that
// the first reads of it are planned on its own statistics.
func TestRebuildAnalyzesTheNewGeneration(t *testing.T) {
	e := newEnv(t)
	e.steps(100)
	_, err := projection.Rebuild(context.Background(), projection.RebuildConfig{
		Store: e.store, Projections: projection.Builtin(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"rm_risks_gen_0", "rm_responses_gen_0", "rm_decisions_gen_0", "rm_decision_effects_gen_0"} {
		if n := analyzeCount(t, e, table); n == 0 {
			t.Errorf("%s (generation 2) not analyzed by the rebuild", table)
		}
	}
}

// Live, a runner starts a projection's batches at least BatchInterval apart:
// the events committed while it waits arrive as one batch.
func TestBatchIntervalGathersEvents(t *testing.T) {
	e := newEnv(t)
	cfg := runnerConfig(e.store)
	cfg.Projections = []projection.Projection{projection.Risks()}
	cfg.BatchInterval = 2 * time.Second
	batches := make(chan int, 100)
	cfg.OnApplied = func(_ string, events []eventstore.RecordedEvent) {
		if len(events) > 0 { // catching up on an empty log applies an empty batch
			batches <- len(events)
		}
	}
	start(t, cfg)
	waitStatus := func() {
		waitForStatus(t, e, projection.NameRisks, func(s projection.Status) bool { return s.State == projection.StateLive })
	}
	waitStatus()

	next := func() int {
		select {
		case n := <-batches:
			return n
		case <-time.After(30 * time.Second):
			t.Fatal("no batch within 30s")
			return 0
		}
	}
	count := func() (n int) {
		if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	e.steps(1)
	first := next()
	began := time.Now()
	before := count()
	e.steps(10) // while the runner waits out the interval
	if time.Since(began) > cfg.BatchInterval {
		t.Skip("the appends took longer than the batch interval on this machine; nothing to conclude")
	}
	after := count()
	second := next()
	if first != before || second != after-before {
		t.Errorf("batches of %d and %d events, want %d and then the %d appended during the interval in one",
			first, second, before, after-before)
	}
	select {
	case n := <-batches:
		t.Errorf("a third batch of %d events", n)
	case <-time.After(100 * time.Millisecond):
	}
}
