// Package projection keeps riskreg's read models: PostgreSQL tables derived
// from the event log that answer the API's list queries with one or two
// indexed statements, instead of folding streams on each request.
//
// Data flows one way: the event log (package eventstore) is read by
// projections, which write read-model tables. A Runner keeps every projection
// up to date, applying batches of events and the projection's checkpoint in
// one transaction (so each event is applied exactly once, whatever crashes),
// with one runner per projection across processes (a PostgreSQL advisory
// lock). An event a projection cannot apply stops it there: the failure is
// recorded in its status and retried with backoff, never skipped.
//
// Read-model tables hold generations of rows. Rebuild fills a new
// generation from the start of the log while the active one keeps serving,
// and swaps it in atomically once caught up. A Reader reads the active
// generations through views, waits for positions (read-your-writes) and
// answers time-travel reads (AsOf) by folding the log with the domain's
// aggregates.
//
// See docs/projections.md for the design.
package projection
