//! Why a Kubernetes "Test connection" stopped, as a summary and a fix, and
//! how kube's configuration and client errors map to those reasons.
//!
//! Details shown to the operator come from Burrow's own wording or from
//! transport errors; never from a kubeconfig's values (a YAML error can quote
//! the token it failed on).

use std::error::Error as StdError;
use std::io;

use kube::config::{KubeconfigError, LoadDataError};
use serde::{Deserialize, Serialize};

use super::join_and;

/// Why the test stopped before it could check permissions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KubeFailure {
    /// Not YAML at all; `line` where the parser gave up.
    NotYaml {
        line: Option<usize>,
    },
    /// YAML, but not shaped like a kubeconfig.
    NotKubeconfig,
    NoContexts,
    NoCurrentContext {
        available: Vec<String>,
    },
    ContextNotFound {
        context: String,
        available: Vec<String>,
    },
    ClusterNotFound {
        cluster: String,
    },
    /// A part of the kubeconfig cannot be used (missing server address,
    /// broken base64, a file that is not on this machine…).
    Incomplete {
        detail: String,
    },
    /// The user signs in by running a program (`exec` or `auth-provider`).
    ExternalSignIn {
        command: String,
    },
    /// A certificate, key or token is a file on this machine, not data.
    FileReference {
        field: String,
        path: String,
    },
    InvalidNamespace {
        namespace: String,
    },
    NotInCluster {
        detail: String,
    },
    Unreachable {
        server: String,
        detail: String,
    },
    TimedOut {
        server: String,
    },
    CertificateUntrusted {
        server: String,
        detail: String,
    },
    CertificateWrongName {
        server: String,
    },
    BadCredentials {
        server: String,
    },
    Forbidden {
        server: String,
        detail: String,
    },
    NotKubernetes {
        server: String,
        detail: String,
    },
    Other {
        detail: String,
    },
}

/// The kubectl command that shows a self-contained kubeconfig.
const EXPORT: &str = "`kubectl config view --raw --minify --flatten`";

impl KubeFailure {
    /// What went wrong, in one sentence.
    pub fn summary(&self) -> String {
        use KubeFailure::*;
        match self {
            NotYaml { line: Some(line) } => {
                format!("The kubeconfig is not valid YAML (the error is on line {line}).")
            }
            NotYaml { line: None } => "The kubeconfig is not valid YAML.".into(),
            NotKubeconfig => "The file is YAML but not a kubeconfig.".into(),
            NoContexts => "The kubeconfig defines no context.".into(),
            NoCurrentContext { .. } => "The kubeconfig does not say which context to use.".into(),
            ContextNotFound { context, .. } => {
                format!("The kubeconfig has no context named {context}.")
            }
            ClusterNotFound { cluster } => format!(
                "The context refers to the cluster {cluster}, which the kubeconfig does not define."
            ),
            Incomplete { detail } => format!("The kubeconfig cannot be used: {detail}."),
            ExternalSignIn { command } => format!(
                "The kubeconfig signs in by running {command}, which Burrow does not do for an \
                 uploaded kubeconfig."
            ),
            FileReference { field, path } => format!(
                "The kubeconfig's {field} is the file {path}, and Burrow reads no files named in \
                 an uploaded kubeconfig."
            ),
            InvalidNamespace { namespace } => format!("{namespace:?} is not a valid namespace name."),
            NotInCluster { detail } => {
                format!("Burrow does not run inside a Kubernetes pod ({detail}).")
            }
            Unreachable { server, detail } => {
                format!("Cannot reach the API server at {server} ({detail}).")
            }
            TimedOut { server } => format!("The API server at {server} did not answer in time."),
            CertificateUntrusted { server, detail } => format!(
                "The API server at {server} presented a certificate Burrow does not trust ({detail})."
            ),
            CertificateWrongName { server } => {
                format!("The API server's certificate is not valid for {server}.")
            }
            BadCredentials { server } => format!(
                "The API server at {server} refused the credentials (401 Unauthorized)."
            ),
            Forbidden { server, detail } => {
                format!("The API server at {server} refused access ({detail}).")
            }
            NotKubernetes { server, detail } => format!(
                "The server at {server} does not answer like a Kubernetes API server ({detail})."
            ),
            Other { detail } => format!("The test failed: {detail}."),
        }
    }

    /// What to do about it, in one sentence.
    pub fn fix(&self) -> String {
        use KubeFailure::*;
        let choose = |available: &[String]| {
            let names: Vec<String> = available.iter().map(|c| format!("\"{c}\"")).collect();
            format!("Choose one of its contexts: {}.", join_and(&names))
        };
        match self {
            NotYaml { .. } | NotKubeconfig | NoContexts => format!(
                "Upload the kubeconfig kubectl uses (usually ~/.kube/config), or the output of \
                 {EXPORT}."
            ),
            NoCurrentContext { available } | ContextNotFound { available, .. } => {
                if available.is_empty() {
                    format!("Upload a kubeconfig with a context, e.g. the output of {EXPORT}.")
                } else {
                    choose(available)
                }
            }
            ClusterNotFound { .. } | Incomplete { .. } | FileReference { .. } => {
                format!("Export a self-contained kubeconfig with {EXPORT} and upload that.")
            }
            ExternalSignIn { .. } => "Give Burrow a service account token instead: `kubectl \
                 create serviceaccount burrow`, then `kubectl create token burrow \
                 --duration=8760h`, and set it as the user's token in the kubeconfig."
                .into(),
            InvalidNamespace { .. } => "Use lower-case letters, digits and '-', at most 63 \
                 characters, starting and ending with a letter or digit."
                .into(),
            NotInCluster { .. } => "Upload a kubeconfig instead, or run Burrow in the cluster \
                 with a service account."
                .into(),
            Unreachable { .. } | TimedOut { .. } => "Check the server address in the \
                 kubeconfig, that the cluster is running, and that no firewall blocks its port \
                 (usually 6443) from this machine."
                .into(),
            CertificateUntrusted { .. } => "Use the kubeconfig the cluster issued: its \
                 certificate-authority-data must hold the cluster's CA certificate."
                .into(),
            CertificateWrongName { .. } => "Use the address the certificate was issued for, \
                 or set tls-server-name for the cluster in the kubeconfig."
                .into(),
            BadCredentials { .. } => "The token or client certificate is wrong or has \
                 expired: export a fresh kubeconfig, or create a new token with `kubectl create \
                 token`."
                .into(),
            Forbidden { .. } => "Ask the cluster's administrator to let this account read the \
                 server version (the system:discovery role)."
                .into(),
            NotKubernetes { .. } => "Check the server address and port in the kubeconfig \
                 (usually https://<host>:6443)."
                .into(),
            Other { .. } => {
                "Check the kubeconfig and try again; Burrow's log has the details.".into()
            }
        }
    }
}

/// A kubeconfig that could not be turned into a client configuration.
pub(super) fn from_kubeconfig_error(err: &KubeconfigError, available: &[String]) -> KubeFailure {
    use KubeconfigError as E;
    let data = |what: &str, e: &LoadDataError| {
        let detail = match e {
            LoadDataError::DecodeBase64(_) => format!("its {what} data is not valid base64"),
            LoadDataError::ReadFile(_, path) => format!(
                "its {what} is the file {}, which cannot be read on this machine",
                path.display()
            ),
            LoadDataError::NoBase64DataOrFile => format!("its {what} is empty"),
        };
        KubeFailure::Incomplete { detail }
    };
    match err {
        E::Parse(e) => KubeFailure::NotYaml {
            line: e.location().map(|l| l.line()),
        },
        E::InvalidStructure(_) => KubeFailure::NotKubeconfig,
        E::CurrentContextNotSet if available.is_empty() => KubeFailure::NoContexts,
        E::CurrentContextNotSet => KubeFailure::NoCurrentContext {
            available: available.to_vec(),
        },
        E::LoadContext(context) if available.is_empty() && context.is_empty() => {
            KubeFailure::NoContexts
        }
        E::LoadContext(context) => KubeFailure::ContextNotFound {
            context: context.clone(),
            available: available.to_vec(),
        },
        E::LoadClusterOfContext(cluster) => KubeFailure::ClusterNotFound {
            cluster: cluster.clone(),
        },
        E::MissingClusterUrl => KubeFailure::Incomplete {
            detail: "its cluster has no server address".into(),
        },
        E::ParseClusterUrl(_) => KubeFailure::Incomplete {
            detail: "its cluster's server address is not a URL".into(),
        },
        E::ParseProxyUrl(_) => KubeFailure::Incomplete {
            detail: "its proxy-url is not a URL".into(),
        },
        E::LoadCertificateAuthority(e) => data("certificate-authority", e),
        E::LoadClientCertificate(e) => data("client-certificate", e),
        E::LoadClientKey(e) => data("client-key", e),
        E::ParseCertificates(_) => KubeFailure::Incomplete {
            detail: "its certificate-authority-data is not a PEM certificate".into(),
        },
        other => KubeFailure::Other {
            detail: other.to_string(),
        },
    }
}

/// A request that failed, from the cluster's answer or the transport.
pub(super) fn from_client_error(err: &kube::Error, server: &str) -> KubeFailure {
    let server = server.to_string();
    match err {
        kube::Error::Api(resp) => match resp.code {
            401 => KubeFailure::BadCredentials { server },
            403 => KubeFailure::Forbidden {
                server,
                detail: resp.message.clone(),
            },
            404 => KubeFailure::NotKubernetes {
                server,
                detail: "it has no /version".into(),
            },
            code => KubeFailure::Other {
                detail: format!("the API server answered {code}: {}", resp.message),
            },
        },
        kube::Error::SerdeError(_) => KubeFailure::NotKubernetes {
            server,
            detail: "its answer is not Kubernetes JSON".into(),
        },
        kube::Error::RustlsTls(e) => KubeFailure::Incomplete {
            detail: format!("its certificates or key cannot be used ({e})"),
        },
        kube::Error::Auth(e) => KubeFailure::Incomplete {
            detail: format!("its credentials cannot be loaded ({e})"),
        },
        other => from_transport_error(other, server),
    }
}

fn from_transport_error(err: &kube::Error, server: String) -> KubeFailure {
    let causes = causes(err);
    for cause in &causes {
        if let Some(rustls::Error::InvalidCertificate(cert)) = cause.downcast_ref::<rustls::Error>()
        {
            use rustls::CertificateError as C;
            return match cert {
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    KubeFailure::CertificateWrongName { server }
                }
                C::UnknownIssuer => KubeFailure::CertificateUntrusted {
                    server,
                    detail: "it is not signed by the kubeconfig's certificate authority".into(),
                },
                C::Expired | C::ExpiredContext { .. } => KubeFailure::CertificateUntrusted {
                    server,
                    detail: "it has expired".into(),
                },
                other => KubeFailure::CertificateUntrusted {
                    server,
                    detail: format!("{other:?}"),
                },
            };
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => {
                    return KubeFailure::Unreachable {
                        server,
                        detail: "connection refused".into(),
                    }
                }
                io::ErrorKind::TimedOut => return KubeFailure::TimedOut { server },
                _ => {}
            }
        }
    }
    let last = causes
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string());
    if last.contains("dns error") || last.contains("failed to lookup address") {
        return KubeFailure::Unreachable {
            server,
            detail: "its name does not resolve".into(),
        };
    }
    if last.contains("timed out") || last.contains("deadline has elapsed") {
        return KubeFailure::TimedOut { server };
    }
    KubeFailure::Unreachable {
        server,
        detail: last,
    }
}

/// `err` and everything under it, looking inside I/O errors too (their
/// `source()` skips the error they wrap).
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        out.push(e);
        current = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}
