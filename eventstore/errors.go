package eventstore

import (
	"errors"
	"fmt"
)

var (
	// ErrConcurrency is matched (errors.Is) by every *ConcurrencyError: a
	// stream was not at the version the append expected.
	ErrConcurrency = errors.New("eventstore: stream is not at the expected version")
	// ErrInvalidInput is matched by errors about malformed calls: an empty
	// stream id, no events, invalid JSON, an event over the size limit, ...
	ErrInvalidInput = errors.New("eventstore: invalid input")
	// ErrDuplicateEvent is matched by *DuplicateEventError: an event id is
	// already stored with other content.
	ErrDuplicateEvent = errors.New("eventstore: event id already stored with other content")
	// ErrOutcomeUnknown is matched when the connection was lost while an
	// append committed, so it may or may not have been recorded. Appending the
	// same events again, with the same event ids, is safe: an append whose
	// events are all stored returns the original result.
	ErrOutcomeUnknown = errors.New("eventstore: the append may or may not have been recorded; retry with the same event ids")
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = errors.New("eventstore: store is closed")
)

// ConcurrencyError says that a stream was not at the expected version. It
// matches ErrConcurrency.
type ConcurrencyError struct {
	StreamID string
	Expected ExpectedVersion
	// Current is the stream's version when the append was checked; 0 when
	// the stream has no events.
	Current int64
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("eventstore: stream %q expected %s, current version is %d", e.StreamID, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrConcurrency) true.
func (e *ConcurrencyError) Is(target error) bool { return target == ErrConcurrency }

// DuplicateEventError says that an event id is already stored with other
// content (another stream, type or data), or that a retried append is only
// partly stored. It matches ErrDuplicateEvent.
type DuplicateEventError struct {
	EventID string
}

func (e *DuplicateEventError) Error() string {
	return fmt.Sprintf("eventstore: event %s is already stored with other content", e.EventID)
}

// Is makes errors.Is(err, ErrDuplicateEvent) true.
func (e *DuplicateEventError) Is(target error) bool { return target == ErrDuplicateEvent }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}
