-- Sessions of the web console (package console). A session is tied to the
-- bearer token its user signed in with: the console checks that token on
-- every request, so revoking or expiring it ends the session at once, and
-- deleting the token deletes its sessions. Only the SHA-256 hash of the
-- session id (the cookie's value) is kept.
CREATE TABLE console_sessions (
    session_hash bytea       PRIMARY KEY CHECK (length(session_hash) = 32),
    token_id     text        NOT NULL REFERENCES auth_tokens (token_id) ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz -- the token's expiry; NULL when it has none
);
CREATE INDEX console_sessions_token_idx ON console_sessions (token_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
