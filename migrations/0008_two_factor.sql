-- Two-factor sign-in (engine::two_factor): the TOTP secret sealed with the
-- vault key, whether it is confirmed, and the last step a code was taken
-- for (a code is accepted once); recovery codes as Argon2 hashes.
CREATE TABLE two_factor (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed BLOB    NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 0,
    last_step     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE TABLE recovery_codes (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    TEXT    NOT NULL,
    used_at INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id, used_at);
