-- Burrow's own accounts and the audit trail of who did what.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,            -- unix seconds
    actor   TEXT    NOT NULL,            -- username as typed, or 'system'
    ip      TEXT,
    action  TEXT    NOT NULL,            -- e.g. 'login', 'setup', 'logout'
    outcome TEXT    NOT NULL,            -- 'success' | 'failure' | 'throttled'
    detail  TEXT
);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
CREATE INDEX audit_log_actor ON audit_log (actor COLLATE NOCASE, action, at);
CREATE INDEX audit_log_ip ON audit_log (ip, action, at);
