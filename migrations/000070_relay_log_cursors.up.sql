-- Where each relay is in log_checkpoints: the id of the last signed
-- checkpoint it published to its broker and had acknowledged. A relay's
-- cursor is its own, apart from its event checkpoint (checkpoints), and is
-- saved on its lock session after the broker's acknowledgement.
CREATE TABLE relay_log_cursors (
    name          text        PRIMARY KEY,
    checkpoint_id bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
