//! The data directory holds the database (live session ids, the audit log,
//! sealed secrets) and keys: it is Burrow's alone. At start-up it is made
//! 0700 with every directory in it 0700 and every file 0600, whatever the
//! umask left, and each repair is logged. The database file is created 0600
//! before SQLite opens it, and SQLite gives its WAL and shared-memory files
//! the database file's mode.

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A path whose mode was changed, and from what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub path: PathBuf,
    pub was: u32,
    pub now: u32,
}

/// Creates `dir` if needed and makes it and everything in it private
/// (directories 0700, files 0600). Symbolic links are left alone (their
/// targets are not ours to change).
pub fn make_private(dir: &Path) -> io::Result<Vec<Repaired>> {
    let repaired = tighten(dir)?;
    for r in &repaired {
        tracing::warn!(
            path = %r.path.display(),
            was = format!("{:o}", r.was),
            now = format!("{:o}", r.now),
            "data file permissions tightened"
        );
    }
    Ok(repaired)
}

/// [`make_private`] without a log line: for folders Burrow makes and fills
/// itself (files written by libraries with the umask's mode).
pub fn tighten(dir: &Path) -> io::Result<Vec<Repaired>> {
    fs::create_dir_all(dir)?;
    let mut repaired = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path)?;
        let want = if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
            0o700
        } else if meta.is_file() {
            0o600
        } else {
            continue;
        };
        let was = meta.permissions().mode() & 0o7777;
        if was != want {
            fs::set_permissions(&path, fs::Permissions::from_mode(want))?;
            repaired.push(Repaired {
                path,
                was,
                now: want,
            });
        }
    }
    Ok(repaired)
}

/// Creates `path` empty with mode 0600 unless it exists.
pub fn create_private(path: &Path) -> io::Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn everything_inside_becomes_private_and_each_repair_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir_all(data.join("tls/own")).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(data.join("tls"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(data.join("burrow.db"), b"x").unwrap();
        fs::set_permissions(data.join("burrow.db"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(data.join("tls/own/fullchain.pem"), b"x").unwrap();
        fs::set_permissions(
            data.join("tls/own/fullchain.pem"),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        fs::write(data.join("secrets.key"), b"k").unwrap();
        fs::set_permissions(data.join("secrets.key"), fs::Permissions::from_mode(0o600)).unwrap();

        let repaired = make_private(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("tls")), 0o700);
        assert_eq!(mode(&data.join("tls/own")), 0o700);
        assert_eq!(mode(&data.join("burrow.db")), 0o600);
        assert_eq!(mode(&data.join("tls/own/fullchain.pem")), 0o600);
        let db = repaired
            .iter()
            .find(|r| r.path.ends_with("burrow.db"))
            .unwrap();
        assert_eq!((db.was, db.now), (0o644, 0o600));
        assert!(
            !repaired.iter().any(|r| r.path.ends_with("secrets.key")),
            "already private: not reported"
        );
        assert!(
            make_private(&data).unwrap().is_empty(),
            "nothing left to repair"
        );
    }

    #[test]
    fn a_new_file_is_private_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("burrow.db");
        create_private(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        fs::write(&db, b"data").unwrap();
        create_private(&db).unwrap();
        assert_eq!(fs::read(&db).unwrap(), b"data", "an existing file is kept");
    }
}
