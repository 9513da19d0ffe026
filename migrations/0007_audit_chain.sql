-- Sign-in attempts are counted in a table of their own (the throttle's
-- working state: an attempt is written before its password is checked and
-- gets its outcome after), so the audit log only ever gains rows.
CREATE TABLE login_attempts (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,            -- unix seconds
    actor   TEXT    NOT NULL,            -- username as typed (cut short)
    ip      TEXT    NOT NULL,
    device  TEXT,                        -- a known device's id
    outcome TEXT    NOT NULL             -- 'pending' | 'failure' | 'success' | 'refused'
);
CREATE INDEX login_attempts_actor ON login_attempts (actor COLLATE NOCASE, at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);
CREATE INDEX login_attempts_device ON login_attempts (device, at);

-- The audit log is hash-chained: each row carries the SHA-256 of the row
-- before it and of its own fields (engine::audit). `repeats` and `last_at`
-- count a refusal repeated in a row and are outside the chain.
ALTER TABLE audit_log ADD COLUMN last_at INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
