package projection_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/projection"
)

// readModelTables are every read-model table, by projection: the current
// state and the history.
var readModelTables = func() map[string][]string {
	out := make(map[string][]string)
	for _, p := range projection.Builtin() {
		out[p.Name()] = p.Tables()
	}
	return out
}()

// dumpAll returns the rows of the active generation of every read-model
// table, by table.
func dumpAll(t *testing.T, e *env) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	for name, tables := range readModelTables {
		gen := generation(t, e.pool, name)
		for _, table := range tables {
			out[table] = tableDump(t, e.pool, table, gen)
		}
	}
	return out
}

// schemaDump returns the definitions of the read-model tables' partitions,
// indexes and constraints, and which partitions are attached to which table.
func schemaDump(t *testing.T, e *env) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT 'index ' || c.relname || ': ' || pg_get_indexdef(i.indexrelid) || ' valid ' || i.indisvalid
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
		WHERE t.relname LIKE 'rm\_%'
		UNION ALL
		SELECT 'constraint ' || k.conname || ' on ' || t.relname || ': ' || pg_get_constraintdef(k.oid)
			|| ' local ' || k.conislocal || ' inherited ' || k.coninhcount
		FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid WHERE t.relname LIKE 'rm\_%'
		UNION ALL
		SELECT 'partition ' || c.relname || ' of ' || p.relname || ' ' || COALESCE(pg_get_expr(c.relpartbound, c.oid), '')
		FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_class p ON p.oid = h.inhparent
		WHERE p.relname LIKE 'rm\_%'
		UNION ALL
		SELECT 'relation ' || relname || ' ' || relkind::text FROM pg_class WHERE relname LIKE 'rm\_%' AND relkind IN ('r', 'p', 'v')
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return dump
}

// After a random workload applied live in small batches, a rebuild from
// position zero (in other batches, folding in memory and spilling) yields
// the same rows in every read-model table; it is swapped in, the old
// generation is cleared, and the runner goes on with the new generation.
func TestRebuildEqualsIncremental(t *testing.T) {
	e := newEnv(t)
	e.work.V1Assessments = true
	cfg := runnerConfig(e.store)
	cfg.BatchSize = 7
	start(t, cfg)
	e.steps(400)
	e.waitCaughtUp()
	before := dumpAll(t, e)
	schema := schemaDump(t, e)
	if len(before["rm_risks_gen"]) == 0 || len(before["rm_responses_gen"]) == 0 ||
		len(before["rm_decisions_gen"]) == 0 || len(before["rm_decision_subjects_gen"]) == 0 || len(before["rm_decision_effects_gen"]) == 0 {
		t.Fatalf("the workload left a read-model table empty: %v", rowCounts(before))
	}

	// Small buffers: the rebuild writes rows many times over, in small
	// transactions, and reads back rows it wrote earlier.
	defer projection.SetRebuildLimits(50, 7)()
	var progress []projection.Progress
	res, err := projection.Rebuild(context.Background(), projection.RebuildConfig{
		Store: e.store, Projections: projection.Builtin(), BatchSize: 100, Logger: quietLogger(),
		Progress: func(p projection.Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM events").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if res.Events != total || res.Position != e.last || len(res.Generations) != len(projection.Builtin()) || len(progress) < int(total/100) ||
		progress[len(progress)-1].Done != total {
		t.Errorf("rebuild result %+v after %d progress reports (last %+v); the log holds %d events up to %s",
			res, len(progress), progress[len(progress)-1], total, e.last)
	}
	for name := range readModelTables {
		if gen := generation(t, e.pool, name); gen != 2 || res.Generations[name] != 2 {
			t.Errorf("%s: generation %d active after the rebuild, want 2", name, gen)
		}
		for _, table := range readModelTables[name] {
			if old := tableDump(t, e.pool, table, 1); len(old) != 0 {
				t.Errorf("%s: %d rows of the old generation left", table, len(old))
			}
		}
	}
	after := dumpAll(t, e)
	for table, rows := range before {
		if !reflect.DeepEqual(rows, after[table]) {
			t.Errorf("%s differs after the rebuild: %d rows before, %d after", table, len(rows), len(after[table]))
		}
	}
	// The partitions a rebuild fills detached are attached again with the
	// indexes and constraints of the migrations, and nothing else.
	if got := schemaDump(t, e); !reflect.DeepEqual(got, schema) {
		t.Errorf("the read models' schema after the rebuild:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(schema, "\n"))
	}

	// The runner follows the swap and keeps the new generation up to date.
	e.steps(60)
	e.waitCaughtUp()
	e.assertFoldEqual()
}

func rowCounts(dump map[string][]string) map[string]int {
	out := make(map[string]int)
	for table, rows := range dump {
		out[table] = len(rows)
	}
	return out
}

// A rebuild while the log grows and the runner applies it catches up in the
// swap: the read models end up equal to a fold of the whole log.
func TestRebuildWhileAppending(t *testing.T) {
	e := newEnv(t)
	start(t, runnerConfig(e.store))
	e.steps(200)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := e.work.Step(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	_, err := projection.Rebuild(context.Background(), projection.RebuildConfig{
		Store: e.store, Projections: projection.Builtin(), BatchSize: 20, Logger: quietLogger()})
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp()
	e.assertFoldEqual()
}

// Readers that query all along a rebuild and its swap always see the whole
// register: never an error, never an empty or partial one.
func TestSwapWhileReading(t *testing.T) {
	e := newEnv(t)
	start(t, runnerConfig(e.store))
	e.steps(300)
	e.waitCaughtUp()
	ctx := context.Background()
	want, err := readAll(readerLister(ctx, e.reader))
	if err != nil {
		t.Fatal(err)
	}
	// The register as of now, from the temporal read models, is read
	// during the rebuild too.
	past := e.reader.At(time.Now())

	var reads atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := checkWhole(ctx, e.reader, want); err != nil {
					errs <- err
					return
				}
				if err := checkPast(ctx, past, want); err != nil {
					errs <- err
					return
				}
				reads.Add(1)
			}
		})
	}
	readsBefore := reads.Load()
	_, err = projection.Rebuild(ctx, projection.RebuildConfig{
		Store: e.store, Projections: projection.Builtin(), BatchSize: 25, Logger: quietLogger(),
		// Let the readers read while each batch is in the shadow.
		Progress: func(projection.Progress) {
			for n := reads.Load(); reads.Load() < n+2 && len(errs) == 0; {
				time.Sleep(time.Millisecond)
			}
		}})
	for n := reads.Load(); reads.Load() < n+5 && len(errs) == 0; {
		time.Sleep(time.Millisecond) // and after the swap
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if reads.Load()-readsBefore < 10 {
		t.Errorf("only %d reads during the rebuild", reads.Load()-readsBefore)
	}
	if gen := generation(t, e.pool, projection.NameRisks); gen != 2 {
		t.Errorf("generation %d active, want 2", gen)
	}
	got, err := readAll(readerLister(ctx, e.reader))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		diffModels(t, got, want)
	}
}

// checkWhole reads the register, its heat map and the decisions, and
// checks them against want.
func checkWhole(ctx context.Context, r *projection.Reader, want readModel) error {
	page, err := r.Risks(ctx, projection.RiskFilter{}, projection.MaxPageSize, "")
	if err != nil {
		return err
	}
	if page.TotalCount != len(want.Risks) || len(page.Items) != min(len(want.Risks), projection.MaxPageSize) ||
		!reflect.DeepEqual(page.Items, want.Risks[:len(page.Items)]) {
		return errors.New("a read of the register during the rebuild differs from the register")
	}
	h, err := r.HeatMap(ctx, domain.RatingKindInherent)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(h, want.HeatMaps[0]) {
		return errors.New("a read of the heat map during the rebuild differs from the heat map")
	}
	decisions, err := r.Decisions(ctx, "", projection.MaxPageSize, "")
	if err != nil {
		return err
	}
	if decisions.TotalCount != len(want.Decisions) {
		return errors.New("a read of the decisions during the rebuild misses some")
	}
	responses, err := r.ResponsesByRisk(ctx, []string{want.Risks[0].ID})
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(responses[want.Risks[0].ID], want.Responses[want.Risks[0].ID]) {
		return errors.New("a read of a risk's responses during the rebuild differs")
	}
	return nil
}

// A rebuild that fails on an event changes nothing that readers see, and
// gives up its shadow generation; a second rebuild of a projection waits for
// no one: it fails at once while the first runs.
func TestRebuildFailureAndExclusion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start(t, runnerConfig(e.store))
	e.steps(100)
	if _, err := e.store.Append(ctx, eventstore.StreamAppend{StreamID: "poison-1", StreamType: "poison",
		Expected: eventstore.NoStream, Events: []eventstore.Event{{Type: "Poisoned", Data: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	e.steps(20)
	e.waitCaughtUp()
	before := dumpAll(t, e)

	_, err := projection.Rebuild(ctx, projection.RebuildConfig{Store: e.store, BatchSize: 30, Logger: quietLogger(),
		Projections: []projection.Projection{&poisoned{Projection: projection.Risks()}}})
	var ee *projection.EventError
	if !errors.As(err, &ee) || ee.Type != "Poisoned" || ee.Projection != projection.NameRisks {
		t.Fatalf("rebuild over a poisoned event = %v, want an *EventError for it", err)
	}
	statuses, err := projection.ReadStatus(ctx, e.pool, projection.NameRisks)
	if err != nil {
		t.Fatal(err)
	}
	if s := statuses[0]; s.Generation != 1 || s.BuildingGeneration != 0 {
		t.Errorf("after the failed rebuild: generation %d active, %d building; want 1 and none", s.Generation, s.BuildingGeneration)
	}
	if got := dumpAll(t, e); !reflect.DeepEqual(got, before) {
		t.Errorf("the failed rebuild changed the read models: %v, before %v", rowCounts(got), rowCounts(before))
	}
	if rows := tableDump(t, e.pool, "rm_risks_gen", 2); len(rows) != 0 {
		t.Errorf("the failed rebuild left %d rows of its shadow generation", len(rows))
	}

	// One rebuild at a time.
	inFirst := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	first := make(chan error, 1)
	go func() {
		_, err := projection.Rebuild(ctx, projection.RebuildConfig{Store: e.store, BatchSize: 10, Logger: quietLogger(),
			Projections: []projection.Projection{projection.Decisions()},
			Progress: func(projection.Progress) {
				once.Do(func() { close(inFirst) })
				<-release
			}})
		first <- err
	}()
	<-inFirst
	_, err = projection.Rebuild(ctx, projection.RebuildConfig{Store: e.store, Logger: quietLogger(),
		Projections: projection.Builtin()})
	close(release)
	if !errors.Is(err, projection.ErrRebuildRunning) {
		t.Errorf("a second rebuild of decisions = %v, want ErrRebuildRunning", err)
	}
	if err := <-first; err != nil {
		t.Errorf("the first rebuild: %v", err)
	}
	if gen := generation(t, e.pool, projection.NameDecisions); gen != 2 {
		t.Errorf("decisions: generation %d active, want 2", gen)
	}
}

// A rebuild of an empty log swaps in empty read models at the start.
func TestRebuildEmptyLog(t *testing.T) {
	e := newEnv(t)
	res, err := projection.Rebuild(context.Background(), projection.RebuildConfig{Store: e.store,
		Projections: projection.Builtin(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 0 || !res.Position.IsZero() || res.Generations[projection.NameRisks] != 2 {
		t.Errorf("rebuild of an empty log: %+v", res)
	}
	page, err := e.reader.Risks(context.Background(), projection.RiskFilter{}, 10, "")
	if err != nil || page.TotalCount != 0 || len(page.Items) != 0 {
		t.Errorf("risks after rebuilding an empty log: %+v, %v", page, err)
	}
	// A runner started afterwards applies the log to the new generation.
	e.steps(20)
	start(t, runnerConfig(e.store))
	e.waitCaughtUp()
	e.assertFoldEqual()
}

// checkPast reads the register and a heat map as of an instant after the
// workload from the temporal read models, and checks them against want.
func checkPast(ctx context.Context, p *projection.Past, want readModel) error {
	page, err := p.Risks(ctx, projection.RiskFilter{}, projection.MaxPageSize, "")
	if err != nil {
		return err
	}
	if page.TotalCount != len(want.Risks) || !reflect.DeepEqual(page.Items, want.Risks[:len(page.Items)]) {
		return errors.New("a read of the register as of now during the rebuild differs from the register")
	}
	h, err := p.HeatMap(ctx, domain.RatingKindInherent)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(h, want.HeatMaps[0]) {
		return errors.New("a read of the heat map as of now during the rebuild differs from the heat map")
	}
	return nil
}
