-- Read models: tables that the projections of package projection keep up to
-- date from the event log. The log is the source of truth; everything here can
-- be thrown away and rebuilt by `riskreg replay`.
--
-- Generations. Every read-model table has a `generation` column, and
-- rm_projections says which generation of each projection is active. A rebuild
-- fills the next generation (the shadow) from position zero while the active
-- one keeps being read and kept up to date, then swaps by changing
-- active_generation in the same transaction as the projection's checkpoint.
-- Readers go through the views below, which show only the active generation;
-- a statement reads the pointer and the rows from one snapshot, so it sees
-- either the old register or the new one, whole.
--
-- Every table is split in two partitions by slot = generation % 2, so the
-- active generation and the shadow always lie in different partitions: a
-- rebuild starts from an empty partition and clears the old generation with
-- TRUNCATE instead of deleting its rows one by one. No table is created at
-- run time.

-- One row per projection: its active and shadow generations and its status.
-- The projection's position is its checkpoint in `checkpoints`, named
-- 'projection:' || name (and 'projection:' || name || ':rebuild' for the
-- shadow generation).
CREATE TABLE rm_projections (
    name                text        PRIMARY KEY,
    active_generation   bigint      NOT NULL DEFAULT 1,
    -- the shadow generation a rebuild is filling, and the rebuild's token
    building_generation bigint,
    builder             text,
    -- status, written by the runner that holds the projection's lock
    state               text        NOT NULL DEFAULT 'stopped',
    holder              text        NOT NULL DEFAULT '',
    last_error          text        NOT NULL DEFAULT '',
    error_position      text        NOT NULL DEFAULT '',
    error_event_id      uuid,
    error_at            timestamptz,
    failures            integer     NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

INSERT INTO rm_projections (name) VALUES ('risks'), ('responses'), ('decisions');

-- The risk register: the current state of every risk (projection "risks").
-- Ratings are JSON objects {likelihood, impact, rationale, assessedBy,
-- assessedAt} so that times keep their nanoseconds (json, not jsonb: they are
-- only ever read whole, and json is cheaper to write); their likelihood and
-- impact are columns too, for the heat maps. band is the band of the residual
-- rating, else of the inherent one. search_text is the lower-cased reference,
-- title and description, which a search matches with LIKE. (No trigram index:
-- it made rebuilds 30% slower, and a register is small enough to scan; see
-- docs/projections.md.)
CREATE TABLE rm_risks_gen (
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
    PRIMARY KEY (generation, risk_id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_risks_gen_0 PARTITION OF rm_risks_gen FOR VALUES IN (0);
CREATE TABLE rm_risks_gen_1 PARTITION OF rm_risks_gen FOR VALUES IN (1);
-- The register's order (and keyset pagination): R-0002 before R-0010 before
-- R-10000.
CREATE INDEX rm_risks_gen_order_idx ON rm_risks_gen (generation, length(reference), reference, risk_id);
-- The red risks, the register's main question, in the same order: a page of
-- them and their count read the index alone.
CREATE INDEX rm_risks_gen_red_idx ON rm_risks_gen (generation, length(reference), reference, risk_id) WHERE band = 'RED';

-- Strategic responses (projection "responses"). created_position is the log
-- position of the ResponseProposed event: a risk's responses in that order.
CREATE TABLE rm_responses_gen (
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
    PRIMARY KEY (generation, response_id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_responses_gen_0 PARTITION OF rm_responses_gen FOR VALUES IN (0);
CREATE TABLE rm_responses_gen_1 PARTITION OF rm_responses_gen FOR VALUES IN (1);
CREATE INDEX rm_responses_gen_risk_idx ON rm_responses_gen (generation, risk_id, created_position);

-- Decisions (projection "decisions"): data is the DecisionRecorded event's
-- data (json: only ever read whole); position is that event's log position,
-- the order of decisions.
CREATE TABLE rm_decisions_gen (
    slot        smallint NOT NULL CHECK (slot = generation % 2),
    generation  bigint   NOT NULL,
    decision_id text     NOT NULL,
    position    text     COLLATE "C" NOT NULL,
    event_id    uuid     NOT NULL,
    body        text     NOT NULL,
    kind        text     NOT NULL,
    data        json     NOT NULL,
    PRIMARY KEY (generation, decision_id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_decisions_gen_0 PARTITION OF rm_decisions_gen FOR VALUES IN (0);
CREATE TABLE rm_decisions_gen_1 PARTITION OF rm_decisions_gen FOR VALUES IN (1);
CREATE INDEX rm_decisions_gen_position_idx ON rm_decisions_gen (generation, position);
CREATE INDEX rm_decisions_gen_body_idx ON rm_decisions_gen (generation, body, position);

-- Which decisions named each subject (projection "decisions").
CREATE TABLE rm_decision_subjects_gen (
    slot         smallint NOT NULL CHECK (slot = generation % 2),
    generation   bigint   NOT NULL,
    subject_id   text     NOT NULL,
    position     text     COLLATE "C" NOT NULL,
    decision_id  text     NOT NULL,
    subject_kind text     NOT NULL,
    version_seen integer  NOT NULL,
    PRIMARY KEY (generation, subject_id, position, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_decision_subjects_gen_0 PARTITION OF rm_decision_subjects_gen FOR VALUES IN (0);
CREATE TABLE rm_decision_subjects_gen_1 PARTITION OF rm_decision_subjects_gen FOR VALUES IN (1);

-- Every event a decision caused (metadata decision_id = the decision, other
-- than its DecisionRecorded), in log order (projection "decisions").
CREATE TABLE rm_decision_effects_gen (
    slot        smallint NOT NULL CHECK (slot = generation % 2),
    generation  bigint   NOT NULL,
    decision_id text     NOT NULL,
    position    text     COLLATE "C" NOT NULL,
    event_id    uuid     NOT NULL,
    stream_id   text     NOT NULL,
    stream_type text     NOT NULL,
    version     bigint   NOT NULL,
    type        text     NOT NULL,
    PRIMARY KEY (generation, decision_id, position, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_decision_effects_gen_0 PARTITION OF rm_decision_effects_gen FOR VALUES IN (0);
CREATE TABLE rm_decision_effects_gen_1 PARTITION OF rm_decision_effects_gen FOR VALUES IN (1);

-- The active generation of each read model. Query these, not the *_gen
-- tables. The slot condition lets PostgreSQL skip the other partition.
CREATE VIEW rm_risks AS
SELECT risk_id, reference, title, description, category, source, owner, status, inherent, residual, target,
       inherent_likelihood, inherent_impact, residual_likelihood, residual_impact, target_likelihood, target_impact,
       band, flagged, tolerated_until, version, created_at, updated_at, search_text
FROM rm_risks_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'risks')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'risks');

-- The heat maps: each risk that is not CLOSED or WITHDRAWN, once per kind of
-- rating it has. A heat map is one GROUP BY over the register, which is far
-- cheaper to keep than a table of its own (see docs/projections.md).
CREATE VIEW rm_heat_map AS
SELECT 'INHERENT' AS kind, risk_id, inherent_likelihood AS likelihood, inherent_impact AS impact, reference
FROM rm_risks WHERE inherent_likelihood IS NOT NULL AND status NOT IN ('CLOSED', 'WITHDRAWN')
UNION ALL
SELECT 'RESIDUAL', risk_id, residual_likelihood, residual_impact, reference
FROM rm_risks WHERE residual_likelihood IS NOT NULL AND status NOT IN ('CLOSED', 'WITHDRAWN')
UNION ALL
SELECT 'TARGET', risk_id, target_likelihood, target_impact, reference
FROM rm_risks WHERE target_likelihood IS NOT NULL AND status NOT IN ('CLOSED', 'WITHDRAWN');

CREATE VIEW rm_responses AS
SELECT response_id, risk_id, title, description, option, owner, due_date, status, version, created_at, updated_at,
       created_position
FROM rm_responses_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'responses')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'responses');

CREATE VIEW rm_decisions AS
SELECT decision_id, position, event_id, body, kind, data
FROM rm_decisions_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'decisions')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'decisions');

CREATE VIEW rm_decision_subjects AS
SELECT subject_id, position, decision_id, subject_kind, version_seen
FROM rm_decision_subjects_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'decisions')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'decisions');

CREATE VIEW rm_decision_effects AS
SELECT decision_id, position, event_id, stream_id, stream_type, version, type
FROM rm_decision_effects_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'decisions')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'decisions');
