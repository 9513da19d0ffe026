-- The update channel set on the Updates page (BURROW_CHANNEL_* override
-- it), and every check of it with its outcome.
CREATE TABLE update_channel (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    url TEXT NOT NULL,
    root TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE update_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    checked_at INTEGER NOT NULL,
    -- The release offered (JSON), or NULL.
    release TEXT,
    -- Why none is offered, or NULL.
    refusal TEXT
);
