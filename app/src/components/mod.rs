//! Pieces shared by several pages.

pub mod ansi;
pub mod field;
pub mod layout;
pub mod live;
pub mod services;
