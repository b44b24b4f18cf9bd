package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// TestErrorPresenterCodes maps each kind of error to its contract code by
// type, also when wrapped, and hides internal errors.
func TestErrorPresenterCodes(t *testing.T) {
	var logs bytes.Buffer
	present := errorPresenter(slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx := context.WithValue(context.Background(), requestKey{}, &requestState{id: "rid-1"})
	for _, tc := range []struct {
		err  error
		code string
	}{
		{&domain.ValidationError{Fields: []domain.FieldError{{Field: "title", Message: "blank"}}}, CodeBadUserInput},
		{fmt.Errorf("wrapped: %w", &domain.StaleError{ID: "r", Expected: 1, Current: 3}), CodeConflict},
		{&eventstore.ConcurrencyError{StreamID: "r", Current: 3}, CodeConflict},
		{&domain.PreconditionError{Reason: "wrong state"}, CodeFailedPrecondition},
		{&domain.NotFoundError{Kind: "risk", ID: "r"}, CodeNotFound},
		{&domain.ForbiddenError{Subject: "s", Action: "closeRisk"}, CodeForbidden},
		{auth.ErrUnauthenticated, CodeUnauthenticated},
		{fmt.Errorf("%w: bad position", eventstore.ErrInvalidInput), CodeBadUserInput},
		{errors.New(`ERROR: relation "events" does not exist (SQLSTATE 42P01)`), CodeInternal},
	} {
		got := present(ctx, tc.err)
		if got.Extensions["code"] != tc.code {
			t.Errorf("%v: code %v, want %s", tc.err, got.Extensions["code"], tc.code)
		}
		if tc.code == CodeConflict && got.Extensions["currentVersion"] != 3 {
			t.Errorf("%v: currentVersion %v, want 3", tc.err, got.Extensions["currentVersion"])
		}
		if tc.code == CodeInternal && (strings.Contains(got.Message, "SQLSTATE") || got.Extensions["requestId"] != "rid-1") {
			t.Errorf("internal error answered %+v", got)
		}
	}
	if !strings.Contains(logs.String(), "SQLSTATE") || !strings.Contains(logs.String(), "rid-1") {
		t.Errorf("the internal error was not logged with the request id:\n%s", logs.String())
	}
}

// TestRecoverFuncAnswersInternal: a panic becomes INTERNAL; its value and
// stack go to the log only.
func TestRecoverFuncAnswersInternal(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	err := recoverFunc(logger)(context.Background(), "boom: secret detail")
	got := errorPresenter(logger)(context.Background(), err)
	if got.Extensions["code"] != CodeInternal || strings.Contains(got.Message, "secret") {
		t.Errorf("panic answered %+v", got)
	}
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "stack") {
		t.Errorf("the panic was not logged with its stack:\n%s", logs.String())
	}
}
