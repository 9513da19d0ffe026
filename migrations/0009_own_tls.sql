-- An own certificate and its key are kept sealed as secret versions
-- ('own_tls'), and a revision refers to the version it was saved with.
ALTER TABLE config_revisions ADD COLUMN own_tls_version INTEGER;
