package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Input limits, counted in characters (Unicode code points).
const (
	MaxTitleLen        = 200    // risk and response titles
	MaxDescriptionLen  = 10_000 // risk and response descriptions
	MaxNameLen         = 200    // category, source, owner
	MaxRationaleLen    = 2_000  // rating rationales
	MaxReasonLen       = 2_000  // reasons and notes of transitions
	MaxDecisionTextLen = 20_000 // operative text of a decision
	MaxSessionLen      = 200    // session of a decision
)

// validator collects field errors so that a command reports every invalid
// field at once.
type validator struct {
	fields []FieldError
}

// add records that field is invalid.
func (v *validator) add(field, message string) {
	v.fields = append(v.fields, FieldError{Field: field, Message: message})
}

// check records message for field unless ok.
func (v *validator) check(ok bool, field, message string) {
	if !ok {
		v.add(field, message)
	}
}

// required checks a text that must not be blank and has at most max
// characters. A string of white space only is blank; nothing is trimmed.
func (v *validator) required(field, value string, max int) {
	if strings.TrimSpace(value) == "" {
		v.add(field, "must not be blank")
		return
	}
	v.optional(field, value, max)
}

// optional checks a text that may be empty and has at most max characters.
func (v *validator) optional(field, value string, max int) {
	switch {
	case !utf8.ValidString(value):
		v.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(value) > max:
		v.add(field, fmt.Sprintf("must be at most %d characters", max))
	}
}

// optionalPtr checks a text that is only present when p is not nil.
func (v *validator) optionalPtr(field string, p *string, max int, required bool) {
	switch {
	case p == nil:
	case required:
		v.required(field, *p, max)
	default:
		v.optional(field, *p, max)
	}
}

// time checks that t is set.
func (v *validator) time(field string, t time.Time) {
	v.check(!t.IsZero(), field, "must be set")
}

// enum checks that an enum value is defined.
func (v *validator) enum(field string, valid bool, value string) {
	v.check(valid, field, unknownValue(value))
}

// err returns the collected errors as a *ValidationError, or nil.
func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

// invalid returns a *ValidationError for a single field.
func invalid(field, message string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}
