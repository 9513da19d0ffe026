//! Config history: every revision with what changed against the one before,
//! which one runs, the deployments made from each, and the diff of the files
//! two revisions render (secrets masked). Diffs come from `similar`.

use std::collections::BTreeMap;

use similar::{ChangeTag, TextDiff};
use stack::model::{Service, StackConfig, TlsMode};
use stack::secrets::Secrets;
use wire::{DeploymentOutcome, DiffLine, FileDiff, History, HistoryEntry, RevisionDiff, ShownFile};

use crate::revisions::{Revision, StoredRevision};
use crate::sealed::Vault;
use crate::targets::TargetSettings;
use crate::{EngineError, Store};

/// What pages show instead of a secret value.
pub const MASK: &str = "••••••••";

/// Unchanged lines kept around each change in a file diff.
const CONTEXT: usize = 3;

/// How many revisions the History page lists.
pub const LIMIT: i64 = 200;

/// `text` with every value of `secrets` replaced by [`MASK`].
pub fn mask(mut text: String, secrets: &[String]) -> String {
    for s in secrets {
        if s.len() >= 6 {
            text = text.replace(s.as_str(), MASK);
        }
    }
    text
}

/// The Kubernetes objects of `plan` as YAML documents (and whether each is
/// a Secret): for a Kubernetes target, exactly what its deploy sends (in
/// its namespace, labelled with the stack, its Ingress class and issuer,
/// the TLS Secret the deploy makes); otherwise the manifests as rendered.
fn kube_documents(
    config: &StackConfig,
    plan: &stack::render::Plan,
    target: &TargetSettings,
) -> Vec<(bool, String)> {
    let rendered = || {
        plan.kubernetes
            .iter()
            .map(|m| (m.secret, m.yaml.clone()))
            .collect()
    };
    let (TargetSettings::Kubernetes { namespace, .. }, Some(ingress)) = (target, target.ingress())
    else {
        return rendered();
    };
    // The pair the deploy puts in the TLS Secret (shown masked): Burrow's
    // leaf or the operator's own; with ACME, cert-manager makes it.
    let tls: Option<(&[u8], &[u8])> = match config.tls {
        TlsMode::Acme { .. } => None,
        _ => Some((b"certificate", b"key")),
    };
    match crate::deploy::cluster::objects::desired(
        &plan.kubernetes,
        config.name.as_str(),
        namespace,
        tls,
        &ingress,
    ) {
        Ok(objects) => objects
            .iter()
            .map(|o| {
                let yaml = serde_yaml::to_string(&o.body).unwrap_or_default();
                (
                    o.kind == crate::deploy::cluster::objects::Kind::Secret,
                    yaml,
                )
            })
            .collect(),
        Err(_) => rendered(),
    }
}

/// The files `config` renders with `secrets` for `target`, as a page may
/// show them: the SMTP password and every generated secret masked.
pub fn shown_files(
    config: &StackConfig,
    secrets: &Secrets,
    target: &TargetSettings,
) -> Vec<ShownFile> {
    // Rendered with a stand-in SMTP password (a short one could not be
    // masked by searching for it); generated secrets are long.
    let mut shown = config.clone();
    if let Some(smtp) = shown.smtp.as_mut() {
        if !smtp.password.is_empty() {
            smtp.password = MASK.to_owned();
        }
    }
    let plan = stack::render::render(&shown, secrets);
    let hidden: Vec<String> = secrets
        .values()
        .iter()
        .map(|(_, v)| v.to_string())
        .collect();
    let mut files = Vec::new();
    // secrets.env shows which secrets Stoat gets, every value masked.
    for name in [
        "Revolt.toml",
        stack::render::SECRETS_ENV,
        "Caddyfile",
        "livekit.yml",
    ] {
        if let Some(f) = plan.files.get(name) {
            files.push(ShownFile {
                name: name.to_owned(),
                content: mask(f.content.clone(), &hidden),
            });
        }
    }
    files.push(ShownFile {
        name: "compose.yml".into(),
        content: mask(plan.compose.clone(), &hidden),
    });
    let mut objects = String::new();
    for (secret, yaml) in kube_documents(&shown, &plan, target) {
        objects.push_str("---\n");
        // A Secret holds files full of secrets base64-encoded, which a
        // search for the values cannot find: its data is masked whole.
        let yaml = if secret {
            mask_secret_data(&yaml)
        } else {
            yaml
        };
        objects.push_str(&mask(yaml, &hidden));
    }
    files.push(ShownFile {
        name: "kubernetes.yaml".into(),
        content: objects,
    });
    files
}

/// A Secret's YAML with every value under `data:` / `stringData:` replaced
/// by [`MASK`] (block values too); the keys stay, so a diff still shows
/// which entry changed its presence.
fn mask_secret_data(yaml: &str) -> String {
    let mut out = String::new();
    let mut in_data = false;
    let mut key_indent: Option<usize> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_data = matches!(line.trim_end(), "data:" | "stringData:");
            key_indent = None;
            out.push_str(line);
        } else if in_data {
            match key_indent {
                // Deeper than the keys: part of a block value, dropped.
                Some(k) if indent > k => continue,
                _ => {
                    key_indent = Some(indent);
                    let key = line.split_once(':').map_or(line, |(k, _)| k);
                    out.push_str(&format!("{key}: {MASK}"));
                }
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn line(sign: char, text: &str) -> DiffLine {
    DiffLine {
        sign,
        text: text.trim_end_matches(['\n', '\r']).to_owned(),
    }
}

fn sign(tag: ChangeTag) -> char {
    match tag {
        ChangeTag::Equal => ' ',
        ChangeTag::Insert => '+',
        ChangeTag::Delete => '-',
    }
}

/// Every line of `old` and `new`, marked same, added or removed.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| line(sign(c.tag()), c.value()))
        .collect()
}

/// The changed lines of one file with [`CONTEXT`] lines around each change;
/// `None` when both are the same.
pub fn file_diff(name: &str, old: &str, new: &str) -> Option<FileDiff> {
    let diff = TextDiff::from_lines(old, new);
    let groups = diff.grouped_ops(CONTEXT);
    if groups.is_empty() {
        return None;
    }
    let (mut added, mut removed, mut lines) = (0, 0, Vec::new());
    for (n, group) in groups.iter().enumerate() {
        if n > 0 {
            lines.push(line('…', "…"));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                match change.tag() {
                    ChangeTag::Insert => added += 1,
                    ChangeTag::Delete => removed += 1,
                    ChangeTag::Equal => {}
                }
                lines.push(line(sign(change.tag()), change.value()));
            }
        }
    }
    Some(FileDiff {
        name: name.to_owned(),
        added,
        removed,
        lines,
    })
}

/// Files of `old` and `new` compared by name: the diffs, and the names of
/// the files that are the same.
pub fn diff_files(old: &[ShownFile], new: &[ShownFile]) -> (Vec<FileDiff>, Vec<String>) {
    let mut names: Vec<&str> = old.iter().map(|f| f.name.as_str()).collect();
    for f in new {
        if !names.contains(&f.name.as_str()) {
            names.push(&f.name);
        }
    }
    let content = |files: &[ShownFile], name: &str| {
        files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.content.clone())
            .unwrap_or_default()
    };
    let (mut diffs, mut same) = (Vec::new(), Vec::new());
    for name in names {
        match file_diff(name, &content(old, name), &content(new, name)) {
            Some(d) => diffs.push(d),
            None => same.push(name.to_owned()),
        }
    }
    (diffs, same)
}

fn tls_name(tls: &TlsMode) -> &'static str {
    match tls {
        TlsMode::SelfSigned => "Burrow's CA",
        TlsMode::Acme { .. } => "ACME",
        TlsMode::OwnCertificate { .. } => "own certificate",
    }
}

/// One line saying what changed from `old` to `new` (both readable).
pub fn change_summary(old: &Revision, new: &Revision) -> String {
    let (a, b) = (&old.config, &new.config);
    let mut out: Vec<String> = Vec::new();
    if a.name != b.name {
        out.push(format!("stack name changed to {}", b.name.as_str()));
    }
    if a.domain != b.domain {
        out.push(format!("domain changed to {}", b.domain));
    }
    if a.network != b.network {
        out.push("published ports changed".into());
    }
    if a.tls != b.tls {
        if std::mem::discriminant(&a.tls) != std::mem::discriminant(&b.tls) {
            out.push(format!("TLS changed to {}", tls_name(&b.tls)));
        } else {
            out.push("TLS settings changed".into());
        }
    }
    match (&a.smtp, &b.smtp) {
        (None, Some(_)) => out.push("e-mail turned on".into()),
        (Some(_), None) => out.push("e-mail turned off".into()),
        (Some(x), Some(y)) => {
            let mut each = |changed: bool, what: &str| {
                if changed {
                    out.push(format!("SMTP {what} changed"));
                }
            };
            each(x.host != y.host, "host");
            each(x.port != y.port, "port");
            each(x.username != y.username, "username");
            each(x.password != y.password, "password");
            each(x.from != y.from, "sender");
            each(x.security != y.security, "security");
        }
        (None, None) => {}
    }
    if a.registration != b.registration {
        out.push(format!("registration {}", b.registration.as_str()));
    }
    if a.livekit != b.livekit && a.livekit.enabled == b.livekit.enabled && b.livekit.enabled {
        out.push("voice settings changed".into());
    }
    let (sa, sb) = (a.services(), b.services());
    let mut images = Vec::new();
    for &s in Service::ALL.iter() {
        match (sa.contains(&s), sb.contains(&s)) {
            (false, true) => out.push(format!("{} turned on", s.name())),
            (true, false) => out.push(format!("{} turned off", s.name())),
            (true, true) if a.images.get(s) != b.images.get(s) => images.push(s.name()),
            _ => {}
        }
    }
    match images.len() {
        0 => {}
        1 | 2 => out.extend(images.iter().map(|s| format!("{s} image changed"))),
        n => out.push(format!("images of {n} services changed")),
    }
    if old.target != new.target {
        out.push(format!("target changed to {}", new.target.describe()));
    }
    if old.secrets.stack != new.secrets.stack {
        out.push("stack secrets replaced".into());
    }
    if out.is_empty() {
        return "no change".into();
    }
    let mut text = out.join("; ");
    if let Some(first) = text.get(0..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text
}

/// A revision's rendered files, or (when it no longer validates) its
/// stored stack.toml with the reason.
enum Rendered {
    Files(Vec<ShownFile>),
    Stored { toml: String, why: String },
}

impl Store {
    async fn rendered(
        &self,
        vault: &Vault,
        stored: StoredRevision,
    ) -> Result<Rendered, EngineError> {
        let toml = stored.stack_toml.clone();
        match self.load_revision(vault, stored).await {
            Ok(rev) => {
                let secrets = match rev.secrets.stack {
                    Some(v) => self.stack_secrets_at(vault, v).await?,
                    None => self.ensure_stack_secrets(vault).await?,
                };
                Ok(Rendered::Files(shown_files(
                    &rev.config,
                    &secrets,
                    &rev.target,
                )))
            }
            Err(why) => Ok(Rendered::Stored { toml, why }),
        }
    }

    /// The files of revision `from` against those of `to`.
    pub async fn revision_diff(
        &self,
        vault: &Vault,
        from: i64,
        to: i64,
    ) -> Result<RevisionDiff, EngineError> {
        let mut sides = Vec::new();
        for id in [from, to] {
            let stored = self
                .stored_revision(vault, id)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("There is no revision {id}.")))?;
            sides.push(self.rendered(vault, stored).await?);
        }
        let (files, unchanged, note) = match (&sides[0], &sides[1]) {
            (Rendered::Files(a), Rendered::Files(b)) => {
                let (d, s) = diff_files(a, b);
                (d, s, None)
            }
            (a, b) => {
                let text = |r: &Rendered| match r {
                    Rendered::Files(_) => None,
                    Rendered::Stored { toml, .. } => Some(toml.clone()),
                };
                let why: Vec<String> = [a, b]
                    .iter()
                    .filter_map(|r| match r {
                        Rendered::Stored { why, .. } => Some(why.clone()),
                        Rendered::Files(_) => None,
                    })
                    .collect();
                let (ta, tb) = (text(a), text(b));
                let (d, s) = diff_files(
                    &[ShownFile {
                        name: "stack.toml".into(),
                        content: ta.unwrap_or_default(),
                    }],
                    &[ShownFile {
                        name: "stack.toml".into(),
                        content: tb.unwrap_or_default(),
                    }],
                );
                (
                    d,
                    s,
                    Some(format!(
                        "{} The stored stack.toml is compared instead of the rendered files.",
                        why.join(" ")
                    )),
                )
            }
        };
        Ok(RevisionDiff {
            from,
            to,
            files,
            unchanged,
            note,
        })
    }

    /// The History page: every revision (newest first, at most [`LIMIT`])
    /// with its change summary and deployments. Stored data that no longer
    /// validates is listed with the reason, never an error.
    pub async fn history(&self, vault: &Vault) -> Result<History, EngineError> {
        let stored = self.stored_revisions(vault, LIMIT + 1).await?;
        let deployed = self.deployed_revision().await?;
        let mut by_revision: BTreeMap<i64, Vec<DeploymentOutcome>> = BTreeMap::new();
        let mut running = None;
        for d in self.recent_deployments(1000).await? {
            if d.status == crate::deployments::DeploymentStatus::Running && running.is_none() {
                running = Some(d.id);
            }
            if let Some(rev) = d.revision_id {
                by_revision.entry(rev).or_default().push(DeploymentOutcome {
                    id: d.id,
                    status: d.status,
                    actor: d.actor,
                    started_at: d.started_at,
                    summary: d.summary,
                });
            }
        }
        // Oldest first, so each is compared with the one before it.
        let mut loaded = Vec::new();
        for s in stored.into_iter().rev() {
            let text = s.stack_toml.clone();
            let meta = s.meta.clone();
            let target = s.target.describe();
            let undeployable_target = s.target.undeployable().map(str::to_owned);
            let rev = self.load_revision(vault, s).await;
            loaded.push((meta, text, target, undeployable_target, rev));
        }
        let mut entries = Vec::new();
        for i in 0..loaded.len() {
            let (meta, text, target, undeployable_target, rev) = &loaded[i];
            let changes = match (i.checked_sub(1).map(|p| &loaded[p]), rev) {
                (None, _) if meta.id == 1 => "First revision".to_owned(),
                (None, _) => "Oldest revision shown".to_owned(),
                (Some((_, _, _, _, Ok(prev))), Ok(cur)) => change_summary(prev, cur),
                (Some((_, prev_text, ..)), _) => {
                    if prev_text == text {
                        "Same stored configuration".to_owned()
                    } else {
                        "Stored configuration changed".to_owned()
                    }
                }
            };
            entries.push(HistoryEntry {
                id: meta.id,
                created_at: meta.created_at,
                author: meta.author.clone(),
                note: meta.note.clone(),
                changes,
                target: target.clone(),
                deployed: deployed == Some(meta.id),
                undeployable: match rev {
                    Err(why) => Some(why.clone()),
                    Ok(_) => undeployable_target.clone(),
                },
                deployments: by_revision.remove(&meta.id).unwrap_or_default(),
            });
        }
        entries.reverse();
        entries.truncate(LIMIT as usize);
        Ok(History {
            entries,
            deployed,
            running,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_diffs_keep_context_and_count_changes() {
        let old: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n");
        let d = file_diff("Revolt.toml", &old, &new).unwrap();
        assert_eq!((d.added, d.removed), (1, 1));
        // 3 lines of context each side, the removed and the added line.
        assert_eq!(d.lines.len(), 8);
        assert_eq!(d.lines[3], line('-', "line 10"));
        assert_eq!(d.lines[4], line('+', "line ten"));
        assert!(file_diff("x", &old, &old).is_none());
    }

    #[test]
    fn whole_line_diff_marks_every_line() {
        let d = diff_lines("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(
            d.iter()
                .map(|l| format!("{}{}", l.sign, l.text))
                .collect::<Vec<_>>(),
            vec![" a", "-b", " c", "+d"]
        );
    }

    #[test]
    fn secret_objects_show_their_keys_never_their_data() {
        let yaml = "apiVersion: v1\nkind: Secret\ndata:\n  Revolt.toml: SGVsbG8=\n  keyfile: |\n    line1\n    line2\nmetadata:\n  name: x\n";
        assert_eq!(
            mask_secret_data(yaml),
            format!("apiVersion: v1\nkind: Secret\ndata:\n  Revolt.toml: {MASK}\n  keyfile: {MASK}\nmetadata:\n  name: x\n")
        );
        // The whole stack: no secret value, plain or base64, in any shown file.
        let config = stack::model::parse_stack_toml(
            "domain = \"chat.example.com\"\ntarget = \"kubernetes\"\n",
        )
        .unwrap()
        .config;
        let secrets = Secrets::generate().unwrap();
        let files = shown_files(&config, &secrets, &in_namespace("team-chat"));
        let kube = &files
            .iter()
            .find(|f| f.name == "kubernetes.yaml")
            .unwrap()
            .content;
        assert!(kube.contains("kind: Secret") && kube.contains(MASK));
        use base64::Engine;
        for (name, value) in secrets.values() {
            let b64 = base64::engine::general_purpose::STANDARD.encode(value);
            for f in &files {
                assert!(!f.content.contains(value), "{name} shown in {}", f.name);
                assert!(
                    !f.content.contains(&b64),
                    "{name} shown base64 in {}",
                    f.name
                );
            }
        }
        let revolt = stack::render::render(&config, &secrets).files["Revolt.toml"]
            .content
            .clone();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&revolt);
        assert!(!kube.contains(&b64[..40]), "Revolt.toml shown base64");
    }

    fn in_namespace(namespace: &str) -> TargetSettings {
        TargetSettings::Kubernetes {
            in_cluster: false,
            context: None,
            namespace: namespace.into(),
            ingress_class: Some("traefik".into()),
            issuer: None,
        }
    }

    /// A Kubernetes revision shows what its deploy sends: in its own
    /// namespace, labelled, with its Ingress class and the TLS Secret the
    /// deploy makes (masked); a Docker revision the manifests as rendered.
    #[test]
    fn a_kubernetes_revision_shows_the_objects_its_deploy_sends() {
        let config = stack::model::parse_stack_toml(
            "domain = \"chat.example.com\"\ntarget = \"kubernetes\"\n",
        )
        .unwrap()
        .config;
        let secrets = Secrets::generate().unwrap();
        let kube = |target: &TargetSettings| {
            shown_files(&config, &secrets, target)
                .into_iter()
                .find(|f| f.name == "kubernetes.yaml")
                .unwrap()
                .content
        };
        let sent = kube(&in_namespace("team-chat"));
        assert!(sent.contains("namespace: team-chat"), "{sent}");
        assert!(!sent.contains("namespace: stoat"), "{sent}");
        assert!(
            sent.contains("name: team-chat\n"),
            "the Namespace object is the target's"
        );
        assert!(sent.contains(&format!("burrow.io/stack: {}", config.name.as_str())));
        assert!(sent.contains("ingressClassName: traefik"), "{sent}");
        assert!(sent.contains(&format!("tls.crt: {MASK}")), "{sent}");
        let docker = TargetSettings::Docker {
            url: None,
            tls: None,
        };
        let rendered = kube(&docker);
        assert!(rendered.contains("namespace: stoat"));
        assert!(!rendered.contains("burrow.io/stack"));
    }

    #[test]
    fn masking_hides_long_values_only() {
        let text = mask(
            "key = \"abcdefgh\" short = \"abc\"".into(),
            &["abcdefgh".into(), "abc".into()],
        );
        assert_eq!(text, format!("key = \"{MASK}\" short = \"abc\""));
    }
}
