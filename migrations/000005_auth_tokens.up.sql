-- Bearer tokens of the GraphQL API (package auth). Only the SHA-256 hash of
-- each token is kept; token_id is the token's public prefix, used to find the
-- row and to name the token in "riskreg token list" and "token revoke".
CREATE TABLE auth_tokens (
    token_id    text        PRIMARY KEY,
    secret_hash bytea       NOT NULL CHECK (length(secret_hash) = 32),
    subject     text        NOT NULL CHECK (subject <> ''),
    roles       text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
