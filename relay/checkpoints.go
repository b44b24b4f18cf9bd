package relay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/internal/pglock"
	"github.com/riskreg/riskreg/internal/sleep"
)

// CheckpointSubject is the NATS subject, AMQP routing key and PostgreSQL
// or gochannel topic of the signed checkpoints of the Merkle log (see
// CheckpointPublisher), with the default broker names. They are never
// published beside the events: consumers of riskreg.events.> see none.
const CheckpointSubject = "riskreg.log.checkpoint"

// Metadata of a checkpoint message: MetaType is "LogCheckpoint", MetaSize
// the tree size; MetaSource as for events.
const (
	MetaType = "type"
	MetaSize = "size"
)

// CheckpointMessage is the payload of a checkpoint message: a signed
// checkpoint of the log, as the database stores it (see docs/audit.md).
type CheckpointMessage struct {
	// Origin is the log's name, the first line of the checkpoint.
	Origin string `json:"origin"`
	// Size is the tree size, Root its root hash (base64).
	Size uint64 `json:"size"`
	Root string `json:"root"`
	// Note is the C2SP signed note: the checkpoint and its signature lines.
	Note string `json:"note"`
	// Verifier is the note verifier key (name+hash+key) it was signed with.
	Verifier string `json:"verifier"`
	// SignedAt is when it was signed and stored.
	SignedAt time.Time `json:"signedAt"`
	// Source is the riskreg instance that published it, when set.
	Source string `json:"source,omitempty"`
}

// checkpointNamespace derives checkpoint message ids.
var checkpointNamespace = uuid.MustParse("6f1c2b1e-4e0a-4c51-9d2e-2c9a6f0b7d11")

// CheckpointMessageID returns the message UUID of a checkpoint: the same for
// every publish of the same signed tree (origin, size, root, key), so that
// brokers (Nats-Msg-Id) and consumers drop repeats by it.
func CheckpointMessageID(origin string, size uint64, root []byte, verifier string) string {
	return uuid.NewSHA1(checkpointNamespace, []byte(origin+"\n"+strconv.FormatUint(size, 10)+"\n"+
		base64.StdEncoding.EncodeToString(root)+"\n"+verifier)).String()
}

// checkpointsTarget returns the target a checkpoint publisher publishes to
// and its topic: beside the events' target, never inside it.
//
//	NATS:        stream <stream>_LOG, subject riskreg.log.checkpoint (a
//	             prefix x.events gives x.log.checkpoint, another prefix p
//	             p_log.checkpoint)
//	AMQP:        exchange riskreg.log (x.events gives x.log, another e
//	             e.log), routing key riskreg.log.checkpoint
//	PostgreSQL,
//	gochannel:   topic riskreg.log.checkpoint (x.events gives
//	             x.log.checkpoint, another t t.log.checkpoint)
func (t *target) checkpointsTarget() (*target, string) {
	c := *t
	logName := func(s, sep string) string {
		if base, ok := strings.CutSuffix(s, ".events"); ok {
			return base + ".log"
		}
		return s + sep + "log"
	}
	switch t.kind {
	case kindNATS:
		c.resource = t.resource + "_LOG"
		c.prefix = logName(t.prefix, "_")
		return &c, c.prefix + ".checkpoint"
	case kindAMQP:
		c.resource = logName(t.resource, ".")
		return &c, CheckpointSubject
	}
	c.resource = logName(t.resource, ".") + ".checkpoint"
	if c.kind == kindGoChannel {
		c.public = c.connect + "?topic=" + c.resource
	}
	return &c, c.resource
}

// CheckpointPublisher returns a publisher for the log's signed checkpoints
// on p's broker, and their topic; pass both in Config.Checkpoints. See
// checkpointsTarget for the names. The caller closes it.
func (p *Publisher) CheckpointPublisher(ctx context.Context) (*Publisher, string) {
	t, topic := p.t.checkpointsTarget()
	return newPublisher(ctx, t, p.logger), topic
}

// CheckpointTarget says where a relay publishes the log's checkpoints.
type CheckpointTarget struct {
	Publisher message.Publisher
	Topic     string
}

// storedCheckpoint is a row of log_checkpoints.
type storedCheckpoint struct {
	id  int64
	msg CheckpointMessage
	raw []byte // root
}

// followCheckpoints publishes the log's stored checkpoints after the
// relay's cursor, in the order they were stored, each after the broker
// acknowledged the one before, saving the cursor on the lock session after
// each: in order, at least once, and once when the relay is stopped rather
// than killed (a publish under way then finishes and the cursor is saved). It polls every CheckpointInterval until
// ctx ends or something fails.
func (r *Relay) followCheckpoints(ctx context.Context, lc *pglock.Session) error {
	var cursor int64
	err := lc.QueryRow(ctx, `SELECT checkpoint_id FROM relay_log_cursors WHERE name = $1`, r.cfg.Name).Scan(&cursor)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("relay: read the checkpoint cursor: %w", err)
	}
	for {
		batch, err := r.storedCheckpoints(ctx, cursor)
		if err != nil {
			return err
		}
		for _, c := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := lc.Confirm(ctx); err != nil {
				return err
			}
			c.msg.Source = r.cfg.Source
			payload, err := json.Marshal(c.msg)
			if err != nil {
				return fmt.Errorf("relay: encode checkpoint: %w", err)
			}
			msg := message.NewMessage(CheckpointMessageID(c.msg.Origin, c.msg.Size, c.raw, c.msg.Verifier), payload)
			msg.Metadata.Set(MetaType, "LogCheckpoint")
			msg.Metadata.Set(MetaSize, strconv.FormatUint(c.msg.Size, 10))
			if r.cfg.Source != "" {
				msg.Metadata.Set(MetaSource, r.cfg.Source)
			}
			if err := r.publishTo(ctx, r.cfg.Checkpoints.Publisher, r.cfg.Checkpoints.Topic, msg, true); err != nil {
				return err
			}
			// Saved even when ctx ended since the publish: the broker has
			// it, and a relay stopped now must not publish it again.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.PublishTimeout)
			_, err = lc.Exec(sctx, `INSERT INTO relay_log_cursors (name, checkpoint_id) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id, updated_at = clock_timestamp()`,
				r.cfg.Name, c.id)
			cancel()
			if err != nil {
				return fmt.Errorf("relay: save the checkpoint cursor: %w", err)
			}
			cursor = c.id
		}
		if len(batch) == checkpointBatch {
			continue
		}
		if !sleep.For(ctx, r.cfg.CheckpointInterval) {
			return ctx.Err()
		}
	}
}

// checkpointBatch is the most checkpoints read at once.
const checkpointBatch = 100

// storedCheckpoints returns the stored checkpoints after id, in order.
func (r *Relay) storedCheckpoints(ctx context.Context, after int64) ([]storedCheckpoint, error) {
	rows, err := r.log.Pool().Query(ctx, `SELECT id, origin, size, root, note, verifier, signed_at FROM log_checkpoints
		WHERE id > $1 ORDER BY id LIMIT $2`, after, checkpointBatch)
	if err != nil {
		return nil, fmt.Errorf("relay: read checkpoints: %w", err)
	}
	var out []storedCheckpoint
	for rows.Next() {
		var c storedCheckpoint
		var size int64
		if err := rows.Scan(&c.id, &c.msg.Origin, &size, &c.raw, &c.msg.Note, &c.msg.Verifier, &c.msg.SignedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("relay: read checkpoints: %w", err)
		}
		c.msg.Size, c.msg.Root, c.msg.SignedAt = uint64(size), base64.StdEncoding.EncodeToString(c.raw), c.msg.SignedAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: read checkpoints: %w", err)
	}
	return out, nil
}
