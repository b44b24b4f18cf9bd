// Package eventstore is riskreg's append-only event log on PostgreSQL.
//
// Every change to the register is an event in a stream (one stream per
// aggregate). The store appends events to one or more streams in one
// transaction with exact per-stream concurrency checks, reads a stream or the
// global log back in a stable order, lets consumers subscribe to the log and
// keep checkpoints, chains every event of a stream to the previous one with a
// SHA-256 hash so that an edited log can be detected, and upcasts old event
// schema versions when reading.
//
// The package is generic: it knows streams, events and JSON, never the
// register's own types.
package eventstore
