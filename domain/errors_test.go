package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorsMatchTheirSentinelOnly(t *testing.T) {
	sentinels := []error{ErrInvalidInput, ErrPrecondition, ErrStale, ErrNotFound, ErrForbidden}
	tests := []struct {
		err      error
		sentinel error
		text     string
	}{
		{fields("title", "must not be blank", "owner", "must not be blank"), ErrInvalidInput,
			"invalid input: title: must not be blank; owner: must not be blank"},
		{precondition("risk r is CLOSED"), ErrPrecondition, "failed precondition: risk r is CLOSED"},
		{&StaleError{ID: "r", Expected: 1, Current: 2}, ErrStale,
			`stale version: "r" expected version 1, current version 2`},
		{&NotFoundError{Kind: StreamRisk, ID: "r"}, ErrNotFound, `risk "r" not found`},
		{&ForbiddenError{Subject: "u", Action: "closeRisk"}, ErrForbidden, `forbidden: "u" may not closeRisk`},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			if tc.err.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.text)
			}
			wrapped := fmt.Errorf("handling request: %w", tc.err)
			for _, s := range sentinels {
				if got := errors.Is(wrapped, s); got != (s == tc.sentinel) {
					t.Errorf("errors.Is(%v) = %v", s, got)
				}
			}
			assertError(t, wrapped, tc.err)
		})
	}
}

func TestCheckVersion(t *testing.T) {
	assertError(t, CheckVersion(3, 3), nil)
	assertError(t, CheckVersion(2, 3), &StaleError{Expected: 2, Current: 3})
	var stale *StaleError
	if err := CheckVersion(4, 3); !errors.As(err, &stale) || stale.Current != 3 {
		t.Fatalf("CheckVersion(4, 3) = %v", err)
	}
}
