DROP VIEW rm_risk_counts;
DROP VIEW rm_risk_groups;
DROP VIEW rm_response_history;
DROP VIEW rm_risk_history;
DROP TABLE rm_risk_counts_gen;
DROP TABLE rm_risk_groups_gen;
DROP TABLE rm_response_history_gen;
DROP TABLE rm_risk_history_gen;
DROP VIEW rm_decision_subjects;
DROP VIEW rm_decisions;
DROP INDEX rm_decisions_gen_recorded_idx;
ALTER TABLE rm_decision_subjects_gen DROP COLUMN recorded_at;
ALTER TABLE rm_decisions_gen DROP COLUMN recorded_at;
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
