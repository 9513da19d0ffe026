//! Docker over TLS, as `DOCKER_TLS_VERIFY=1` with `DOCKER_CERT_PATH` sets it
//! up for the docker CLI: the daemon's CA (`ca.pem`), Burrow's client
//! certificate (`cert.pem`) and its key (`key.pem`). The three are pasted
//! in the wizard and kept sealed; they are used from memory, never written
//! to a file, and only the given CA is trusted for the daemon (not the
//! system's roots: a public certificate for the same name is no daemon of
//! the operator's).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The three PEM texts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerTls {
    /// The CA that signed the daemon's certificate (`ca.pem`).
    pub ca: String,
    /// Burrow's client certificate, signed by a CA the daemon trusts.
    pub cert: String,
    /// The client certificate's private key.
    pub key: String,
}

impl std::fmt::Debug for DockerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerTls")
            .field("fingerprint", &hex::encode(&self.fingerprint()[..8]))
            .finish_non_exhaustive()
    }
}

/// Which of the three a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPart {
    Ca,
    Cert,
    Key,
}

impl DockerTls {
    /// The three as pasted, checked: each readable, the client certificate
    /// valid now and usable for client authentication, the key its own.
    /// Every problem is named with the part it is about.
    pub fn new(
        ca: &str,
        cert: &str,
        key: &str,
        now: time::OffsetDateTime,
    ) -> Result<Self, Vec<(TlsPart, String)>> {
        let tls = Self {
            ca: ca.trim().to_owned() + "\n",
            cert: cert.trim().to_owned() + "\n",
            key: key.trim().to_owned() + "\n",
        };
        let mut problems = Vec::new();
        if let Err(why) = certificates(&tls.ca, "the CA certificate (ca.pem)") {
            problems.push((TlsPart::Ca, why));
        }
        match certificates(&tls.cert, "the client certificate (cert.pem)") {
            Err(why) => problems.push((TlsPart::Cert, why)),
            Ok(ders) => {
                if let Some(why) = client_use(&ders[0], now) {
                    problems.push((TlsPart::Cert, why));
                }
            }
        }
        match PrivateKeyDer::from_pem_slice(tls.key.as_bytes()) {
            Err(_) => problems.push((
                TlsPart::Key,
                if tls.key.contains("ENCRYPTED") {
                    "This key is encrypted: paste it without a passphrase (openssl pkey -in \
                     key.pem), as the docker CLI reads it."
                        .to_owned()
                } else {
                    "This is not a private key in PEM: paste key.pem, which starts with \
                     -----BEGIN … PRIVATE KEY-----."
                        .to_owned()
                },
            )),
            Ok(_) if problems.iter().all(|(part, _)| *part != TlsPart::Cert) => {
                if tls.client_config().is_err() {
                    problems.push((
                        TlsPart::Key,
                        "This key does not belong to the client certificate: paste the key.pem \
                         made together with that cert.pem."
                            .to_owned(),
                    ));
                }
            }
            Ok(_) => {}
        }
        if problems.is_empty() {
            Ok(tls)
        } else {
            Err(problems)
        }
    }

    /// The TLS client settings: only [`DockerTls::ca`] is trusted, and the
    /// client certificate is offered.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let mut roots = rustls::RootCertStore::empty();
        for der in certificates(&self.ca, "the CA certificate")? {
            roots
                .add(der)
                .map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
        }
        let chain = certificates(&self.cert, "the client certificate")?;
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes())
            .map_err(|_| "the client key is not readable".to_owned())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("the client certificate and key cannot be used: {e}"))
    }

    /// SHA-256 over the three texts: one connection per address and set.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [&self.ca, &self.cert, &self.key] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hash.finalize().into()
    }

    /// As kept sealed (JSON).
    pub(crate) fn to_sealed_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn from_sealed_text(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|_| "the kept Docker TLS settings are damaged".into())
    }
}

/// The certificates in `pem` (at least one), or why there are none.
fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if pem.contains("PRIVATE KEY") {
        return Err(format!(
            "This is a private key: {what} goes here, and the key in the key field."
        ));
    }
    let ders: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("This is not readable as {what} in PEM."))?;
    if ders.is_empty() {
        return Err(format!(
            "No certificate was found: paste {what}, which starts with -----BEGIN CERTIFICATE-----."
        ));
    }
    for der in &ders {
        if X509Certificate::from_der(der).is_err() {
            return Err(format!("This is not readable as {what} (X.509)."));
        }
    }
    Ok(ders)
}

/// Why the client certificate `der` will be refused by the daemon, if it
/// will: outside its validity, or made for servers only.
fn client_use(der: &CertificateDer<'_>, now: time::OffsetDateTime) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let validity = cert.validity();
    if validity.not_after.timestamp() < now.unix_timestamp() {
        return Some(format!(
            "This client certificate expired on {}: make a new one with the daemon's CA.",
            crate::certs::date(validity.not_after.to_datetime())
        ));
    }
    if validity.not_before.timestamp() > now.unix_timestamp() {
        return Some(format!(
            "This client certificate is not valid until {}: check this machine's clock.",
            crate::certs::date(validity.not_before.to_datetime())
        ));
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if !eku.value.client_auth && !eku.value.any {
            return Some(
                "This certificate is not made for client authentication (its extended key \
                 usage lacks clientAuth), so the daemon will refuse it: paste the client's \
                 cert.pem, not the server's."
                    .to_owned(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};

    use super::{DockerTls, TlsPart};

    struct Made {
        ca: String,
        cert: String,
        key: String,
    }

    /// A CA and a certificate it signed with `usage`, valid `days` from now
    /// (negative: already expired).
    fn made(usage: ExtendedKeyUsagePurpose, days: i64) -> Made {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["burrow".to_owned()]).unwrap();
        leaf.extended_key_usages = vec![usage];
        let now = time::OffsetDateTime::now_utc();
        leaf.not_before = now - time::Duration::days(400);
        leaf.not_after = now + time::Duration::days(days);
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        Made {
            ca: ca_cert.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn problems(ca: &str, cert: &str, key: &str) -> Vec<(TlsPart, String)> {
        DockerTls::new(ca, cert, key, time::OffsetDateTime::now_utc()).unwrap_err()
    }

    #[test]
    fn a_client_set_is_accepted_and_its_debug_shows_no_key() {
        let m = made(ExtendedKeyUsagePurpose::ClientAuth, 30);
        let tls = DockerTls::new(&m.ca, &m.cert, &m.key, time::OffsetDateTime::now_utc()).unwrap();
        let shown = format!("{tls:?}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        let sealed = tls.to_sealed_text();
        assert_eq!(DockerTls::from_sealed_text(&sealed).unwrap(), tls);
        assert!(DockerTls::from_sealed_text("{}").is_err());
    }

    #[test]
    fn each_problem_is_named_with_its_part() {
        let m = made(ExtendedKeyUsagePurpose::ClientAuth, 30);
        let other = made(ExtendedKeyUsagePurpose::ClientAuth, 30);
        // Another certificate's key.
        let p = problems(&m.ca, &m.cert, &other.key);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, TlsPart::Key);
        assert!(p[0].1.starts_with("This key does not belong"), "{p:?}");
        // The key pasted where the CA goes, nothing where the certificate goes.
        let p = problems(&m.key, "", &m.key);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].0, TlsPart::Ca);
        assert!(p[0].1.starts_with("This is a private key"), "{p:?}");
        assert_eq!(p[1].0, TlsPart::Cert);
        assert!(p[1].1.starts_with("No certificate was found"), "{p:?}");
        // Garbage as the key; an encrypted key.
        let p = problems(&m.ca, &m.cert, "not a key");
        assert_eq!(p, [(TlsPart::Key, p[0].1.clone())]);
        assert!(p[0].1.starts_with("This is not a private key"), "{p:?}");
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let p = problems(&m.ca, &m.cert, encrypted);
        assert!(p[0].1.starts_with("This key is encrypted"), "{p:?}");
    }

    #[test]
    fn a_server_or_expired_certificate_is_refused_before_the_daemon_does() {
        let server = made(ExtendedKeyUsagePurpose::ServerAuth, 30);
        let p = problems(&server.ca, &server.cert, &server.key);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, TlsPart::Cert);
        assert!(p[0].1.contains("lacks clientAuth"), "{p:?}");
        let old = made(ExtendedKeyUsagePurpose::ClientAuth, -1);
        let p = problems(&old.ca, &old.cert, &old.key);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].1.starts_with("This client certificate expired on"),
            "{p:?}"
        );
    }

    #[test]
    fn the_fingerprint_tells_sets_apart() {
        let a = made(ExtendedKeyUsagePurpose::ClientAuth, 30);
        let b = made(ExtendedKeyUsagePurpose::ClientAuth, 30);
        let now = time::OffsetDateTime::now_utc();
        let ta = DockerTls::new(&a.ca, &a.cert, &a.key, now).unwrap();
        let tb = DockerTls::new(&a.ca, &b.cert, &b.key, now);
        // b's certificate is signed by b's CA, which is fine for the check
        // (the daemon decides); the sets differ.
        let tb = tb.unwrap();
        assert_ne!(ta.fingerprint(), tb.fingerprint());
        let again = DockerTls::new(&format!("\n{}\n\n", a.ca), &a.cert, &a.key, now).unwrap();
        assert_eq!(ta.fingerprint(), again.fingerprint());
    }
}
