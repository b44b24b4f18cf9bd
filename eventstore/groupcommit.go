package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/riskreg/riskreg/internal/pgretry"
	"github.com/riskreg/riskreg/internal/sleep"
)

const (
	// commitTimeout bounds one group-commit transaction, whatever the callers'
	// contexts say: once a batch is under way it is finished or rolled back.
	commitTimeout = 30 * time.Second
	// commitAttempts is how often a batch of one request is tried when the
	// database or the connection fails in a way that may pass.
	commitAttempts = 4
	// queuedRequests bounds the appends waiting for a writer. A caller
	// hands its request over without waiting for a writer to take it, so
	// the writers gather a batch without waking each caller twice.
	queuedRequests = 256
)

// writeLoop gathers waiting appends into batches and commits them.
func (s *Store) writeLoop() {
	for {
		var first *appendRequest
		select {
		case first = <-s.requests:
		case <-s.quit:
			return
		}
		batch := s.gather([]*appendRequest{first})
		s.busy.acquire(batch)
		s.commit(batch, numbered(batch), false) // numbering needs the fresh path
		s.busy.release(batch)
	}
}

// gather adds the waiting requests to batch, up to MaxBatchEvents. While
// another writer's batch is in flight it waits, up to Linger, for batch to
// grow as large as that one: PostgreSQL is busy with it anyway, and two
// writers that alternate full batches pay fewer transactions and WAL
// flushes than two that send whatever came in first.
func (s *Store) gather(batch []*appendRequest) []*appendRequest {
	n := batch[0].events
	target := min(s.busy.eventsInFlight(), s.cfg.MaxBatchEvents)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for n < s.cfg.MaxBatchEvents {
		select {
		case r := <-s.requests:
			batch = append(batch, r)
			n += r.events
			continue
		default:
		}
		if n >= target || s.cfg.Linger <= 0 {
			return batch
		}
		if timer == nil {
			timer = time.NewTimer(s.cfg.Linger)
		}
		select {
		case r := <-s.requests:
			batch = append(batch, r)
			n += r.events
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// busyStreams are the streams of the batches the store's writers are
// committing. A writer commits a batch only once none of its streams is busy,
// so that the batches of one store never race for a stream: with heads
// guessed from the cache the later one would wait for the other's
// transaction only to fail on the unique key, and two batches inserting
// into the same streams in different orders could deadlock.
type busyStreams struct {
	mu      sync.Mutex
	free    sync.Cond // broadcast when a batch releases its streams
	ids     map[string]bool
	batches int // batches being committed
	events  int // their events
}

func newBusyStreams() *busyStreams {
	b := &busyStreams{ids: make(map[string]bool)}
	b.free.L = &b.mu
	return b
}

// acquire waits until none of the batch's streams is busy and marks them.
func (b *busyStreams) acquire(batch []*appendRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.anyBusy(batch) {
		b.free.Wait()
	}
	eachStream(batch, func(id string) { b.ids[id] = true })
	b.batches++
	b.events += batchEvents(batch)
}

// eventsInFlight returns the mean size of the batches being committed, 0
// when there are none.
func (b *busyStreams) eventsInFlight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batches == 0 {
		return 0
	}
	return b.events / b.batches
}

func batchEvents(batch []*appendRequest) int {
	n := 0
	for _, r := range batch {
		n += r.events
	}
	return n
}

func (b *busyStreams) anyBusy(batch []*appendRequest) bool {
	for _, r := range batch {
		for _, sa := range r.streams {
			if b.ids[sa.StreamID] {
				return true
			}
		}
	}
	return false
}

// release marks the batch's streams free again.
func (b *busyStreams) release(batch []*appendRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	eachStream(batch, func(id string) { delete(b.ids, id) })
	b.batches--
	b.events -= batchEvents(batch)
	b.free.Broadcast()
}

// eachStream calls f with the id of every stream the batch appends to.
func eachStream(batch []*appendRequest, f func(id string)) {
	for _, r := range batch {
		for _, sa := range r.streams {
			f(sa.StreamID)
		}
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
	pause := commitBackOff()
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
			pause.Reset()
			continue
		}
		s.heads.forget(batch)
		sent = sent || !pgretry.NotSent(err)
		if !fresh {
			fresh, attempt = true, 0
			pause.Reset()
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
			if sleep.For(ctx, pause.NextBackOff()) {
				continue
			}
		}
		batch[0].answer(AppendResult{}, classify(err, sent))
		return
	}
}

// commitBackOff returns the pauses between the attempts of a batch of one
// request: 10ms, 40ms, 90ms.
func commitBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 10 * time.Millisecond, Multiplier: 4, MaxInterval: 90 * time.Millisecond}
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
		case pgerrcode.UniqueViolation, // a racing new stream
			pgerrcode.SerializationFailure, pgerrcode.DeadlockDetected:
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
		if pgerrcode.IsDataException(pgErr.Code) || pgerrcode.IsIntegrityConstraintViolation(pgErr.Code) ||
			pgerrcode.IsProgramLimitExceeded(pgErr.Code) {
			// The input itself.
			return fmt.Errorf("%w: the database refused the event: %s", ErrInvalidInput, pgErr.Message)
		}
		return fmt.Errorf("eventstore: append: %w", err)
	}
	if errors.Is(err, ErrInvalidInput) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
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
		if err := insertBatch(ctx, conn, inserts, heads, ctrs, inTx); err != nil {
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
