-- Every update of the stack, journalled: the phase is written before each
-- step is taken, so a rollout interrupted anywhere resumes at start-up.
CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    actor TEXT NOT NULL,
    -- release.json as verified (JSON).
    release TEXT NOT NULL,
    from_revision INTEGER NOT NULL,
    to_revision INTEGER,
    backup TEXT,
    -- engine::update::rollout::Phase (JSON).
    phase TEXT NOT NULL
);
