//! One file per page.

pub mod certificate;
pub mod login;
pub mod not_found;
pub mod overview;
pub mod setup;
