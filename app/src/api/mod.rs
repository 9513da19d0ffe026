//! Server functions, grouped by what they are to the operator. Each is thin:
//! take session and state from context, parse, call the engine, map errors.

pub mod account;
pub mod audit;
pub mod backups;
pub mod certificate;
pub mod deploy;
pub mod history;
pub mod overview;
pub mod security;
pub mod services;
pub mod updates;
pub mod wizard;

#[cfg(feature = "ssr")]
mod server;
#[cfg(feature = "ssr")]
pub use server::*;

/// Paths of the server functions that work without a session (the setup and
/// sign-in forms). Every other server function answers 401 without one.
pub const PUBLIC_SERVER_FNS: &[&str] = &["/api/setup", "/api/login", "/api/login/code"];
