// Package app builds the parts of riskreg that every process and every test
// must build alike, so that the rule is kept by code and not by comments.
package app

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/register"
)

// NewStore returns the register's event store over pool: cfg with the
// register's upcasters, so that every reader of the log (serve, the relay,
// a replay, the projections) sees each event in its current schema.
// cfg.Upcasters is replaced.
//
// Tools that must see events exactly as stored, such as the hash-chain
// verifier, build their store with eventstore.New instead.
func NewStore(pool *pgxpool.Pool, cfg eventstore.Config) (*eventstore.Store, error) {
	cfg.Upcasters = register.Upcasters()
	return eventstore.New(pool, cfg)
}
