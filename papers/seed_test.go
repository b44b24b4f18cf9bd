package papers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/internal/pgtest"
	"github.com/riskreg/riskreg/internal/regtest"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
	"github.com/riskreg/riskreg/transparency"
)

// seeded is a register whose log was written in bulk: risks registered and
// assessed over two years, reassessed at random until the log holds the
// events asked for, its read models built by a rebuild; then a previous
// Council session on the log's middle day, with a decision, and a session
// after the log with tabled items.
type seeded struct {
	env           *regtest.Env
	session, prev string
	// first and last are the recordedAt of the log's first and last
	// seeded events.
	first, last time.Time
}

// seedStart is the recordedAt of the first seeded event; the events are
// spread evenly over seedSpan.
var (
	seedStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	seedSpan  = 2 * 365 * 24 * time.Hour
)

// seedColumns are the columns of events that seed writes; tx_id, seq and
// metadata take their defaults. Hashes are placeholders: nothing here
// verifies the chain.
var seedColumns = []string{"event_id", "stream_id", "stream_type", "version", "type", "schema_version", "data",
	"actor", "occurred_at", "recorded_at", "prev_hash", "hash"}

// seed writes a log of events events over risks risks straight into the
// events table with COPY, builds the read models with projection.Rebuild,
// starts the projections and schedules the sessions. When signed, it then
// grows the Merkle tree over the whole log and signs a checkpoint of it, as
// serve's integrator does. It is deterministic but for the ids of the
// sessions' events.
func seed(tb testing.TB, risks, events int, signed bool) seeded {
	tb.Helper()
	if events < 2*risks {
		tb.Fatalf("a log of %d events cannot hold %d registered and assessed risks", events, risks)
	}
	ctx := context.Background()
	url := pgtest.NewDatabase(tb)
	pool, store := regtest.Open(tb, url)
	rng := rand.New(rand.NewPCG(13, 1))
	hash := make([]byte, 32)
	ns := uuid.MustParse("6f1d2b7c-3a52-4d7e-9a61-0c7d1b2e5f90")
	ids := make([]string, 0, risks)
	versions := make([]int64, 0, risks)
	rows := make([][]any, 0, 50_000)
	flush := func() {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"events"}, seedColumns, pgx.CopyFromRows(rows)); err != nil {
			tb.Fatal(err)
		}
		rows = rows[:0]
	}
	add := func(i, r int, e domain.Event) {
		data, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		at := seedStart.Add(time.Duration(int64(seedSpan) / int64(events) * int64(i)))
		versions[r]++
		id := uuid.NewSHA1(ns, fmt.Appendf(nil, "%s/%d", ids[r], versions[r]))
		rows = append(rows, []any{pgtype.UUID{Bytes: id, Valid: true}, ids[r], domain.StreamRisk, versions[r], e.EventType(),
			int32(e.SchemaVersion()), data, "seed", at, at, hash, hash})
		if len(rows) == cap(rows) {
			flush()
		}
	}
	owners := []string{"Director", "Head of IT", "Head of Finance", "Secretary-General", "Head of HR"}
	every := events / risks // a risk is registered every so many events
	for i := 0; i < events; i++ {
		at := seedStart.Add(time.Duration(int64(seedSpan) / int64(events) * int64(i)))
		if len(ids) < risks && i >= len(ids)*every {
			r := len(ids)
			ids = append(ids, uuid.NewSHA1(ns, fmt.Appendf(nil, "risk/%d", r)).String())
			versions = append(versions, 0)
			add(i, r, domain.RiskRegistered{Reference: fmt.Sprintf("R-%05d", r+1), Title: fmt.Sprintf("Risk %d of the Audit Plan", r+1),
				Description: "cause -> event -> consequence", Category: "Operational", Source: "Audit Plan 2024", Owner: owners[r%len(owners)]})
			i++
			add(i, r, domain.RiskAssessed{Kind: domain.RatingKindInherent, Likelihood: 1 + rng.IntN(5), Impact: 1 + rng.IntN(5),
				Rationale: "initial", AssessedBy: "seed", AssessedAt: at})
			continue
		}
		kind := domain.RatingKindInherent
		if rng.IntN(10) < 3 {
			kind = domain.RatingKindResidual
		}
		add(i, rng.IntN(len(ids)), domain.RiskAssessed{Kind: kind, Likelihood: 1 + rng.IntN(5), Impact: 1 + rng.IntN(5),
			Rationale: "reassessed", AssessedBy: "seed", AssessedAt: at})
	}
	flush()
	// The stream heads, so that the register can append to the risks.
	if _, err := pool.Exec(ctx, `INSERT INTO streams (stream_id, stream_type, version, last_hash)
		SELECT stream_id, min(stream_type), max(version), $1 FROM events GROUP BY stream_id`, hash); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		tb.Fatal(err)
	}
	res, err := projection.Rebuild(ctx, projection.RebuildConfig{Store: store, Projections: projection.Builtin(), Logger: regtest.Logger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("seeded %d events over %d risks; rebuild in %s", res.Events, risks, res.Elapsed.Round(time.Millisecond))

	e := regtest.OnDatabase(tb, url)
	s := seeded{env: e, first: seedStart, last: seedStart.Add(time.Duration(int64(seedSpan) / int64(events) * int64(events-1)))}
	mid := domain.DateOf(seedStart.Add(seedSpan / 2))
	prev, err := e.Register.ScheduleSession(ctx, regtest.Staff("seed-prev"), domain.BodyCouncil, mid, "Council, 1st Session")
	if err != nil {
		tb.Fatal(err)
	}
	sess, err := e.Register.ScheduleSession(ctx, regtest.Staff("seed-now"), domain.BodyCouncil, date("2030-01-01"), "Council, 2nd Session")
	if err != nil {
		tb.Fatal(err)
	}
	s.session, s.prev = sess.ID(), prev.ID()
	for i := range min(20, risks) {
		if _, err := e.Register.TableItem(ctx, regtest.Staff(fmt.Sprint("seed-table-", i)), sess.ID(), ids[i*(risks/min(20, risks))], "item"); err != nil {
			tb.Fatal(err)
		}
	}
	accepted, err := e.Register.Risk(ctx, ids[1], register.AsOf{})
	if err != nil {
		tb.Fatal(err)
	}
	clerk := regtest.Clerk(domain.BodyCouncil)
	clerk.IdempotencyKey = "seed-accept"
	if _, err := e.Register.RecordDecision(ctx, clerk, register.DecisionInput{Body: domain.BodyCouncil, Session: prev.ID(),
		Kind: domain.DecisionKindAcceptRisk, Text: "The Council accepts the risk.", ExpiresOn: date("2031-01-01"),
		Subjects: []register.SubjectInput{{ID: ids[1], ExpectedVersion: int(accepted.Version())}}}); err != nil {
		tb.Fatal(err)
	}
	e.CaughtUp()
	if signed {
		sign(tb, e)
	}
	return s
}

// sign integrates the whole log into the Merkle tree and signs a
// checkpoint of it.
func sign(tb testing.TB, e *regtest.Env) {
	tb.Helper()
	ctx := context.Background()
	skey, _, err := transparency.GenerateKey("riskreg.test/log")
	if err != nil {
		tb.Fatal(err)
	}
	key, err := transparency.ParseSigningKey(skey)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := transparency.NewIntegrator(transparency.IntegratorConfig{Store: e.Store, Logger: regtest.Logger(),
		LockRetryInterval: 20 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(runCtx) }()
	var n int64
	if err := e.Pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	err = transparency.WaitSize(wctx, e.Pool, uint64(n), 50*time.Millisecond)
	stop()
	if rerr := <-done; err != nil || rerr != nil {
		tb.Fatalf("integrate: %v, %v", err, rerr)
	}
	if _, ok, err := transparency.SignLatest(ctx, e.Pool, key, ""); err != nil || !ok {
		tb.Fatalf("sign a checkpoint: %v (signed: %v)", err, ok)
	}
}
