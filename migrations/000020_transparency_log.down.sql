DROP TABLE log_checkpoints;
DROP FUNCTION log_checkpoints_append_only();
DROP TABLE log_tree;
DROP TABLE log_tiles;
DELETE FROM checkpoints WHERE name = 'transparency:log';
