package graph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/riskreg/riskreg/eventstore"
)

// An append whose outcome is unknown answers OUTCOME_UNKNOWN, a database
// that cannot be reached UNAVAILABLE (which marks the request for a 503);
// neither shows the driver's text.
func TestErrorPresenterOutcomeUnknownAndUnavailable(t *testing.T) {
	present := errorPresenter(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	for _, tc := range []struct {
		err         error
		code        string
		unavailable bool
	}{
		{fmt.Errorf("%w: %w", eventstore.ErrOutcomeUnknown, io.ErrUnexpectedEOF), CodeOutcomeUnknown, false},
		{fmt.Errorf("eventstore: append: nothing recorded: %w",
			&pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}), CodeUnavailable, true},
		{fmt.Errorf("read: %w", &pgconn.PgError{Code: "08006", Message: "connection failure"}), CodeUnavailable, true},
		{fmt.Errorf("read: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}), CodeInternal, false},
	} {
		st := &requestState{id: "rid"}
		got := present(context.WithValue(context.Background(), requestKey{}, st), tc.err)
		if got.Extensions["code"] != tc.code || st.isUnavailable() != tc.unavailable {
			t.Errorf("%v: code %v, unavailable %v; want %s, %v", tc.err, got.Extensions["code"], st.isUnavailable(), tc.code, tc.unavailable)
		}
		if strings.Contains(got.Message, "SQLSTATE") || strings.Contains(got.Message, "EOF") || strings.Contains(got.Message, "terminating") {
			t.Errorf("%v: answered %q", tc.err, got.Message)
		}
	}
}
