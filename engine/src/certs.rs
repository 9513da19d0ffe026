//! Certificates for the Stoat domain: Burrow's own CA (for installs without a
//! public certificate, whose root the operator hands out) and the checks run
//! on a certificate the operator uploads, each problem phrased with its fix.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// How long Burrow's CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Backdating, so a client whose clock is a little behind still accepts.
const CLOCK_SKEW: Duration = Duration::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("could not create the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the stored CA is unreadable: {0}")]
    StoredCa(String),
}

/// Burrow's certificate authority: signs the leaf certificate for the Stoat
/// domain when the operator has none of their own.
pub struct BurrowCa {
    key: KeyPair,
    /// Re-created from `key` on restore; only used to sign.
    signer: rcgen::Certificate,
    pem: String,
    der: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for BurrowCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurrowCa")
            .field("sha256", &self.sha256_fingerprint())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl BurrowCa {
    pub fn generate(common_name: &str) -> Result<Self, CertError> {
        let now = OffsetDateTime::now_utc();
        let key = KeyPair::generate()?;
        let mut serial = [0u8; 16];
        rand::Rng::fill(&mut rand::thread_rng(), &mut serial);
        serial[0] &= 0x7f;
        // Whole seconds, as X.509 stores them, so a restored CA reads back the same.
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let (not_before, not_after) = (now - CLOCK_SKEW, now + CA_VALIDITY);
        let params = ca_params(common_name, not_before, not_after, serial.to_vec());
        let signer = params.self_signed(&key)?;
        let der = signer.der().to_vec();
        Ok(Self {
            pem: signer.pem(),
            key,
            signer,
            der,
            not_before,
            not_after,
        })
    }

    /// Restores a CA kept as `ca_pem()` and `key_pem()`.
    pub fn restore(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        let bad = |m: &str| CertError::StoredCa(m.to_owned());
        let key = KeyPair::from_pem(key_pem).map_err(|e| CertError::StoredCa(e.to_string()))?;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| bad("no certificate in PEM"))?;
        let (_, cert) = X509Certificate::from_der(&der).map_err(|_| bad("not X.509"))?;
        if cert.public_key().raw != key.public_key_der().as_slice() {
            return Err(bad("key does not match the certificate"));
        }
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or_else(|| bad("no common name"))?
            .to_owned();
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        // Same name and key as the original, so what it signs chains to the
        // original certificate the operator distributed.
        let params = ca_params(
            &common_name,
            not_before,
            not_after,
            cert.raw_serial().to_vec(),
        );
        let signer = params.self_signed(&key)?;
        Ok(Self {
            key,
            signer,
            pem: cert_pem.to_owned(),
            der: der.to_vec(),
            not_before,
            not_after,
        })
    }

    /// A leaf for `domain` (SAN DNS), valid from now for `validity`.
    pub fn issue_leaf(&self, domain: &str, validity: Duration) -> Result<IssuedCert, CertError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(vec![domain.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, domain);
        params.distinguished_name = dn;
        params.not_before = now - CLOCK_SKEW;
        params.not_after = (now + validity).min(self.not_after);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.signer, &self.key)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.pem
    }

    pub fn ca_der(&self) -> &[u8] {
        &self.der
    }

    /// The CA's private key (PEM); store it readable by Burrow only.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// SHA-256 over the DER, as `AB:CD:…`.
    pub fn sha256_fingerprint(&self) -> String {
        fingerprint(&self.der)
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
}

fn ca_params(
    common_name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    serial: Vec<u8>,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What the operator's certificate covers, once it passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSummary {
    pub names: Vec<String>,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub sha256_fingerprint: String,
    pub chain_len: usize,
}

/// One thing wrong with an uploaded certificate; `Display` is the sentence
/// with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CertProblem {
    #[error("No certificate was found: paste the PEM file that starts with -----BEGIN CERTIFICATE-----.")]
    NoCertificate,
    #[error("Certificate {position} in the file is not a readable X.509 certificate: paste the PEM exactly as your provider gave it.")]
    Unreadable { position: usize },
    #[error("The private key could not be read: paste the unencrypted PEM key (PKCS#8, EC or RSA) that belongs to this certificate.")]
    UnreadableKey,
    #[error("The private key does not belong to the certificate: upload the key that was generated together with this certificate.")]
    KeyMismatch,
    #[error("The certificate covers {names} but not {domain}: get a certificate that includes {domain}.")]
    WrongDomain { domain: String, names: String },
    #[error("Certificate {position} expired on {date}: renew it and upload the new one.")]
    Expired { position: usize, date: String },
    #[error("Certificate {position} is not valid until {date}: check this machine's clock, or wait until then.")]
    NotYetValid { position: usize, date: String },
    #[error("Certificate {next} did not issue certificate {position}: order the file as your certificate first, then each intermediate, each followed by the one that signed it.")]
    ChainOrder { position: usize, next: usize },
}

/// Checks an uploaded certificate chain and key for `domain` at `now`.
/// Positions in problems count from 1, as the operator sees the file.
pub fn check_own_certificate(
    cert_chain_pem: &str,
    key_pem: &str,
    domain: &str,
    now: OffsetDateTime,
) -> Result<CertSummary, Vec<CertProblem>> {
    let ders: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes()).collect() {
            Ok(ders) => ders,
            Err(_) => return Err(vec![CertProblem::Unreadable { position: 1 }]),
        };
    if ders.is_empty() {
        return Err(vec![CertProblem::NoCertificate]);
    }
    let mut certs = Vec::with_capacity(ders.len());
    for (i, der) in ders.iter().enumerate() {
        match X509Certificate::from_der(der) {
            Ok((_, cert)) => certs.push(cert),
            Err(_) => return Err(vec![CertProblem::Unreadable { position: i + 1 }]),
        }
    }
    let leaf = &certs[0];
    let mut problems = Vec::new();

    match key_spki(key_pem) {
        None => problems.push(CertProblem::UnreadableKey),
        Some(Some(spki)) if spki != leaf.public_key().raw => {
            problems.push(CertProblem::KeyMismatch)
        }
        Some(_) => {}
    }

    let names = dns_names(leaf);
    if !names.iter().any(|name| covers(name, domain)) {
        problems.push(CertProblem::WrongDomain {
            domain: domain.to_owned(),
            names: if names.is_empty() {
                "no domain names".to_owned()
            } else {
                names.join(", ")
            },
        });
    }

    let now_ts = now.unix_timestamp();
    for (i, cert) in certs.iter().enumerate() {
        let validity = cert.validity();
        if validity.not_after.timestamp() < now_ts {
            problems.push(CertProblem::Expired {
                position: i + 1,
                date: date(validity.not_after.to_datetime()),
            });
        } else if validity.not_before.timestamp() > now_ts {
            problems.push(CertProblem::NotYetValid {
                position: i + 1,
                date: date(validity.not_before.to_datetime()),
            });
        }
    }

    for (i, pair) in certs.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        let issued = child.issuer() == parent.subject()
            && child.verify_signature(Some(parent.public_key())).is_ok();
        if !issued {
            problems.push(CertProblem::ChainOrder {
                position: i + 1,
                next: i + 2,
            });
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(CertSummary {
        names,
        issuer: leaf.issuer().to_string(),
        not_before: leaf.validity().not_before.timestamp(),
        not_after: leaf.validity().not_after.timestamp(),
        sha256_fingerprint: fingerprint(&ders[0]),
        chain_len: certs.len(),
    })
}

/// `None`: unreadable. `Some(None)`: readable, but the public key cannot be
/// derived for this key type, so no match check.
fn key_spki(key_pem: &str) -> Option<Option<Vec<u8>>> {
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).ok()?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
    Some(signing.public_key().map(|spki| spki.as_ref().to_vec()))
}

/// The DNS names of the first certificate in `pem` (empty when it does not
/// parse).
pub fn pem_dns_names(pem: &str) -> Vec<String> {
    let Ok(der) = CertificateDer::from_pem_slice(pem.as_bytes()) else {
        return Vec::new();
    };
    match X509Certificate::from_der(&der) {
        Ok((_, cert)) => dns_names(&cert),
        Err(_) => Vec::new(),
    }
}

fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the SAN `pattern` covers `domain`: exact, or `*.` standing for
/// exactly one leftmost label (`*.example.com` covers `chat.example.com`,
/// not `a.b.example.com` nor `example.com`).
pub fn covers(pattern: &str, domain: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(parent) => domain
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == domain,
    }
}

pub(crate) fn date(at: OffsetDateTime) -> String {
    format!("{}-{:02}-{:02}", at.year(), u8::from(at.month()), at.day())
}
