-- Gap-free counters, advanced only inside the transaction that appends the
-- events numbered from them (eventstore.Numbered): a value is taken by an
-- append that commits, in commit order, and never handed out twice. The row
-- lock serialises the appends of one counter.
CREATE TABLE event_counters (
    name  text PRIMARY KEY CHECK (name <> ''),
    value bigint NOT NULL CHECK (value >= 0)
);

-- Risk references ("R-0007") were numbered from a sequence, in blocks a
-- process could lose. They now continue from the highest reference a
-- registered risk holds, so that no recorded reference is reused and no new
-- gap opens.
INSERT INTO event_counters (name, value)
SELECT 'risk-reference', coalesce(max(substring(data->>'reference' FROM '[0-9]+$')::bigint), 0)
FROM events WHERE type = 'RiskRegistered';

DROP SEQUENCE risk_reference_seq;
