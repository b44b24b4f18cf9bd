package model

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/riskreg/riskreg/domain"
)

// MarshalTime writes t as RFC 3339 with nanoseconds, in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 time, with or without fractional seconds,
// in any offset.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, invalid("time", fmt.Sprintf("must be an RFC 3339 string, got %T", v))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid("time", fmt.Sprintf("%q is not RFC 3339, e.g. 2026-11-27T09:00:00Z", s))
	}
	return t, nil
}

// MarshalDate writes d as "YYYY-MM-DD".
func MarshalDate(d domain.Date) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(d.String()))
	})
}

// UnmarshalDate reads a "YYYY-MM-DD" date.
func UnmarshalDate(v any) (domain.Date, error) {
	s, ok := v.(string)
	if !ok {
		return domain.Date{}, invalid("date", fmt.Sprintf("must be a YYYY-MM-DD string, got %T", v))
	}
	return domain.ParseDate(s)
}

// MarshalJSON writes raw JSON as it is.
func MarshalJSON(v json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(v) == 0 {
			io.WriteString(w, "null")
			return
		}
		w.Write(v)
	})
}

// UnmarshalJSON reads any JSON value.
func UnmarshalJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("JSON value: %w", err)
	}
	return b, nil
}

// invalid returns the domain's error for malformed input, which the API
// answers as BAD_USER_INPUT.
func invalid(field, message string) error {
	return &domain.ValidationError{Fields: []domain.FieldError{{Field: field, Message: message}}}
}
