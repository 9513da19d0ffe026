//! Backups: every backup kept (config revision and data volumes, one
//! archive each, checksummed), "Back up now", and restoring one after a
//! confirmation. Plain forms: works without JavaScript too; the page
//! follows a backup or restore while it runs.

use leptos::prelude::*;
use leptos_meta::Title;
use wire::backups::{BackupActivity, BackupView, BackupsView};

use crate::api::backups::{get_backups, BackUpNow, RestoreBackup};
use crate::components::field::{FormError, LoadError};
use crate::pages::deploy::when;

#[component]
pub fn BackupsPage() -> impl IntoView {
    let create = ServerAction::<BackUpNow>::new();
    let restore = ServerAction::<RestoreBackup>::new();
    let data = crate::codec::page_data(
        move || (create.version().get(), restore.version().get()),
        |_| get_backups(),
    );
    view! {
        <Title text="Backups" />
        <h1>"Backups"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(view) => view! { <BackupsCards view create restore /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// "1.5 MiB".
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut scale = 1u64;
    let mut unit = 0;
    while bytes / scale >= 1024 && unit < UNITS.len() - 1 {
        scale *= 1024;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{} {}", wire::tenths(bytes, scale), UNITS[unit])
    }
}

#[component]
fn BackupsCards(
    view: BackupsView,
    create: ServerAction<BackUpNow>,
    restore: ServerAction<RestoreBackup>,
) -> impl IntoView {
    let create_error = move || create.value().get().and_then(|r| r.err());
    let running = view.running.is_some();
    view! {
        // Without JavaScript too, the page follows a running backup.
        {running.then(|| view! { <meta http-equiv="refresh" content="2" /> })}
        {view.running.clone().map(|a| view! { <Activity activity=a /> })}
        {view.last.clone().map(|a| view! { <Activity activity=a /> })}
        <section class="card">
            <h2>"Back up now"</h2>
            <p>"A backup holds the configuration revision that runs and the data volumes made with its secrets (MongoDB, Redis, RabbitMQ, MinIO). The services owning them stop while their files are copied, and start again."</p>
            <ActionForm action=create>
                <FormError message=Signal::derive(move || create_error().map(|e| e.to_string())) />
                <button type="submit" class="primary" disabled=running data-testid="back-up-now">"Back up now"</button>
            </ActionForm>
            <p class="hint">{format!("The newest {} are kept (BURROW_BACKUP_KEEP); an update whose release asks for one takes one first.", view.keep)}</p>
        </section>
        <section class="card">
            <h2>"Kept"</h2>
            {if view.backups.is_empty() {
                view! { <p class="muted" data-testid="no-backups">"No backup yet."</p> }.into_any()
            } else {
                view! { <BackupTable backups=view.backups.clone() restore running /> }.into_any()
            }}
        </section>
    }
}

#[component]
fn Activity(activity: BackupActivity) -> impl IntoView {
    let what = match activity.kind.as_str() {
        "restore" => "Restore",
        "backup" => "Backup",
        "down" => "Removal of the stack",
        _ => "Deployment",
    };
    let (class, badge) = match activity.status.as_str() {
        "running" => ("notice", "badge running"),
        "succeeded" => ("notice ok", "badge ok"),
        _ => ("notice problem", "badge failed"),
    };
    view! {
        <p class=class data-testid="backup-activity">
            <span class=badge>{activity.status.clone()}</span>
            {format!(" {what} started by {} at {}", activity.actor, when(activity.started_at))}
            {activity.summary.map(|s| format!(": {s}."))}
        </p>
    }
}

#[component]
fn BackupTable(
    backups: Vec<BackupView>,
    restore: ServerAction<RestoreBackup>,
    running: bool,
) -> impl IntoView {
    let error = move || restore.value().get().and_then(|r| r.err());
    view! {
        <FormError message=Signal::derive(move || error().and_then(|e| e.form_message())) />
        <div class="table-wrap">
            <table class="backups" data-testid="backups">
                <thead><tr><th>"Backup"</th><th>"Taken"</th><th>"Revision"</th><th>"Volumes"</th><th>"Size"</th><th></th></tr></thead>
                <tbody>
                    {backups.into_iter().map(|b| {
                        let field = format!("confirm-{}", b.id);
                        let field_error = {
                            let field = field.clone();
                            move || error().and_then(|e| e.for_field(&field))
                        };
                        let input_id = format!("field-{field}");
                        view! {
                            <tr>
                                <td><code>{b.id.clone()}</code></td>
                                <td>{when(b.created_at)}</td>
                                <td>{b.revision}</td>
                                <td>{b.volumes.join(", ")}</td>
                                <td>{size(b.bytes)}</td>
                                <td>
                                    {match b.not_restorable.clone() {
                                        Some(why) => view! { <span class="muted">{why}</span> }.into_any(),
                                        None => view! {
                                            <ActionForm action=restore>
                                                <input type="hidden" name="id" value=b.id.clone() />
                                                <label class="restore-confirm" for=input_id.clone()>
                                                    <input type="checkbox" id=input_id.clone() name="confirm" />
                                                    <span>"Replace the chat server's data with this backup's"</span>
                                                </label>
                                                {move || field_error().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                                                <button type="submit" disabled=running>"Restore"</button>
                                            </ActionForm>
                                        }.into_any(),
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
