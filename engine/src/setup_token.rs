//! The one-time setup token that proves the person in the browser also
//! controls the machine: printed to the log, written to `setup-token` (0600)
//! in the data dir, and deleted once the first admin exists.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

pub const FILE_NAME: &str = "setup-token";

pub struct SetupToken {
    value: String,
    file: PathBuf,
}

impl std::fmt::Debug for SetupToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupToken")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl SetupToken {
    /// A fresh 256-bit token, written to `data_dir/setup-token` with mode 0600
    /// (replacing a token from an earlier start).
    pub fn create(data_dir: &Path) -> std::io::Result<Self> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let file = data_dir.join(FILE_NAME);
        let _ = std::fs::remove_file(&file);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut handle = options.open(&file)?;
        handle.write_all(value.as_bytes())?;
        handle.write_all(b"\n")?;
        Ok(Self { value, file })
    }

    /// The token itself, for the one startup log line that hands it over.
    pub fn reveal(&self) -> &str {
        &self.value
    }

    /// Constant-time comparison with what the user typed.
    pub fn matches(&self, typed: &str) -> bool {
        let typed = typed.trim();
        typed.len() == self.value.len() && bool::from(typed.as_bytes().ct_eq(self.value.as_bytes()))
    }

    /// Removes the token file; called once the first admin exists.
    pub fn discard(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_private_and_matches() {
        let dir = tempfile::tempdir().unwrap();
        let token = SetupToken::create(dir.path()).unwrap();
        let on_disk = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(token.matches(&on_disk));
        assert!(token.reveal().len() >= 43, "at least 256 bits");
        assert!(!token.matches("wrong"));
        assert!(!token.matches(""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{token:?}").contains(token.reveal()));
        token.discard().unwrap();
        assert!(!dir.path().join(FILE_NAME).exists());
        token.discard().unwrap();
    }
}
