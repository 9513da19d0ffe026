-- Secrets kept for the stack (and the SMTP password), each sealed with
-- XChaCha20-Poly1305 under a key file kept outside this database: a copy of
-- the database alone reveals none of them.
CREATE TABLE sealed_secrets (
    name       TEXT    PRIMARY KEY,   -- 'stack', 'smtp_password', ...
    sealed     BLOB    NOT NULL,      -- nonce || ciphertext
    updated_at INTEGER NOT NULL
);
