//! Config revisions: each saved [`StackConfig`] gets the next number, and is
//! self-contained: it carries its deploy target and the *versions* of the
//! secrets it used (stack secrets, SMTP password, kubeconfig), so deploying
//! it again weeks later renders the same bytes. The stored TOML never holds
//! the SMTP password; it is sealed apart, one version per value.
//!
//! A stored revision is read as what it was: its schema version says which
//! shape it has ([`upgrade`] brings older ones forward), and one that no
//! longer validates is still listed, with the reason it cannot be deployed.

use serde::Serialize;
use stack::model::{parse_stack_toml, StackConfig, StackForm};

use crate::sealed::Vault;
use crate::targets::TargetSettings;
use crate::{now_unix, EngineError, Store};

const SMTP_PASSWORD: &str = "smtp_password";
const KUBECONFIG: &str = "kubeconfig";
/// Where schema-1 revisions find their Docker address: the one the wizard
/// kept for all of them.
const LEGACY_DOCKER_URL: &str = "target_docker_url";

/// The shape revisions are written in now. 1: before revisions carried a
/// target and secret versions.
pub const SCHEMA: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionMeta {
    pub id: i64,
    pub created_at: i64,
    pub author: String,
    pub note: Option<String>,
}

/// The versions of the secrets a revision was saved with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SecretRefs {
    pub stack: Option<i64>,
    pub smtp_password: Option<i64>,
    pub kubeconfig: Option<i64>,
    /// The own certificate and key (sealed together).
    pub own_tls: Option<i64>,
}

/// A revision as stored, before its config is parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRevision {
    pub meta: RevisionMeta,
    pub schema: i64,
    /// The stack.toml text (no password).
    pub stack_toml: String,
    pub target: TargetSettings,
    pub secrets: SecretRefs,
}

/// A revision ready to deploy: its config with the password it had.
#[derive(Debug, Clone)]
pub struct Revision {
    pub meta: RevisionMeta,
    pub config: StackConfig,
    pub target: TargetSettings,
    pub secrets: SecretRefs,
}

/// A stack.toml as typed, to show again after it was refused, with the
/// value of every `password` key taken out (the text travels back through
/// the page and, without JavaScript, the address); whether one was.
pub fn without_passwords(text: &str) -> (String, bool) {
    let mut removed = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            let key = key.trim_matches(|c| c == '"' || c == '\'');
            if line.contains('=') && (key == "password" || key.ends_with(".password")) {
                removed = true;
                let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
                let name = line.split('=').next().unwrap_or_default().trim();
                format!("{indent}{name} = \"\"")
            } else {
                let (line, inline) = without_inline_passwords(line);
                removed |= inline;
                line
            }
        })
        .collect();
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    (out, removed)
}

/// `line` with the string after every `password =` inside it emptied (an
/// inline table: `smtp = { password = "…" }`).
fn without_inline_passwords(line: &str) -> (String, bool) {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut removed = false;
    while let Some(at) = rest.find("password") {
        let (before, after) = rest.split_at(at + "password".len());
        out.push_str(before);
        let value = after.trim_start_matches(['"', '\'', ' ']);
        let Some(value) = value.strip_prefix('=') else {
            rest = after;
            continue;
        };
        let value = value.trim_start();
        let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            rest = after;
            continue;
        };
        let Some(end) = value[1..].find(quote) else {
            rest = after;
            continue;
        };
        out.push_str(&after[..after.len() - value.len()]);
        out.push(quote);
        out.push(quote);
        rest = &value[end + 2..];
        removed = true;
    }
    out.push_str(rest);
    (out, removed)
}

/// The secret-version name of own certificate pairs.
pub(crate) const OWN_TLS: &str = "own_tls";

/// The secret-version name of a Docker daemon's TLS settings.
const DOCKER_TLS: &str = "docker_tls";

/// A certificate and key kept as one sealed value.
pub(crate) fn join_pair(cert: &str, key: &str) -> Result<String, EngineError> {
    serde_json::to_string(&[cert, key]).map_err(|e| EngineError::Config(e.to_string()))
}

fn split_pair(text: &str) -> Result<(String, String), EngineError> {
    let [cert, key]: [String; 2] = serde_json::from_str(text)
        .map_err(|_| EngineError::Secrets("the kept own certificate is damaged".into()))?;
    Ok((cert, key))
}

/// The TOML kept for `config`: the stack.toml format without the password.
pub fn public_toml(config: &StackConfig) -> String {
    let mut form = StackForm::from(config);
    if form.smtp.password.is_some() {
        form.smtp.password = None;
    }
    toml::to_string(&form).unwrap_or_default()
}

type Row = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

const COLUMNS: &str = "id, created_at, author, stack_toml, note, schema_version, target, \
     stack_secrets_version, smtp_password_version, kubeconfig_version, own_tls_version \
     FROM config_revisions";

/// Brings a stored row to the current shape. Schema 1 rows have no target:
/// it follows from their `target = …` key, with the Docker address the
/// wizard kept (`legacy_docker_url`).
pub fn upgrade(row: Row, legacy_docker_url: Option<&str>) -> StoredRevision {
    let (id, created_at, author, stack_toml, note, schema, target, stack, smtp, kube, own_tls) =
        row;
    let target = target
        .and_then(|t| serde_json::from_str::<TargetSettings>(&t).ok())
        .unwrap_or_else(|| {
            let kind = toml::from_str::<toml::Table>(&stack_toml)
                .ok()
                .and_then(|t| t.get("target").and_then(|v| v.as_str()).map(str::to_owned));
            match kind.as_deref().map(stack::model::TargetKind::parse) {
                Some(Ok(stack::model::TargetKind::Kubernetes)) => TargetSettings::Kubernetes {
                    in_cluster: false,
                    context: None,
                    namespace: "stoat".to_owned(),
                    ingress_class: None,
                    issuer: None,
                },
                _ => TargetSettings::Docker {
                    url: legacy_docker_url
                        .filter(|u| !u.is_empty())
                        .map(str::to_owned),
                    tls: None,
                },
            }
        });
    StoredRevision {
        meta: RevisionMeta {
            id,
            created_at,
            author,
            note,
        },
        schema,
        stack_toml,
        target,
        secrets: SecretRefs {
            stack,
            smtp_password: smtp,
            kubeconfig: kube,
            own_tls,
        },
    }
}

impl Store {
    /// Saves `config` for `target` as a new revision unless it equals the
    /// newest one (config, target and secret versions); returns the
    /// revision and whether it is new. The SMTP password, the stack secrets
    /// and (for Kubernetes) the draft's kubeconfig are referenced by
    /// version.
    pub async fn save_revision(
        &self,
        vault: &Vault,
        config: &StackConfig,
        target: &TargetSettings,
        author: &str,
        note: Option<&str>,
    ) -> Result<(RevisionMeta, bool), EngineError> {
        let (stack_version, _) = self.ensure_stack_secrets_version(vault).await?;
        let smtp_version = match &config.smtp {
            Some(smtp) => Some(
                self.put_secret_version(vault, SMTP_PASSWORD, &smtp.password)
                    .await?,
            ),
            None => None,
        };
        let kube_version = match target {
            TargetSettings::Kubernetes {
                in_cluster: false, ..
            } => match self.draft_kubeconfig(vault).await? {
                Some(yaml) => Some(self.put_secret_version(vault, KUBECONFIG, &yaml).await?),
                None => None,
            },
            _ => None,
        };
        let own_tls_version = self.own_tls_version_for(vault, config).await?;
        let refs = SecretRefs {
            stack: Some(stack_version),
            smtp_password: smtp_version,
            kubeconfig: kube_version,
            own_tls: own_tls_version,
        };
        if let Some(latest) = self.latest_revision(vault).await.ok().flatten() {
            if &latest.config == config && &latest.target == target && latest.secrets == refs {
                return Ok((latest.meta, false));
            }
        }
        let text = public_toml(config);
        let target_json =
            serde_json::to_string(target).map_err(|e| EngineError::Config(e.to_string()))?;
        let now = now_unix();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO config_revisions (created_at, author, stack_toml, note, schema_version, \
             target, stack_secrets_version, smtp_password_version, kubeconfig_version, \
             own_tls_version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(now)
        .bind(author)
        .bind(&text)
        .bind(note)
        .bind(SCHEMA)
        .bind(target_json)
        .bind(refs.stack)
        .bind(refs.smtp_password)
        .bind(refs.kubeconfig)
        .bind(refs.own_tls)
        .fetch_one(self.pool())
        .await?;
        // Shown in the dashboard's recent activity beside the sign-ins.
        self.record(
            author,
            None,
            &format!("save revision {id}"),
            crate::audit::Outcome::Success,
            note,
        )
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

    /// Revision `id` ready to deploy. One that cannot be any more (it does
    /// not validate under today's rules, a secret version is unreadable) is
    /// an `Unusable` error saying why; [`Store::stored_revisions`] still
    /// lists it.
    pub async fn revision(&self, vault: &Vault, id: i64) -> Result<Option<Revision>, EngineError> {
        let Some(stored) = self.stored_revision(vault, id).await? else {
            return Ok(None);
        };
        self.load_revision(vault, stored)
            .await
            .map(Some)
            .map_err(|why| EngineError::Unusable { revision: id, why })
    }

    /// Whether revision `id` deploys to a Kubernetes cluster (`false` when
    /// there is no such revision).
    pub async fn revision_is_cluster(&self, id: i64) -> Result<bool, EngineError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row
            .is_some_and(|r| matches!(upgrade(r, None).target, TargetSettings::Kubernetes { .. })))
    }

    /// Whether revision `id` exists.
    pub async fn has_revision(&self, id: i64) -> Result<bool, EngineError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM config_revisions WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    /// Revision `id` as stored (upgraded to the current shape, not parsed).
    pub async fn stored_revision(
        &self,
        vault: &Vault,
        id: i64,
    ) -> Result<Option<StoredRevision>, EngineError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let legacy = self.legacy_docker_url(vault).await;
        Ok(row.map(|r| upgrade(r, legacy.as_deref())))
    }

    /// Every revision as stored, newest first (at most `limit`).
    pub async fn stored_revisions(
        &self,
        vault: &Vault,
        limit: i64,
    ) -> Result<Vec<StoredRevision>, EngineError> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} ORDER BY id DESC LIMIT ?"))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let legacy = self.legacy_docker_url(vault).await;
        Ok(rows
            .into_iter()
            .map(|r| upgrade(r, legacy.as_deref()))
            .collect())
    }

    async fn legacy_docker_url(&self, vault: &Vault) -> Option<String> {
        self.secret(vault, LEGACY_DOCKER_URL).await.ok().flatten()
    }

    /// The config of `stored` with the password of its own version; `Err`
    /// is the sentence saying why it cannot be deployed.
    pub async fn load_revision(
        &self,
        vault: &Vault,
        stored: StoredRevision,
    ) -> Result<Revision, String> {
        let id = stored.meta.id;
        let mut form: StackForm = toml::from_str(&stored.stack_toml)
            .map_err(|e| format!("revision {id} is not readable: {e}"))?;
        if let Some(version) = stored.secrets.smtp_password {
            let pw = self
                .secret_version(vault, SMTP_PASSWORD, version)
                .await
                .map_err(|e| format!("revision {id} cannot be deployed: {e}"))?;
            form.smtp.password = stack::model::Field::text(pw);
        }
        let config = form
            .parse()
            .map(|p| p.config)
            .or_else(|_| parse_stack_toml(&stored.stack_toml).map(|p| p.config))
            .map_err(|issues| {
                format!(
                    "revision {id} no longer validates: {}",
                    issues
                        .iter()
                        .filter(|i| i.is_error())
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
        Ok(Revision {
            meta: stored.meta,
            config,
            target: stored.target,
            secrets: stored.secrets,
        })
    }

    /// For a config whose own certificate is the one kept by Burrow
    /// (`OWN_*_SOURCE`): the sealed version to refer to, from the TLS step's
    /// draft or else the newest revision's. Refused, with the way out, when
    /// there is none.
    async fn own_tls_version_for(
        &self,
        vault: &Vault,
        config: &StackConfig,
    ) -> Result<Option<i64>, EngineError> {
        if !crate::stack_tls::kept_own_certificate(config) {
            return Ok(None);
        }
        if let Some(pair) = self.draft_own_tls(vault).await? {
            return Ok(Some(self.put_secret_version(vault, OWN_TLS, &pair).await?));
        }
        let kept = self
            .latest_revision(vault)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.secrets.own_tls);
        kept.map(Some).ok_or_else(|| {
            EngineError::Config(
                "This configuration uses the certificate kept by Burrow, but none was pasted: \
                 paste the certificate and its key on the TLS step."
                    .into(),
            )
        })
    }

    /// The own certificate and key a revision was saved with.
    pub async fn revision_own_tls(
        &self,
        vault: &Vault,
        revision: &Revision,
    ) -> Result<Option<(String, String)>, EngineError> {
        match revision.secrets.own_tls {
            Some(v) => {
                let text = self.secret_version(vault, OWN_TLS, v).await?;
                Ok(Some(split_pair(&text)?))
            }
            None => Ok(None),
        }
    }

    /// Keeps `tls` as a sealed version (the same settings again are the
    /// same version); the version, for [`TargetSettings::Docker`].
    pub async fn keep_docker_tls(
        &self,
        vault: &Vault,
        tls: &crate::deploy::DockerTls,
    ) -> Result<i64, EngineError> {
        self.put_secret_version(vault, DOCKER_TLS, &tls.to_sealed_text())
            .await
    }

    /// Version `version` of the kept Docker TLS settings.
    pub async fn docker_tls_version(
        &self,
        vault: &Vault,
        version: i64,
    ) -> Result<crate::deploy::DockerTls, EngineError> {
        let text = self.secret_version(vault, DOCKER_TLS, version).await?;
        crate::deploy::DockerTls::from_sealed_text(&text).map_err(EngineError::Secrets)
    }

    /// The kubeconfig a Kubernetes revision was saved with.
    pub async fn revision_kubeconfig(
        &self,
        vault: &Vault,
        revision: &Revision,
    ) -> Result<Option<String>, EngineError> {
        match revision.secrets.kubeconfig {
            Some(v) => self.secret_version(vault, KUBECONFIG, v).await.map(Some),
            None => Ok(None),
        }
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

    /// The SMTP password of the newest revision (what the wizard edits).
    pub async fn latest_smtp_password(&self, vault: &Vault) -> Result<Option<String>, EngineError> {
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT smtp_password_version FROM config_revisions ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?
        .flatten();
        match version {
            Some(v) => self.secret_version(vault, SMTP_PASSWORD, v).await.map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod shown_again_tests {
    #[test]
    fn passwords_are_taken_out_of_a_text_shown_again() {
        let text = "domain = \"chat.example.com\"\n[smtp]\nhost = \"smtp.example.com\"\n  password = \"hunter2-secret\"\n\"password\"=\"x\"\nsmtp.password = 'y'\nnote = \"a password = here\"\n";
        let (shown, removed) = super::without_passwords(text);
        assert!(removed);
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(!shown.contains("'y'"), "{shown}");
        assert!(shown.contains("  password = \"\"\n"), "{shown}");
        assert!(shown.contains("host = \"smtp.example.com\""));
        assert!(
            shown.contains("note = \"a password = here\""),
            "other keys stay: {shown}"
        );
        assert!(shown.ends_with('\n'));
        let (inline, removed) = super::without_passwords(
            "smtp = { host = \"h\", password = \"in-line-secret\", port = 25 }",
        );
        assert!(removed);
        assert_eq!(
            inline,
            "smtp = { host = \"h\", password = \"\", port = 25 }"
        );
        let (same, removed) = super::without_passwords("domain = \"x\"");
        assert_eq!((same.as_str(), removed), ("domain = \"x\"", false));
    }
}
