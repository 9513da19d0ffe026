//! `burrow backup create|list|restore ID`.

use clap::Subcommand;
use engine::backup::Backups;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum BackupAction {
    /// Back up the running configuration and the data volumes (MongoDB,
    /// Redis, RabbitMQ, MinIO; their services stop while they are read).
    Create,
    /// Every backup, newest first.
    List,
    /// Put backup ID back: volumes replaced by its copies, then its
    /// revision deployed. The stack is down meanwhile.
    Restore { id: String },
}

pub async fn run(settings: &Settings, action: &BackupAction) -> Result<(), String> {
    let backups = Backups::new(&settings.data_dir, settings.backup_keep);
    match action {
        BackupAction::List => {
            let list = backups.list();
            if list.is_empty() {
                println!("No backups yet: `burrow backup create` takes one.");
            }
            for m in list {
                let bytes: u64 = m.volumes.iter().map(|v| v.bytes).sum();
                println!(
                    "{}  stack {}  revision {}  {} volume(s)  {:.1} MiB",
                    m.id,
                    m.stack,
                    m.revision,
                    m.volumes.len(),
                    bytes as f64 / (1024.0 * 1024.0)
                );
            }
            Ok(())
        }
        BackupAction::Create => {
            let deployer = crate::deploy_cli::deployer(settings).await?;
            let m = backups
                .create(&deployer, "cli")
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "Backup {} taken: revision {} and {} volume(s) of stack {}.",
                m.id,
                m.revision,
                m.volumes.len(),
                m.stack
            );
            Ok(())
        }
        BackupAction::Restore { id } => {
            let deployer = crate::deploy_cli::deployer(settings).await?;
            let deployment = backups
                .restore(&deployer, id, "cli")
                .await
                .map_err(|e| e.to_string())?;
            println!("Backup {id} restored; the stack runs again (deployment {deployment}).");
            Ok(())
        }
    }
}
