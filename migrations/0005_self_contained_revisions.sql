-- Self-contained revisions: a revision names the versions of the secrets it
-- was saved with and the deploy target it goes to, so deploying it again
-- weeks later renders the same bytes.

-- Every value a secret ever had, sealed like sealed_secrets; rows are never
-- changed, a new value is a new row.
CREATE TABLE secret_versions (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,          -- 'stack', 'smtp_password', 'kubeconfig'
    sealed     BLOB    NOT NULL,          -- nonce || ciphertext
    created_at INTEGER NOT NULL
);
CREATE INDEX secret_versions_by_name ON secret_versions (name, id);

-- The values kept so far become the first versions (the sealed bytes are
-- copied as they are: same key, same format).
INSERT INTO secret_versions (name, sealed, created_at)
    SELECT name, sealed, updated_at FROM sealed_secrets WHERE name IN ('stack', 'smtp_password')
    ORDER BY name;
DELETE FROM sealed_secrets WHERE name = 'stack';

-- schema 1: revisions saved before this migration (target from the kept
-- wizard settings, secrets as they were at migration time); schema 2: with
-- its own target and secret versions.
ALTER TABLE config_revisions ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE config_revisions ADD COLUMN target TEXT;      -- JSON TargetSettings
ALTER TABLE config_revisions ADD COLUMN stack_secrets_version INTEGER REFERENCES secret_versions (id);
ALTER TABLE config_revisions ADD COLUMN smtp_password_version INTEGER REFERENCES secret_versions (id);
ALTER TABLE config_revisions ADD COLUMN kubeconfig_version INTEGER REFERENCES secret_versions (id);
UPDATE config_revisions SET
    stack_secrets_version = (SELECT MAX(id) FROM secret_versions WHERE name = 'stack'),
    smtp_password_version = (SELECT MAX(id) FROM secret_versions WHERE name = 'smtp_password');

-- A running deployment has an owner: at start-up only runs whose owner is
-- gone (another pid on this host that no longer exists, or no heartbeat for
-- a while) are marked interrupted.
ALTER TABLE deployments ADD COLUMN owner_pid INTEGER;
ALTER TABLE deployments ADD COLUMN owner_host TEXT;
ALTER TABLE deployments ADD COLUMN heartbeat_at INTEGER;
