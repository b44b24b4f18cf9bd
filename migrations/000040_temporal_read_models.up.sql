-- Temporal read models: the register as of any instant, read from indexes
-- instead of folded from the log (see docs/projections.md, "Time travel").
--
-- Every version of every risk and response is a row, valid in the log from
-- the event that made it (from_pos, from_at = its recorded_at) to the next
-- event of its stream (to_pos, to_at; NULL and 'infinity' while it is the
-- current version). The state as of T is the rows with
-- from_at <= T < to_at. Counters keep, per group of the register's filters
-- and per heat-map cell, how many risks it held after each event that
-- changed it, so that a total as of any instant is one index probe per
-- group.
--
-- The projections fill these tables from position zero: this migration
-- empties the read models and their checkpoints, and the runners of the next
-- `riskreg serve` (or `riskreg replay --all`) build them again from the log.

CREATE TABLE rm_risk_history_gen (
    slot            smallint    NOT NULL CHECK (slot = generation % 2),
    generation      bigint      NOT NULL,
    risk_id         text        COLLATE "C" NOT NULL,
    reference       text        COLLATE "C" NOT NULL,
    title           text        NOT NULL,
    description     text        NOT NULL,
    category        text        NOT NULL,
    source          text        NOT NULL,
    owner           text        NOT NULL,
    status          text        NOT NULL,
    inherent        json,
    residual        json,
    target          json,
    inherent_likelihood smallint,
    inherent_impact     smallint,
    residual_likelihood smallint,
    residual_impact     smallint,
    target_likelihood   smallint,
    target_impact       smallint,
    band            text,
    flagged         boolean     NOT NULL,
    tolerated_until date,
    version         bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    search_text     text        NOT NULL,
    event_id        uuid        NOT NULL,
    from_pos        text        COLLATE "C" NOT NULL,
    from_at         timestamptz NOT NULL,
    to_pos          text        COLLATE "C",
    to_at           timestamptz NOT NULL,
    PRIMARY KEY (generation, risk_id, version, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_risk_history_gen_0 PARTITION OF rm_risk_history_gen FOR VALUES IN (0);
CREATE TABLE rm_risk_history_gen_1 PARTITION OF rm_risk_history_gen FOR VALUES IN (1);
-- A page of the register as of T: its versions in the register's order,
-- each checked against T in the index (from_at and to_at are key columns, so
-- that both conditions are index conditions and only the versions valid at T
-- are read from the table).
CREATE INDEX rm_risk_history_gen_order_idx ON rm_risk_history_gen
    (generation, length(reference), reference, risk_id, from_at, to_at) INCLUDE (slot);
-- What changed between two instants: the versions made after `from` that are
-- still valid at `to` are the changed risks as they stood at `to`.
CREATE INDEX rm_risk_history_gen_from_idx ON rm_risk_history_gen (generation, from_at, to_at) INCLUDE (risk_id, slot);

CREATE TABLE rm_response_history_gen (
    slot             smallint    NOT NULL CHECK (slot = generation % 2),
    generation       bigint      NOT NULL,
    response_id      text        NOT NULL,
    risk_id          text        NOT NULL,
    title            text        NOT NULL,
    description      text        NOT NULL,
    option           text        NOT NULL,
    owner            text        NOT NULL,
    due_date         date,
    status           text        NOT NULL,
    version          bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    created_position text        COLLATE "C" NOT NULL,
    event_id         uuid        NOT NULL,
    from_pos         text        COLLATE "C" NOT NULL,
    from_at          timestamptz NOT NULL,
    to_pos           text        COLLATE "C",
    to_at            timestamptz NOT NULL,
    PRIMARY KEY (generation, response_id, version, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_response_history_gen_0 PARTITION OF rm_response_history_gen FOR VALUES IN (0);
CREATE TABLE rm_response_history_gen_1 PARTITION OF rm_response_history_gen FOR VALUES IN (1);
CREATE INDEX rm_response_history_gen_risk_idx ON rm_response_history_gen (generation, risk_id, created_position, from_at);

-- The groups of risks that the register's filters tell apart (band, status,
-- flagged, owner, category): every group a risk was ever in, and how many
-- risks it holds now (n; as of an instant, see rm_risk_counts_gen). A total
-- of the register now is a sum over the groups the filter selects.
CREATE TABLE rm_risk_groups_gen (
    slot       smallint NOT NULL CHECK (slot = generation % 2),
    generation bigint   NOT NULL,
    counter    text     COLLATE "C" NOT NULL,
    band       text,
    status     text     NOT NULL,
    flagged    boolean  NOT NULL,
    owner      text     NOT NULL,
    category   text     NOT NULL,
    n          bigint   NOT NULL,
    PRIMARY KEY (generation, counter, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_risk_groups_gen_0 PARTITION OF rm_risk_groups_gen FOR VALUES IN (0);
CREATE TABLE rm_risk_groups_gen_1 PARTITION OF rm_risk_groups_gen FOR VALUES IN (1);

-- Counters: how many risks a group ('g' || ...) or a heat-map cell
-- ('c' || ...) held after each event that changed it, at that event's
-- recorded_at and position. The count as of T is the last row at or before T.
CREATE TABLE rm_risk_counts_gen (
    slot       smallint    NOT NULL CHECK (slot = generation % 2),
    generation bigint      NOT NULL,
    counter    text        COLLATE "C" NOT NULL,
    at         timestamptz NOT NULL,
    pos        text        COLLATE "C" NOT NULL,
    n          bigint      NOT NULL,
    PRIMARY KEY (generation, counter, at, pos, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_risk_counts_gen_0 PARTITION OF rm_risk_counts_gen FOR VALUES IN (0);
CREATE TABLE rm_risk_counts_gen_1 PARTITION OF rm_risk_counts_gen FOR VALUES IN (1);

-- Decisions never change: each is valid from its DecisionRecorded event's
-- recorded_at.
ALTER TABLE rm_decisions_gen ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE rm_decision_subjects_gen ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT '-infinity';
CREATE INDEX rm_decisions_gen_recorded_idx ON rm_decisions_gen (generation, recorded_at);

CREATE OR REPLACE VIEW rm_decisions AS
SELECT decision_id, position, event_id, body, kind, data, recorded_at
FROM rm_decisions_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'decisions')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'decisions');

CREATE OR REPLACE VIEW rm_decision_subjects AS
SELECT subject_id, position, decision_id, subject_kind, version_seen, recorded_at
FROM rm_decision_subjects_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'decisions')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'decisions');

CREATE VIEW rm_risk_history AS
SELECT risk_id, reference, title, description, category, source, owner, status, inherent, residual, target,
       inherent_likelihood, inherent_impact, residual_likelihood, residual_impact, target_likelihood, target_impact,
       band, flagged, tolerated_until, version, created_at, updated_at, search_text,
       event_id, from_pos, from_at, to_pos, to_at
FROM rm_risk_history_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'risks')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'risks');

CREATE VIEW rm_response_history AS
SELECT response_id, risk_id, title, description, option, owner, due_date, status, version, created_at, updated_at,
       created_position, event_id, from_pos, from_at, to_pos, to_at
FROM rm_response_history_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'responses')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'responses');

CREATE VIEW rm_risk_groups AS
SELECT counter, band, status, flagged, owner, category, n
FROM rm_risk_groups_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'risks')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'risks');

CREATE VIEW rm_risk_counts AS
SELECT counter, at, pos, n
FROM rm_risk_counts_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'risks')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'risks');

-- Build the read models of the risks, responses and decisions projections
-- again, history included, from the log (other projections keep theirs).
TRUNCATE rm_risks_gen, rm_responses_gen, rm_decisions_gen, rm_decision_subjects_gen, rm_decision_effects_gen;
UPDATE rm_projections SET building_generation = NULL, builder = NULL WHERE name IN ('risks', 'responses', 'decisions');
DELETE FROM checkpoints WHERE name IN ('projection:risks', 'projection:responses', 'projection:decisions',
    'projection:risks:rebuild', 'projection:responses:rebuild', 'projection:decisions:rebuild');
