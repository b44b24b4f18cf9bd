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

// Response is a strategic response as it stands: the read model of one
// response stream.
type Response struct {
	ID          string
	RiskID      string
	Title       string
	Description string
	Option      domain.ResponseOption
	Owner       string
	DueDate     domain.Date // zero when there is none
	Status      domain.ResponseStatus
	Version     int       // the number of events in the response's stream
	CreatedAt   time.Time // recordedAt of the stream's first event
	UpdatedAt   time.Time // recordedAt of its last event
	// CreatedPosition is the log position of the ResponseProposed event; a
	// risk's responses come in this order.
	CreatedPosition eventstore.Position
}

// applyResponse folds one event of a response stream into s, which is nil
// before the ResponseProposed event. It follows
// domain.StrategicResponse.Apply.
func applyResponse(s *Response, e eventstore.RecordedEvent, d domain.Event) (*Response, error) {
	if _, first := d.(domain.ResponseProposed); first != (s == nil) {
		return nil, unexpected(e)
	}
	switch d := d.(type) {
	case domain.ResponseProposed:
		s = &Response{
			ID: e.StreamID, RiskID: d.RiskID, Title: d.Title, Description: d.Description, Option: d.Option,
			Owner: d.Owner, DueDate: d.DueDate, Status: domain.ResponseStatusDraft,
			CreatedAt: e.RecordedAt, CreatedPosition: e.Position,
		}
	case domain.ResponseRevised:
		set(&s.Title, d.Title)
		set(&s.Description, d.Description)
		set(&s.Option, d.Option)
		set(&s.Owner, d.Owner)
		set(&s.DueDate, d.DueDate)
		s.Status = domain.ResponseStatusDraft
	default:
		status, ok := responseStatusAfter[e.Type]
		if !ok {
			return nil, unexpected(e)
		}
		s.Status = status
	}
	s.Version = int(e.Version)
	s.UpdatedAt = e.RecordedAt
	return s, nil
}

// responseStatusAfter is the status each transition event of a response
// leads to.
var responseStatusAfter = map[string]domain.ResponseStatus{
	domain.EventResponseSubmitted:   domain.ResponseStatusSubmitted,
	domain.EventResponseRecommended: domain.ResponseStatusRecommended,
	domain.EventResponseReturned:    domain.ResponseStatusReturned,
	domain.EventResponseEndorsed:    domain.ResponseStatusEndorsed,
	domain.EventResponseRejected:    domain.ResponseStatusRejected,
	domain.EventResponseStarted:     domain.ResponseStatusInProgress,
	domain.EventResponseImplemented: domain.ResponseStatusImplemented,
	domain.EventResponseVerified:    domain.ResponseStatusVerified,
	domain.EventResponseClosed:      domain.ResponseStatusClosed,
	domain.EventResponseWithdrawn:   domain.ResponseStatusWithdrawn,
}

// responseFromAggregate returns the read model of a response folded by the
// domain.
func responseFromAggregate(a *domain.StrategicResponse, created, updated time.Time, createdPos eventstore.Position) Response {
	due, _ := a.DueDate()
	return Response{
		ID: a.ID(), RiskID: a.RiskID(), Title: a.Title(), Description: a.Description(), Option: a.Option(),
		Owner: a.Owner(), DueDate: due, Status: a.Status(), Version: a.Version(),
		CreatedAt: created, UpdatedAt: updated, CreatedPosition: createdPos,
	}
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
