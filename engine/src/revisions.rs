//! Config revisions: each saved [`StackConfig`] gets the next number. The
//! stored TOML never holds the SMTP password; it is sealed apart and put
//! back when a revision is loaded.

use serde::Serialize;
use stack::model::{parse_stack_toml, StackConfig, StackForm};

use crate::sealed::Vault;
use crate::{now_unix, EngineError, Store};

const SMTP_PASSWORD: &str = "smtp_password";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionMeta {
    pub id: i64,
    pub created_at: i64,
    pub author: String,
    pub note: Option<String>,
}

/// A stored revision with its config (secrets restored).
#[derive(Debug, Clone)]
pub struct Revision {
    pub meta: RevisionMeta,
    pub config: StackConfig,
}

/// The TOML kept for `config`: the stack.toml format without the password.
pub fn public_toml(config: &StackConfig) -> String {
    let mut form = StackForm::from(config);
    if form.smtp.password.is_some() {
        form.smtp.password = None;
    }
    toml::to_string(&form).unwrap_or_default()
}

impl Store {
    /// Saves `config` as a new revision unless it equals the newest one;
    /// returns the revision and whether it is new.
    pub async fn save_revision(
        &self,
        vault: &Vault,
        config: &StackConfig,
        author: &str,
        note: Option<&str>,
    ) -> Result<(RevisionMeta, bool), EngineError> {
        if let Some(latest) = self.latest_revision(vault).await? {
            if &latest.config == config {
                return Ok((latest.meta, false));
            }
        }
        if let Some(smtp) = &config.smtp {
            self.put_secret(vault, SMTP_PASSWORD, &smtp.password)
                .await?;
        }
        let text = public_toml(config);
        let now = now_unix();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO config_revisions (created_at, author, stack_toml, note) \
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(now)
        .bind(author)
        .bind(&text)
        .bind(note)
        .fetch_one(self.pool())
        .await?;
        Ok((
            RevisionMeta {
                id,
                created_at: now,
                author: author.to_string(),
                note: note.map(str::to_string),
            },
            true,
        ))
    }

    pub async fn latest_revision(&self, vault: &Vault) -> Result<Option<Revision>, EngineError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM config_revisions")
            .fetch_one(self.pool())
            .await?;
        match id {
            Some(id) => self.revision(vault, id).await,
            None => Ok(None),
        }
    }

    /// The revision that runs: the one last applied successfully, or the
    /// newest when nothing has been deployed yet. The console watches this
    /// one, so an edit saved but not deployed does not change what it probes.
    pub async fn running_revision(&self, vault: &Vault) -> Result<Option<Revision>, EngineError> {
        match self.deployed_revision().await? {
            Some(id) => match self.revision(vault, id).await? {
                Some(rev) => Ok(Some(rev)),
                None => self.latest_revision(vault).await,
            },
            None => self.latest_revision(vault).await,
        }
    }

    pub async fn revision(&self, vault: &Vault, id: i64) -> Result<Option<Revision>, EngineError> {
        let row: Option<(i64, i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, created_at, author, stack_toml, note FROM config_revisions WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some((id, created_at, author, text, note)) = row else {
            return Ok(None);
        };
        let mut form: StackForm = toml::from_str(&text)
            .map_err(|e| EngineError::Config(format!("revision {id} is not readable: {e}")))?;
        if form.smtp.enabled.is_some() && form.smtp.host.is_some() {
            if let Some(pw) = self.secret(vault, SMTP_PASSWORD).await? {
                form.smtp.password = stack::model::Field::text(pw);
            }
        }
        let config = form
            .parse()
            .map(|p| p.config)
            .or_else(|_| parse_stack_toml(&text).map(|p| p.config))
            .map_err(|issues| {
                EngineError::Config(format!(
                    "revision {id} no longer validates: {}",
                    issues
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
        Ok(Some(Revision {
            meta: RevisionMeta {
                id,
                created_at,
                author,
                note,
            },
            config,
        }))
    }

    pub async fn list_revisions(&self, limit: i64) -> Result<Vec<RevisionMeta>, EngineError> {
        let rows: Vec<(i64, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, created_at, author, note FROM config_revisions ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, created_at, author, note)| RevisionMeta {
                id,
                created_at,
                author,
                note,
            })
            .collect())
    }
}
