package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every typed error of the package matches exactly one of
// them with errors.Is, so callers can classify an error without looking at its
// text.
var (
	// ErrInvalidInput is matched by *ValidationError.
	ErrInvalidInput = errors.New("invalid input")
	// ErrPrecondition is matched by *PreconditionError.
	ErrPrecondition = errors.New("failed precondition")
	// ErrStale is matched by *StaleError.
	ErrStale = errors.New("stale version")
	// ErrNotFound is matched by *NotFoundError.
	ErrNotFound = errors.New("not found")
	// ErrForbidden is matched by *ForbiddenError.
	ErrForbidden = errors.New("forbidden")
	// ErrUnknownEvent is wrapped by DecodeEvent and EventStreamType for an
	// event type name the package does not know.
	ErrUnknownEvent = errors.New("unknown event type")
	// ErrUnsupportedSchemaVersion is wrapped by DecodeEvent for a schema
	// version other than the current one of the event type (older versions
	// must be upcast first).
	ErrUnsupportedSchemaVersion = errors.New("unsupported event schema version")
	// ErrUnexpectedEvent is wrapped by Apply when an event does not belong to
	// the aggregate's stream or comes in an impossible place (for example a
	// second RiskRegistered).
	ErrUnexpectedEvent = errors.New("unexpected event")
)

// FieldError names one invalid input field and says what is wrong with it.
type FieldError struct {
	// Field is the input field, in the API's spelling (e.g. "title",
	// "subjects[1].id").
	Field string
	// Message says what is wrong, e.g. "must not be blank".
	Message string
}

// ValidationError reports malformed or out-of-range input, field by field.
type ValidationError struct {
	Fields []FieldError
}

// Error lists every invalid field.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return ErrInvalidInput.Error() + ": " + strings.Join(parts, "; ")
}

// Is reports whether target is ErrInvalidInput.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidInput }

// PreconditionError reports a command that a domain rule forbids in the
// current state: a wrong status, a wrong body for a decision kind, a RED risk
// closed by staff, and so on.
type PreconditionError struct {
	Reason string
}

// Error returns the reason.
func (e *PreconditionError) Error() string {
	return ErrPrecondition.Error() + ": " + e.Reason
}

// Is reports whether target is ErrPrecondition.
func (e *PreconditionError) Is(target error) bool { return target == ErrPrecondition }

// StaleError reports that a command or decision was based on a version of an
// aggregate that is no longer current.
type StaleError struct {
	// ID is the aggregate whose version moved on; empty when the caller did
	// not say (see CheckVersion).
	ID string
	// Expected is the version the caller saw.
	Expected int
	// Current is the aggregate's current version.
	Current int
}

// Error names the aggregate and both versions.
func (e *StaleError) Error() string {
	return fmt.Sprintf("%s: %q expected version %d, current version %d",
		ErrStale.Error(), e.ID, e.Expected, e.Current)
}

// Is reports whether target is ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// NotFoundError reports an aggregate that does not exist.
type NotFoundError struct {
	// Kind is the stream type: StreamRisk, StreamResponse or StreamDecision.
	Kind string
	// ID is the aggregate id that was looked for.
	ID string
}

// Error names the missing aggregate.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q %s", e.Kind, e.ID, ErrNotFound.Error())
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ForbiddenError reports that a principal's roles do not allow an action.
type ForbiddenError struct {
	// Subject is the principal's subject.
	Subject string
	// Action is the refused action, e.g. "closeRisk" or
	// "recordDecision:COUNCIL".
	Action string
}

// Error names the principal and the action.
func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("%s: %q may not %s", ErrForbidden.Error(), e.Subject, e.Action)
}

// Is reports whether target is ErrForbidden.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// CheckVersion returns a *StaleError when expected is not current, and nil
// otherwise. The store performs the same check atomically when it appends;
// this function lets a caller fail early with the same error type.
func CheckVersion(expected, current int) error {
	if expected != current {
		return &StaleError{Expected: expected, Current: current}
	}
	return nil
}

// preconditionf returns a *PreconditionError with a formatted reason.
func preconditionf(format string, args ...any) error {
	return &PreconditionError{Reason: fmt.Sprintf(format, args...)}
}

// requireStatus returns a *PreconditionError unless got is one of allowed.
// The reason reads like "response r-1 is DRAFT; startResponse needs ENDORSED".
func requireStatus[S ~string](what, id, action string, got S, allowed ...S) error {
	for _, s := range allowed {
		if got == s {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = string(s)
	}
	need := names[0]
	if len(names) > 1 {
		need = "one of " + strings.Join(names, ", ")
	}
	return preconditionf("%s %s is %s; %s needs %s", what, id, got, action, need)
}
