-- Automatic updates: off, or on inside a weekly maintenance window (days as
-- a bit set, Monday = bit 0; start and end in minutes after midnight UTC).
CREATE TABLE update_policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enabled INTEGER NOT NULL,
    days INTEGER NOT NULL,
    start_minute INTEGER NOT NULL,
    end_minute INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
