package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/internal/pgretry"
)

const (
	// commitTimeout bounds one group-commit transaction, whatever the callers'
	// contexts say: once a batch is under way it is finished or rolled back.
	commitTimeout = 30 * time.Second
	// commitAttempts is how often a batch of one request is tried when the
	// database or the connection fails in a way that may pass.
	commitAttempts = 4
	maxStreamID    = 200
	maxTypeName    = 200
)

// Append records events on one or more streams in one transaction: all of
// them or none. Each stream's Expected version is checked exactly; a mismatch
// returns a *ConcurrencyError (errors.Is ErrConcurrency) and records nothing.
//
// An append whose event ids are all stored already (a client's retry) records
// nothing and returns the original result; an id stored with other content is
// a *DuplicateEventError. When ctx ends or the connection is lost while the
// append commits, the error matches ErrOutcomeUnknown: send the same events
// again to learn the outcome.
//
// Concurrent appends are committed together by the store's writers (group
// commit), so many small appends cost few transactions.
func (s *Store) Append(ctx context.Context, streams ...StreamAppend) (AppendResult, error) {
	start := time.Now()
	req, err := s.prepare(streams)
	if err != nil {
		return AppendResult{}, err
	}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	case <-s.quit:
		return AppendResult{}, ErrClosed
	}
	select {
	case out := <-req.done:
		if out.err == nil && s.cfg.ObserveAppend != nil {
			s.cfg.ObserveAppend(time.Since(start))
		}
		return out.res, out.err
	case <-ctx.Done():
		return AppendResult{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}

type appendRequest struct {
	streams   []StreamAppend // validated copies, ids and times filled in
	canonical [][]canonicalEvent
	events    int
	done      chan appendOutcome // buffered: a writer never waits on a caller
}

type appendOutcome struct {
	res AppendResult
	err error
}

// canonicalEvent is the canonical JSON of an event's data and metadata, which
// its hash covers.
type canonicalEvent struct{ data, extra []byte }

func (r *appendRequest) answer(res AppendResult, err error) {
	r.done <- appendOutcome{res: res, err: err}
}

// prepare validates an append and copies it, filling in event ids, schema
// versions and times, so that the caller's slices are never changed.
func (s *Store) prepare(streams []StreamAppend) (*appendRequest, error) {
	if len(streams) == 0 {
		return nil, invalidf("an append needs at least one stream")
	}
	now := time.Now()
	req := &appendRequest{
		streams:   make([]StreamAppend, len(streams)),
		canonical: make([][]canonicalEvent, len(streams)),
		done:      make(chan appendOutcome, 1),
	}
	seenStreams := make(map[string]bool, len(streams))
	seenIDs := make(map[uuid.UUID]bool)
	for i, sa := range streams {
		switch {
		case sa.StreamID == "":
			return nil, invalidf("stream %d: empty stream id", i)
		case len(sa.StreamID) > maxStreamID:
			return nil, invalidf("stream %d: stream id longer than %d bytes", i, maxStreamID)
		case sa.StreamType == "":
			return nil, invalidf("stream %q: empty stream type", sa.StreamID)
		case !sa.Expected.valid():
			return nil, invalidf("stream %q: unknown expected version form", sa.StreamID)
		case len(sa.Events) == 0 && sa.Numbered == nil:
			return nil, invalidf("stream %q: no events", sa.StreamID)
		case seenStreams[sa.StreamID]:
			return nil, invalidf("stream %q appears twice in one append", sa.StreamID)
		}
		seenStreams[sa.StreamID] = true
		if sa.Numbered != nil {
			if err := s.prepareNumbered(&sa); err != nil {
				return nil, err
			}
		}
		events := make([]Event, len(sa.Events))
		req.canonical[i] = make([]canonicalEvent, len(sa.Events))
		for j, e := range sa.Events {
			c, err := s.prepareEvent(&e, now)
			if err != nil {
				return nil, fmt.Errorf("stream %q event %d: %w", sa.StreamID, j, err)
			}
			req.canonical[i][j] = c
			if seenIDs[e.ID] {
				return nil, invalidf("event id %s appears twice in one append", e.ID)
			}
			seenIDs[e.ID] = true
			events[j] = e
		}
		sa.Events = events
		req.streams[i] = sa
		req.events += len(events)
	}
	return req, nil
}

func (s *Store) prepareEvent(e *Event, now time.Time) (canonicalEvent, error) {
	switch {
	case e.Type == "":
		return canonicalEvent{}, invalidf("empty event type")
	case len(e.Type) > maxTypeName:
		return canonicalEvent{}, invalidf("event type longer than %d bytes", maxTypeName)
	case e.SchemaVersion < 0:
		return canonicalEvent{}, invalidf("negative schema version")
	case len(e.Data)+len(e.Metadata.Extra) > s.cfg.MaxEventSize:
		return canonicalEvent{}, invalidf("event of %d bytes is over the limit of %d", len(e.Data)+len(e.Metadata.Extra), s.cfg.MaxEventSize)
	}
	if err := checkJSON(e.Data); err != nil {
		return canonicalEvent{}, fmt.Errorf("data: %w", err)
	}
	if e.Metadata.Extra == nil {
		e.Metadata.Extra = json.RawMessage("{}")
	} else if err := checkJSON(e.Metadata.Extra); err != nil {
		return canonicalEvent{}, fmt.Errorf("metadata: %w", err)
	} else if t := bytes.TrimLeft(e.Metadata.Extra, " \t\r\n"); t[0] != '{' {
		return canonicalEvent{}, invalidf("metadata must be a JSON object")
	}
	if e.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return canonicalEvent{}, fmt.Errorf("eventstore: new event id: %w", err)
		}
		e.ID = id
	}
	if e.SchemaVersion == 0 {
		e.SchemaVersion = 1
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now
	}
	// PostgreSQL keeps microseconds; the hash must see what is stored.
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	var c canonicalEvent
	var err error
	if c.data, err = canonicalJSON(e.Data); err != nil {
		return canonicalEvent{}, fmt.Errorf("data: %w", err)
	}
	if c.extra, err = canonicalJSON(e.Metadata.Extra); err != nil {
		return canonicalEvent{}, fmt.Errorf("metadata: %w", err)
	}
	return c, nil
}

// checkJSON accepts what PostgreSQL's jsonb accepts: valid JSON without the
// NUL character, which jsonb cannot hold.
func checkJSON(b json.RawMessage) error {
	if len(b) == 0 || !json.Valid(b) {
		return invalidf("not valid JSON")
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		return invalidf(`JSON with \u0000 cannot be stored`)
	}
	return nil
}

// writeLoop gathers waiting appends into batches and commits them.
func (s *Store) writeLoop() {
	for {
		var first *appendRequest
		select {
		case first = <-s.requests:
		case <-s.quit:
			return
		}
		batch, n := []*appendRequest{first}, first.events
	gather:
		for n < s.cfg.MaxBatchEvents {
			select {
			case r := <-s.requests:
				batch = append(batch, r)
				n += r.events
			default:
				break gather
			}
		}
		s.commit(batch, numbered(batch), false) // numbering needs the fresh path
	}
}

// commit records batch and answers every request in it.
//
// A batch is first tried optimistically, in one round trip: stream heads come
// from the store's cache (a stream it does not know is taken to be new) and
// nothing is read first. The unique (stream_id, version) and event_id keys
// make that safe: when the cache is stale, or an event is a retry of one
// already stored, the insert fails and the batch is tried again "fresh",
// reading and locking the stream heads and looking up the event ids first.
// A request whose expected version fails against the cache is also checked
// again fresh before it is refused.
//
// sent says whether an earlier attempt may have reached the database: a
// batch that fails only before anything reached it answers with the error
// itself, not ErrOutcomeUnknown, since nothing can have been recorded.
func (s *Store) commit(batch []*appendRequest, fresh, sent bool) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		again, last, err := s.commitOnce(ctx, batch, fresh)
		if err == nil {
			if !last.IsZero() {
				s.committedTx(last.tx)
				select {
				case s.notify <- struct{}{}:
				default:
				}
			}
			if len(again) == 0 {
				return
			}
			batch, fresh, attempt = again, true, 0
			continue
		}
		s.heads.forget(batch)
		sent = sent || !pgretry.NotSent(err)
		if !fresh {
			fresh, attempt = true, 0
			continue
		}
		if len(batch) > 1 {
			// One request may have caused it (bad data, a race on a new
			// stream): commit each on its own so the others go through.
			for _, r := range batch {
				s.commit([]*appendRequest{r}, true, sent)
			}
			return
		}
		if retryable(err) && attempt < commitAttempts && ctx.Err() == nil {
			s.log.Warn("eventstore: append failed, retrying", "attempt", attempt, "err", err)
			time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
			continue
		}
		batch[0].answer(AppendResult{}, classify(err, sent))
		return
	}
}

// retryable reports whether an append that failed with err may succeed when
// sent again with the same event ids.
func retryable(err error) bool {
	if pgretry.Unavailable(err) {
		// A lost connection, a terminated backend, a server restarting: the
		// events may or may not be stored; sending them again is safe
		// because their ids make the append idempotent.
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "40001", "40P01": // unique violation (a racing new stream), serialization failure, deadlock
			return true
		}
		return false
	}
	// A lost connection or a timeout: the events may or may not be stored;
	// sending them again is safe because their ids make the append idempotent.
	return !errors.Is(err, ErrInvalidInput)
}

// classify turns a final commit error into the error the caller sees; sent
// says whether any attempt may have reached the database.
func classify(err error, sent bool) error {
	if pgretry.Unavailable(err) {
		if !sent {
			return fmt.Errorf("eventstore: append: nothing recorded: %w", err)
		}
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22", "23", "54": // data exception, constraint violation, program limit: the input
			return fmt.Errorf("%w: the database refused the event: %s", ErrInvalidInput, pgErr.Message)
		}
		return fmt.Errorf("eventstore: append: %w", err)
	}
	if errors.Is(err, ErrInvalidInput) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
}

// streamHead is a stream's version and last hash.
type streamHead struct {
	streamType string
	version    int64
	hash       []byte
}

// commitOnce runs one transaction for batch. It answers every request it
// settles and returns those to try again fresh: requests that reuse an event
// id another request of the batch claims (one is then a retry of the other)
// and, when not fresh, requests whose expected version failed against the
// cache. last is the position of the last event written, zero when nothing
// was.
func (s *Store) commitOnce(ctx context.Context, batch []*appendRequest, fresh bool) (again []*appendRequest, last Position, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, Position{}, err
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if inTx {
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				conn.Conn().Close(ctx) // leave no half-open transaction in the pool
			}
		}
	}()

	var heads map[string]*streamHead
	var ctrs *counters
	existing := map[uuid.UUID]existingEvent{}
	if fresh {
		inTx = true
		if heads, existing, ctrs, err = readBatchState(ctx, conn, batch); err != nil {
			return nil, Position{}, err
		}
	} else {
		heads = s.heads.lookup(batch)
	}

	results := make([][]*RecordedEvent, len(batch))
	errs := make([]error, len(batch))
	var inserts []*RecordedEvent
	claimed := make(map[uuid.UUID]bool)
	for i, r := range batch {
		if prior, found, err := lookupExisting(r, existing); found || err != nil {
			results[i], errs[i] = prior, err
			continue
		}
		if claimsAny(r, claimed) {
			again = append(again, r)
			continue
		}
		if err := checkExpected(r, heads); err != nil {
			if !fresh && errors.Is(err, ErrConcurrency) {
				again = append(again, r) // maybe a stale cache, maybe a retry
				continue
			}
			errs[i] = err
			continue
		}
		if r.numbered() {
			if !fresh {
				again = append(again, r)
				continue
			}
			if errs[i] = s.number(r, ctrs); errs[i] != nil {
				continue
			}
		}
		results[i] = planRequest(r, heads)
		for _, rec := range results[i] {
			claimed[rec.ID] = true
			inserts = append(inserts, rec)
		}
	}

	if len(inserts) > 0 {
		inTx = true
		if err := insertBatch(ctx, conn, inserts, heads, ctrs, !fresh); err != nil {
			return nil, Position{}, err
		}
		last = inserts[len(inserts)-1].Position
		// Before any caller hears of its append: a caller that then asks
		// for LastAppended must find its own events there.
		s.noteAppended(last)
		s.heads.store(inserts, heads)
	} else if inTx {
		if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
			return nil, Position{}, err
		}
	}
	inTx = false

	for i, r := range batch {
		if slices.Contains(again, r) {
			continue
		}
		if errs[i] != nil {
			r.answer(AppendResult{}, errs[i])
			continue
		}
		res := AppendResult{Events: make([]RecordedEvent, len(results[i]))}
		for j, rec := range results[i] {
			res.Events[j] = *rec
		}
		r.answer(res, nil)
	}
	return again, last, nil
}

// readBatchState begins the transaction and, in one round trip, locks the
// heads of the batch's existing streams (in stream id order, so writers never
// deadlock on them), finds which of its event ids are stored already, and
// locks the counters its numbered requests take values from (nil: none).
func readBatchState(ctx context.Context, conn *pgxpool.Conn, batch []*appendRequest) (
	heads map[string]*streamHead, existing map[uuid.UUID]existingEvent, ctrs *counters, err error,
) {
	var streamIDs, evStreams, evTypes, datas []string
	var ids []uuid.UUID
	var schemas []int32
	for _, r := range batch {
		for _, sa := range r.streams {
			streamIDs = append(streamIDs, sa.StreamID)
			for _, e := range sa.Events {
				ids = append(ids, e.ID)
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

type existingEvent struct {
	rec  RecordedEvent
	same bool // same stream, type, schema version and data as the new event with its id
}

// lookupExisting settles a request whose events are stored already: found is
// true when all of them are, with the original events; a partial or different
// match is a *DuplicateEventError.
func lookupExisting(r *appendRequest, existing map[uuid.UUID]existingEvent) (prior []*RecordedEvent, found bool, err error) {
	if len(existing) == 0 {
		return nil, false, nil
	}
	for _, sa := range r.streams {
		for _, e := range sa.Events {
			x, ok := existing[e.ID]
			switch {
			case ok && (x.same || (sa.Numbered != nil && x.rec.StreamID == sa.StreamID && x.rec.Type == e.Type)):
				// A numbered event's data holds its number, which a retry
				// cannot know: the same id on the same stream is the retry.
				prior = append(prior, &x.rec)
			case ok:
				return nil, false, &DuplicateEventError{EventID: e.ID.String()}
			}
		}
	}
	switch len(prior) {
	case 0:
		return nil, false, nil
	case r.events:
		return prior, true, nil
	}
	// Some events of the append are stored and some are not: not a retry of
	// one append.
	return nil, false, &DuplicateEventError{EventID: prior[0].ID.String()}
}

func claimsAny(r *appendRequest, claimed map[uuid.UUID]bool) bool {
	for _, sa := range r.streams {
		for _, e := range sa.Events {
			if claimed[e.ID] {
				return true
			}
		}
	}
	return false
}

// checkExpected checks every stream of r against the heads as the batch has
// planned them so far.
func checkExpected(r *appendRequest, heads map[string]*streamHead) error {
	for _, sa := range r.streams {
		var current int64
		if h := heads[sa.StreamID]; h != nil {
			current = h.version
			if current > 0 && h.streamType != sa.StreamType {
				return invalidf("stream %q is of type %q, not %q", sa.StreamID, h.streamType, sa.StreamType)
			}
		}
		if !sa.Expected.allows(current) {
			return &ConcurrencyError{StreamID: sa.StreamID, Expected: sa.Expected, Current: current}
		}
	}
	return nil
}

// planRequest numbers and hashes r's events and advances the heads.
func planRequest(r *appendRequest, heads map[string]*streamHead) []*RecordedEvent {
	recs := make([]*RecordedEvent, 0, r.events)
	for i, sa := range r.streams {
		h := heads[sa.StreamID]
		if h == nil || h.version == 0 {
			h = &streamHead{streamType: sa.StreamType, hash: genesisHash}
			heads[sa.StreamID] = h
		}
		for j, e := range sa.Events {
			rec := &RecordedEvent{
				ID:            e.ID,
				StreamID:      sa.StreamID,
				StreamType:    sa.StreamType,
				Version:       h.version + 1,
				Type:          e.Type,
				SchemaVersion: e.SchemaVersion,
				Data:          e.Data,
				Metadata:      e.Metadata,
				OccurredAt:    e.OccurredAt,
				PrevHash:      h.hash,
			}
			c := r.canonical[i][j]
			rec.Hash = chainHash(rec.PrevHash, rec, c.data, c.extra)
			h.version, h.hash = rec.Version, rec.Hash
			recs = append(recs, rec)
		}
	}
	return recs
}

// insertBatch writes the planned events, the new stream heads and the
// counters that moved, and commits, in one round trip; begin says whether the transaction still has to
// be begun.
func insertBatch(ctx context.Context, conn *pgxpool.Conn, recs []*RecordedEvent, heads map[string]*streamHead, ctrs *counters, begin bool) error {
	n := len(recs)
	var (
		ids                                        = make([]uuid.UUID, n)
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
		ids[i], streamIDs[i], streamTypes[i], versions[i], types[i] = r.ID, r.StreamID, r.StreamType, r.Version, r.Type
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
	if begin {
		b.Queue("BEGIN")
	}
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
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)

	byID := make(map[uuid.UUID]*RecordedEvent, n)
	for _, r := range recs {
		byID[r.ID] = r
	}
	var err error
	if begin {
		_, err = br.Exec()
	}
	if err == nil {
		rows, _ := br.Query()
		var id uuid.UUID
		var pos Position
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &pos.tx, &pos.seq, &at}, func() error {
			r := byID[id]
			r.Position, r.RecordedAt = pos, at.UTC()
			return nil
		})
	}
	if err == nil && len(added.ids) > 0 {
		_, err = br.Exec()
	}
	if err == nil && len(moved.ids) > 0 {
		_, err = br.Exec()
	}
	if err == nil && counted {
		_, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

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

// headCache remembers the heads of streams this store wrote, so that most
// appends need not read them. It is only a guess: the unique keys of the
// events table catch a stale entry.
type headCache struct {
	mu sync.Mutex
	m  map[string]streamHead
}

// maxCachedHeads bounds the cache; when it is full it starts again empty.
const maxCachedHeads = 100_000

// lookup returns the cached heads of the batch's streams, copied so that
// planning may advance them.
func (c *headCache) lookup(batch []*appendRequest) map[string]*streamHead {
	c.mu.Lock()
	defer c.mu.Unlock()
	heads := make(map[string]*streamHead)
	for _, r := range batch {
		for _, sa := range r.streams {
			if h, ok := c.m[sa.StreamID]; ok {
				heads[sa.StreamID] = &h
			}
		}
	}
	return heads
}

// store caches the heads of the streams the committed events touched.
func (c *headCache) store(recs []*RecordedEvent, heads map[string]*streamHead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > maxCachedHeads {
		c.m = make(map[string]streamHead)
	}
	for _, r := range recs {
		if h := heads[r.StreamID]; h.version > c.m[r.StreamID].version {
			c.m[r.StreamID] = *h
		}
	}
}

// forget drops the batch's streams, whose heads may have been guessed wrong.
func (c *headCache) forget(batch []*appendRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range batch {
		for _, sa := range r.streams {
			delete(c.m, sa.StreamID)
		}
	}
}
