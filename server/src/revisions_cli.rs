//! `burrow revisions` (a table of every config revision, like the History
//! page) and `burrow revisions diff A B` (their rendered files compared,
//! secrets masked).

use engine::sealed::Vault;
use engine::Store;

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct RevisionsArgs {
    #[command(subcommand)]
    pub action: Option<RevisionsAction>,
}

#[derive(clap::Subcommand, Debug)]
pub enum RevisionsAction {
    /// Compare the files revision FROM and revision TO render (Revolt.toml,
    /// Caddyfile, livekit.yml, compose.yml, Kubernetes objects).
    Diff { from: i64, to: i64 },
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The table `burrow revisions` prints.
pub fn table(history: &wire::History) -> String {
    let mut rows = vec![[
        "REV".to_owned(),
        "SAVED (UTC)".to_owned(),
        "AUTHOR".to_owned(),
        "TARGET".to_owned(),
        "STATE".to_owned(),
        "DEPLOYMENTS".to_owned(),
        "CHANGES".to_owned(),
    ]];
    for e in &history.entries {
        let state = if e.deployed {
            "deployed".to_owned()
        } else if e.undeployable.is_some() {
            "cannot be deployed".to_owned()
        } else {
            String::new()
        };
        let deployments = e
            .deployments
            .iter()
            .take(3)
            .map(|d| format!("#{} {}", d.id, d.status))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push([
            e.id.to_string(),
            when(e.created_at),
            e.author.clone(),
            e.target.clone(),
            state,
            deployments,
            e.changes.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for e in &history.entries {
        if let Some(why) = &e.undeployable {
            out.push_str(&format!("revision {}: {why}\n", e.id));
        }
    }
    out
}

/// The diff `burrow revisions diff` prints.
pub fn diff_text(diff: &wire::RevisionDiff) -> String {
    let mut out = String::new();
    if let Some(note) = &diff.note {
        out.push_str(&format!("note: {note}\n"));
    }
    if diff.files.is_empty() {
        out.push_str(&format!(
            "Revisions {} and {} render the same files.\n",
            diff.from, diff.to
        ));
    }
    for f in &diff.files {
        out.push_str(&format!(
            "--- {} (revision {})\n+++ {} (revision {})  +{} -{}\n",
            f.name, diff.from, f.name, diff.to, f.added, f.removed
        ));
        for l in &f.lines {
            if l.sign == '…' {
                out.push_str("@@ …\n");
            } else {
                out.push_str(&format!("{}{}\n", l.sign, l.text));
            }
        }
    }
    out
}

pub async fn run(settings: &Settings, args: &RevisionsArgs) -> Result<(), String> {
    let store = Store::open(&settings.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    let vault = Vault::open(&settings.secrets_key_path()).map_err(|e| e.to_string())?;
    match &args.action {
        None => {
            let history = store.history(&vault).await.map_err(|e| e.to_string())?;
            if history.entries.is_empty() {
                eprintln!("No revisions yet: run the setup wizard or `burrow apply --config`.");
            } else {
                print!("{}", table(&history));
            }
        }
        Some(RevisionsAction::Diff { from, to }) => {
            let diff = store
                .revision_diff(&vault, *from, *to)
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", diff_text(&diff));
        }
    }
    Ok(())
}
