package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what checkpoints are read and written with: a pgx.Tx, a connection
// or a pool. A consumer passes the transaction of its own work, so that its
// work and its position commit together.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// LoadCheckpoint returns the position a named consumer saved, or the start of
// the log when it saved none.
func LoadCheckpoint(ctx context.Context, db DB, name string) (Position, error) {
	var p Position
	err := db.QueryRow(ctx, "SELECT tx_id, seq FROM checkpoints WHERE name = $1", name).Scan(&p.tx, &p.seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, fmt.Errorf("eventstore: load checkpoint %q: %w", name, err)
	}
	return p, nil
}

// SaveCheckpoint stores a named consumer's position. Call it in the
// transaction that records the consumer's work on the events up to pos.
func SaveCheckpoint(ctx context.Context, db DB, name string, pos Position) error {
	if name == "" {
		return invalidf("empty checkpoint name")
	}
	_, err := db.Exec(ctx, `INSERT INTO checkpoints (name, tx_id, seq) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, seq = EXCLUDED.seq, updated_at = clock_timestamp()`,
		name, pos.tx, pos.seq)
	if err != nil {
		return fmt.Errorf("eventstore: save checkpoint %q: %w", name, err)
	}
	return nil
}

// QueueLoadCheckpoint queues on b the read of a named consumer's position
// (the start of the log when it saved none) and hands it to check, whose
// error fails the batch, so that a consumer can read and check it in the
// round trip of its other statements.
func QueueLoadCheckpoint(b *pgx.Batch, name string, check func(Position) error) {
	b.Queue("SELECT tx_id, seq FROM checkpoints WHERE name = $1", name).QueryRow(func(row pgx.Row) error {
		var p Position
		err := row.Scan(&p.tx, &p.seq)
		if errors.Is(err, pgx.ErrNoRows) {
			p, err = Position{}, nil
		}
		if err != nil {
			return fmt.Errorf("eventstore: load checkpoint %q: %w", name, err)
		}
		return check(p)
	})
}

// QueueSaveCheckpoint queues on b the write of SaveCheckpoint.
func QueueSaveCheckpoint(b *pgx.Batch, name string, pos Position) {
	b.Queue(`INSERT INTO checkpoints (name, tx_id, seq) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, seq = EXCLUDED.seq, updated_at = clock_timestamp()`,
		name, pos.tx, pos.seq)
}
