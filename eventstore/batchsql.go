package eventstore

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readBatchState begins the transaction and, in one round trip, locks the
// heads of the batch's existing streams (in stream id order, so writers never
// deadlock on them), finds which of its event ids are stored already, and
// locks the counters its numbered requests take values from (nil: none).
func readBatchState(ctx context.Context, conn *pgxpool.Conn, batch []*appendRequest) (
	heads map[string]*streamHead, existing map[uuid.UUID]existingEvent, ctrs *counters, err error,
) {
	var streamIDs, evStreams, evTypes, datas []string
	var ids []pgtype.UUID
	var schemas []int32
	for _, r := range batch {
		for _, sa := range r.streams {
			streamIDs = append(streamIDs, sa.StreamID)
			for _, e := range sa.Events {
				ids = append(ids, pgUUID(e.ID))
				evStreams = append(evStreams, sa.StreamID)
				evTypes = append(evTypes, e.Type)
				schemas = append(schemas, int32(e.SchemaVersion))
				datas = append(datas, string(e.Data))
			}
		}
	}
	slices.Sort(streamIDs)
	streamIDs = slices.Compact(streamIDs)

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT stream_id, stream_type, version, last_hash FROM streams
		WHERE stream_id = ANY($1) ORDER BY stream_id FOR UPDATE`, streamIDs)
	b.Queue(`SELECT `+eventColumns+`,
			(e.stream_id = u.stream_id AND e.type = u.type AND e.schema_version = u.schema_version AND e.data = u.data::jsonb)
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[]) AS u(id, stream_id, type, schema_version, data)
		JOIN events e ON e.event_id = u.id`, ids, evStreams, evTypes, schemas, datas)
	ctrs = queueLock(b, batch)
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()

	if _, err = br.Exec(); err != nil {
		return nil, nil, nil, err
	}
	heads = make(map[string]*streamHead, len(streamIDs))
	rows, _ := br.Query()
	var h streamHead
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id, &h.streamType, &h.version, &h.hash}, func() error {
		heads[id] = &streamHead{streamType: h.streamType, version: h.version, hash: h.hash}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}

	existing = make(map[uuid.UUID]existingEvent)
	rows, _ = br.Query()
	var same bool
	sc := newEventScanner(&same)
	for rows.Next() {
		rec, err := sc.scan(rows)
		if err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		existing[rec.ID] = existingEvent{rec: rec, same: same}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	if ctrs != nil {
		rows, _ = br.Query()
		if err := ctrs.readLocked(rows); err != nil {
			return nil, nil, nil, err
		}
	}
	return heads, existing, ctrs, nil
}

// insertBatch writes the planned events, the new stream heads and the
// counters that moved, and commits, in one round trip. inTx says whether the
// batch's transaction is open already (the fresh path read in it); if not,
// the statements run in the implicit transaction that PostgreSQL gives a
// pipeline up to its Sync: all of them or none, and no BEGIN or COMMIT to
// execute.
func insertBatch(ctx context.Context, conn *pgxpool.Conn, recs []*RecordedEvent, heads map[string]*streamHead, ctrs *counters, inTx bool) error {
	n := len(recs)
	var (
		ids                                        = make([]pgtype.UUID, n)
		streamIDs, streamTypes, types              = make([]string, n), make([]string, n), make([]string, n)
		datas, extras, actors, corrs, causes, decs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		reqs                                       = make([]string, n)
		versions                                   = make([]int64, n)
		schemas                                    = make([]int32, n)
		occurred                                   = make([]time.Time, n)
		prevs, hashes                              = make([][]byte, n), make([][]byte, n)
	)
	// A stream whose first event here is version 1 is new: its head is
	// inserted; the others' heads are updated. (A plain INSERT is cheaper
	// than an upsert; a stream wrongly taken for new fails on the events'
	// unique key first.)
	firstVersion := make(map[string]int64)
	for i, r := range recs {
		ids[i], streamIDs[i], streamTypes[i], versions[i], types[i] = pgUUID(r.ID), r.StreamID, r.StreamType, r.Version, r.Type
		schemas[i], datas[i], extras[i], occurred[i] = int32(r.SchemaVersion), string(r.Data), string(r.Metadata.Extra), r.OccurredAt
		actors[i], corrs[i], causes[i], decs[i], reqs[i] = r.Metadata.Actor, r.Metadata.CorrelationID, r.Metadata.CausationID, r.Metadata.DecisionID, r.Metadata.RequestID
		prevs[i], hashes[i] = r.PrevHash, r.Hash
		if _, seen := firstVersion[r.StreamID]; !seen {
			firstVersion[r.StreamID] = r.Version
		}
	}
	var added, moved headColumns
	for id, first := range firstVersion {
		h := heads[id]
		if first == 1 {
			added.add(id, h)
		} else {
			moved.add(id, h)
		}
	}

	b := &pgx.Batch{}
	b.Queue(`INSERT INTO events (event_id, stream_id, stream_type, version, type, schema_version, data, metadata,
			actor, correlation_id, causation_id, decision_id, request_id, occurred_at, prev_hash, hash)
		SELECT id, sid, st, v, t, sv, d::jsonb, m::jsonb, a, NULLIF(c, ''), NULLIF(ca, ''), NULLIF(de, ''), NULLIF(r, ''), o, p, h
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::bytea[], $16::bytea[])
			WITH ORDINALITY AS u(id, sid, st, v, t, sv, d, m, a, c, ca, de, r, o, p, h, i)
		ORDER BY i
		RETURNING event_id, tx_id, seq, recorded_at`,
		ids, streamIDs, streamTypes, versions, types, schemas, datas, extras,
		actors, corrs, causes, decs, reqs, occurred, prevs, hashes)
	if len(added.ids) > 0 {
		b.Queue(`INSERT INTO streams (stream_id, stream_type, version, last_hash)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])`,
			added.ids, added.types, added.versions, added.hashes)
	}
	if len(moved.ids) > 0 {
		// An upsert, though every head here exists: its conflict check
		// always probes the primary key, where an UPDATE joined to the ids
		// is planned by the table's size, and pgx's statement cache kept a
		// plan made while streams was small (a sequential scan of it).
		b.Queue(`INSERT INTO streams (stream_id, stream_type, version, last_hash)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])
			ON CONFLICT (stream_id) DO UPDATE
			SET version = EXCLUDED.version, last_hash = EXCLUDED.last_hash, updated_at = clock_timestamp()`,
			moved.ids, moved.types, moved.versions, moved.hashes)
	}
	counted := ctrs.queue(b)
	if inTx {
		b.Queue("COMMIT")
	}
	br := conn.SendBatch(ctx, b)

	byID := make(map[uuid.UUID]*RecordedEvent, n)
	for _, r := range recs {
		byID[r.ID] = r
	}
	var id pgtype.UUID
	var pos Position
	var at time.Time
	rows, _ := br.Query()
	_, err := pgx.ForEachRow(rows, []any{&id, &pos.tx, &pos.seq, &at}, func() error {
		r := byID[id.Bytes]
		r.Position, r.RecordedAt = pos, at.UTC()
		return nil
	})
	if err == nil && len(added.ids) > 0 {
		_, err = br.Exec()
	}
	if err == nil && len(moved.ids) > 0 {
		_, err = br.Exec()
	}
	if err == nil && counted {
		_, err = br.Exec()
	}
	if err == nil && inTx {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// pgUUID is id as pgx encodes it in binary; a uuid.UUID is sent as text
// through its driver.Valuer and parsed again by the server.
func pgUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// headColumns are stream heads as the column arrays of one statement.
type headColumns struct {
	ids, types []string
	versions   []int64
	hashes     [][]byte
}

func (c *headColumns) add(id string, h *streamHead) {
	c.ids, c.types = append(c.ids, id), append(c.types, h.streamType)
	c.versions, c.hashes = append(c.versions, h.version), append(c.hashes, h.hash)
}
