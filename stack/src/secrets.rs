//! The stack's secrets: generated once and kept, or derived from one seed with
//! stoatchat-platform's formula so a platform user gets identical credentials.
//!
//! Encodings are Stoat's own (see `generate_config.sh`):
//! - VAPID private key: base64 without `=` of the whole SEC1 PEM text that
//!   `openssl ecparam -name prime256v1 -genkey -noout` writes;
//! - VAPID public key: base64url without padding of the 65-byte uncompressed
//!   P-256 point (87 characters);
//! - files key: base64 of 32 bytes (`openssl rand -base64 32`);
//! - LiveKit key: 12 hex, secret: 48 hex (`openssl rand -hex 6` / `-hex 24`).

use std::fmt;

use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::InvalidValue;

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// Base64 that accepts input with or without `=` padding.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const B64_NO_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(false),
);

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(input: &str) -> Result<Self, InvalidValue> {
                let check: fn(&str) -> Result<(), InvalidValue> = $check;
                check(input)?;
                Ok(Self(input.to_string()))
            }

            /// The secret value itself. Callers decide where it may go.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(v: String) -> Result<Self, InvalidValue> {
                Self::parse(&v)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

fn check_password(s: &str) -> Result<(), InvalidValue> {
    if s.is_empty() || s.len() > 256 {
        return Err(invalid("a password has 1 to 256 characters"));
    }
    // It ends up in env files (which some compose versions interpolate),
    // URIs and YAML: printable ASCII without spaces, quotes, `$`, `\`, `#`.
    if !s
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'$' | b'\'' | b'"' | b'`' | b'\\' | b'#'))
    {
        return Err(invalid(
            "a password may contain printable ASCII characters except spaces, quotes, '$', '\\' and '#'",
        ));
    }
    Ok(())
}

secret_string!(
    /// A service password or access key.
    Password,
    check_password
);

secret_string!(
    /// The LiveKit API key.
    LiveKitKey,
    |s| {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(invalid("a LiveKit key has 1 to 64 letters, digits, '_' or '-'"));
        }
        Ok(())
    }
);

secret_string!(
    /// The LiveKit API secret. LiveKit refuses secrets under 32 characters.
    LiveKitSecret,
    |s| {
        if s.len() < 32 {
            return Err(invalid("LiveKit refuses secrets shorter than 32 characters"));
        }
        check_password(s)
    }
);

secret_string!(
    /// The files encryption key: base64 of 32 bytes (AES-256-GCM).
    FilesKey,
    |s| match STANDARD.decode(s) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        _ => Err(invalid("the files key is base64 of exactly 32 bytes")),
    }
);

secret_string!(
    /// A stoatchat-platform `secretSeed` (there: `openssl rand -hex 24`).
    Seed,
    |s| {
        if s.is_empty() || s.len() > 256 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("a seed has 1 to 256 printable characters"));
        }
        Ok(())
    }
);

/// The Web Push (VAPID) key pair pushd signs with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "VapidRaw", into = "VapidRaw")]
pub struct VapidKeys {
    private_key: String,
    public_key: String,
}

#[derive(Serialize, Deserialize)]
struct VapidRaw {
    private_key: String,
    public_key: String,
}

impl TryFrom<VapidRaw> for VapidKeys {
    type Error = InvalidValue;
    fn try_from(r: VapidRaw) -> Result<Self, InvalidValue> {
        VapidKeys::parse(&r.private_key, &r.public_key)
    }
}

impl From<VapidKeys> for VapidRaw {
    fn from(v: VapidKeys) -> Self {
        VapidRaw {
            private_key: v.private_key,
            public_key: v.public_key,
        }
    }
}

impl VapidKeys {
    /// From a P-256 secret scalar (32 big-endian bytes).
    pub fn from_scalar(bytes: &[u8; 32]) -> Result<Self, InvalidValue> {
        let key = p256::SecretKey::from_slice(bytes)
            .map_err(|_| invalid("not a valid P-256 private key"))?;
        Ok(Self::from_secret_key(&key))
    }

    fn from_secret_key(key: &p256::SecretKey) -> Self {
        let private_key = B64_NO_PAD.encode(sec1_pem(key).as_bytes());
        let point = key.public_key().to_encoded_point(false);
        let public_key = URL_SAFE_NO_PAD.encode(point.as_bytes());
        Self {
            private_key,
            public_key,
        }
    }

    /// Checks both halves and that they belong together. The private key may
    /// wrap a SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM.
    pub fn parse(private_key: &str, public_key: &str) -> Result<Self, InvalidValue> {
        let pem = B64_LENIENT
            .decode(private_key.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| invalid("the VAPID private key is not base64 of a PEM file"))?;
        let key = p256::SecretKey::from_sec1_pem(&pem)
            .or_else(|_| {
                use p256::pkcs8::DecodePrivateKey;
                p256::SecretKey::from_pkcs8_pem(&pem)
            })
            .map_err(|_| invalid("the VAPID private key is not a P-256 key in PEM form"))?;
        let expected = URL_SAFE_NO_PAD.encode(key.public_key().to_encoded_point(false).as_bytes());
        // Accept the public key with or without padding (Stoat's sample has '=').
        if public_key.trim().trim_end_matches('=') != expected {
            return Err(invalid(
                "the VAPID public key does not match the private key",
            ));
        }
        Ok(Self {
            private_key: private_key.trim().to_string(),
            public_key: expected,
        })
    }

    /// `[pushd.vapid] private_key`.
    pub fn private_key(&self) -> &str {
        &self.private_key
    }

    /// `[pushd.vapid] public_key`; public by nature (browsers get it).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }
}

/// The SEC1 PEM exactly as `openssl ecparam -name prime256v1 -genkey -noout`
/// writes it: ECPrivateKey with the curve OID ([0]) and the public key ([1]).
/// p256's own `to_sec1_pem` leaves out the optional [0], which changes the
/// text (and so every VAPID key Burrow has rendered): the `sec1` crate's
/// `EcPrivateKey` is encoded instead, with the parameters filled in.
fn sec1_pem(key: &p256::SecretKey) -> Zeroizing<String> {
    use p256::pkcs8::AssociatedOid;
    use sec1::der::pem::{LineEnding, PemLabel};
    use sec1::der::SecretDocument;

    let private_key = key.to_bytes();
    let point = key.public_key().to_encoded_point(false);
    let der = SecretDocument::try_from(sec1::EcPrivateKey {
        private_key: &private_key,
        parameters: Some(sec1::EcParameters::NamedCurve(p256::NistP256::OID)),
        public_key: Some(point.as_bytes()),
    })
    .expect("a P-256 key encodes as SEC1");
    der.to_pem(sec1::EcPrivateKey::PEM_LABEL, LineEnding::LF)
        .expect("SEC1 DER encodes as PEM")
}

impl fmt::Debug for VapidKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKeys")
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .finish()
    }
}

/// Every secret of one stack.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    pub vapid: VapidKeys,
    pub files_encryption_key: FilesKey,
    pub livekit_key: LiveKitKey,
    pub livekit_secret: LiveKitSecret,
    pub mongo_root_password: Password,
    /// Stoat's own database user (`stoatchat`, database `revolt`).
    pub mongo_user_password: Password,
    /// Shared key of the (single-member) replica set; mongod needs one with auth.
    pub mongo_keyfile: Password,
    pub redis_password: Password,
    pub rabbit_password: Password,
    pub s3_access_key: Password,
    pub s3_secret_key: Password,
}

impl Secrets {
    /// For a volume whose data is initialised with secrets (the database's
    /// users and keyfile, Redis', RabbitMQ's and MinIO's credentials, the
    /// files encryption key of what MinIO stores): a fingerprint of those
    /// secrets (SHA-256 over them, domain-separated; not reversible). The
    /// same secrets give the same fingerprint; `None` for other volumes.
    pub fn volume_fingerprint(&self, volume: &str) -> Option<String> {
        let parts: Vec<&str> = match volume {
            "mongo-data" | "mongo-config" => vec![
                self.mongo_root_password.expose(),
                self.mongo_user_password.expose(),
                self.mongo_keyfile.expose(),
            ],
            "redis-data" => vec![self.redis_password.expose()],
            "rabbit-data" => vec![self.rabbit_password.expose()],
            "minio-data" => vec![
                self.s3_access_key.expose(),
                self.s3_secret_key.expose(),
                self.files_encryption_key.expose(),
            ],
            _ => return None,
        };
        let mut hash = Sha256::new();
        hash.update(b"burrow volume secrets v1\0");
        hash.update(volume.as_bytes());
        for part in parts {
            hash.update(b"\0");
            hash.update(part.as_bytes());
        }
        let mut hex = hex::encode(hash.finalize());
        hex.truncate(32);
        Some(hex)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { <redacted> }")
    }
}

/// stoatchat-platform's `deriveSecret`: the first `len` hex characters of
/// sha256("<seed>:<id>").
pub fn derive_secret(seed: &Seed, id: &str, len: usize) -> String {
    let digest = Sha256::digest(format!("{}:{id}", seed.expose()).as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(len);
    hex
}

fn derive_bytes(seed: &Seed, id: &str) -> [u8; 32] {
    Sha256::digest(format!("{}:{id}", seed.expose()).as_bytes()).into()
}

/// The Stoat-provided sample values that must never reach a deployment.
pub const PUBLIC_SAMPLE_SECRETS: [&str; 5] = [
    "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUJSUWpyTWxLRnBiVWhsUHpUbERvcEliYk1yeVNrNXpKYzVYVzIxSjJDS3hvQW9HQ0NxR1NNNDkKQXdFSG9VUURRZ0FFWnkrQkg2TGJQZ2hEa3pEempXOG0rUXVPM3pCajRXT1phdkR6ZU00c0pqbmFwd1psTFE0WAp1ZDh2TzVodU94QWhMQlU3WWRldVovWHlBdFpWZmNyQi9BPT0KLS0tLS1FTkQgRUMgUFJJVkFURSBLRVktLS0tLQo",
    "BGcvgR-i2z4IQ5Mw841vJvkLjt8wY-FjmWrw83jOLCY52qcGZS0OF7nfLzuYbjsQISwVO2HXrmf18gLWVX3Kwfw",
    "qcuMA+ssxhMyKaNAKBGFfryfFtUH8NDlamQyDwGW6fU=",
    "rabbitpass",
    "minioautumn",
];

impl Secrets {
    /// Derives every secret from one seed. The ids and lengths shared with
    /// stoatchat-platform (`mongo-root`, `mongo-user`, `redis`, `rabbit-user`,
    /// `s3-access`, `s3-secret`: 50 hex; `livekit-key`: 12; `livekit-secret`:
    /// 50) give the platform's values exactly. The platform generates VAPID and
    /// the files key randomly; here they come from Burrow-only ids
    /// (`burrow-vapid`, `burrow-files-key`, `burrow-mongo-keyfile`).
    pub fn derive(seed: &Seed) -> Secrets {
        let pw = |id: &str| {
            Password::parse(&derive_secret(seed, id, 50)).expect("hex is a valid password")
        };
        let mut counter = 0u32;
        let vapid = loop {
            let id = if counter == 0 {
                "burrow-vapid".to_string()
            } else {
                format!("burrow-vapid-{counter}")
            };
            // A hash is an invalid scalar with probability ~2^-32; try the next id.
            if let Ok(v) = VapidKeys::from_scalar(&derive_bytes(seed, &id)) {
                break v;
            }
            counter += 1;
        };
        Secrets {
            vapid,
            files_encryption_key: FilesKey(STANDARD.encode(derive_bytes(seed, "burrow-files-key"))),
            livekit_key: LiveKitKey(derive_secret(seed, "livekit-key", 12)),
            livekit_secret: LiveKitSecret(derive_secret(seed, "livekit-secret", 50)),
            mongo_root_password: pw("mongo-root"),
            mongo_user_password: pw("mongo-user"),
            mongo_keyfile: pw("burrow-mongo-keyfile"),
            redis_password: pw("redis"),
            rabbit_password: pw("rabbit-user"),
            s3_access_key: pw("s3-access"),
            s3_secret_key: pw("s3-secret"),
        }
    }

    /// Fresh random secrets from the OS.
    #[cfg(feature = "native")]
    pub fn generate() -> Result<Secrets, getrandom::Error> {
        let bytes = |n: usize| -> Result<Vec<u8>, getrandom::Error> {
            let mut b = vec![0u8; n];
            getrandom::fill(&mut b)?;
            Ok(b)
        };
        let hex_pw = |n: usize| -> Result<Password, getrandom::Error> {
            Ok(Password(hex::encode(bytes(n)?)))
        };
        let vapid = loop {
            let mut scalar = [0u8; 32];
            getrandom::fill(&mut scalar)?;
            if let Ok(v) = VapidKeys::from_scalar(&scalar) {
                break v;
            }
        };
        Ok(Secrets {
            vapid,
            files_encryption_key: FilesKey(STANDARD.encode(bytes(32)?)),
            livekit_key: LiveKitKey(hex::encode(bytes(6)?)),
            livekit_secret: LiveKitSecret(hex::encode(bytes(24)?)),
            mongo_root_password: hex_pw(24)?,
            mongo_user_password: hex_pw(24)?,
            mongo_keyfile: hex_pw(48)?,
            redis_password: hex_pw(24)?,
            rabbit_password: hex_pw(24)?,
            s3_access_key: hex_pw(12)?,
            s3_secret_key: hex_pw(24)?,
        })
    }

    /// Replaces these secrets with `next`. Changing the files key makes every
    /// stored file unreadable, so it is refused unless `force_files_key`.
    pub fn replace(&mut self, next: Secrets, force_files_key: bool) -> Result<(), FilesKeyChange> {
        if next.files_encryption_key != self.files_encryption_key && !force_files_key {
            return Err(FilesKeyChange);
        }
        *self = next;
        Ok(())
    }

    /// Every secret value, with a stable name, for leak checks and redaction.
    pub fn values(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("vapid_private_key", self.vapid.private_key()),
            ("files_encryption_key", self.files_encryption_key.expose()),
            ("livekit_key", self.livekit_key.expose()),
            ("livekit_secret", self.livekit_secret.expose()),
            ("mongo_root_password", self.mongo_root_password.expose()),
            ("mongo_user_password", self.mongo_user_password.expose()),
            ("mongo_keyfile", self.mongo_keyfile.expose()),
            ("redis_password", self.redis_password.expose()),
            ("rabbit_password", self.rabbit_password.expose()),
            ("s3_access_key", self.s3_access_key.expose()),
            ("s3_secret_key", self.s3_secret_key.expose()),
        ]
    }

    /// The `stack.secrets.toml` form.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("secrets serialize")
    }

    pub fn from_toml(text: &str) -> Result<Secrets, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }
}

/// A files-key change was refused (it would lose every stored file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing to change the files encryption key: every stored file would become unreadable")]
pub struct FilesKeyChange;

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed::parse("0123456789abcdef0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn volume_fingerprints_follow_only_the_secrets_of_their_data() {
        let a = Secrets::derive(&seed());
        let same = Secrets::derive(&seed());
        for v in [
            "mongo-data",
            "mongo-config",
            "redis-data",
            "rabbit-data",
            "minio-data",
        ] {
            let fp = a.volume_fingerprint(v).unwrap();
            assert_eq!(fp.len(), 32);
            assert_eq!(Some(&fp), same.volume_fingerprint(v).as_ref(), "{v}");
        }
        assert_ne!(
            a.volume_fingerprint("mongo-data"),
            a.volume_fingerprint("mongo-config")
        );
        assert_eq!(a.volume_fingerprint("caddy-data"), None);
        // Another Redis password changes Redis' volume only.
        let mut b = Secrets::derive(&seed());
        b.redis_password = Password::parse("another-redis-password-0123456789").unwrap();
        assert_ne!(
            a.volume_fingerprint("redis-data"),
            b.volume_fingerprint("redis-data")
        );
        assert_eq!(
            a.volume_fingerprint("minio-data"),
            b.volume_fingerprint("minio-data")
        );
    }

    #[test]
    fn platform_formula() {
        // printf '%s' '<seed>:mongo-root' | sha256sum | cut -c1-50
        let s = seed();
        let full = hex::encode(Sha256::digest(
            b"0123456789abcdef0123456789abcdef0123456789abcdef:mongo-root",
        ));
        assert_eq!(derive_secret(&s, "mongo-root", 50), full[..50]);
        let secrets = Secrets::derive(&s);
        assert_eq!(secrets.mongo_root_password.expose(), &full[..50]);
        assert_eq!(secrets.livekit_key.expose().len(), 12);
        assert_eq!(secrets.livekit_secret.expose().len(), 50);
        assert_eq!(Secrets::derive(&s), secrets);
    }

    #[test]
    fn vapid_encodings() {
        let v = Secrets::derive(&seed()).vapid;
        assert_eq!(v.public_key().len(), 87);
        assert!(!v.private_key().contains('='));
        let pem = String::from_utf8(B64_LENIENT.decode(v.private_key()).unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{pem}");
        assert!(pem.ends_with("-----END EC PRIVATE KEY-----\n"));
        assert_eq!(
            VapidKeys::parse(v.private_key(), v.public_key()).unwrap(),
            v
        );
    }

    #[test]
    fn vapid_pem_names_its_curve_as_openssl_does() {
        use p256::pkcs8::AssociatedOid;
        use sec1::der::Decode;

        let v = Secrets::derive(&seed()).vapid;
        let pem = String::from_utf8(B64_LENIENT.decode(v.private_key()).unwrap()).unwrap();
        let (label, der) = sec1::der::pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(label, "EC PRIVATE KEY");
        let ec = sec1::EcPrivateKey::from_der(&der).unwrap();
        assert_eq!(
            ec.parameters.and_then(|p| p.named_curve()),
            Some(p256::NistP256::OID)
        );
        let key = p256::SecretKey::from_sec1_pem(&pem).unwrap();
        assert_eq!(ec.private_key, key.to_bytes().as_slice());
        // Why sec1_pem is not p256's to_sec1_pem: that one drops the [0]
        // curve parameters, so its text is not openssl's.
        let theirs = key.to_sec1_pem(sec1::der::pem::LineEnding::LF).unwrap();
        assert_ne!(*theirs, pem);
        let (_, theirs) = sec1::der::pem::decode_vec(theirs.as_bytes()).unwrap();
        assert_eq!(
            sec1::EcPrivateKey::from_der(&theirs).unwrap().parameters,
            None
        );
    }

    #[test]
    fn stoat_sample_vapid_parses_but_is_never_produced() {
        // The sample pair is well-formed (so import can recognise it)...
        assert!(VapidKeys::parse(PUBLIC_SAMPLE_SECRETS[0], PUBLIC_SAMPLE_SECRETS[1]).is_ok());
        // ...and none of the samples comes out of derivation.
        for seed in ["a", "b", "0123456789abcdef0123456789abcdef0123456789abcdef"] {
            let s = Secrets::derive(&Seed::parse(seed).unwrap());
            for (_, value) in s.values() {
                assert!(!PUBLIC_SAMPLE_SECRETS.contains(&value));
            }
            assert!(!PUBLIC_SAMPLE_SECRETS.contains(&s.vapid.public_key()));
        }
    }

    #[cfg(feature = "native")]
    #[test]
    fn generated_secrets_are_fresh_and_not_samples() {
        let a = Secrets::generate().unwrap();
        let b = Secrets::generate().unwrap();
        assert_ne!(a, b);
        for (_, value) in a.values() {
            assert!(!PUBLIC_SAMPLE_SECRETS.contains(&value));
        }
        assert_eq!(a.livekit_key.expose().len(), 12);
        assert_eq!(a.livekit_secret.expose().len(), 48);
        assert_eq!(
            STANDARD
                .decode(a.files_encryption_key.expose())
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn files_key_change_needs_force() {
        let mut a = Secrets::derive(&seed());
        let b = Secrets::derive(&Seed::parse("other").unwrap());
        assert_eq!(a.clone().replace(b.clone(), false), Err(FilesKeyChange));
        let mut same_key = b.clone();
        same_key.files_encryption_key = a.files_encryption_key.clone();
        assert!(a.clone().replace(same_key, false).is_ok());
        a.replace(b.clone(), true).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn debug_prints_no_values() {
        let s = Secrets::derive(&seed());
        let dbg = format!("{s:?} {:?} {:?}", s.vapid, s.livekit_secret);
        for (_, value) in s.values() {
            assert!(!dbg.contains(value));
        }
    }

    #[test]
    fn toml_round_trip_validates() {
        let s = Secrets::derive(&seed());
        assert_eq!(Secrets::from_toml(&s.to_toml()).unwrap(), s);
        let broken = s.to_toml().replace(s.livekit_secret.expose(), "short");
        assert!(Secrets::from_toml(&broken).unwrap_err().contains("32"));
    }

    #[test]
    fn short_livekit_secret_refused() {
        assert!(LiveKitSecret::parse(&"a".repeat(31)).is_err());
        assert!(LiveKitSecret::parse(&"a".repeat(32)).is_ok());
    }
}
