//! The Docker target against the real daemon, deploying the test-kit stack
//! (stand-in images for every Stoat service and real Caddy). Each test uses
//! its own stack name and host ports, so they run in parallel, and removes
//! its stack when it ends, passed or not.

mod acme;
mod apply;
mod backup;
mod failures;
mod park;
mod pull;
mod routes;
mod running;
mod support;
mod tls;
mod update;
