package projection_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/internal/workload"
	"github.com/riskreg/riskreg/projection"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is a fresh database with a store, a reader and a workload on it.
type env struct {
	t      testing.TB
	url    string
	pool   *pgxpool.Pool
	store  *eventstore.Store
	reader *projection.Reader
	work   *workload.Workload
	last   eventstore.Position // of the workload's last append
}

func newEnv(t testing.TB) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	e := &env{t: t, url: url}
	e.pool, e.store = openStore(t, url)
	e.reader = projection.NewReader(e.store)
	e.work = workload.New(uint64(time.Now().UnixNano()), workload.StoreSink(e.store, &e.last))
	return e
}

// openStore opens a pool and a store on url, as one process would.
func openStore(t testing.TB, url string) (*pgxpool.Pool, *eventstore.Store) {
	t.Helper()
	return regtest.Open(t, url)
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runnerConfig is a runner configuration quick enough for tests.
func runnerConfig(store *eventstore.Store) projection.Config {
	return projection.Config{
		Store: store, LockRetryInterval: 20 * time.Millisecond, LockCheckInterval: 50 * time.Millisecond,
		MinRetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond, Logger: quietLogger(),
	}
}

// start runs a runner until the test ends or the returned stop is called;
// stop waits for it to return.
func start(t testing.TB, cfg projection.Config) (stop func()) {
	t.Helper()
	r, err := projection.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// steps runs n random workload commands.
func (e *env) steps(n int) {
	e.t.Helper()
	for range n {
		if err := e.work.Step(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
}

// waitCaughtUp waits until the built-in projections applied the workload.
func (e *env) waitCaughtUp() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.reader.WaitFor(ctx, e.last); err != nil {
		e.t.Fatal(err)
	}
}

// readModel is everything the read models say, read through a Reader or a
// Snapshot.
type readModel struct {
	Risks              []projection.Risk
	Responses          map[string][]projection.Response
	Decisions          []projection.Decision
	DecisionsBySubject map[string][]projection.Decision
	Effects            map[string][]projection.Effect
	HeatMaps           []projection.HeatMap
}

// lister is what Reader and Snapshot both answer, wrapped to one shape.
type lister struct {
	risks              func(projection.RiskFilter, int, string) (projection.Page[projection.Risk], error)
	decisions          func(domain.Body, int, string) (projection.Page[projection.Decision], error)
	responsesByRisk    func([]string) (map[string][]projection.Response, error)
	decisionsBySubject func([]string) (map[string][]projection.Decision, error)
	effects            func([]string) (map[string][]projection.Effect, error)
	heatMap            func(domain.RatingKind) (projection.HeatMap, error)
}

func readerLister(ctx context.Context, r *projection.Reader) lister {
	return lister{
		risks: func(f projection.RiskFilter, n int, after string) (projection.Page[projection.Risk], error) {
			return r.Risks(ctx, f, n, after)
		},
		decisions: func(b domain.Body, n int, after string) (projection.Page[projection.Decision], error) {
			return r.Decisions(ctx, b, n, after)
		},
		responsesByRisk: func(ids []string) (map[string][]projection.Response, error) {
			return r.ResponsesByRisk(ctx, ids)
		},
		decisionsBySubject: func(ids []string) (map[string][]projection.Decision, error) {
			return r.DecisionsBySubject(ctx, ids)
		},
		effects: func(ids []string) (map[string][]projection.Effect, error) { return r.Effects(ctx, ids) },
		heatMap: func(k domain.RatingKind) (projection.HeatMap, error) { return r.HeatMap(ctx, k) },
	}
}

func snapshotLister(s *projection.Snapshot) lister {
	return lister{
		risks:     s.Risks,
		decisions: s.Decisions,
		responsesByRisk: func(ids []string) (map[string][]projection.Response, error) {
			return s.ResponsesByRisk(ids), nil
		},
		decisionsBySubject: func(ids []string) (map[string][]projection.Decision, error) {
			return s.DecisionsBySubject(ids), nil
		},
		effects: func(ids []string) (map[string][]projection.Effect, error) { return s.Effects(ids), nil },
		heatMap: s.HeatMap,
	}
}

// readAll reads the whole read model through l, page by page.
func readAll(l lister) (readModel, error) {
	var m readModel
	for after := ""; ; {
		page, err := l.risks(projection.RiskFilter{}, 7, after)
		if err != nil {
			return m, err
		}
		m.Risks = append(m.Risks, page.Items...)
		if !page.HasNextPage {
			if page.TotalCount != len(m.Risks) {
				return m, errors.New("risks: total count differs from the risks paged through")
			}
			break
		}
		after = page.Items[len(page.Items)-1].Cursor()
	}
	for after := ""; ; {
		page, err := l.decisions("", 5, after)
		if err != nil {
			return m, err
		}
		m.Decisions = append(m.Decisions, page.Items...)
		if !page.HasNextPage {
			break
		}
		after = page.Items[len(page.Items)-1].Cursor()
	}
	var ids, subjects, decisionIDs []string
	for _, r := range m.Risks {
		ids = append(ids, r.ID)
	}
	var err error
	if m.Responses, err = l.responsesByRisk(ids); err != nil {
		return m, err
	}
	subjects = append(subjects, ids...)
	for _, rs := range m.Responses {
		for _, s := range rs {
			subjects = append(subjects, s.ID)
		}
	}
	if m.DecisionsBySubject, err = l.decisionsBySubject(subjects); err != nil {
		return m, err
	}
	for _, d := range m.Decisions {
		decisionIDs = append(decisionIDs, d.ID)
	}
	if m.Effects, err = l.effects(decisionIDs); err != nil {
		return m, err
	}
	for _, kind := range []domain.RatingKind{domain.RatingKindInherent, domain.RatingKindResidual, domain.RatingKindTarget} {
		h, err := l.heatMap(kind)
		if err != nil {
			return m, err
		}
		m.HeatMaps = append(m.HeatMaps, h)
	}
	return m, nil
}

// assertFoldEqual checks that the read models hold exactly what folding the
// whole log with the domain's aggregates gives, and that they agree with the
// aggregates the workload folded as it wrote.
func (e *env) assertFoldEqual() {
	e.t.Helper()
	ctx := context.Background()
	got, err := readAll(readerLister(ctx, e.reader))
	if err != nil {
		e.t.Fatal(err)
	}
	snap, err := e.reader.AsOf(ctx, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	want, err := readAll(snapshotLister(snap))
	if err != nil {
		e.t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		diffModels(e.t, got, want)
	}
	if len(got.Risks) != len(e.work.Risks()) {
		e.t.Errorf("read model has %d risks, the workload wrote %d", len(got.Risks), len(e.work.Risks()))
	}
	for _, r := range got.Risks {
		a := e.work.Risks()[r.ID]
		if a == nil || a.Version() != r.Version || a.Status() != r.Status || a.Title() != r.Title {
			e.t.Errorf("risk %s in the read model: version %d, %s, %q; the workload has %+v", r.ID, r.Version, r.Status, r.Title, a)
		}
	}
	n := 0
	for _, rs := range got.Responses {
		for _, s := range rs {
			n++
			if a := e.work.Responses()[s.ID]; a == nil || a.Version() != s.Version || a.Status() != s.Status {
				e.t.Errorf("response %s in the read model: version %d, %s; the workload has %+v", s.ID, s.Version, s.Status, a)
			}
		}
	}
	if n != len(e.work.Responses()) || len(got.Decisions) != len(e.work.Decisions()) {
		e.t.Errorf("read model has %d responses and %d decisions, the workload wrote %d and %d",
			n, len(got.Decisions), len(e.work.Responses()), len(e.work.Decisions()))
	}
}

// diffModels reports the first differences between two read models.
func diffModels(t testing.TB, got, want readModel) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s differ:\n got: %+v\nwant: %+v", name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
}

// tableDump returns every row of generation gen of a read-model table, as
// JSON without the generation and its slot, in key order.
func tableDump(t testing.TB, pool *pgxpool.Pool, table string, gen int64) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		"SELECT (to_jsonb(t) - 'generation' - 'slot')::text FROM "+pgx.Identifier{table}.Sanitize()+" t WHERE generation = $1 ORDER BY 1", gen)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// generation returns the active generation of a projection.
func generation(t testing.TB, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	var gen int64
	if err := pool.QueryRow(context.Background(), "SELECT active_generation FROM rm_projections WHERE name = $1", name).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	return gen
}
