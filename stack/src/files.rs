//! File IO around the pure model: key files, the secrets file kept beside a
//! `stack.toml`, rendering to a directory, importing an install from disk.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::import::{self, Imported, PlatformInstall, StoatInstall};
use crate::model::{parse_stack_toml, FieldIssue, StackConfig};
use crate::sealing::SealingKey;
use crate::secrets::Secrets;

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has problems:\n{}", list(.issues))]
    Invalid {
        path: PathBuf,
        issues: Vec<FieldIssue>,
    },
    #[error("{path}: {message}")]
    Secrets { path: PathBuf, message: String },
    #[error("{path}: a key file holds exactly 32 bytes, found {len}")]
    KeyLength { path: PathBuf, len: usize },
    #[error("{path} already exists; refusing to overwrite secrets")]
    WouldOverwrite { path: PathBuf },
    #[error("the OS random source failed: {0}")]
    Random(getrandom::Error),
}

fn list(issues: &[FieldIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `content` to `path` with `mode`, replacing it atomically.
pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), FilesError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(content).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    // The umask may have narrowed the mode; make it exact.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Loads the 32-byte sealing key at `path`, creating it (mode 0600) when missing.
pub fn load_or_create_key(path: &Path) -> Result<SealingKey, FilesError> {
    match fs::read(path) {
        Ok(bytes) => {
            let len = bytes.len();
            let key: [u8; 32] = bytes.try_into().map_err(|_| FilesError::KeyLength {
                path: path.to_path_buf(),
                len,
            })?;
            Ok(SealingKey::from_bytes(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SealingKey::generate().map_err(FilesError::Random)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(io(dir))?;
            }
            // create_new: never replace a key another process just wrote.
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io(path))?;
            f.write_all(key.as_bytes()).map_err(io(path))?;
            f.sync_all().map_err(io(path))?;
            Ok(key)
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// `stack.toml` -> `stack.secrets.toml` beside it.
pub fn secrets_path_for(config_path: &Path) -> PathBuf {
    let stem = config_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stack".into());
    config_path.with_file_name(format!("{stem}.secrets.toml"))
}

/// Reads the secrets file, or generates secrets and writes it (mode 0600).
pub fn load_or_create_secrets(path: &Path) -> Result<Secrets, FilesError> {
    match fs::read_to_string(path) {
        Ok(text) => Secrets::from_toml(&text).map_err(|message| FilesError::Secrets {
            path: path.to_path_buf(),
            message,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secrets = Secrets::generate().map_err(FilesError::Random)?;
            write_secrets(path, &secrets)?;
            Ok(secrets)
        }
        Err(e) => Err(io(path)(e)),
    }
}

fn write_secrets(path: &Path, secrets: &Secrets) -> Result<(), FilesError> {
    let text = format!(
        "# Burrow: this stack's secrets. Keep this file; losing files_encryption_key\n\
         # loses every stored file.\n{}",
        secrets.to_toml()
    );
    write_file(path, text.as_bytes(), 0o600)
}

/// Reads and validates a `stack.toml`; warnings come back with the config.
pub fn read_config(path: &Path) -> Result<(StackConfig, Vec<FieldIssue>), FilesError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    parse_stack_toml(&text)
        .map(|p| (p.config, p.warnings))
        .map_err(|issues| FilesError::Invalid {
            path: path.to_path_buf(),
            issues,
        })
}

/// What `render_to_dir` did.
#[derive(Debug, Clone)]
pub struct RenderReport {
    pub warnings: Vec<FieldIssue>,
    /// Paths written, relative to the output directory.
    pub written: Vec<String>,
    pub secrets_file: PathBuf,
}

/// `burrow render`: writes Revolt.toml, Caddyfile, livekit.yml, the env files,
/// compose.yml and `kubernetes/NN-kind-name.yaml` (one object per file, in
/// apply order) into `out_dir`. Secrets are kept beside the config in
/// `<stem>.secrets.toml` (created on first render, reused after).
pub fn render_to_dir(
    config_path: &Path,
    out_dir: &Path,
    namespace: &str,
) -> Result<RenderReport, FilesError> {
    let (config, mut warnings) = read_config(config_path)?;
    match &config.tls {
        crate::model::TlsMode::SelfSigned => warnings.push(FieldIssue::warning(
            "tls.mode",
            format!(
                "compose.yml mounts {}, {} and {} (relative to {}): put the certificate \
                 issued by Burrow's CA, its key (mode 0600) and the CA's certificate \
                 (mode 0644: the Stoat services, user 65532, trust it) there before \
                 `docker compose up`",
                crate::render::SELF_SIGNED_CERT_SOURCE,
                crate::render::SELF_SIGNED_KEY_SOURCE,
                crate::render::SELF_SIGNED_CA_SOURCE,
                out_dir.display()
            ),
        )),
        crate::model::TlsMode::OwnCertificate { cert_file, key_file } => {
            warnings.push(FieldIssue::warning(
                "tls.cert_file",
                format!("compose.yml mounts {cert_file} and {key_file} from the host: they must exist there"),
            ))
        }
        crate::model::TlsMode::Acme { .. } => {}
    }
    let secrets_file = secrets_path_for(config_path);
    let secrets = load_or_create_secrets(&secrets_file)?;
    let plan = crate::render::render_in(&config, &secrets, namespace);
    let kube_dir = out_dir.join("kubernetes");
    fs::create_dir_all(&kube_dir).map_err(io(&kube_dir))?;
    let mut written = Vec::new();
    for (name, file) in &plan.files {
        write_file(&out_dir.join(name), file.content.as_bytes(), file.mode)?;
        written.push(name.clone());
    }
    write_file(&out_dir.join("compose.yml"), plan.compose.as_bytes(), 0o644)?;
    written.push("compose.yml".into());
    // Objects of an earlier render that no longer exist must not linger.
    if let Ok(entries) = fs::read_dir(&kube_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && !plan.kubernetes.iter().any(|m| m.file_name == name) {
                fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
    }
    for m in &plan.kubernetes {
        let mode = if m.secret { 0o600 } else { 0o644 };
        write_file(&kube_dir.join(&m.file_name), m.yaml.as_bytes(), mode)?;
        written.push(format!("kubernetes/{}", m.file_name));
    }
    Ok(RenderReport {
        warnings,
        written,
        secrets_file,
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, FilesError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Reads a stoatchat/self-hosted directory (Revolt.toml, secrets.env, livekit.yml).
pub fn import_stoat_dir(dir: &Path) -> Result<Imported, FilesError> {
    let revolt_path = dir.join("Revolt.toml");
    let revolt = fs::read_to_string(&revolt_path).map_err(io(&revolt_path))?;
    let env = read_optional(&dir.join("secrets.env"))?;
    let yml = read_optional(&dir.join("livekit.yml"))?;
    let fresh = Secrets::generate().map_err(FilesError::Random)?;
    import::from_stoat(
        &StoatInstall {
            revolt_toml: &revolt,
            secrets_env: env.as_deref(),
            livekit_yml: yml.as_deref(),
        },
        &fresh,
    )
    .map_err(|issues| FilesError::Invalid {
        path: dir.to_path_buf(),
        issues,
    })
}

/// Reads a stoatchat-platform environment file plus, beside it,
/// `vapid.secret.yaml`, `files.secret.yaml` and `<name>.secret-overrides.yaml`.
pub fn import_platform_env(env_file: &Path) -> Result<Imported, FilesError> {
    let env = fs::read_to_string(env_file).map_err(io(env_file))?;
    let dir = env_file.parent().unwrap_or(Path::new("."));
    let stem = env_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut extra = Vec::new();
    for name in [
        "vapid.secret.yaml".to_string(),
        "files.secret.yaml".to_string(),
        format!("{stem}.secret-overrides.yaml"),
    ] {
        if let Some(text) = read_optional(&dir.join(&name))? {
            extra.push((name, text));
        }
    }
    let fresh = Secrets::generate().map_err(FilesError::Random)?;
    import::from_platform(
        &PlatformInstall {
            environment: &env,
            extra: extra
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect(),
        },
        &fresh,
    )
    .map_err(|issues| FilesError::Invalid {
        path: env_file.to_path_buf(),
        issues,
    })
}

/// Writes an import as `config_path` + its secrets file. Refuses to replace
/// an existing secrets file.
pub fn write_imported(imported: &Imported, config_path: &Path) -> Result<PathBuf, FilesError> {
    let secrets_file = secrets_path_for(config_path);
    if secrets_file.exists() {
        return Err(FilesError::WouldOverwrite { path: secrets_file });
    }
    let text = format!(
        "# Imported by Burrow. See `burrow render --config {}`.\n{}",
        config_path.display(),
        toml::to_string(&imported.config).expect("a config serializes")
    );
    write_file(config_path, text.as_bytes(), 0o644)?;
    write_secrets(&secrets_file, &imported.secrets)?;
    Ok(secrets_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/burrow.key");
        let a = load_or_create_key(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        fs::write(&path, b"short").unwrap();
        assert!(matches!(
            load_or_create_key(&path),
            Err(FilesError::KeyLength { len: 5, .. })
        ));
    }

    #[test]
    fn secrets_file_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.secrets.toml");
        let a = load_or_create_secrets(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create_secrets(&path).unwrap(), a);
    }
}
