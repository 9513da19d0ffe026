//! The Stoat stack model and its renderer.
//!
//! - [`model`]: the validated [`StackConfig`], its value newtypes and the
//!   form-level input ([`StackForm`], [`parse_stack_toml`]) with per-field issues.
//! - [`secrets`]: [`Secrets`] (generated once, or derived from a seed the way
//!   stoatchat-platform does).
//! - [`sealing`]: XChaCha20-Poly1305 encryption at rest.
//! - [`render()`]: `StackConfig` + `Secrets` -> [`Plan`] (Revolt.toml, Caddyfile,
//!   livekit.yml, service specs, compose export, Kubernetes objects). Pure and
//!   deterministic.
//! - [`import`]: an existing Stoat or stoatchat-platform install -> config + secrets.
//! - `files` / `cli` (feature `native`): the file IO around all of the above.
//!
//! Everything outside `files` and `cli` does no IO, so the model and its
//! validation can be used from wasm (`default-features = false`).

pub mod model;

pub use model::{
    parse_stack_toml, FieldIssue, ParsedStack, Service, Severity, StackConfig, StackForm,
};
pub mod sealing;
pub mod secrets;

pub use sealing::{OpenError, OpenSecretsError, SealingKey};
pub use secrets::{Secrets, Seed};
pub mod render;

pub use render::{render, ConfigFile, Plan, ServiceSpec};
#[cfg(feature = "native")]
pub mod cli;
#[cfg(feature = "native")]
pub mod files;
pub mod import;
