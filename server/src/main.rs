use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use burrow_server::config::Settings;

/// Burrow: installer and admin console for a self-hosted Stoat chat server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web console (the default).
    Serve,
    /// Render a stack.toml to Revolt.toml, Caddyfile, livekit.yml,
    /// compose.yml and Kubernetes objects, without a browser.
    Render(stack::cli::RenderArgs),
    /// Read an existing Stoat install into a stack.toml (+ its secrets file).
    Import(stack::cli::ImportArgs),
    /// Deploy a stack.toml (or a saved revision) to the Docker daemon:
    /// create, update or leave each service, dependencies first, waiting
    /// until each is healthy.
    Apply(burrow_server::deploy_cli::ApplyArgs),
    /// List every config revision (or compare two: `revisions diff A B`).
    Revisions(burrow_server::revisions_cli::RevisionsArgs),
    /// Stop and remove the stack of a stack.toml (volumes kept unless --volumes).
    Down(burrow_server::deploy_cli::DownArgs),
    /// Account maintenance from the shell.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The audit log from the shell.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Backups of the stack's configuration and data volumes.
    Backup {
        #[command(subcommand)]
        action: burrow_server::backup_cli::BackupAction,
    },
    /// Publish an update channel (a TUF repository in a directory).
    Release {
        #[command(subcommand)]
        action: burrow_server::update_cli::ReleaseAction,
    },
    /// Updates from the channel (BURROW_CHANNEL_URL, BURROW_CHANNEL_ROOT).
    Update {
        #[command(subcommand)]
        action: burrow_server::update_cli::UpdateAction,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check the audit log's hash chain; exits 1 naming the first entry
    /// where it does not hold.
    Verify,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Set a new password for USER (prompted, or the first line of stdin),
    /// sign out every session and forget failed sign-ins.
    ResetPassword {
        user: String,
        /// Also turn two-factor sign-in off (a lost phone and lost
        /// recovery codes).
        #[arg(long)]
        remove_2fa: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("BURROW_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => burrow_server::startup::serve(cli.settings)
            .await
            .map_err(|e| e.to_string()),
        Command::Render(args) => stack::cli::run_render(&args)
            .map(|report| {
                for warning in &report.warnings {
                    eprintln!("warning: {warning}");
                }
                eprintln!(
                    "Wrote {} files to {} (secrets kept in {}).",
                    report.written.len(),
                    args.out.display(),
                    report.secrets_file.display()
                );
            })
            .map_err(|e| e.to_string()),
        Command::Import(args) => stack::cli::run_import(&args)
            .map(|notes| {
                for note in &notes {
                    eprintln!("note: {note}");
                }
                eprintln!(
                    "Wrote {} ({} item(s) could not be mapped; see the notes above).",
                    args.config.display(),
                    notes.len()
                );
            })
            .map_err(|e| e.to_string()),
        Command::Apply(args) => burrow_server::deploy_cli::apply(&cli.settings, &args).await,
        Command::Revisions(args) => burrow_server::revisions_cli::run(&cli.settings, &args).await,
        Command::Down(args) => burrow_server::deploy_cli::down(&cli.settings, &args).await,
        Command::Admin {
            action: AdminAction::ResetPassword { user, remove_2fa },
        } => burrow_server::admin::reset_password(&cli.settings.data_dir, &user, remove_2fa)
            .await
            .map(|()| {
                let also = if remove_2fa {
                    " and two-factor sign-in turned off"
                } else {
                    ""
                };
                eprintln!("Password for {user} changed{also}; every session was signed out.")
            })
            .map_err(|e| e.to_string()),
        Command::Audit {
            action: AuditAction::Verify,
        } => burrow_server::admin::verify_audit(&cli.settings.data_dir)
            .await
            .map(|sentence| println!("{sentence}"))
            .map_err(|e| e.to_string()),
        Command::Backup { action } => burrow_server::backup_cli::run(&cli.settings, &action).await,
        Command::Release { action } => {
            burrow_server::update_cli::release(&cli.settings, &action).await
        }
        Command::Update { action } => {
            burrow_server::update_cli::update(&cli.settings, &action).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("burrow: {e}");
            ExitCode::FAILURE
        }
    }
}
