package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// Decision is a decision a governance body recorded: the read model of one
// decision stream.
type Decision struct {
	ID string
	// Position is the log position of the DecisionRecorded event; decisions
	// come in this order.
	Position eventstore.Position
	// EventID is the id of the DecisionRecorded event: the causation id of
	// every effect.
	EventID       uuid.UUID
	Body          domain.Body
	Session       string
	Kind          domain.DecisionKind
	Text          string
	Subjects      []domain.Subject // with the versions the body saw, in the order given
	EffectiveDate domain.Date      // zero when none was given
	ExpiresOn     domain.Date      // ACCEPT_RISK only
	RecordedBy    string
	RecordedAt    time.Time
}

// Effect is an event a decision caused on another stream: an event whose
// metadata names the decision, other than the DecisionRecorded event itself.
// Load the whole event with eventstore.Store.EventsByID.
type Effect struct {
	DecisionID string
	Position   eventstore.Position
	EventID    uuid.UUID
	StreamID   string
	StreamType string
	Version    int64
	Type       string
}

// decisionFromRecorded returns the read model of the decision whose
// DecisionRecorded event is e, with data rec.
func decisionFromRecorded(id string, pos eventstore.Position, eventID uuid.UUID, rec domain.DecisionRecorded) Decision {
	return Decision{
		ID: id, Position: pos, EventID: eventID, Body: rec.Body, Session: rec.Session, Kind: rec.Kind,
		Text: rec.Text, Subjects: rec.Subjects, EffectiveDate: rec.EffectiveDate, ExpiresOn: rec.ExpiresOn,
		RecordedBy: rec.RecordedBy, RecordedAt: rec.RecordedAt,
	}
}

// decisionFromAggregate returns the read model of a decision folded by the
// domain.
func DecisionFromAggregate(a *domain.Decision, pos eventstore.Position, eventID uuid.UUID) Decision {
	effective, _ := a.EffectiveDate()
	expires, _ := a.ExpiresOn()
	return Decision{
		ID: a.ID(), Position: pos, EventID: eventID, Body: a.Body(), Session: a.Session(), Kind: a.Kind(),
		Text: a.Text(), Subjects: a.Subjects(), EffectiveDate: effective, ExpiresOn: expires,
		RecordedBy: a.RecordedBy(), RecordedAt: a.RecordedAt(),
	}
}

// effectOf returns e as an effect, and whether it is one.
func effectOf(e eventstore.RecordedEvent) (Effect, bool) {
	if e.Metadata.DecisionID == "" || e.StreamType == domain.StreamDecision {
		return Effect{}, false
	}
	return Effect{
		DecisionID: e.Metadata.DecisionID, Position: e.Position, EventID: e.ID, StreamID: e.StreamID,
		StreamType: e.StreamType, Version: e.Version, Type: e.Type,
	}, true
}

// decisionColumns are the columns scanDecision reads from rm_decisions.
const decisionColumns = `decision_id, position, event_id, data`

// scanDecision reads a row of decisionColumns.
func scanDecision(row pgx.CollectableRow) (Decision, error) {
	var id, pos string
	var eventID uuid.UUID
	var data []byte
	if err := row.Scan(&id, &pos, &eventID, &data); err != nil {
		return Decision{}, err
	}
	p, err := eventstore.ParsePosition(pos)
	if err != nil {
		return Decision{}, fmt.Errorf("decision %s: %w", id, err)
	}
	var rec domain.DecisionRecorded
	if err := json.Unmarshal(data, &rec); err != nil {
		return Decision{}, fmt.Errorf("decision %s: %w", id, err)
	}
	return decisionFromRecorded(id, p, eventID, rec), nil
}

// effectColumns are the columns scanEffect reads from rm_decision_effects.
const effectColumns = `decision_id, position, event_id, stream_id, stream_type, version, type`

// scanEffect reads a row of effectColumns.
func scanEffect(row pgx.CollectableRow) (Effect, error) {
	var f Effect
	var pos string
	if err := row.Scan(&f.DecisionID, &pos, &f.EventID, &f.StreamID, &f.StreamType, &f.Version, &f.Type); err != nil {
		return Effect{}, err
	}
	var err error
	if f.Position, err = eventstore.ParsePosition(pos); err != nil {
		return Effect{}, fmt.Errorf("effect of decision %s: %w", f.DecisionID, err)
	}
	return f, nil
}

var (
	decisionCopyColumns = []string{"slot", "generation", "decision_id", "position", "event_id", "body", "kind", "data", "recorded_at"}
	subjectCopyColumns  = []string{"slot", "generation", "subject_id", "position", "decision_id", "subject_kind", "version_seen",
		"recorded_at"}
	effectCopyColumns = []string{"slot", "generation", "decision_id", "position", "event_id", "stream_id", "stream_type",
		"version", "type"}
)

// Decisions returns the projection that keeps the decisions (rm_decisions),
// which decisions named each subject (rm_decision_subjects) and every
// decision's effects (rm_decision_effects).
func Decisions() Projection { return decisionsProjection{} }

type decisionsProjection struct{}

func (decisionsProjection) Name() string { return NameDecisions }

func (decisionsProjection) Tables() []string {
	return []string{"rm_decisions_gen", "rm_decision_subjects_gen", "rm_decision_effects_gen"}
}

// Prepare needs to read nothing: decisions and effects are only ever added.
// A decision stream holds exactly one event, and the log refuses a second
// event with the same stream and version; an event applied twice would break
// the tables' primary keys.
func (decisionsProjection) Prepare(_ context.Context, _ Querier, gen int64, events []eventstore.RecordedEvent) (Changes, error) {
	c := &decisionChanges{}
	return c, c.add(gen, batchOf(events))
}

// newBuffer implements bufferedProjection.
func (decisionsProjection) newBuffer() projectionBuffer { return &decisionBuffer{} }

func (decisionsProjection) decodes(streamType string) bool {
	return streamType == domain.StreamDecision
}

// decisionChanges adds decisions, subjects and effects.
type decisionChanges struct {
	decisions, subjects, effects [][]any
}

// add adds the rows of events in generation gen.
func (c *decisionChanges) add(gen int64, b eventBatch) error {
	for i, e := range b.events {
		if f, ok := effectOf(e); ok {
			c.effects = append(c.effects, []any{slotOf(gen), gen, f.DecisionID, f.Position.String(), pgUUID(f.EventID), f.StreamID,
				f.StreamType, f.Version, f.Type})
			continue
		}
		if e.StreamType != domain.StreamDecision {
			continue
		}
		d, err := b.decode(i)
		if err != nil {
			return err
		}
		rec, ok := d.(domain.DecisionRecorded)
		if !ok || e.Version != 1 {
			return NewEventError(e, unexpected(e))
		}
		pos := e.Position.String()
		c.decisions = append(c.decisions, []any{slotOf(gen), gen, e.StreamID, pos, pgUUID(e.ID), string(rec.Body), string(rec.Kind),
			[]byte(e.Data), e.RecordedAt})
		for _, s := range rec.Subjects {
			c.subjects = append(c.subjects, []any{slotOf(gen), gen, s.ID, pos, e.StreamID, string(s.Kind), int32(s.VersionSeen),
				e.RecordedAt})
		}
	}
	return nil
}

func (c *decisionChanges) queueable() bool {
	return len(c.decisions)+len(c.subjects)+len(c.effects) <= queueRows
}

// The writes go into the partitions themselves: a rebuild fills them
// detached (see detachBulk).

func (c *decisionChanges) queue(b *pgx.Batch, gen int64) error {
	queueInsert(b, partitionOf("rm_decisions_gen", gen), decisionCopyColumns, c.decisions)
	queueInsert(b, partitionOf("rm_decision_subjects_gen", gen), subjectCopyColumns, c.subjects)
	queueInsert(b, partitionOf("rm_decision_effects_gen", gen), effectCopyColumns, c.effects)
	return nil
}

func (c *decisionChanges) Write(ctx context.Context, tx pgx.Tx, gen int64) error {
	if err := copyRows(ctx, tx, partitionOf("rm_decisions_gen", gen), decisionCopyColumns, c.decisions); err != nil {
		return err
	}
	if err := copyRows(ctx, tx, partitionOf("rm_decision_subjects_gen", gen), subjectCopyColumns, c.subjects); err != nil {
		return err
	}
	return copyRows(ctx, tx, partitionOf("rm_decision_effects_gen", gen), effectCopyColumns, c.effects)
}

// decisionBuffer gathers a rebuild's decision rows.
type decisionBuffer struct {
	c decisionChanges
}

func (b *decisionBuffer) add(_ context.Context, _ Querier, gen int64, events eventBatch) error {
	return b.c.add(gen, events)
}

func (b *decisionBuffer) appendOnly() bool { return true }

func (b *decisionBuffer) size() int { return len(b.c.decisions) + len(b.c.subjects) + len(b.c.effects) }

func (b *decisionBuffer) take(chunk int) []Changes {
	var out []Changes
	for piece := range slices.Chunk(b.c.decisions, chunk) {
		out = append(out, &decisionChanges{decisions: piece})
	}
	for piece := range slices.Chunk(b.c.subjects, chunk) {
		out = append(out, &decisionChanges{subjects: piece})
	}
	for piece := range slices.Chunk(b.c.effects, chunk) {
		out = append(out, &decisionChanges{effects: piece})
	}
	b.c = decisionChanges{}
	return out
}
