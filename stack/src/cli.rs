//! Argument structs for the `burrow render` and `burrow import` subcommands
//! and the functions that run them. The server binary wires them into its
//! clap command tree.

use std::path::PathBuf;

use crate::files::{self, FilesError, RenderReport};
use crate::model::FieldIssue;

/// `burrow render --config stack.toml --out DIR`
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// The stack configuration to render.
    #[arg(long, default_value = "stack.toml", env = "BURROW_STACK_CONFIG")]
    pub config: PathBuf,
    /// Where to write Revolt.toml, Caddyfile, compose.yml, kubernetes/...
    #[arg(long)]
    pub out: PathBuf,
    /// The namespace the Kubernetes objects go to (and the Namespace
    /// object they start with).
    #[arg(long, default_value = crate::render::NAMESPACE, value_parser = namespace)]
    pub namespace: String,
}

/// A namespace name from the command line, or why it cannot be one.
fn namespace(name: &str) -> Result<String, String> {
    if crate::render::valid_namespace(name) {
        Ok(name.to_owned())
    } else {
        Err("a namespace is 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit".to_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportSource {
    /// A stoatchat/self-hosted directory (Revolt.toml, secrets.env, livekit.yml).
    Stoat,
    /// A stoatchat-platform `environments/<name>.yaml`.
    Platform,
}

/// `burrow import --from stoat ./self-hosted --config stack.toml`
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// What kind of install PATH is.
    #[arg(long, value_enum)]
    pub from: ImportSource,
    /// The install directory (stoat) or environment file (platform).
    pub path: PathBuf,
    /// The stack.toml to write (its secrets file is written beside it).
    #[arg(long, default_value = "stack.toml")]
    pub config: PathBuf,
}

/// Runs `render`; returns the report (warnings are for the operator).
pub fn run_render(args: &RenderArgs) -> Result<RenderReport, FilesError> {
    files::render_to_dir(&args.config, &args.out, &args.namespace)
}

/// Runs `import`; returns what could not be mapped.
pub fn run_import(args: &ImportArgs) -> Result<Vec<FieldIssue>, FilesError> {
    let imported = match args.from {
        ImportSource::Stoat => files::import_stoat_dir(&args.path)?,
        ImportSource::Platform => files::import_platform_env(&args.path)?,
    };
    files::write_imported(&imported, &args.config)?;
    Ok(imported.notes)
}
