//! One file per page.

pub mod audit;
pub mod backups;
pub mod certificate;
pub mod deploy;
pub mod history;
pub mod login;
pub mod logs;
pub mod not_found;
pub mod overview;
pub mod security;
pub mod setup;
pub mod updates;
pub mod wizard;
