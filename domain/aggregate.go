package domain

import "fmt"

// applier is an aggregate that folds events.
type applier interface {
	Apply(Event) error
}

// fold applies events to a in order. An empty history is a *NotFoundError.
func fold(kind, id string, a applier, events []Event) error {
	if len(events) == 0 {
		return &NotFoundError{Kind: kind, ID: id}
	}
	for _, e := range events {
		if err := a.Apply(e); err != nil {
			return err
		}
	}
	return nil
}

// unexpected returns an error wrapping ErrUnexpectedEvent for e, which does
// not apply to the aggregate at version.
func unexpected(kind, id string, version int, e Event) error {
	name := fmt.Sprintf("%T", e)
	if e != nil {
		name = e.EventType()
	}
	return fmt.Errorf("%w: %s on %s %q at version %d", ErrUnexpectedEvent, name, kind, id, version)
}

// changed returns a copy of *p when p is set and differs from cur, and nil
// otherwise.
func changed[T comparable](cur T, p *T) *T {
	if p == nil || *p == cur {
		return nil
	}
	v := *p
	return &v
}

// set assigns *p to *dst when p is set.
func set[T any](dst *T, p *T) {
	if p != nil {
		*dst = *p
	}
}
