//! Integration tests: the real app on port 0 with a fresh SQLite file. One
//! binary (this file's modules) so it compiles once.

mod helpers;

mod audit;
mod auth;
mod bad_input;
mod certificate;
mod cli;
mod gates;
mod health;
mod history;
mod leaks;
mod transport;
mod two_factor;
mod updates;
mod wizard;
