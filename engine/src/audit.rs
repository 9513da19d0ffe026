//! The audit log: who did what, from where, with what outcome.
//!
//! It only ever gains rows, and it is hash-chained: each row carries the
//! SHA-256 of the row before it (`prev_hash`) and of its own fields with
//! that (`hash`), so a row changed, removed or slipped in afterwards breaks
//! the chain at that point ([`Store::verify_audit`]). Rows are written one
//! at a time (`BEGIN IMMEDIATE`), so two writers never chain to the same
//! row. A refusal repeated in a row (a throttled sign-in tried again) is
//! counted on the first row (`repeats`, `last_at`), outside the chain: the
//! fact is tamper-evident, the count is informational. Pruning by age
//! removes the oldest rows; the chain then starts at the oldest kept one.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use crate::{now_unix, EngineError, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Throttled,
    /// Could not be carried out now (too many at once); not a failure.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Throttled => "throttled",
            Outcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub ip: Option<String>,
    pub action: String,
    pub outcome: String,
    pub detail: Option<String>,
    /// How many times it happened (a refusal repeated in a row is one row).
    pub repeats: i64,
    /// When it last happened, when more than once.
    pub last_at: Option<i64>,
}

/// A row as the chain sees it.
#[derive(Debug, Clone, FromRow)]
struct ChainRow {
    id: i64,
    at: i64,
    actor: String,
    ip: Option<String>,
    action: String,
    outcome: String,
    detail: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChainState {
    /// Every row links to the one before and matches its own fields.
    Intact { rows: i64, first_id: Option<i64> },
    /// The first row where the chain does not hold, and why.
    Broken { id: i64, reason: String },
}

impl ChainState {
    pub fn is_intact(&self) -> bool {
        matches!(self, ChainState::Intact { .. })
    }

    /// One sentence for the Audit page and `burrow audit verify`.
    pub fn sentence(&self) -> String {
        match self {
            ChainState::Intact { rows, .. } => {
                format!("The audit log is intact: {rows} entries, each linked to the one before.")
            }
            ChainState::Broken { id, reason } => {
                format!("The audit log was changed: entry {id} {reason}.")
            }
        }
    }
}

/// Longest actor name kept: a 1 MB "username" must not become a 1 MB row.
const ACTOR_MAX_CHARS: usize = 128;
/// Longest detail kept.
const DETAIL_MAX_CHARS: usize = 1000;

impl ChainRow {
    /// The row's hash: SHA-256 over its fields and the previous hash, as a
    /// JSON array (unambiguous, stable), in hex.
    fn computed(&self, prev: &str) -> String {
        let fields = serde_json::json!([
            self.id,
            self.at,
            self.actor,
            self.ip,
            self.action,
            self.outcome,
            self.detail,
            prev
        ]);
        hex::encode(Sha256::digest(fields.to_string().as_bytes()))
    }
}

/// Filters for [`Store::audit_entries`]; empty ones match everything. An
/// action matches itself and the actions it starts ("deploy" matches
/// "deploy revision 3").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
}

impl Store {
    pub async fn record(
        &self,
        actor: &str,
        ip: Option<&str>,
        action: &str,
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<(), EngineError> {
        self.append(actor, ip, action, outcome, detail, false).await
    }

    /// [`Store::record`] for a refusal that may repeat: when the newest row
    /// for the same action, actor, address and detail is this refusal and
    /// happened within `window_secs`, that row counts it instead.
    pub(crate) async fn record_repeatable(
        &self,
        actor: &str,
        ip: Option<&str>,
        action: &str,
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<(), EngineError> {
        self.append(actor, ip, action, outcome, detail, true).await
    }

    async fn append(
        &self,
        actor: &str,
        ip: Option<&str>,
        action: &str,
        outcome: Outcome,
        detail: Option<&str>,
        coalesce: bool,
    ) -> Result<(), EngineError> {
        let actor: String = actor.trim().chars().take(ACTOR_MAX_CHARS).collect();
        let detail: Option<String> = detail.map(|d| d.chars().take(DETAIL_MAX_CHARS).collect());
        let now = now_unix();
        // One writer at a time: the row chains to the newest one. (Dropped
        // without a commit, the transaction rolls back.)
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        if coalesce {
            let same: Option<(i64, String)> = sqlx::query_as(
                "SELECT id, outcome FROM audit_log \
                 WHERE action = ? AND actor = ? AND ip IS ? AND detail IS ? \
                   AND COALESCE(last_at, at) >= ? \
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(action)
            .bind(&actor)
            .bind(ip)
            .bind(&detail)
            .bind(now - REPEAT_WINDOW_SECS)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id, _)) = same.filter(|(_, o)| o == outcome.as_str()) {
                sqlx::query("UPDATE audit_log SET repeats = repeats + 1, last_at = ? WHERE id = ?")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(());
            }
        }
        let (last_id, prev): (i64, Option<String>) = sqlx::query_as(
            "SELECT COALESCE(MAX(id), 0), \
                    (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) FROM audit_log",
        )
        .fetch_one(&mut *tx)
        .await?;
        let prev = prev.unwrap_or_default();
        let row = ChainRow {
            id: last_id + 1,
            at: now,
            actor,
            ip: ip.map(str::to_owned),
            action: action.to_owned(),
            outcome: outcome.as_str().to_owned(),
            detail,
            prev_hash: None,
            hash: None,
        };
        let hash = row.computed(&prev);
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, ip, action, outcome, detail, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.id)
        .bind(row.at)
        .bind(&row.actor)
        .bind(&row.ip)
        .bind(&row.action)
        .bind(&row.outcome)
        .bind(&row.detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Chains rows written before the chain existed (an upgraded database):
    /// only a tail of unchained rows after every chained one is taken in.
    pub(crate) async fn chain_unchained(&self) -> Result<(), EngineError> {
        // Run at every open: a read first, the write lock only when needed.
        let unchained: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_log WHERE hash IS NULL)")
                .fetch_one(self.pool())
                .await?;
        if !unchained {
            return Ok(());
        }
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let newest_chained: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log WHERE hash IS NOT NULL")
                .fetch_one(&mut *tx)
                .await?;
        let tail: Vec<ChainRow> = sqlx::query_as(
            "SELECT id, at, actor, ip, action, outcome, detail, prev_hash, hash FROM audit_log \
             WHERE id > ? ORDER BY id",
        )
        .bind(newest_chained)
        .fetch_all(&mut *tx)
        .await?;
        let mut prev: String =
            sqlx::query_scalar::<_, Option<String>>("SELECT hash FROM audit_log WHERE id = ?")
                .bind(newest_chained)
                .fetch_optional(&mut *tx)
                .await?
                .flatten()
                .unwrap_or_default();
        for row in tail {
            let hash = row.computed(&prev);
            sqlx::query("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?")
                .bind(&prev)
                .bind(&hash)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            prev = hash;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Walks the chain from the oldest kept row.
    pub async fn verify_audit(&self) -> Result<ChainState, EngineError> {
        let rows: Vec<ChainRow> = sqlx::query_as(
            "SELECT id, at, actor, ip, action, outcome, detail, prev_hash, hash FROM audit_log \
             ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let first_id = rows.first().map(|r| r.id);
        let mut prev: Option<String> = None;
        for row in &rows {
            let (Some(stored_prev), Some(stored)) = (&row.prev_hash, &row.hash) else {
                return Ok(ChainState::Broken {
                    id: row.id,
                    reason: "has no hash".to_owned(),
                });
            };
            // The oldest kept row starts the chain (older ones were pruned).
            if let Some(expected) = &prev {
                if stored_prev != expected {
                    return Ok(ChainState::Broken {
                        id: row.id,
                        reason: "does not follow the entry before it (one was removed or \
                                 inserted)"
                            .to_owned(),
                    });
                }
            }
            if &row.computed(stored_prev) != stored {
                return Ok(ChainState::Broken {
                    id: row.id,
                    reason: "does not match its hash (its fields were changed)".to_owned(),
                });
            }
            prev = Some(stored.clone());
        }
        Ok(ChainState::Intact {
            rows: rows.len() as i64,
            first_id,
        })
    }

    /// Deletes entries older than `keep_days` days (the oldest end of the
    /// chain), and sign-in attempts past the throttle's window; how many
    /// audit entries went.
    pub async fn prune_audit(&self, keep_days: u32) -> Result<u64, EngineError> {
        let now = now_unix();
        let cutoff = now - i64::from(keep_days) * 24 * 3600;
        // Only a run of the oldest rows: the chain stays whole after them.
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE id < COALESCE( \
                 (SELECT MIN(id) FROM audit_log WHERE at >= ?), \
                 (SELECT MAX(id) + 1 FROM audit_log))",
        )
        .bind(cutoff)
        .execute(self.pool())
        .await?;
        sqlx::query("DELETE FROM login_attempts WHERE at < ?")
            .bind(now - crate::throttle::WINDOW_SECS)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The newest `limit` entries, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, EngineError> {
        self.audit_entries(&AuditFilter::default(), limit).await
    }

    /// The newest `limit` entries matching `filter`, newest first.
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, EngineError> {
        let wanted = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(sqlx::query_as(
            "SELECT id, at, actor, ip, action, outcome, detail, repeats, last_at FROM audit_log \
             WHERE (?1 IS NULL OR action = ?1 OR action LIKE ?1 || ' %') \
               AND (?2 IS NULL OR actor = ?2 COLLATE NOCASE) \
             ORDER BY id DESC LIMIT ?3",
        )
        .bind(wanted(&filter.action))
        .bind(wanted(&filter.actor))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every kind of action in the log, for the filter: an action's first
    /// word ("deploy" for "deploy revision 3 started").
    pub async fn audit_actions(&self) -> Result<Vec<String>, EngineError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT CASE WHEN instr(action, ' ') > 0 \
                 THEN substr(action, 1, instr(action, ' ') - 1) ELSE action END AS kind \
             FROM audit_log ORDER BY kind",
        )
        .fetch_all(self.pool())
        .await?)
    }
}

/// How long after a refusal the same refusal is counted on its row.
const REPEAT_WINDOW_SECS: i64 = 15 * 60;

/// `at` (unix seconds) as RFC 3339 in UTC.
pub fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `entries` as CSV (RFC 4180), in the order given, with a header row.
pub fn to_csv(entries: &[AuditEntry]) -> String {
    fn field(v: &str) -> String {
        // A leading = + - @ would be a formula in a spreadsheet.
        let v = if v.starts_with(['=', '+', '-', '@']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v
        }
    }
    let mut out = String::from("id,time_utc,actor,address,action,outcome,times,detail\r\n");
    for e in entries {
        let row = [
            e.id.to_string(),
            rfc3339(e.at),
            e.actor.clone(),
            e.ip.clone().unwrap_or_default(),
            e.action.clone(),
            e.outcome.clone(),
            e.repeats.to_string(),
            e.detail.clone().unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        (dir, store)
    }

    async fn some_rows(store: &Store) {
        for (actor, action) in [
            ("admin", "setup"),
            ("admin", "login"),
            ("bob", "login"),
            ("admin", "logout"),
        ] {
            store
                .record(actor, Some("127.0.0.1"), action, Outcome::Success, None)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_written_log_verifies_and_any_change_breaks_it_where_it_happened() {
        let (_dir, store) = store().await;
        some_rows(&store).await;
        assert_eq!(
            store.verify_audit().await.unwrap(),
            ChainState::Intact {
                rows: 4,
                first_id: Some(1)
            }
        );
        // A field changed.
        sqlx::query("UPDATE audit_log SET outcome = 'failure' WHERE id = 3")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = store.verify_audit().await.unwrap();
        assert!(
            matches!(&broken, ChainState::Broken { id: 3, reason } if reason.contains("changed")),
            "{broken:?}"
        );
        assert!(
            broken.sentence().contains("entry 3"),
            "{}",
            broken.sentence()
        );
        sqlx::query("UPDATE audit_log SET outcome = 'success' WHERE id = 3")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(store.verify_audit().await.unwrap().is_intact());
        // A row removed from the middle.
        sqlx::query("DELETE FROM audit_log WHERE id = 2")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = store.verify_audit().await.unwrap();
        assert!(
            matches!(&broken, ChainState::Broken { id: 3, reason } if reason.contains("removed")),
            "{broken:?}"
        );
    }

    #[tokio::test]
    async fn concurrent_writers_keep_one_chain() {
        let (_dir, store) = store().await;
        let writes = (0..40).map(|i| {
            let store = store.clone();
            async move {
                store
                    .record(&format!("user{i}"), None, "login", Outcome::Failure, None)
                    .await
            }
        });
        for r in futures_util::future::join_all(writes).await {
            r.unwrap();
        }
        assert_eq!(
            store.verify_audit().await.unwrap(),
            ChainState::Intact {
                rows: 40,
                first_id: Some(1)
            }
        );
    }

    #[tokio::test]
    async fn rows_from_before_the_chain_are_taken_in_at_start() {
        let (dir, store) = store().await;
        for actor in ["a", "b", "c"] {
            sqlx::query("INSERT INTO audit_log (at, actor, action, outcome) VALUES (1, ?, 'login', 'success')")
                .bind(actor)
                .execute(store.pool())
                .await
                .unwrap();
        }
        assert!(!store.verify_audit().await.unwrap().is_intact());
        drop(store);
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(
            store.verify_audit().await.unwrap(),
            ChainState::Intact {
                rows: 3,
                first_id: Some(1)
            }
        );
        store
            .record("d", None, "login", Outcome::Success, None)
            .await
            .unwrap();
        assert!(store.verify_audit().await.unwrap().is_intact());
    }

    #[tokio::test]
    async fn old_entries_are_pruned_and_the_rest_still_verifies() {
        let (_dir, store) = store().await;
        some_rows(&store).await;
        let old = now_unix() - 40 * 24 * 3600;
        // Make the two oldest old (their hashes no longer match, but they go).
        sqlx::query("UPDATE audit_log SET at = ? WHERE id <= 2")
            .bind(old)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.prune_audit(30).await.unwrap(), 2);
        assert_eq!(
            store.verify_audit().await.unwrap(),
            ChainState::Intact {
                rows: 2,
                first_id: Some(3)
            }
        );
        assert_eq!(store.prune_audit(30).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_repeated_refusal_is_counted_on_one_row() {
        let (_dir, store) = store().await;
        for _ in 0..3 {
            store
                .record_repeatable("admin", Some("10.0.0.1"), "login", Outcome::Throttled, None)
                .await
                .unwrap();
        }
        store
            .record_repeatable("admin", Some("10.0.0.2"), "login", Outcome::Throttled, None)
            .await
            .unwrap();
        let rows = store.recent_audit(10).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].repeats, rows[0].repeats), (3, 1));
        assert!(rows[1].last_at.is_some());
        assert!(
            store.verify_audit().await.unwrap().is_intact(),
            "counts are outside the chain"
        );
    }

    #[tokio::test]
    async fn filters_and_csv() {
        let (_dir, store) = store().await;
        some_rows(&store).await;
        store
            .record(
                "admin",
                None,
                "deploy revision 3 started",
                Outcome::Success,
                None,
            )
            .await
            .unwrap();
        let deploys = AuditFilter {
            action: Some("deploy".into()),
            actor: None,
        };
        assert_eq!(store.audit_entries(&deploys, 10).await.unwrap().len(), 1);
        let partial = AuditFilter {
            action: Some("dep".into()),
            actor: None,
        };
        assert!(store.audit_entries(&partial, 10).await.unwrap().is_empty());
        store
            .record(
                "=cmd",
                None,
                "login",
                Outcome::Failure,
                Some("a \"quoted\", detail"),
            )
            .await
            .unwrap();
        let filter = AuditFilter {
            action: Some("login".into()),
            actor: Some("ADMIN".into()),
        };
        let admin_logins = store.audit_entries(&filter, 100).await.unwrap();
        assert_eq!(admin_logins.len(), 1);
        assert_eq!(
            store.audit_actions().await.unwrap(),
            ["deploy", "login", "logout", "setup"]
        );
        let csv = to_csv(&store.recent_audit(1).await.unwrap());
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("id,time_utc,actor,address,action,outcome,times,detail")
        );
        let row = lines.next().unwrap();
        assert!(row.starts_with("6,"), "{row}");
        assert!(row.contains(",'=cmd,"), "no formula: {row}");
        assert!(row.ends_with(",\"a \"\"quoted\"\", detail\""), "{row}");
    }
}
