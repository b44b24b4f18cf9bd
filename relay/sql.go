package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrRiskregDatabase reports a postgres:// broker URL that names riskreg's
// own database: the relay creates Watermill's tables in the broker
// database, and riskreg's database holds only riskreg's migrations.
var ErrRiskregDatabase = errors.New("relay: this PostgreSQL database is riskreg's own; give the broker (or consumer) a database of its own")

// sqlSchema is the Watermill schema of the PostgreSQL backend: the default
// (log) schema, which keeps every message in "watermill_<topic>" in
// transaction order and lets each consumer group keep its own offset in
// "watermill_offsets_<topic>", like a stream. (The queue schema would delete
// messages once one group acked them.) Payloads are JSON.
var sqlSchema = wmsql.DefaultPostgreSQLSchema{}

// sqlOpen opens a pool on the broker database and makes sure that it is not
// riskreg's own.
func sqlOpen(ctx context.Context, t *target) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(t.connect)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres URL does not parse", ErrBadURL)
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := RefuseRiskregDatabase(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// RefuseRiskregDatabase returns ErrRiskregDatabase when db is riskreg's own
// database (it holds riskreg's event log tables), and nil otherwise. Brokers
// and consumers keep their tables in databases of their own.
func RefuseRiskregDatabase(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) error {
	var riskreg bool
	err := db.QueryRow(ctx, `SELECT to_regclass('events') IS NOT NULL AND to_regclass('checkpoints') IS NOT NULL
		AND to_regclass('streams') IS NOT NULL`).Scan(&riskreg)
	switch {
	case err != nil:
		return fmt.Errorf("relay: look for riskreg's tables: %w", err)
	case riskreg:
		return ErrRiskregDatabase
	}
	return nil
}

func (p *Publisher) dialPostgres(ctx context.Context) (conn, error) {
	pool, err := sqlOpen(ctx, p.t)
	if err != nil {
		return conn{}, err
	}
	pub, err := wmsql.NewPublisher(wmsql.BeginnerFromPgx(pool), wmsql.PublisherConfig{
		SchemaAdapter:        sqlSchema,
		AutoInitializeSchema: true,
	}, p.wl)
	if err != nil {
		pool.Close()
		return conn{}, err
	}
	return conn{pub: pub, close: func() error {
		err := pub.Close()
		pool.Close()
		return err
	}}, nil
}

func (s *Subscriber) openPostgres(ctx context.Context) error {
	pool, err := sqlOpen(ctx, s.t)
	if err != nil {
		return err
	}
	sub, err := wmsql.NewSubscriber(wmsql.BeginnerFromPgx(pool), wmsql.SubscriberConfig{
		ConsumerGroup:    s.group,
		SchemaAdapter:    sqlSchema,
		OffsetsAdapter:   wmsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: true,
		PollInterval:     100 * time.Millisecond,
	}, s.wl)
	if err != nil {
		pool.Close()
		return err
	}
	s.sub = sub
	s.closers = append(s.closers, func() error { pool.Close(); return nil })
	return nil
}
