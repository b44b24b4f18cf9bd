// Package register runs the risk register's commands: it loads aggregates
// from the event store, has the domain decide what happens, and appends the
// resulting events with their envelope (actor, correlation, causation and
// decision ids). It is the one way into the log for the API.
package register
