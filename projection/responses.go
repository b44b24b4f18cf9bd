package projection

import (
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Response is a strategic response as it stood after one event of its
// stream: the domain's state of the response (folded by
// domain.StrategicResponse.Apply) and what the log adds to it.
type Response struct {
	domain.ResponseState
	CreatedAt time.Time // recordedAt of the stream's first event
	UpdatedAt time.Time // recordedAt of its last event
	// CreatedPosition is the log position of the ResponseProposed event; a
	// risk's responses come in this order.
	CreatedPosition eventstore.Position
}

// applyResponse folds one event of a response stream into s, which is nil
// before the ResponseProposed event, with the domain's own
// domain.StrategicResponse.Apply.
func applyResponse(s *Response, e eventstore.RecordedEvent, d domain.Event) (*Response, error) {
	if s == nil {
		a, err := domain.ResponseFromHistory(e.StreamID, []domain.Event{d})
		if err != nil {
			return nil, err
		}
		next := ResponseFromAggregate(a, e.RecordedAt, e.RecordedAt, e.Position)
		return &next, nil
	}
	a := domain.ResponseFromState(s.ResponseState)
	if err := a.Apply(d); err != nil {
		return nil, err
	}
	*s = ResponseFromAggregate(a, s.CreatedAt, e.RecordedAt, s.CreatedPosition)
	return s, nil
}

// ResponseFromAggregate returns the read model of a response folded by the
// domain, whose stream's first and last events were recorded at created and
// updated, the first at position createdPos.
func ResponseFromAggregate(a *domain.StrategicResponse, created, updated time.Time, createdPos eventstore.Position) Response {
	return Response{ResponseState: a.State(), CreatedAt: created, UpdatedAt: updated, CreatedPosition: createdPos}
}

// responseColumns are the columns scanResponse reads, in rm_responses_gen and
// rm_responses.
const responseColumns = `response_id, risk_id, title, description, option, owner, due_date, status, version,
	created_at, updated_at, created_position`

// responseCopyColumns are the columns responseRow writes.
var responseCopyColumns = []string{"slot", "generation", "response_id", "risk_id", "title", "description", "option", "owner",
	"due_date", "status", "version", "created_at", "updated_at", "created_position"}

// scanResponse reads a row of responseColumns.
func scanResponse(row pgx.CollectableRow) (*Response, error) {
	var s Response
	var due pgtype.Date
	var created string
	err := row.Scan(&s.ID, &s.RiskID, &s.Title, &s.Description, &s.Option, &s.Owner, &due, &s.Status, &s.Version,
		&s.CreatedAt, &s.UpdatedAt, &created)
	if err != nil {
		return nil, err
	}
	s.DueDate = fromPgDate(due)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	if s.CreatedPosition, err = eventstore.ParsePosition(created); err != nil {
		return nil, fmt.Errorf("response %s: %w", s.ID, err)
	}
	return &s, nil
}

// responseRow returns the values of responseCopyColumns for s in generation
// gen.
func responseRow(gen int64, s *Response) []any {
	return []any{slotOf(gen), gen, s.ID, s.RiskID, s.Title, s.Description, string(s.Option), s.Owner, toPgDate(s.DueDate),
		string(s.Status), int64(s.Version), s.CreatedAt, s.UpdatedAt, s.CreatedPosition.String()}
}

// Responses returns the projection that keeps the strategic responses
// (rm_responses).
func Responses() Projection {
	p := &streamProjection[Response]{
		name: NameResponses,
		streamModel: streamModel[Response]{
			streamType: domain.StreamResponse,
			table:      "rm_responses_gen",
			key:        "response_id",
			columns:    responseColumns,
			scan:       scanResponse,
			id:         func(s *Response) string { return s.ID },
			version:    func(s *Response) int { return s.Version },
			apply:      applyResponse,
		},
		tables: []table{{"rm_responses_gen", responseCopyColumns}},
		more:   []string{"rm_response_history_gen"},
		rows: func(gen int64, s *Response) ([][][]any, error) {
			return [][][]any{{responseRow(gen, s)}}, nil
		},
	}
	p.history = &historyModel[Response]{
		table: "rm_response_history_gen", key: "response_id", columns: slices.Concat(responseCopyColumns, historyColumns),
		row: func(gen int64, s *Response) ([]any, error) { return responseRow(gen, s), nil },
	}
	return p
}
