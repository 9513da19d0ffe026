//! The first-run wizard's checks: DNS with an injected resolver (and
//! `localhost`), host ports held by this very test process, Docker against
//! the local daemon, Kubernetes against a mock API server on 127.0.0.1.
//! Nothing here sends traffic beyond loopback.

mod dns;
mod docker;
mod kube;
mod mock_apiserver;
mod ports;
mod real_cluster;
