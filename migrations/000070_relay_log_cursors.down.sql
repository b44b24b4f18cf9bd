DROP TABLE relay_log_cursors;
