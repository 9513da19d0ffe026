//! Burrow's CA and the checks on an uploaded certificate, with real
//! certificates generated per case.

use engine::certs::{check_own_certificate, covers, BurrowCa, CertProblem, IssuedCert};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

const DOMAIN: &str = "chat.example.com";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn leaf(ca: &BurrowCa, domain: &str) -> IssuedCert {
    ca.issue_leaf(domain, Duration::days(90)).unwrap()
}

fn chain(leaf: &IssuedCert, ca: &BurrowCa) -> String {
    format!("{}{}", leaf.cert_pem, ca.ca_pem())
}

fn problems(chain: &str, key: &str, domain: &str, at: OffsetDateTime) -> Vec<CertProblem> {
    check_own_certificate(chain, key, domain, at).expect_err("expected problems")
}

#[test]
fn ca_is_a_ten_year_signing_authority() {
    let ca = BurrowCa::generate("Burrow CA for example.com").unwrap();
    let (_, cert) = X509Certificate::from_der(ca.ca_der()).unwrap();
    assert!(cert.is_ca());
    assert!(cert.key_usage().unwrap().unwrap().value.key_cert_sign());
    let years = (ca.not_after() - ca.not_before()).whole_days() / 365;
    assert_eq!(years, 10);
    assert_eq!(
        cert.validity().not_after.timestamp(),
        ca.not_after().unix_timestamp()
    );
    assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let fp = ca.sha256_fingerprint();
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert!(fp
        .split(':')
        .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit())));
}

#[test]
fn issued_leaf_passes_every_check() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, DOMAIN);
    let summary = check_own_certificate(&chain(&issued, &ca), &issued.key_pem, DOMAIN, now())
        .unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(summary.names, vec![DOMAIN.to_owned()]);
    assert_eq!(summary.chain_len, 2);
    assert!(summary.issuer.contains("Burrow CA"), "{}", summary.issuer);
    assert!(summary.not_after - summary.not_before >= 90 * 86_400);
    // The leaf alone (no chain) is fine too.
    assert!(check_own_certificate(&issued.cert_pem, &issued.key_pem, DOMAIN, now()).is_ok());
}

#[test]
fn restored_ca_signs_leaves_that_chain_to_the_original() {
    let original = BurrowCa::generate("Burrow CA").unwrap();
    let restored = BurrowCa::restore(original.ca_pem(), &original.key_pem()).unwrap();
    assert_eq!(restored.sha256_fingerprint(), original.sha256_fingerprint());
    assert_eq!(restored.not_after(), original.not_after());
    let issued = leaf(&restored, DOMAIN);
    check_own_certificate(&chain(&issued, &original), &issued.key_pem, DOMAIN, now())
        .unwrap_or_else(|p| panic!("{p:?}"));
}

#[test]
fn restore_refuses_a_key_from_another_ca() {
    let one = BurrowCa::generate("one").unwrap();
    let two = BurrowCa::generate("two").unwrap();
    assert!(BurrowCa::restore(one.ca_pem(), &two.key_pem()).is_err());
    assert!(BurrowCa::restore("garbage", &one.key_pem()).is_err());
}

#[test]
fn wrong_key() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, DOMAIN);
    let other = leaf(&ca, DOMAIN);
    let found = problems(&chain(&issued, &ca), &other.key_pem, DOMAIN, now());
    assert_eq!(found, vec![CertProblem::KeyMismatch]);
    assert!(found[0].to_string().contains("upload the key"));
    let found = problems(&chain(&issued, &ca), "not a key", DOMAIN, now());
    assert_eq!(found, vec![CertProblem::UnreadableKey]);
}

#[test]
fn other_domain() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, "mail.example.org");
    let found = problems(&chain(&issued, &ca), &issued.key_pem, DOMAIN, now());
    assert_eq!(
        found,
        vec![CertProblem::WrongDomain {
            domain: DOMAIN.into(),
            names: "mail.example.org".into()
        }]
    );
    assert_eq!(
        found[0].to_string(),
        "The certificate covers mail.example.org but not chat.example.com: get a certificate that includes chat.example.com."
    );
}

#[test]
fn wildcard_covers_exactly_one_label() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, "*.example.com");
    let pem = chain(&issued, &ca);
    assert!(check_own_certificate(&pem, &issued.key_pem, "chat.example.com", now()).is_ok());
    assert!(check_own_certificate(&pem, &issued.key_pem, "CHAT.Example.com.", now()).is_ok());
    for domain in ["a.b.example.com", "example.com", "chat.example.org"] {
        let found = problems(&pem, &issued.key_pem, domain, now());
        assert!(
            matches!(found.as_slice(), [CertProblem::WrongDomain { .. }]),
            "{domain}: {found:?}"
        );
    }
}

#[test]
fn covers_rules() {
    assert!(covers("*.example.com", "chat.example.com"));
    assert!(!covers("*.example.com", ".example.com"));
    assert!(!covers("*.example.com", "a.b.example.com"));
    assert!(!covers("*.example.com", "example.com"));
    assert!(covers("example.com", "EXAMPLE.com"));
    assert!(!covers("example.com", "chat.example.com"));
}

#[test]
fn expired_and_not_yet_valid() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = ca.issue_leaf(DOMAIN, Duration::days(30)).unwrap();
    let pem = chain(&issued, &ca);
    let found = problems(&pem, &issued.key_pem, DOMAIN, now() + Duration::days(31));
    assert!(
        matches!(found.as_slice(), [CertProblem::Expired { position: 1, .. }]),
        "{found:?}"
    );
    assert!(found[0].to_string().contains("renew"));
    let found = problems(&pem, &issued.key_pem, DOMAIN, now() - Duration::days(2));
    assert!(
        found.contains(&CertProblem::NotYetValid {
            position: 1,
            date: found
                .iter()
                .find_map(|p| match p {
                    CertProblem::NotYetValid { position: 1, date } => Some(date.clone()),
                    _ => None,
                })
                .unwrap()
        }),
        "{found:?}"
    );
}

#[test]
fn reversed_chain() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, DOMAIN);
    let reversed = format!("{}{}", ca.ca_pem(), issued.cert_pem);
    let found = problems(&reversed, &issued.key_pem, DOMAIN, now());
    assert!(
        found.contains(&CertProblem::ChainOrder {
            position: 1,
            next: 2
        }),
        "{found:?}"
    );
    assert!(found
        .iter()
        .any(|p| p.to_string().contains("your certificate first")));
}

#[test]
fn intermediate_that_did_not_sign_the_leaf() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    // Same name, different key: only the signature check can tell.
    let impostor = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, DOMAIN);
    let pem = format!("{}{}", issued.cert_pem, impostor.ca_pem());
    let found = problems(&pem, &issued.key_pem, DOMAIN, now());
    assert_eq!(
        found,
        vec![CertProblem::ChainOrder {
            position: 1,
            next: 2
        }]
    );
}

#[test]
fn garbage_pem() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, DOMAIN);
    assert_eq!(
        problems("hello", &issued.key_pem, DOMAIN, now()),
        vec![CertProblem::NoCertificate]
    );
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(
        problems(broken, &issued.key_pem, DOMAIN, now()),
        vec![CertProblem::Unreadable { position: 1 }]
    );
}

proptest! {
    #[test]
    fn random_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = check_own_certificate(&text, &text, DOMAIN, now());
    }

    #[test]
    fn random_der_in_pem_armor_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let cert = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
        let key = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        prop_assert!(check_own_certificate(&cert, &key, DOMAIN, now()).is_err());
    }
}

/// Converts a PKCS#8 key with the `openssl` CLI into its traditional form
/// (SEC1 for EC, PKCS#1 for RSA), the other formats providers hand out.
fn traditional(pkcs8_pem: &str, tool: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        // `openssl ec` writes SEC1 already and has no `-traditional`.
        .args(if tool == "ec" {
            vec![tool]
        } else {
            vec![tool, "-traditional"]
        })
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the openssl CLI is needed for key-format tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pkcs8_pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {tool} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sec1_ec_key_is_accepted_and_matched() {
    let ca = BurrowCa::generate("Burrow CA").unwrap();
    let issued = leaf(&ca, DOMAIN);
    let sec1 = traditional(&issued.key_pem, "ec");
    assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "{sec1}");
    assert!(check_own_certificate(&chain(&issued, &ca), &sec1, DOMAIN, now()).is_ok());
    let other = traditional(&leaf(&ca, DOMAIN).key_pem, "ec");
    assert_eq!(
        problems(&chain(&issued, &ca), &other, DOMAIN, now()),
        vec![CertProblem::KeyMismatch]
    );
}

#[test]
fn pkcs1_rsa_key_is_accepted_and_matched() {
    let rsa = |_: ()| {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("the openssl CLI is needed for key-format tests");
        String::from_utf8(out.stdout).unwrap()
    };
    let pkcs8 = rsa(());
    let key = rcgen::KeyPair::from_pem(&pkcs8).unwrap();
    let cert = rcgen::CertificateParams::new(vec![DOMAIN.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pkcs1 = traditional(&pkcs8, "rsa");
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
    check_own_certificate(&cert.pem(), &pkcs1, DOMAIN, now()).unwrap_or_else(|p| panic!("{p:?}"));
    let other = traditional(&rsa(()), "rsa");
    assert_eq!(
        problems(&cert.pem(), &other, DOMAIN, now()),
        vec![CertProblem::KeyMismatch]
    );
}
