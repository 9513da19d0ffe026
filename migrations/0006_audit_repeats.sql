-- Repeated refusals (a throttled sign-in tried again and again) are one row
-- with a count, so a flood of requests cannot grow the log without bound.
ALTER TABLE audit_log ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
