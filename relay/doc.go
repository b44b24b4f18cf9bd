// Package relay publishes riskreg's event log to message brokers through
// Watermill, at least once and in log order.
//
// A Relay is a checkpointed subscription on the global log: it publishes
// every event to a watermill message.Publisher, one after the other, and
// saves its checkpoint only after the broker acknowledged the events up to
// it. After a crash or a restart it starts again from the checkpoint, so an
// event may be published twice but never skipped, and the events of one
// stream always arrive in version order. Each message's UUID is the event id,
// so consumers (and JetStream) can drop the repeats.
//
// Only one process publishes to a target at a time: the relay holds a
// PostgreSQL session advisory lock, named after its checkpoint, on a
// connection of its own. When the process holding it dies, the server ends
// its session and another process's relay takes over.
//
// NewPublisher picks a Watermill backend by URL: nats:// (NATS JetStream),
// amqp:// (RabbitMQ), postgres:// (watermill-sql, in a broker database of its
// own) and gochannel: (in process). NewSubscriber opens the same broker for
// consumers. The payload of every message is an Envelope, the public form of
// an event described in docs/events.md.
package relay
