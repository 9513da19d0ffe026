//! The stack's certificate in the self-signed mode: Burrow's own CA (kept
//! sealed, downloadable from the console) and the leaf it issues for the
//! Stoat domain, kept too so re-applying does not change Caddy's files.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::certs::{BurrowCa, IssuedCert};
use crate::sealed::Vault;
use crate::{EngineError, Store};

const CA_CERT: &str = "burrow_ca_cert";
const CA_KEY: &str = "burrow_ca_key";
const LEAF: &str = "stack_tls_leaf";
/// Apple's limit for certificates of private CAs is 825 days; browsers'
/// public-CA limit is 398. Stay under both.
const LEAF_VALIDITY: Duration = Duration::days(397);
/// Re-issue when less than this is left.
const RENEW_BEFORE: Duration = Duration::days(30);

#[derive(Serialize, Deserialize)]
struct KeptLeaf {
    domain: String,
    cert_pem: String,
    key_pem: String,
    not_after: i64,
}

fn cert_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Certificate(e.to_string())
}

/// The one place Burrow reads an own certificate from: where the TLS step
/// writes what was pasted (`<data dir>/tls/own`).
pub fn own_cert_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("tls").join("own")
}

/// Why a config naming other files as its own certificate is refused.
pub const OWN_CERT_ELSEWHERE: &str = "Burrow reads an own certificate only from what was \
     pasted on the TLS step (kept in its own folder), never from other files on its machine: \
     paste the certificate and its key on the TLS step instead.";

/// Whether `config`'s own certificate is the one kept sealed by Burrow
/// (pasted on the TLS step), named by `OWN_*_SOURCE`.
pub fn kept_own_certificate(config: &stack::model::StackConfig) -> bool {
    matches!(&config.tls, stack::model::TlsMode::OwnCertificate { cert_file, key_file }
        if cert_file.as_str() == stack::render::OWN_CERT_SOURCE
            && key_file.as_str() == stack::render::OWN_KEY_SOURCE)
}

impl Store {
    /// For `burrow apply --config` on the shell: the own certificate files
    /// the operator named are read and checked, kept sealed as if pasted on
    /// the TLS step (never copied to disk), and the config refers to the
    /// kept pair; the next revision saved takes it as its version.
    pub async fn adopt_own_certificate(
        &self,
        vault: &Vault,
        config: &mut stack::model::StackConfig,
    ) -> Result<(), String> {
        if kept_own_certificate(config) {
            return Ok(());
        }
        let stack::model::TlsMode::OwnCertificate {
            cert_file,
            key_file,
        } = &config.tls
        else {
            return Ok(());
        };
        let read = |path: &stack::model::HostPath| {
            std::fs::read_to_string(path.as_str())
                .map_err(|e| format!("cannot read {}: {e}", path.as_str()))
        };
        let (cert, key) = (read(cert_file)?, read(key_file)?);
        crate::certs::check_own_certificate(
            &cert,
            &key,
            config.domain.as_str(),
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })?;
        self.put_draft_own_tls(vault, &cert, &key)
            .await
            .map_err(|e| e.to_string())?;
        config.tls = stack::model::TlsMode::OwnCertificate {
            cert_file: stack::model::HostPath::parse(stack::render::OWN_CERT_SOURCE)
                .map_err(|e| e.to_string())?,
            key_file: stack::model::HostPath::parse(stack::render::OWN_KEY_SOURCE)
                .map_err(|e| e.to_string())?,
        };
        Ok(())
    }

    /// Refuses an own-certificate config whose files are not the two the TLS
    /// step wrote (after following links): a pasted stack.toml or an old
    /// revision must not make Burrow read and upload any file of its
    /// machine (its key file, /etc/shadow).
    pub fn own_certificate_allowed(
        &self,
        config: &stack::model::StackConfig,
    ) -> Result<(), String> {
        let stack::model::TlsMode::OwnCertificate {
            cert_file,
            key_file,
        } = &config.tls
        else {
            return Ok(());
        };
        if kept_own_certificate(config) {
            return Ok(());
        }
        let data_dir = self.path().parent().unwrap_or(std::path::Path::new("."));
        let refused = || OWN_CERT_ELSEWHERE.to_owned();
        let dir = std::fs::canonicalize(own_cert_dir(data_dir)).map_err(|_| refused())?;
        for (path, name) in [
            (cert_file.as_str(), "fullchain.pem"),
            (key_file.as_str(), "privkey.pem"),
        ] {
            let real = std::fs::canonicalize(path).map_err(|_| refused())?;
            if real != dir.join(name) {
                return Err(refused());
            }
        }
        Ok(())
    }

    /// Burrow's CA if it exists already.
    pub async fn existing_burrow_ca(&self, vault: &Vault) -> Result<Option<BurrowCa>, EngineError> {
        let cert = self.secret(vault, CA_CERT).await?;
        let key = self.secret(vault, CA_KEY).await?;
        match (cert, key) {
            (Some(cert), Some(key)) => BurrowCa::restore(&cert, &key).map(Some).map_err(cert_error),
            _ => Ok(None),
        }
    }

    /// The CA Burrow's own probes of `config`'s stack trust: Burrow's CA
    /// when the stack's certificate comes from it; a private ACME
    /// directory's root (private CAs such as step-ca issue under the root
    /// their directory is served with); else none (public roots).
    pub async fn probe_ca_pem(
        &self,
        vault: &Vault,
        config: &stack::model::StackConfig,
    ) -> Option<String> {
        match &config.tls {
            stack::model::TlsMode::SelfSigned => {}
            stack::model::TlsMode::Acme {
                directory_ca: Some(root),
                ..
            } => return Some(root.as_str().to_owned()),
            _ => return None,
        }
        self.existing_burrow_ca(vault)
            .await
            .ok()
            .flatten()
            .map(|ca| ca.ca_pem().to_owned())
    }

    /// Burrow's CA, created and kept on first use.
    pub async fn burrow_ca(&self, vault: &Vault) -> Result<BurrowCa, EngineError> {
        if let Some(ca) = self.existing_burrow_ca(vault).await? {
            return Ok(ca);
        }
        let ca = BurrowCa::generate("Burrow private CA").map_err(cert_error)?;
        self.put_secret(vault, CA_KEY, &ca.key_pem()).await?;
        self.put_secret(vault, CA_CERT, ca.ca_pem()).await?;
        Ok(ca)
    }

    /// The certificate Caddy serves for `domain` in the self-signed mode:
    /// the kept one while it is for this domain and not near expiry.
    pub async fn stack_leaf(&self, vault: &Vault, domain: &str) -> Result<IssuedCert, EngineError> {
        if let Some(text) = self.secret(vault, LEAF).await? {
            if let Ok(kept) = serde_json::from_str::<KeptLeaf>(&text) {
                let fresh = OffsetDateTime::now_utc() + RENEW_BEFORE;
                if kept.domain == domain && kept.not_after > fresh.unix_timestamp() {
                    return Ok(IssuedCert {
                        cert_pem: kept.cert_pem,
                        key_pem: kept.key_pem,
                    });
                }
            }
        }
        let ca = self.burrow_ca(vault).await?;
        let leaf = ca.issue_leaf(domain, LEAF_VALIDITY).map_err(cert_error)?;
        let not_after = (OffsetDateTime::now_utc() + LEAF_VALIDITY).min(ca.not_after());
        let kept = KeptLeaf {
            domain: domain.to_string(),
            cert_pem: leaf.cert_pem.clone(),
            key_pem: leaf.key_pem.clone(),
            not_after: not_after.unix_timestamp(),
        };
        let text = serde_json::to_string(&kept).map_err(cert_error)?;
        self.put_secret(vault, LEAF, &text).await?;
        Ok(leaf)
    }
}

#[cfg(test)]
mod own_certificate_tests {
    use super::*;

    fn own(cert: &str, key: &str) -> stack::model::StackConfig {
        let text = format!(
            "domain = \"chat.example.com\"\n[tls]\nmode = \"own\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n"
        );
        stack::model::parse_stack_toml(&text).unwrap().config
    }

    #[tokio::test]
    async fn only_the_files_the_tls_step_wrote_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let own_dir = own_cert_dir(dir.path());
        // Nothing pasted yet: any path is refused.
        let key = dir.path().join("secrets.key");
        std::fs::write(&key, "k").unwrap();
        for (cert, key) in [
            ("/etc/passwd", key.to_str().unwrap()),
            ("/etc/hostname", "/etc/hostname"),
        ] {
            assert_eq!(
                store.own_certificate_allowed(&own(cert, key)),
                Err(OWN_CERT_ELSEWHERE.to_owned()),
                "{cert}"
            );
        }
        std::fs::create_dir_all(&own_dir).unwrap();
        let (c, k) = (own_dir.join("fullchain.pem"), own_dir.join("privkey.pem"));
        std::fs::write(&c, "cert").unwrap();
        std::fs::write(&k, "key").unwrap();
        let ok = own(c.to_str().unwrap(), k.to_str().unwrap());
        assert_eq!(store.own_certificate_allowed(&ok), Ok(()));
        // Swapped, or reached through a link: refused.
        let swapped = own(k.to_str().unwrap(), c.to_str().unwrap());
        assert!(store.own_certificate_allowed(&swapped).is_err());
        std::fs::remove_file(&k).unwrap();
        std::os::unix::fs::symlink(&key, &k).unwrap();
        assert!(
            store.own_certificate_allowed(&ok).is_err(),
            "a link out of the folder"
        );
        // (A path with '..' never gets this far: the model refuses it.)
    }

    #[tokio::test]
    async fn files_named_on_the_command_line_are_kept_sealed_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data).await.unwrap();
        let vault = Vault::open(&data.join("secrets.key")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ca = BurrowCa::generate("CLI test CA").unwrap();
        let leaf = ca
            .issue_leaf("chat.example.com", time::Duration::days(30))
            .unwrap();
        let (c, k) = (outside.path().join("c.pem"), outside.path().join("k.pem"));
        std::fs::write(&c, &leaf.cert_pem).unwrap();
        std::fs::write(&k, &leaf.key_pem).unwrap();
        let mut config = own(c.to_str().unwrap(), k.to_str().unwrap());
        assert!(store.own_certificate_allowed(&config).is_err());
        store
            .adopt_own_certificate(&vault, &mut config)
            .await
            .unwrap();
        assert!(kept_own_certificate(&config));
        assert_eq!(store.own_certificate_allowed(&config), Ok(()));
        // Kept sealed as the pasted pair; nothing written under the data dir.
        let kept = store.draft_own_tls(&vault).await.unwrap().unwrap();
        assert!(kept.contains("BEGIN"), "the pair is kept");
        assert!(!own_cert_dir(&data).exists());
        // The next revision refers to it, and the deploy gets the pair.
        let (meta, _) = store
            .save_revision(
                &vault,
                &config,
                &crate::targets::TargetSettings::local_docker(),
                "cli",
                None,
            )
            .await
            .unwrap();
        let revision = store.revision(&vault, meta.id).await.unwrap().unwrap();
        let (cert, key) = store
            .revision_own_tls(&vault, &revision)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (cert.as_str(), key.as_str()),
            (leaf.cert_pem.as_str(), leaf.key_pem.as_str())
        );

        // Files that are no certificate and key for the domain are refused.
        std::fs::write(&k, "not a key").unwrap();
        let mut bad = own(c.to_str().unwrap(), k.to_str().unwrap());
        let err = store
            .adopt_own_certificate(&vault, &mut bad)
            .await
            .unwrap_err();
        assert!(err.contains("private key could not be read"), "{err}");
        let mut missing = own("/nonexistent/c.pem", k.to_str().unwrap());
        let err = store
            .adopt_own_certificate(&vault, &mut missing)
            .await
            .unwrap_err();
        assert!(err.starts_with("cannot read /nonexistent/c.pem"), "{err}");
    }
}
