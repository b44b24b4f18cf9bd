-- The Merkle tree over the event log (package transparency): leaf i is the
-- i-th event of the global order. It is derived from the log by one
-- integrator at a time, never inside an append's transaction, and is stored
-- as C2SP tlog-tiles of height 8: tile (level, n) holds up to 256 hashes of
-- the tree's level 8*level, from index 256*n; a tile on the tree's right edge
-- is partial and widens as the tree grows. Hashes already written never
-- change.
CREATE TABLE log_tiles (
    level     smallint NOT NULL CHECK (level >= 0),
    n         bigint   NOT NULL CHECK (n >= 0),
    width     smallint NOT NULL CHECK (width BETWEEN 1 AND 256),
    hashes    bytea    NOT NULL CHECK (length(hashes) = 32 * width),
    -- level 0 only: the log position just before the tile's first leaf
    -- ('' for the start of the log), to find an event's leaf index
    after_pos text     COLLATE "C",
    PRIMARY KEY (level, n)
);
CREATE INDEX log_tiles_after_pos_idx ON log_tiles (after_pos) WHERE level = 0;

-- The tree as the integrator last committed it. Its position in the log is
-- its checkpoint 'transparency:log' in checkpoints, saved in the same
-- transaction.
CREATE TABLE log_tree (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    size       bigint      NOT NULL CHECK (size >= 0),
    root       bytea       NOT NULL CHECK (length(root) = 32),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO log_tree (size, root) VALUES (0, sha256(''::bytea));

-- Every signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note), kept
-- for good: auditors and witnesses compare later trees with them.
CREATE TABLE log_checkpoints (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin    text        NOT NULL,
    size      bigint      NOT NULL CHECK (size >= 0),
    root      bytea       NOT NULL CHECK (length(root) = 32),
    note      text        NOT NULL,
    -- the verifier key (note verifier string name+hash+key) it was signed with
    verifier  text        NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX log_checkpoints_verifier_size_key ON log_checkpoints (verifier, size);
CREATE INDEX log_checkpoints_size_idx ON log_checkpoints (size);

CREATE FUNCTION log_checkpoints_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signed checkpoints are kept for good: % on log_checkpoints is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER log_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION log_checkpoints_append_only();

CREATE TRIGGER log_checkpoints_no_truncate
    BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION log_checkpoints_append_only();
