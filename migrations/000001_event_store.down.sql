-- Dropping the event log would destroy the record this system exists to keep,
-- so this step refuses while the log holds any event.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM events) THEN
        RAISE EXCEPTION 'refusing to drop a non-empty event log';
    END IF;
END;
$$;

DROP TABLE checkpoints;
DROP TABLE streams;
DROP TABLE events;
DROP FUNCTION events_append_only();
