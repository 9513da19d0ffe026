//! Updates of the whole stack from a signed channel (a TUF repository):
//! what a release is ([`release`]), checking a channel ([`channel`]) and
//! publishing one ([`publish`], `burrow release`).

pub mod auto;
pub mod channel;
pub mod faults;
pub mod migrate;
pub mod publish;
pub mod registry;
pub mod release;
pub mod rollout;
pub mod settle;
pub mod updater;
pub mod watch;
pub mod window;

pub use channel::{check, ChannelError, ChannelSettings, Checked};
pub use release::{Installed, Release};
pub use watch::Updates;
