//! The `burrow` binary's library half: settings, the router with its gates,
//! and startup. `main.rs` only parses the command line and calls in here.

pub mod admin;
pub mod backup_cli;
pub mod config;
pub mod deploy_cli;
pub mod downloads;
pub mod guard;
pub mod health;
pub mod live;
pub mod revisions_cli;
pub mod startup;
pub mod update_cli;
