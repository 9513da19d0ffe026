//! The console's own HTTPS certificate when Burrow listens beyond loopback:
//! generated once (rcgen), kept in the data dir, identified by its SHA-256
//! fingerprint so the operator can check what the browser shows.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::EngineError;

pub struct ConsoleCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl ConsoleCert {
    /// Loads `console-cert.pem` / `console-key.pem` from `data_dir`, creating a
    /// self-signed pair for `names` on first use.
    pub fn load_or_create(data_dir: &Path, names: Vec<String>) -> Result<Self, EngineError> {
        let cert_path = data_dir.join("console-cert.pem");
        let key_path = data_dir.join("console-key.pem");
        if cert_path.exists() && key_path.exists() {
            return Self::load(&cert_path, &key_path);
        }
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| EngineError::Certificate(e.to_string()))?;
        let cert_pem = certified.cert.pem();
        let key_pem = certified.key_pair.serialize_pem();
        write_private(&key_path, key_pem.as_bytes())?;
        write_private(&cert_path, cert_pem.as_bytes())?;
        Ok(Self {
            cert_pem,
            key_pem,
            cert_path,
            key_path,
        })
    }

    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, EngineError> {
        Ok(Self {
            cert_pem: std::fs::read_to_string(cert_path)?,
            key_pem: std::fs::read_to_string(key_path)?,
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
        })
    }

    /// SHA-256 over the DER of the first certificate, as `AB:CD:…`.
    pub fn fingerprint(&self) -> Result<String, EngineError> {
        let der = first_pem_block(&self.cert_pem)
            .ok_or_else(|| EngineError::Certificate("no CERTIFICATE block in PEM".into()))?;
        Ok(Sha256::digest(der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"))
    }
}

fn first_pem_block(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + pem[start..].find("-----END CERTIFICATE-----")?;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = ConsoleCert::load_or_create(dir.path(), vec!["burrow.test".into()]).unwrap();
        let fp = first.fingerprint().unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        let second = ConsoleCert::load_or_create(dir.path(), vec!["burrow.test".into()]).unwrap();
        assert_eq!(second.fingerprint().unwrap(), fp);
    }
}
