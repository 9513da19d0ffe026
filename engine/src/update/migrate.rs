//! A release's config migrations, declared as data and applied to a copy
//! of the running configuration (the new revision the update deploys;
//! rolling back deploys the previous revision again). Never code from the
//! channel: three operations on the `stack.toml` document, by dotted key
//! path, and the result must validate like a stack.toml the operator
//! wrote.
//!
//! ```json
//! { "op": "rename",  "from": "apps.old_name", "to": "apps.new_name" }
//! { "op": "default", "path": "livekit.tcp_port", "value": 7881 }
//! { "op": "remove",  "path": "apps.retired" }
//! ```
//!
//! `rename` moves a value that is set (a value already at `to` wins);
//! `default` sets a value only where none is; `remove` drops one. A key
//! that is not there makes `rename` and `remove` no-ops, so applying a
//! migration twice changes nothing more.
//!
//! A migration of kind `data` carries no operations: it declares that the
//! release's own images change the stored data when they first start
//! (Stoat's api migrates MongoDB forward at start-up, with no way down:
//! `crates/core/database/src/models/admin_migrations/ops/mongodb/scripts.rs`
//! in stoatchat/stoatchat). A release with one must require the backup,
//! and rolling it back restores that backup.

use serde::Deserialize;
use stack::model::{parse_stack_toml, StackConfig, StackForm};

use super::release::Migration;

/// Operations on the configuration, applied by Burrow.
pub const CONFIG: &str = "config";
/// The release's images migrate the stored data (no operations here).
pub const DATA: &str = "data";

/// Whether `migrations` change the stored data (a rollback must restore
/// the backup taken before).
pub fn changes_data(migrations: &[Migration]) -> bool {
    migrations.iter().any(|m| m.kind == DATA)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Op {
    Rename {
        from: String,
        to: String,
    },
    Default {
        path: String,
        value: serde_json::Value,
    },
    Remove {
        path: String,
    },
}

fn op(value: &serde_json::Value) -> Result<Op, String> {
    Op::deserialize(value)
        .map_err(|e| format!("{value} is not an operation (rename, default or remove): {e}"))
}

fn segments(path: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = path.split('.').collect();
    if path.is_empty() || parts.iter().any(|p| p.trim().is_empty() || *p != p.trim()) {
        return Err(format!(
            "{path:?} is not a dotted key path (e.g. apps.gifbox)"
        ));
    }
    Ok(parts)
}

/// Whether `migration` is one this Burrow can apply (its kind, every
/// operation well-formed); the sentence when it is not.
pub fn check(migration: &Migration) -> Result<(), String> {
    if migration.kind == DATA {
        if !migration.ops.is_empty() {
            return Err(format!(
                "its migration {} is of kind \"data\" and carries operations: the release's \
                 images migrate the data themselves, so a data migration only declares it.",
                migration.id
            ));
        }
        return Ok(());
    }
    if migration.kind != CONFIG {
        return Err(format!(
            "its migration {} is of kind {:?}, and this Burrow knows {CONFIG:?} and {DATA:?} \
             migrations only: update Burrow itself first.",
            migration.id, migration.kind
        ));
    }
    for value in &migration.ops {
        let parsed = op(value).map_err(|e| format!("its migration {}: {e}.", migration.id))?;
        let paths = match &parsed {
            Op::Rename { from, to } => vec![from, to],
            Op::Default { path, .. } | Op::Remove { path } => vec![path],
        };
        for p in paths {
            segments(p).map_err(|e| format!("its migration {}: {e}.", migration.id))?;
        }
    }
    Ok(())
}

/// The table holding the last segment of `path`, made on the way when
/// `create`; `None` when a segment is missing (or not a table).
fn parent<'a>(
    table: &'a mut toml::Table,
    path: &[&str],
    create: bool,
) -> Option<&'a mut toml::Table> {
    let mut at = table;
    for key in &path[..path.len() - 1] {
        if create && !at.contains_key(*key) {
            at.insert((*key).to_owned(), toml::Value::Table(toml::Table::new()));
        }
        at = at.get_mut(*key)?.as_table_mut()?;
    }
    Some(at)
}

fn take(table: &mut toml::Table, path: &[&str]) -> Option<toml::Value> {
    parent(table, path, false)?.remove(path[path.len() - 1])
}

fn apply_op(table: &mut toml::Table, op: &Op) -> Result<(), String> {
    match op {
        Op::Rename { from, to } => {
            let (from, to) = (segments(from)?, segments(to)?);
            if let Some(value) = take(table, &from) {
                let into = parent(table, &to, true)
                    .ok_or_else(|| format!("{} is not a table", to[..to.len() - 1].join(".")))?;
                into.entry(to[to.len() - 1].to_owned()).or_insert(value);
            }
        }
        Op::Default { path, value } => {
            let path = segments(path)?;
            let value = toml::Value::try_from(value)
                .map_err(|e| format!("{value} cannot be a stack.toml value: {e}"))?;
            let into = parent(table, &path, true)
                .ok_or_else(|| format!("{} is not a table", path[..path.len() - 1].join(".")))?;
            into.entry(path[path.len() - 1].to_owned()).or_insert(value);
        }
        Op::Remove { path } => {
            take(table, &segments(path)?);
        }
    }
    Ok(())
}

/// `config` with every migration applied, validated like a stack.toml the
/// operator wrote; `Err` is the sentence (naming the migration).
pub fn apply(config: &StackConfig, migrations: &[Migration]) -> Result<StackConfig, String> {
    if migrations.iter().all(|m| m.ops.is_empty()) {
        return Ok(config.clone());
    }
    let mut table = toml::Table::try_from(StackForm::from(config))
        .map_err(|e| format!("the configuration cannot be migrated: {e}"))?;
    for m in migrations {
        check(m)?;
        for value in &m.ops {
            let parsed = op(value)?;
            apply_op(&mut table, &parsed)
                .map_err(|e| format!("the release's migration {} failed: {e}", m.id))?;
        }
    }
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    parse_stack_toml(&text).map(|p| p.config).map_err(|issues| {
        let errors: Vec<String> = issues
            .iter()
            .filter(|i| i.is_error())
            .map(ToString::to_string)
            .collect();
        format!(
            "after the release's migrations the configuration does not validate: {}",
            errors.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kit() -> StackConfig {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testkit/stack.toml"
        ))
        .unwrap();
        parse_stack_toml(&text).unwrap().config
    }

    fn migration(ops: serde_json::Value) -> Migration {
        Migration {
            id: "2026-12-test".into(),
            description: "a test".into(),
            kind: CONFIG.into(),
            ops: ops.as_array().unwrap().clone(),
        }
    }

    #[test]
    fn no_operations_change_nothing_and_the_config_round_trips() {
        let config = kit();
        assert_eq!(apply(&config, &[]).unwrap(), config);
        // A no-op operation still goes through the document and back.
        let same = apply(
            &config,
            &[migration(
                serde_json::json!([{"op": "remove", "path": "apps.retired"}]),
            )],
        )
        .unwrap();
        assert_eq!(same, config);
    }

    #[test]
    fn defaults_renames_and_removals_apply_and_a_second_run_changes_nothing() {
        let config = kit();
        let m = migration(serde_json::json!([
            // Set already: the operator's value stays.
            {"op": "default", "path": "registration", "value": "open"},
            // Moved: gifbox's toggle under another name and back.
            {"op": "rename", "from": "apps.gifbox", "to": "apps.gif_box"},
            {"op": "rename", "from": "apps.gif_box", "to": "apps.gifbox"},
            // Dropped, then given a new default.
            {"op": "remove", "path": "apps.pushd"},
            {"op": "default", "path": "apps.pushd", "value": false},
        ]));
        let migrated = apply(&config, std::slice::from_ref(&m)).unwrap();
        assert_eq!(migrated.registration, config.registration);
        assert_eq!(migrated.apps.gifbox, config.apps.gifbox);
        assert!(config.apps.pushd);
        assert!(!migrated.apps.pushd);
        assert_eq!(apply(&migrated, &[m]).unwrap(), migrated);
    }

    #[test]
    fn a_migration_that_breaks_the_config_or_is_not_data_is_refused() {
        let config = kit();
        let unknown_key = apply(
            &config,
            &[migration(
                serde_json::json!([{"op": "default", "path": "apps.surprise", "value": true}]),
            )],
        )
        .unwrap_err();
        assert!(
            unknown_key
                .starts_with("after the release's migrations the configuration does not validate"),
            "{unknown_key}"
        );
        let code = migration(serde_json::json!([{"op": "exec", "command": "rm -rf /"}]));
        let refused = check(&code).unwrap_err();
        assert!(
            refused.contains("is not an operation (rename, default or remove)"),
            "{refused}"
        );
        let bad_path = migration(serde_json::json!([{"op": "remove", "path": "apps..x"}]));
        assert!(check(&bad_path)
            .unwrap_err()
            .contains("is not a dotted key path"));
        // A kind this Burrow does not know (code, say) is refused.
        let script = Migration {
            kind: "script".into(),
            ..migration(serde_json::json!([]))
        };
        assert!(check(&script)
            .unwrap_err()
            .contains("knows \"config\" and \"data\" migrations only"));
        // A data migration declares; one carrying operations is refused.
        let data = Migration {
            kind: DATA.into(),
            ..migration(serde_json::json!([]))
        };
        assert_eq!(check(&data), Ok(()));
        assert!(changes_data(std::slice::from_ref(&data)));
        assert!(!changes_data(&[migration(serde_json::json!([]))]));
        // It leaves the config as it is.
        assert_eq!(apply(&config, std::slice::from_ref(&data)).unwrap(), config);
        let data_ops = Migration {
            kind: DATA.into(),
            ..migration(serde_json::json!([{"op": "remove", "path": "registration"}]))
        };
        assert!(check(&data_ops).unwrap_err().contains("only declares it"));
        // A table where a value is: refused with the sentence, not a panic.
        let into_value =
            migration(serde_json::json!([{"op": "default", "path": "registration.x", "value": 1}]));
        assert!(apply(&config, &[into_value])
            .unwrap_err()
            .contains("registration is not a table"));
    }
}
