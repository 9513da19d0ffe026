//! Reading an existing install into a `StackConfig` + `Secrets`, pure: the
//! caller reads the files and supplies `fresh` secrets for anything the
//! install does not have (e.g. Burrow's own infrastructure passwords).
//!
//! Everything that could not be carried over is reported as a
//! [`FieldIssue`] whose field is `<source file>:<key path>`.

mod platform;
mod stoat;

pub use platform::{from_platform, PlatformInstall};
pub use stoat::{from_stoat, StoatInstall};

use crate::model::FieldIssue;
use crate::model::StackConfig;
use crate::secrets::Secrets;

/// An install read into Burrow's model.
#[derive(Debug, Clone)]
pub struct Imported {
    pub config: StackConfig,
    pub secrets: Secrets,
    /// What could not be mapped, or needs the operator's attention.
    pub notes: Vec<FieldIssue>,
}

/// Parses a dotenv file the way docker/`set -a; source` would for simple
/// `KEY=value`, `KEY='value'`, `KEY="value"` lines.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}
