package projection

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/eventstore"
)

// The temporal read models (see docs/projections.md, "Time travel"): every
// version of every row of a stream model, valid in the log from the event
// that made it to the next event of its stream, and counters of how many
// rows each group of the filters and each heat-map cell held after every
// event that changed it.

// historyModel keeps the versions of a streamModel's rows.
type historyModel[R any] struct {
	table   string   // e.g. rm_risk_history_gen
	key     string   // the stream id column, e.g. risk_id
	columns []string // the row's columns (as the current table's) then historyColumns
	row     func(gen int64, r *R) ([]any, error)
	// counters returns the counters a row counts in; nil when the model
	// keeps none.
	counters func(r *R) []counterKey
}

// historyColumns follow a version's row columns in its history table.
var historyColumns = []string{"event_id", "from_pos", "from_at", "to_pos", "to_at"}

// counterKey names a counter of rm_risk_counts_gen. A group counter also
// carries the group's columns in rm_risk_groups_gen; a heat-map cell's
// carries none.
type counterKey struct {
	key   string
	group *riskGroup
}

// riskGroup is a group of risks that the register's filters tell apart.
type riskGroup struct {
	band            string // "" for none
	status          string
	flagged         bool
	owner, category string
}

// version is one version of a row and its validity interval: from the
// event that made it until the next event of its stream (open: zero to).
type version[R any] struct {
	row     R
	eventID uuid.UUID
	from    eventstore.Position
	fromAt  time.Time
	to      eventstore.Position
	toAt    time.Time
}

// closing ends the open version of a stream that is in the table already.
type closing struct {
	id      string
	version int64
	to      eventstore.Position
	toAt    time.Time
}

// counterDelta is a change of a counter by one event.
type counterDelta struct {
	key string
	at  time.Time
	pos eventstore.Position
	d   int64
}

// historyState is what a fold adds to the history.
type historyState[R any] struct {
	closed []version[R]           // versions whose end is known
	open   map[string]*version[R] // the last version of each stream, still open
	closes []closing
	deltas []counterDelta
	groups map[string]*riskGroup // the groups whose counts changed, by counter
	// cum holds the counters' values before deltas: absolute in a
	// rebuild's buffer, which counted every event of the generation;
	// relative to the values in the table when relative is true.
	cum      map[string]int64
	relative bool
}

func newHistoryState[R any]() historyState[R] {
	return historyState[R]{open: make(map[string]*version[R]), groups: make(map[string]*riskGroup), cum: make(map[string]int64)}
}

// record adds to st the version of its stream that event e made: next, after
// the stream's version prev (0 for a new stream), which counted in before.
// It returns the counters next counts in (nil when the model keeps none).
func (h *historyModel[R]) record(st *historyState[R], e eventstore.RecordedEvent, prev int, before []counterKey, next *R) []counterKey {
	if v, ok := st.open[e.StreamID]; ok {
		v.to, v.toAt = e.Position, e.RecordedAt
		st.closed = append(st.closed, *v)
	} else if prev > 0 {
		st.closes = append(st.closes, closing{id: e.StreamID, version: int64(prev), to: e.Position, toAt: e.RecordedAt})
	}
	st.open[e.StreamID] = &version[R]{row: *next, eventID: e.ID, from: e.Position, fromAt: e.RecordedAt}
	if h.counters == nil {
		return nil
	}
	after := h.counters(next)
	change := func(from, to []counterKey, d int64) {
		for _, k := range from {
			if !slices.ContainsFunc(to, func(o counterKey) bool { return o.key == k.key }) {
				st.deltas = append(st.deltas, counterDelta{key: k.key, at: e.RecordedAt, pos: e.Position, d: d})
				if k.group != nil {
					st.groups[k.key] = k.group
				}
			}
		}
	}
	change(before, after, -1)
	change(after, before, 1)
	return after
}

// countRow is a counter's value after one event.
type countRow struct {
	key string
	at  time.Time
	pos eventstore.Position
	n   int64
}

// countRows returns the counter rows of st's deltas, which it removes, and
// moves st's counter values on by them.
func (st *historyState[R]) countRows() []countRow {
	counts := make([]countRow, len(st.deltas))
	for i, d := range st.deltas {
		st.cum[d.key] += d.d
		counts[i] = countRow{key: d.key, at: d.at, pos: d.pos, n: st.cum[d.key]}
	}
	st.deltas = nil
	return counts
}

// final returns the number of rows of st that no later event changes: the
// versions already closed, the closes and the counter rows.
func (st *historyState[R]) final() int {
	return len(st.closed) + len(st.closes) + len(st.deltas)
}

// drain returns the writes of the rows of st that no later event changes
// (see final), in pieces of at most chunk rows, and removes them from st;
// the open versions and the groups stay. A rebuild drains its buffer as it
// folds: every version is then written once, closed, and never updated.
func (h *historyModel[R]) drain(st *historyState[R], chunk int) []Changes {
	var out []Changes
	for piece := range slices.Chunk(st.closed, chunk) {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, versions: piece})
	}
	st.closed = nil
	for piece := range slices.Chunk(st.closes, chunk) {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, closes: piece})
	}
	st.closes = nil
	for piece := range slices.Chunk(st.countRows(), chunk) {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, counts: piece})
	}
	return out
}

// take returns the writes of what st holds, in pieces of at most chunk rows,
// and empties it, keeping the counters' values.
func (h *historyModel[R]) take(st *historyState[R], chunk int) []Changes {
	counts := st.countRows()
	var groups map[string]groupCount
	if len(st.groups) > 0 {
		groups = make(map[string]groupCount, len(st.groups))
		for k, g := range st.groups {
			groups[k] = groupCount{riskGroup: g, n: st.cum[k]}
		}
	}
	var out []Changes
	versions := st.closed
	for _, v := range st.open {
		versions = append(versions, *v)
	}
	if len(versions) <= chunk && len(st.closes) <= chunk && len(counts) <= chunk {
		// One piece (a live batch): written in one round trip.
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, versions: versions, closes: st.closes, counts: counts, groups: groups})
		versions, st.closes, counts, groups = nil, nil, nil, nil
	}
	for piece := range slices.Chunk(versions, chunk) {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, versions: piece})
	}
	for piece := range slices.Chunk(st.closes, chunk) {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, closes: piece})
	}
	for piece := range slices.Chunk(counts, chunk) {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, counts: piece})
	}
	if groups != nil {
		out = append(out, &historyChanges[R]{h: h, relative: st.relative, groups: groups})
	}
	cum := st.cum
	*st = newHistoryState[R]()
	st.cum = cum
	return out
}

// historyChanges writes versions, closes the open versions of streams that
// changed, and writes counters and new groups.
type historyChanges[R any] struct {
	h *historyModel[R]
	// relative: the values of counts and groups are relative to the
	// values in the table, which the writes add (a live batch need not
	// read them first).
	relative bool
	versions []version[R]
	closes   []closing
	counts   []countRow
	groups   map[string]groupCount
}

// groupCount is a group and the number of risks it holds.
type groupCount struct {
	*riskGroup
	n int64
}

// historyChanges writes more than copyCounts counter rows with COPY, fewer
// in the round trip of the other writes.
const copyCounts = 100

// countColumns are the columns of rm_risk_counts_gen.
var countColumns = []string{"slot", "generation", "counter", "at", "pos", "n"}

// infinity is the to_at of a version that is still current.
var infinity = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}

// versionRows returns the rows of c's versions in generation gen.
func (c *historyChanges[R]) versionRows(gen int64) ([][]any, error) {
	rows := make([][]any, 0, len(c.versions))
	for i := range c.versions {
		v := &c.versions[i]
		row, err := c.h.row(gen, &v.row)
		if err != nil {
			return nil, err
		}
		var to, toAt any = nil, infinity
		if !v.to.IsZero() {
			to, toAt = v.to.String(), v.toAt
		}
		rows = append(rows, append(row, pgUUID(v.eventID), v.from.String(), v.fromAt, to, toAt))
	}
	return rows, nil
}

func (c *historyChanges[R]) queueable() bool { return len(c.versions) <= queueRows }

func (c *historyChanges[R]) queue(b *pgx.Batch, gen int64) error {
	rows, err := c.versionRows(gen)
	if err != nil {
		return err
	}
	queueInsert(b, partitionOf(c.h.table, gen), c.h.columns, rows)
	c.queueRest(b, gen, true)
	return nil
}

// Write writes the changes to generation gen in tx.
func (c *historyChanges[R]) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	rows, err := c.versionRows(gen)
	if err != nil {
		return err
	}
	// Into the partition itself: a rebuild fills it detached (see
	// detachBulk).
	if err := copyRows(ctx, tx, partitionOf(c.h.table, gen), c.h.columns, rows); err != nil {
		return err
	}
	copied := !c.relative && len(c.counts) > copyCounts
	if copied {
		rows := make([][]any, len(c.counts))
		for i, r := range c.counts {
			rows[i] = []any{slotOf(gen), gen, r.key, r.at, r.pos.String(), r.n}
		}
		if err := copyRows(ctx, tx, partitionOf("rm_risk_counts_gen", gen), countColumns, rows); err != nil {
			return err
		}
	}
	// The rest goes in one round trip: a live batch writes a little of each.
	batch := &pgx.Batch{}
	c.queueRest(batch, gen, !copied)
	if batch.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("projection: write the history of %s: %w", c.h.table, err)
	}
	return nil
}

// queueRest queues on batch the closes, the groups and, when counts is
// true, the counter rows.
func (c *historyChanges[R]) queueRest(batch *pgx.Batch, gen int64, counts bool) {
	if len(c.closes) > 0 {
		ids, versions, tos, toAts := make([]string, len(c.closes)), make([]int64, len(c.closes)),
			make([]string, len(c.closes)), make([]time.Time, len(c.closes))
		for i, cl := range c.closes {
			ids[i], versions[i], tos[i], toAts[i] = cl.id, cl.version, cl.to.String(), cl.toAt
		}
		sql := fmt.Sprintf(`UPDATE %[1]s h SET to_pos = c.to_pos, to_at = c.to_at
			FROM unnest($3::text[], $4::bigint[], $5::text[], $6::timestamptz[]) AS c(id, version, to_pos, to_at)
			WHERE h.slot = $1 AND h.generation = $2 AND h.%[2]s = c.id AND h.version = c.version`,
			pgx.Identifier{partitionOf(c.h.table, gen)}.Sanitize(), pgx.Identifier{c.h.key}.Sanitize())
		batch.Queue(sql, slotOf(gen), gen, ids, versions, tos, toAts).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(len(c.closes)) {
				return fmt.Errorf("projection: %s holds %d of the %d versions to close", c.h.table, tag.RowsAffected(), len(c.closes))
			}
			return nil
		})
	}
	if counts && len(c.counts) > 0 {
		keys, ats, poss, ns := make([]string, len(c.counts)), make([]time.Time, len(c.counts)),
			make([]string, len(c.counts)), make([]int64, len(c.counts))
		for i, r := range c.counts {
			keys[i], ats[i], poss[i], ns[i] = r.key, r.at, r.pos.String(), r.n
		}
		sql := `INSERT INTO ` + pgx.Identifier{partitionOf("rm_risk_counts_gen", gen)}.Sanitize() + ` (slot, generation, counter, at, pos, n)
			SELECT $1, $2, * FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::bigint[])`
		if c.relative {
			// Each counter's last row as the statement starts (one backward
			// probe per row), plus the value relative to it.
			sql = `INSERT INTO rm_risk_counts_gen (slot, generation, counter, at, pos, n)
				SELECT $1, $2, d.counter, d.at, d.pos, COALESCE(b.n, 0) + d.n
				FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::bigint[]) AS d(counter, at, pos, n)
				LEFT JOIN LATERAL (SELECT n FROM rm_risk_counts_gen c WHERE c.slot = $1 AND c.generation = $2
					AND c.counter = d.counter ORDER BY c.at DESC, c.pos DESC LIMIT 1) b ON true`
		}
		batch.Queue(sql, slotOf(gen), gen, keys, ats, poss, ns)
	}
	if len(c.groups) > 0 {
		// In key order, so that concurrent writers never wait for each other
		// in a circle.
		var keys, bands, statuses, owners, categories []string
		var flagged []bool
		var ns []int64
		for _, k := range slices.Sorted(maps.Keys(c.groups)) {
			g := c.groups[k]
			keys, bands, statuses = append(keys, k), append(bands, g.band), append(statuses, g.status)
			owners, categories, flagged = append(owners, g.owner), append(categories, g.category), append(flagged, g.flagged)
			ns = append(ns, g.n)
		}
		sql := `INSERT INTO rm_risk_groups_gen (slot, generation, counter, band, status, flagged, owner, category, n)
			SELECT $1, $2, k, NULLIF(b, ''), s, f, o, c, n
			FROM unnest($3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::text[], $9::bigint[]) AS g(k, b, s, f, o, c, n)
			ON CONFLICT (generation, counter, slot) DO UPDATE SET n = EXCLUDED.n`
		if c.relative {
			sql = strings.TrimSuffix(sql, "EXCLUDED.n") + "rm_risk_groups_gen.n + EXCLUDED.n"
		}
		batch.Queue(sql, slotOf(gen), gen, keys, bands, statuses, flagged, owners, categories, ns)
	}
}
