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

/// How a sign-in attempt ended.
#[derive(Debug, Clone)]
pub enum SignIn {
    Welcome(User),
    /// Unknown user or wrong password (not told apart).
    Wrong,
    /// Refused unchecked: too many failures for the account or the address.
    Throttled(RetryAfter),
}

impl Store {
    /// Signs `username` in from `ip`: the attempt is written to the audit
    /// log first, refused if too many came before it, and only then is the
    /// password checked; the row then gets its outcome.
    /// `device`: the id of a device token already verified for `username`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        ip: &str,
        device: Option<&str>,
    ) -> Result<SignIn, EngineError> {
        let device = device.map(|d| format!("device {d}"));
        let attempt = self
            .record_returning_id(
                username,
                Some(ip),
                "login",
                Outcome::Pending,
                device.as_deref(),
            )
            .await?;
        let now = now_unix();
        let counted = match &device {
            Some(device) => vec![
                self.oldest_counted_failure("detail = ?", device, now, attempt)
                    .await?,
            ],
            None => vec![
                self.oldest_counted_failure(
                    "actor = ? COLLATE NOCASE",
                    username.trim(),
                    now,
                    attempt,
                )
                .await?,
                self.oldest_counted_failure("ip = ?", ip, now, attempt)
                    .await?,
            ],
        };
        let wait = counted
            .into_iter()
            .flatten()
            .map(|oldest| RetryAfter((oldest + WINDOW_SECS - now).max(1)))
            .max_by_key(|r| r.0);
        if let Some(wait) = wait {
            // A flood of refused attempts is one row with a count.
            self.settle_repeated(attempt, Outcome::Throttled, WINDOW_SECS)
                .await?;
            return Ok(SignIn::Throttled(wait));
        }
        let checked = self.verify_login(username, password).await;
        let outcome = match &checked {
            Ok(Some(user)) => self.settle(attempt, Outcome::Success, Some(&user.username)),
            // A check that could not run (too many at once) is no failure.
            Ok(None) => self.settle(attempt, Outcome::Failure, None),
            Err(_) => self.settle(attempt, Outcome::Refused, None),
        };
        outcome.await?;
        Ok(match checked? {
            Some(user) => SignIn::Welcome(user),
            None => SignIn::Wrong,
        })
    }

    /// `Some(wait)` when a login for `username` from `ip` must be refused now.
    pub async fn login_throttled(
        &self,
        username: &str,
        ip: &str,
    ) -> Result<Option<RetryAfter>, EngineError> {
        let now = now_unix();
        let by_account = self
            .oldest_counted_failure("actor = ? COLLATE NOCASE", username.trim(), now, i64::MAX)
            .await?;
        let by_ip = self
            .oldest_counted_failure("ip = ?", ip, now, i64::MAX)
            .await?;
        Ok(by_account
            .into_iter()
            .chain(by_ip)
            .map(|oldest| RetryAfter((oldest + WINDOW_SECS - now).max(1)))
            .max_by_key(|r| r.0))
    }

    /// If the failures since the last success (within the window, written
    /// before row `before`) reach the limit, the time of the oldest failure
    /// that still counts. Attempts still being checked count as failures.
    async fn oldest_counted_failure(
        &self,
        key_clause: &str,
        key: &str,
        now: i64,
        before: i64,
    ) -> Result<Option<i64>, EngineError> {
        let since = now - WINDOW_SECS;
        let sql = format!(
            "SELECT at FROM audit_log \
             WHERE action = 'login' AND outcome IN ('failure', 'pending') AND {key_clause} \
               AND at > ? AND id < ? \
               AND id > COALESCE((SELECT MAX(id) FROM audit_log \
                                  WHERE action = 'login' AND outcome = 'success' AND {key_clause}), 0) \
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
    use crate::audit::Outcome;

    #[tokio::test]
    async fn five_failures_lock_and_success_resets() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        for _ in 0..4 {
            store
                .record("alice", Some("10.0.0.1"), "login", Outcome::Failure, None)
                .await
                .unwrap();
        }
        assert_eq!(
            store.login_throttled("alice", "10.0.0.9").await.unwrap(),
            None
        );
        store
            .record("alice", Some("10.0.0.1"), "login", Outcome::Failure, None)
            .await
            .unwrap();
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
        store
            .record("alice", Some("10.0.0.1"), "login", Outcome::Success, None)
            .await
            .unwrap();
        assert_eq!(
            store.login_throttled("alice", "10.0.0.1").await.unwrap(),
            None
        );
    }
}
