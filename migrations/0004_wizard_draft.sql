-- The wizard's work in progress: what the operator entered so far, saved
-- at every step (JSON; the SMTP password is sealed in sealed_secrets).
CREATE TABLE wizard_draft (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    body       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
