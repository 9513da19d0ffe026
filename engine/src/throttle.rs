//! Login throttling, computed from the audit log so it survives restarts:
//! after `MAX_FAILURES` failed logins for one account or from one IP within
//! `WINDOW_SECS`, further attempts are refused until the oldest of those
//! failures leaves the window. A successful login resets the count.
//!
//! An attempt is counted before its password is checked (a `pending` row,
//! then its outcome): of thirty wrong passwords sent at once, only the
//! first `MAX_FAILURES` in the log's order are checked at all.
//!
//! A browser that signed in as the user before ([`crate::devices`]) is
//! counted on its own: other devices' failures for the account or from its
//! address do not lock it out, its own do.

use crate::accounts::User;
use crate::audit::Outcome;
use crate::{now_unix, EngineError, Store};

pub const MAX_FAILURES: i64 = 5;
pub const WINDOW_SECS: i64 = 15 * 60;

/// How long the caller must wait before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub i64);

/// How the second step of a sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Accepted,
    /// The right code, but it was used already.
    Replayed,
    Wrong,
    Throttled(RetryAfter),
}

/// How a sign-in attempt ended.
#[derive(Debug, Clone)]
pub enum SignIn {
    Welcome(User),
    /// The password was right and the user has two-factor sign-in on: a
    /// code comes next ([`Store::second_factor`]). Nothing is reset yet.
    CodeNext(User),
    /// Unknown user or wrong password (not told apart).
    Wrong,
    /// Refused unchecked: too many failures for the account or the address.
    Throttled(RetryAfter),
}

impl Store {
    /// Signs `username` in from `ip`: the attempt is written first (the
    /// throttle's `login_attempts`), refused if too many came before it, and
    /// only then is the password checked; the attempt then gets its outcome
    /// and the audit log one row (a refusal repeated in a row is counted on
    /// one row). `device`: the id of a device token already verified for
    /// `username`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        ip: &str,
        device: Option<&str>,
    ) -> Result<SignIn, EngineError> {
        let detail = device.map(|d| format!("device {d}"));
        let attempt = self.begin_attempt(username, ip, device).await?;
        if let Some(wait) = self.wait_before(username, ip, device, attempt).await? {
            self.refuse_throttled(attempt, username, ip, "login", detail.as_deref())
                .await?;
            return Ok(SignIn::Throttled(wait));
        }
        let checked = self.verify_login(username, password).await;
        let code_next = match &checked {
            Ok(Some(user)) => matches!(
                self.two_factor(user.id).await?,
                crate::two_factor::TwoFactor::On { .. }
            ),
            _ => false,
        };
        let (outcome, actor) = match &checked {
            Ok(Some(user)) => (Outcome::Success, user.username.as_str()),
            Ok(None) => (Outcome::Failure, username),
            // A check that could not run (too many at once) is no failure.
            Err(_) => (Outcome::Refused, username),
        };
        if code_next {
            // Half way: neither a failure nor a success that resets the
            // count (else each password would buy five more code guesses).
            self.end_attempt_as(attempt, "password").await?;
            let detail = detail.map_or("password right; code next".to_owned(), |d| {
                format!("{d}; password right, code next")
            });
            self.record(actor, Some(ip), "login", Outcome::Success, Some(&detail))
                .await?;
        } else {
            self.end_attempt(attempt, Some(outcome)).await?;
            self.record(actor, Some(ip), "login", outcome, detail.as_deref())
                .await?;
        }
        Ok(match checked? {
            Some(user) if code_next => SignIn::CodeNext(user),
            Some(user) => SignIn::Welcome(user),
            None => SignIn::Wrong,
        })
    }

    /// The second step of a sign-in with two-factor on: `code` from the
    /// authenticator app or a recovery code, throttled like passwords
    /// (failures count for the account and the address).
    pub async fn second_factor(
        &self,
        vault: &crate::sealed::Vault,
        user: &User,
        code: &str,
        ip: &str,
    ) -> Result<SecondFactor, EngineError> {
        use crate::two_factor::CodeCheck;
        let attempt = self.begin_attempt(&user.username, ip, None).await?;
        if let Some(wait) = self.wait_before(&user.username, ip, None, attempt).await? {
            self.refuse_throttled(attempt, &user.username, ip, "login code", None)
                .await?;
            return Ok(SecondFactor::Throttled(wait));
        }
        let checked = self.check_second_factor(vault, user.id, code).await;
        let (outcome, detail) = match &checked {
            Ok(CodeCheck::Accepted) => (Outcome::Success, None),
            Ok(CodeCheck::Replayed) => (Outcome::Failure, Some("a code already used")),
            Ok(CodeCheck::Wrong) => (Outcome::Failure, None),
            Err(_) => (Outcome::Refused, None),
        };
        self.end_attempt(attempt, Some(outcome)).await?;
        self.record(&user.username, Some(ip), "login code", outcome, detail)
            .await?;
        Ok(match checked? {
            CodeCheck::Accepted => SecondFactor::Accepted,
            CodeCheck::Replayed => SecondFactor::Replayed,
            CodeCheck::Wrong => SecondFactor::Wrong,
        })
    }

    /// `Some(wait)` when a login for `username` from `ip` must be refused now.
    pub async fn login_throttled(
        &self,
        username: &str,
        ip: &str,
    ) -> Result<Option<RetryAfter>, EngineError> {
        self.wait_before(username, ip, None, i64::MAX).await
    }

    /// How long an attempt (written as `before`) must wait: a known device
    /// is counted on its own failures, anyone else on the account's and the
    /// address's. `None`: it may be checked now.
    async fn wait_before(
        &self,
        username: &str,
        ip: &str,
        device: Option<&str>,
        before: i64,
    ) -> Result<Option<RetryAfter>, EngineError> {
        let now = now_unix();
        let counted = match device {
            Some(device) => vec![
                self.oldest_counted_failure("device = ?", device, now, before)
                    .await?,
            ],
            None => vec![
                self.oldest_counted_failure(
                    "actor = ? COLLATE NOCASE",
                    username.trim(),
                    now,
                    before,
                )
                .await?,
                self.oldest_counted_failure("ip = ?", ip, now, before)
                    .await?,
            ],
        };
        Ok(counted
            .into_iter()
            .flatten()
            .map(|oldest| RetryAfter((oldest + WINDOW_SECS - now).max(1)))
            .max_by_key(|r| r.0))
    }

    /// A throttled attempt: not checked, so not counted (the attempt goes);
    /// the audit log counts it, a repeat on the same row.
    async fn refuse_throttled(
        &self,
        attempt: i64,
        actor: &str,
        ip: &str,
        action: &str,
        detail: Option<&str>,
    ) -> Result<(), EngineError> {
        self.end_attempt(attempt, None).await?;
        self.record_repeatable(actor, Some(ip), action, Outcome::Throttled, detail)
            .await
    }

    /// Forgets every counted attempt: the operator reset a password from the
    /// shell and must be able to sign in at once.
    pub async fn reset_login_throttle(&self) -> Result<(), EngineError> {
        sqlx::query("DELETE FROM login_attempts")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Writes a sign-in attempt about to be checked; its id.
    async fn begin_attempt(
        &self,
        username: &str,
        ip: &str,
        device: Option<&str>,
    ) -> Result<i64, EngineError> {
        let actor: String = username.trim().chars().take(128).collect();
        let done = sqlx::query(
            "INSERT INTO login_attempts (at, actor, ip, device, outcome) \
             VALUES (?, ?, ?, ?, 'pending')",
        )
        .bind(now_unix())
        .bind(actor)
        .bind(ip)
        .bind(device)
        .execute(self.pool())
        .await?;
        Ok(done.last_insert_rowid())
    }

    /// Gives attempt `id` an outcome the counters neither count nor reset
    /// on ("password": the first of two factors).
    async fn end_attempt_as(&self, id: i64, outcome: &str) -> Result<(), EngineError> {
        sqlx::query("UPDATE login_attempts SET outcome = ? WHERE id = ?")
            .bind(outcome)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives attempt `id` its outcome; `None` deletes it (it was never
    /// checked).
    async fn end_attempt(&self, id: i64, outcome: Option<Outcome>) -> Result<(), EngineError> {
        match outcome {
            Some(o) => sqlx::query("UPDATE login_attempts SET outcome = ? WHERE id = ?")
                .bind(o.as_str())
                .bind(id),
            None => sqlx::query("DELETE FROM login_attempts WHERE id = ?").bind(id),
        }
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// If the failures since the last success (within the window, written
    /// before attempt `before`) reach the limit, the time of the oldest
    /// failure that still counts. Attempts still being checked count as
    /// failures.
    async fn oldest_counted_failure(
        &self,
        key_clause: &str,
        key: &str,
        now: i64,
        before: i64,
    ) -> Result<Option<i64>, EngineError> {
        let since = now - WINDOW_SECS;
        let sql = format!(
            "SELECT at FROM login_attempts \
             WHERE outcome IN ('failure', 'pending') AND {key_clause} AND at > ? AND id < ? \
               AND id > COALESCE((SELECT MAX(id) FROM login_attempts \
                                  WHERE outcome = 'success' AND {key_clause}), 0) \
             ORDER BY id DESC LIMIT ?"
        );
        let times: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(key)
            .bind(since)
            .bind(before)
            .bind(key)
            .bind(MAX_FAILURES)
            .fetch_all(self.pool())
            .await?;
        Ok(
            (times.len() as i64 >= MAX_FAILURES)
                .then(|| times.iter().copied().min().unwrap_or(now)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checked attempt, as `sign_in` leaves it.
    async fn attempt(store: &Store, actor: &str, ip: &str, outcome: Outcome) {
        let id = store.begin_attempt(actor, ip, None).await.unwrap();
        store.end_attempt(id, Some(outcome)).await.unwrap();
    }

    #[tokio::test]
    async fn five_failures_lock_and_success_resets() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        for _ in 0..4 {
            attempt(&store, "alice", "10.0.0.1", Outcome::Failure).await;
        }
        assert_eq!(
            store.login_throttled("alice", "10.0.0.9").await.unwrap(),
            None
        );
        attempt(&store, "alice", "10.0.0.1", Outcome::Failure).await;
        let wait = store
            .login_throttled("ALICE", "10.0.0.9")
            .await
            .unwrap()
            .unwrap();
        assert!(
            wait.0 > WINDOW_SECS - 5 && wait.0 <= WINDOW_SECS,
            "{wait:?}"
        );
        // The IP is throttled for another account too.
        assert!(store
            .login_throttled("bob", "10.0.0.1")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .login_throttled("bob", "10.0.0.2")
            .await
            .unwrap()
            .is_none());
        attempt(&store, "alice", "10.0.0.1", Outcome::Success).await;
        assert_eq!(
            store.login_throttled("alice", "10.0.0.1").await.unwrap(),
            None
        );
    }
}
