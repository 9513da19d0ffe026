-- Who drives a rollout (the lock: one at a time, and a lock whose owner
-- died clears itself), and the boot a deployment's owner ran in (a pid
-- recorded before a reboot names nobody after it).
ALTER TABLE rollouts ADD COLUMN owner_pid INTEGER;
ALTER TABLE rollouts ADD COLUMN owner_host TEXT;
ALTER TABLE rollouts ADD COLUMN owner_boot TEXT;
ALTER TABLE rollouts ADD COLUMN heartbeat_at INTEGER;
ALTER TABLE deployments ADD COLUMN owner_boot TEXT;

-- Every step a rollout took: when, how long, how it ended (the Updates
-- page's step log).
CREATE TABLE rollout_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    step TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    took_ms INTEGER NOT NULL,
    -- NULL: done; else why it failed.
    error TEXT
);
CREATE INDEX rollout_steps_by_rollout ON rollout_steps (rollout_id, id);
