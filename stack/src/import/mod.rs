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

pub use crate::render::dotenv::parse as parse_dotenv;
