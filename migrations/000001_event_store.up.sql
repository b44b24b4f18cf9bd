-- The event log: the single source of truth of riskreg.
--
-- Global order: PostgreSQL hands out sequence values in one order and commits
-- transactions in another, so a reader that pages by a plain sequence can skip a
-- row that commits late. Every row therefore also records the id of the
-- transaction that wrote it (tx_id, a 64-bit xid8). The log is ordered by
-- (tx_id, seq), and readers only look at rows whose transaction is older than
-- the oldest transaction still running. Such transactions
-- have all ended, so no row can ever appear behind a position a reader has
-- already passed. See eventstore/position.go.
CREATE TABLE events (
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    tx_id          bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL CHECK (stream_id <> ''),
    stream_type    text        NOT NULL CHECK (stream_type <> ''),
    version        bigint      NOT NULL CHECK (version >= 1),
    type           text        NOT NULL CHECK (type <> ''),
    schema_version integer     NOT NULL CHECK (schema_version >= 1),
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    actor          text        NOT NULL DEFAULT '',
    correlation_id text,
    causation_id   text,
    decision_id    text,
    request_id     text,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    prev_hash      bytea       NOT NULL,
    hash           bytea       NOT NULL,
    CONSTRAINT events_position_pkey PRIMARY KEY (tx_id, seq),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_correlation_idx ON events (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_causation_idx ON events (causation_id) WHERE causation_id IS NOT NULL;
CREATE INDEX events_decision_idx ON events (decision_id) WHERE decision_id IS NOT NULL;
-- Events are appended in recorded_at order, so a BRIN index narrows time
-- ranges at almost no cost per append.
CREATE INDEX events_recorded_at_idx ON events USING brin (recorded_at);

-- The head of every stream: its current version and the hash of its last event.
-- Appends lock these rows, so per-stream concurrency checks are exact.
CREATE TABLE streams (
    stream_id   text        PRIMARY KEY,
    stream_type text        NOT NULL,
    version     bigint      NOT NULL CHECK (version >= 0),
    last_hash   bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Where each named consumer (projection, relay) stands in the global log. A
-- consumer writes its checkpoint in the same transaction as its own work.
CREATE TABLE checkpoints (
    name       text        PRIMARY KEY,
    tx_id      bigint      NOT NULL,
    seq        bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Nothing in the log is ever changed or removed, whoever connects: a mistake is
-- corrected by a new event that says so.
CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
