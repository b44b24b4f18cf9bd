-- The governance calendar (projection "calendar", package projection): what
-- the acts of time, the agendas and the papers need of risks, responses,
-- sessions and material changes. Same generation and slot scheme as the
-- read models of 000003.
INSERT INTO rm_projections (name) VALUES ('calendar');

-- One row per risk: its band and scores, the date of its last assessment
-- (the next review date is that date plus the review interval of its band,
-- which is configuration, so it is worked out when read), its acceptance,
-- and the acts of time recorded on it (done: their keys; review_overdue and
-- lapsed: the date that passed, while it still stands).
CREATE TABLE rm_cal_risks_gen (
    slot            smallint    NOT NULL CHECK (slot = generation % 2),
    generation      bigint      NOT NULL,
    risk_id         text        COLLATE "C" NOT NULL,
    reference       text        COLLATE "C" NOT NULL,
    title           text        NOT NULL,
    owner           text        NOT NULL,
    status          text        NOT NULL,
    band            text,
    score           smallint    NOT NULL,  -- of the residual rating, else the inherent one; 0 if none
    inherent_score  smallint    NOT NULL,
    residual_score  smallint    NOT NULL,
    flagged         boolean     NOT NULL,
    assessed_on     date,
    tolerated_until date,
    review_overdue  date,
    lapsed          date,
    red_since       timestamptz,           -- recorded_at of the event that made it RED; null unless RED
    flagged_at      timestamptz,
    done            text[]      NOT NULL,
    version         bigint      NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (generation, risk_id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_cal_risks_gen_0 PARTITION OF rm_cal_risks_gen FOR VALUES IN (0);
CREATE TABLE rm_cal_risks_gen_1 PARTITION OF rm_cal_risks_gen FOR VALUES IN (1);
CREATE INDEX rm_cal_risks_gen_reference_idx ON rm_cal_risks_gen (generation, reference);

-- One row per response: status, owner, due date, and the due date that
-- passed while it stands (overdue).
CREATE TABLE rm_cal_responses_gen (
    slot             smallint    NOT NULL CHECK (slot = generation % 2),
    generation       bigint      NOT NULL,
    response_id      text        COLLATE "C" NOT NULL,
    risk_id          text        COLLATE "C" NOT NULL,
    title            text        NOT NULL,
    owner            text        NOT NULL,
    status           text        NOT NULL,
    due_date         date,
    overdue          date,
    status_since     timestamptz NOT NULL,
    done             text[]      NOT NULL,
    version          bigint      NOT NULL,
    created_position text        COLLATE "C" NOT NULL,
    PRIMARY KEY (generation, response_id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_cal_responses_gen_0 PARTITION OF rm_cal_responses_gen FOR VALUES IN (0);
CREATE TABLE rm_cal_responses_gen_1 PARTITION OF rm_cal_responses_gen FOR VALUES IN (1);

-- Sessions of the bodies, and the items tabled for them with the version
-- of each subject that was tabled.
CREATE TABLE rm_cal_sessions_gen (
    slot         smallint    NOT NULL CHECK (slot = generation % 2),
    generation   bigint      NOT NULL,
    session_id   text        COLLATE "C" NOT NULL,
    body         text        NOT NULL,
    date         date        NOT NULL,
    title        text        NOT NULL,
    version      bigint      NOT NULL,
    position     text        COLLATE "C" NOT NULL,
    PRIMARY KEY (generation, session_id, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_cal_sessions_gen_0 PARTITION OF rm_cal_sessions_gen FOR VALUES IN (0);
CREATE TABLE rm_cal_sessions_gen_1 PARTITION OF rm_cal_sessions_gen FOR VALUES IN (1);

CREATE TABLE rm_cal_items_gen (
    slot           smallint    NOT NULL CHECK (slot = generation % 2),
    generation     bigint      NOT NULL,
    session_id     text        COLLATE "C" NOT NULL,
    position       text        COLLATE "C" NOT NULL,
    subject_id     text        COLLATE "C" NOT NULL,
    subject_kind   text        NOT NULL,
    version_tabled bigint      NOT NULL,
    note           text        NOT NULL,
    PRIMARY KEY (generation, session_id, position, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_cal_items_gen_0 PARTITION OF rm_cal_items_gen FOR VALUES IN (0);
CREATE TABLE rm_cal_items_gen_1 PARTITION OF rm_cal_items_gen FOR VALUES IN (1);

-- Material changes of subjects (domain.MaterialChange), by the event that
-- made them: a decision taken before position on subject_id is stale.
CREATE TABLE rm_cal_changes_gen (
    slot         smallint    NOT NULL CHECK (slot = generation % 2),
    generation   bigint      NOT NULL,
    subject_id   text        COLLATE "C" NOT NULL,
    position     text        COLLATE "C" NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    kind         text        NOT NULL,
    summary      text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (generation, subject_id, position, slot)
) PARTITION BY LIST (slot);
CREATE TABLE rm_cal_changes_gen_0 PARTITION OF rm_cal_changes_gen FOR VALUES IN (0);
CREATE TABLE rm_cal_changes_gen_1 PARTITION OF rm_cal_changes_gen FOR VALUES IN (1);

CREATE VIEW rm_cal_risks AS
SELECT risk_id, reference, title, owner, status, band, score, inherent_score, residual_score, flagged, assessed_on,
       tolerated_until, review_overdue, lapsed, red_since, flagged_at, done, version, updated_at
FROM rm_cal_risks_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'calendar')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'calendar');

CREATE VIEW rm_cal_responses AS
SELECT response_id, risk_id, title, owner, status, due_date, overdue, status_since, done, version, created_position
FROM rm_cal_responses_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'calendar')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'calendar');

CREATE VIEW rm_cal_sessions AS
SELECT session_id, body, date, title, version, position
FROM rm_cal_sessions_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'calendar')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'calendar');

CREATE VIEW rm_cal_items AS
SELECT session_id, position, subject_id, subject_kind, version_tabled, note
FROM rm_cal_items_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'calendar')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'calendar');

CREATE VIEW rm_cal_changes AS
SELECT subject_id, position, event_id, event_type, kind, summary, recorded_at
FROM rm_cal_changes_gen
WHERE slot = (SELECT (active_generation % 2)::smallint FROM rm_projections WHERE name = 'calendar')
  AND generation = (SELECT active_generation FROM rm_projections WHERE name = 'calendar');
