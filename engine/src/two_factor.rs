//! Two-factor sign-in with a time-based code (TOTP, RFC 6238: SHA-1, six
//! digits, 30-second steps, one step of clock skew either way).
//!
//! Enrolment makes a secret (160 random bits, sealed at rest) shown as a QR
//! code and as text; one correct code turns it on and yields ten one-time
//! recovery codes, shown once and kept only as Argon2 hashes. A code is
//! accepted once: the step it matched is remembered, and a code for that
//! step or an earlier one is refused (replay). A recovery code works once.

use qrcodegen::{QrCode, QrCodeEcc};
use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::sealed::Vault;
use crate::{now_unix, EngineError, Store};

/// Seconds per code.
const STEP: u64 = 30;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// How the issuer is named in authenticator apps.
const ISSUER: &str = "Burrow";

/// What the operator needs to add the account to an authenticator app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// Base32, in groups of four for reading.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub url: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

/// Whether two-factor sign-in is on for a user, or being set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactor {
    Off,
    /// A secret was made but not yet confirmed with a code.
    Pending,
    On {
        recovery_left: i64,
    },
}

/// How a second-factor check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    /// Right code, but already used (or older than one used).
    Replayed,
    Wrong,
}

fn totp(secret: Vec<u8>) -> Result<TOTP, EngineError> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP, secret)
        .map_err(|e| EngineError::Secrets(format!("the two-factor secret is unusable: {e}")))
}

/// The step within one of `now`'s that `code` is for, if any.
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let current = now / STEP;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * STEP);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
        .and_then(|s| i64::try_from(s).ok())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `code` with spaces and dashes taken out.
fn normalized(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The QR code of `text` as a small SVG (dark modules as one path).
fn qr_svg(text: &str) -> Result<String, EngineError> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| EngineError::Secrets(format!("the QR code could not be made: {e:?}")))?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code for your \
         authenticator app\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

fn enrolment(secret: &[u8], username: &str) -> Result<Enrolment, EngineError> {
    let Secret::Encoded(base32) = Secret::Raw(secret.to_vec()).to_encoded() else {
        return Err(EngineError::Secrets("base32 encoding failed".into()));
    };
    let url = format!(
        "otpauth://totp/{ISSUER}:{}?secret={base32}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP}",
        wire::url_component(username)
    );
    let grouped = base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Enrolment {
        secret: grouped,
        qr_svg: qr_svg(&url)?,
        url,
    })
}

/// Ten codes like `k7q2m-9xw4d`: 50 random bits each, easy to type.
fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rng.fill_bytes(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

impl Store {
    pub async fn two_factor(&self, user_id: i64) -> Result<TwoFactor, EngineError> {
        let row: Option<(bool,)> =
            sqlx::query_as("SELECT enabled FROM two_factor WHERE user_id = ?")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            None => TwoFactor::Off,
            Some((false,)) => TwoFactor::Pending,
            Some((true,)) => {
                let left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
                )
                .bind(user_id)
                .fetch_one(self.pool())
                .await?;
                TwoFactor::On {
                    recovery_left: left,
                }
            }
        })
    }

    /// Starts (or shows again) the set-up of two-factor sign-in: a new
    /// secret when none is pending. Refused while it is on.
    pub async fn begin_two_factor(
        &self,
        vault: &Vault,
        user_id: i64,
        username: &str,
    ) -> Result<Enrolment, EngineError> {
        match self.two_factor(user_id).await? {
            TwoFactor::On { .. } => Err(EngineError::Config(
                "Two-factor sign-in is already on; turn it off first to set it up again.".into(),
            )),
            TwoFactor::Pending => {
                let secret = self.totp_secret(vault, user_id).await?;
                enrolment(&secret, username)
            }
            TwoFactor::Off => {
                let mut secret = vec![0u8; 20];
                rand::rngs::OsRng.fill_bytes(&mut secret);
                sqlx::query(
                    "INSERT INTO two_factor (user_id, secret_sealed, enabled, last_step, created_at) \
                     VALUES (?, ?, 0, 0, ?)",
                )
                .bind(user_id)
                .bind(vault.key().seal(&secret))
                .bind(now_unix())
                .execute(self.pool())
                .await?;
                enrolment(&secret, username)
            }
        }
    }

    /// Turns two-factor sign-in on with one correct code from the pending
    /// secret; the recovery codes, to be shown once.
    pub async fn confirm_two_factor(
        &self,
        vault: &Vault,
        user_id: i64,
        code: &str,
    ) -> Result<Vec<String>, EngineError> {
        if self.two_factor(user_id).await? != TwoFactor::Pending {
            return Err(EngineError::Config(
                "There is no two-factor set-up to confirm; start it again.".into(),
            ));
        }
        let secret = self.totp_secret(vault, user_id).await?;
        let now = u64::try_from(now_unix()).unwrap_or_default();
        let Some(step) = matching_step(&totp(secret)?, &normalized(code), now) else {
            return Err(crate::accounts::InvalidInput::new(
                "code",
                "That code does not match: check the time on your phone and type the code shown now.",
            )
            .into());
        };
        let codes = new_recovery_codes();
        let mut hashes = Vec::with_capacity(codes.len());
        for c in &codes {
            hashes.push(crate::accounts::hash_text(c.clone()).await?);
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE two_factor SET enabled = 1, last_step = ? WHERE user_id = ?")
            .bind(step)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)")
                .bind(user_id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(codes)
    }

    /// Checks a second factor: a six-digit code (once per step) or one of
    /// the recovery codes (once each).
    pub async fn check_second_factor(
        &self,
        vault: &Vault,
        user_id: i64,
        code: &str,
    ) -> Result<CodeCheck, EngineError> {
        let code = normalized(code);
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let secret = self.totp_secret(vault, user_id).await?;
            let now = u64::try_from(now_unix()).unwrap_or_default();
            let Some(step) = matching_step(&totp(secret)?, &code, now) else {
                return Ok(CodeCheck::Wrong);
            };
            // Taken only if no code of this step or a later one was.
            let done = sqlx::query(
                "UPDATE two_factor SET last_step = ? WHERE user_id = ? AND enabled = 1 AND last_step < ?",
            )
            .bind(step)
            .bind(user_id)
            .bind(step)
            .execute(self.pool())
            .await?;
            return Ok(if done.rows_affected() == 1 {
                CodeCheck::Accepted
            } else {
                CodeCheck::Replayed
            });
        }
        let unused: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        let typed = if code.len() == 10 {
            format!("{}-{}", &code[..5], &code[5..])
        } else {
            code
        };
        for (id, hash) in unused {
            if crate::accounts::verify_text(self, hash, typed.clone()).await? {
                let done = sqlx::query(
                    "UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
                )
                .bind(now_unix())
                .bind(id)
                .execute(self.pool())
                .await?;
                return Ok(if done.rows_affected() == 1 {
                    CodeCheck::Accepted
                } else {
                    CodeCheck::Replayed
                });
            }
        }
        Ok(CodeCheck::Wrong)
    }

    /// Turns two-factor sign-in off (or drops a pending set-up).
    pub async fn remove_two_factor(&self, user_id: i64) -> Result<bool, EngineError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM two_factor WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn totp_secret(&self, vault: &Vault, user_id: i64) -> Result<Vec<u8>, EngineError> {
        let sealed: Vec<u8> =
            sqlx::query_scalar("SELECT secret_sealed FROM two_factor WHERE user_id = ?")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?
                .ok_or_else(|| EngineError::NotFound("Two-factor sign-in is not set up.".into()))?;
        vault.key().open(&sealed).map_err(|_| {
            EngineError::Secrets("the two-factor secret cannot be opened with this key file".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{NewPassword, Username};

    /// The code an authenticator app shows at `at` for `secret` (base32 as
    /// shown, with spaces).
    pub(crate) fn code_at(secret: &str, at: u64) -> String {
        let bytes = Secret::Encoded(secret.replace(' ', "")).to_bytes().unwrap();
        totp(bytes).unwrap().generate(at)
    }

    async fn setup() -> (tempfile::TempDir, Store, Vault, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let vault = Vault::open(&dir.path().join("secrets.key")).unwrap();
        let user = store
            .create_first_admin(
                &Username::parse("admin").unwrap(),
                NewPassword::parse("a long passphrase").unwrap(),
            )
            .await
            .unwrap();
        (dir, store, vault, user.id)
    }

    #[tokio::test]
    async fn enrol_confirm_then_codes_work_once() {
        let (dir, store, vault, uid) = setup().await;
        assert_eq!(store.two_factor(uid).await.unwrap(), TwoFactor::Off);
        let e = store.begin_two_factor(&vault, uid, "admin").await.unwrap();
        assert!(
            e.url.starts_with("otpauth://totp/Burrow:admin?secret="),
            "{}",
            e.url
        );
        assert!(e.qr_svg.starts_with("<svg") && e.qr_svg.contains("<path d=\"M"));
        assert_eq!(store.two_factor(uid).await.unwrap(), TwoFactor::Pending);
        // Shown again while pending: the same secret.
        assert_eq!(
            store.begin_two_factor(&vault, uid, "admin").await.unwrap(),
            e
        );
        // The secret is sealed at rest.
        let raw = std::fs::read(dir.path().join("burrow.db-wal")).unwrap_or_default();
        let plain = Secret::Encoded(e.secret.replace(' ', ""))
            .to_bytes()
            .unwrap();
        assert!(!raw.windows(plain.len()).any(|w| w == plain.as_slice()));

        let now = u64::try_from(now_unix()).unwrap();
        assert!(store
            .confirm_two_factor(&vault, uid, "000000x")
            .await
            .is_err());
        let codes = store
            .confirm_two_factor(&vault, uid, &code_at(&e.secret, now))
            .await
            .unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(
            store.two_factor(uid).await.unwrap(),
            TwoFactor::On { recovery_left: 10 }
        );
        // The confirming code, again: a replay. The next step's code: fine,
        // once. A wrong one: wrong.
        let used = code_at(&e.secret, now);
        assert_eq!(
            store.check_second_factor(&vault, uid, &used).await.unwrap(),
            CodeCheck::Replayed
        );
        let next = code_at(&e.secret, now + STEP);
        if next != used {
            assert_eq!(
                store.check_second_factor(&vault, uid, &next).await.unwrap(),
                CodeCheck::Accepted
            );
            assert_eq!(
                store.check_second_factor(&vault, uid, &next).await.unwrap(),
                CodeCheck::Replayed
            );
        }
        let wrong = if used == "123456" { "654321" } else { "123456" };
        assert_ne!(
            store.check_second_factor(&vault, uid, wrong).await.unwrap(),
            CodeCheck::Accepted
        );
        // A recovery code works once, typed any way.
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(
            store
                .check_second_factor(&vault, uid, &typed)
                .await
                .unwrap(),
            CodeCheck::Accepted
        );
        assert_eq!(
            store
                .check_second_factor(&vault, uid, &codes[3])
                .await
                .unwrap(),
            CodeCheck::Wrong
        );
        assert_eq!(
            store.two_factor(uid).await.unwrap(),
            TwoFactor::On { recovery_left: 9 }
        );
        assert!(store.begin_two_factor(&vault, uid, "admin").await.is_err());
        assert!(store.remove_two_factor(uid).await.unwrap());
        assert_eq!(store.two_factor(uid).await.unwrap(), TwoFactor::Off);
    }
}
