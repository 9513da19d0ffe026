-- Config revisions: every saved stack configuration, newest last. The TOML
-- holds no secret (the SMTP password is sealed in sealed_secrets).
CREATE TABLE config_revisions (
    id         INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    author     TEXT    NOT NULL,
    stack_toml TEXT    NOT NULL,
    note       TEXT
);

-- Every apply or removal, with its progress stored event by event so a page
-- reload (or another browser) sees the same progress.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY,
    revision_id INTEGER REFERENCES config_revisions (id),
    kind        TEXT    NOT NULL,            -- 'apply' | 'down'
    actor       TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    status      TEXT    NOT NULL,            -- 'running' | 'succeeded' | 'failed' | 'interrupted'
    summary     TEXT
);

CREATE TABLE deployment_events (
    id            INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    at_ms         INTEGER NOT NULL,
    event         TEXT    NOT NULL           -- JSON ProgressEvent
);
CREATE INDEX deployment_events_by_deployment ON deployment_events (deployment_id, id);
