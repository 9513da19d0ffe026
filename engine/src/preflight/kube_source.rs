//! Where a Kubernetes test connection gets its credentials: an uploaded
//! kubeconfig or the pod's service account, turned into a kube `Config`.
//!
//! An uploaded kubeconfig is data, not a program: Burrow refuses one whose
//! user signs in by running a command (`exec`, `auth-provider`) or that
//! points at files on this machine (a `tokenFile: /etc/shadow` would send
//! the file to whatever server the kubeconfig names).

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::Config;
use serde::Deserialize;

use super::kube_failure::{from_kubeconfig_error, KubeFailure};

/// Where the credentials come from.
#[derive(Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KubeSource {
    /// An uploaded kubeconfig and the context to use (`None`: its current
    /// context).
    Kubeconfig {
        yaml: String,
        context: Option<String>,
    },
    /// The service account of the pod Burrow runs in.
    InCluster,
}

impl std::fmt::Debug for KubeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeSource::Kubeconfig { context, .. } => f
                .debug_struct("Kubeconfig")
                .field("context", context)
                .finish_non_exhaustive(),
            KubeSource::InCluster => f.write_str("InCluster"),
        }
    }
}

/// A client configuration, with what the report may show of it.
pub(crate) struct Loaded {
    pub config: Config,
    /// The kubeconfig context used.
    pub context: Option<String>,
    /// The API server's address, without credentials.
    pub server: String,
}

pub(crate) async fn load(source: KubeSource) -> Result<Loaded, KubeFailure> {
    let (config, context) = match source {
        KubeSource::InCluster => {
            let config = Config::incluster().map_err(|e| KubeFailure::NotInCluster {
                detail: e.to_string(),
            })?;
            (config, None)
        }
        KubeSource::Kubeconfig { yaml, context } => {
            let context = context
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty());
            let kubeconfig =
                Kubeconfig::from_yaml(&yaml).map_err(|e| from_kubeconfig_error(&e, &[]))?;
            let used = context
                .clone()
                .or_else(|| kubeconfig.current_context.clone());
            if let Some(refusal) = used.as_deref().and_then(|c| refuse(&kubeconfig, c)) {
                return Err(refusal);
            }
            let available: Vec<String> =
                kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
            let options = KubeConfigOptions {
                context,
                ..KubeConfigOptions::default()
            };
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| from_kubeconfig_error(&e, &available))?;
            (config, used)
        }
    };
    let server = server_address(&config.cluster_url);
    Ok(Loaded {
        config,
        context,
        server,
    })
}

/// What Burrow will not do for the cluster and user of `context`: run a
/// program, or read a file on this machine. `None` also when the context
/// does not exist (kube's own error names that).
fn refuse(kubeconfig: &Kubeconfig, context: &str) -> Option<KubeFailure> {
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?;
    let file = |field: &str, path: &str| KubeFailure::FileReference {
        field: field.to_string(),
        path: path.to_string(),
    };
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref());
    if let Some(path) = cluster.and_then(|c| c.certificate_authority.as_deref()) {
        return Some(file("certificate-authority", path));
    }
    let user: Option<&AuthInfo> = context.user.as_ref().and_then(|name| {
        kubeconfig
            .auth_infos
            .iter()
            .find(|u| &u.name == name)
            .and_then(|u| u.auth_info.as_ref())
    });
    let user = user?;
    if let Some(exec) = &user.exec {
        return Some(KubeFailure::ExternalSignIn {
            command: format!("`{}`", exec.command.as_deref().unwrap_or("a program")),
        });
    }
    if let Some(provider) = &user.auth_provider {
        return Some(KubeFailure::ExternalSignIn {
            command: format!("the {} auth provider", provider.name),
        });
    }
    [
        ("tokenFile", &user.token_file),
        ("client-certificate", &user.client_certificate),
        ("client-key", &user.client_key),
    ]
    .into_iter()
    .find_map(|(field, path)| path.as_deref().map(|p| file(field, p)))
}

/// `scheme://host:port/path`, without anything else a URL might carry.
fn server_address(uri: &http::Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    let path = uri.path().trim_end_matches('/');
    format!(
        "{}://{host}{port}{path}",
        uri.scheme_str().unwrap_or("https")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_drop_anything_but_scheme_host_port_path() {
        let uri: http::Uri = "https://user:pw@10.0.0.1:6443/k8s/".parse().unwrap();
        assert_eq!(server_address(&uri), "https://10.0.0.1:6443/k8s");
    }

    #[test]
    fn debug_output_hides_the_kubeconfig() {
        let source = KubeSource::Kubeconfig {
            yaml: "token: s3cr3t".into(),
            context: Some("prod".into()),
        };
        let debug = format!("{source:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("prod"), "{debug}");
    }

    #[test]
    fn only_the_chosen_contexts_user_is_judged() {
        let yaml = "clusters:
- {name: c, cluster: {server: 'https://127.0.0.1:6443'}}
users:
- {name: good, user: {token: abc}}
- {name: files, user: {tokenFile: /etc/shadow}}
contexts:
- {name: ok, context: {cluster: c, user: good}}
- {name: bad, context: {cluster: c, user: files}}
";
        let kubeconfig = Kubeconfig::from_yaml(yaml).unwrap();
        assert_eq!(refuse(&kubeconfig, "ok"), None);
        assert_eq!(
            refuse(&kubeconfig, "bad"),
            Some(KubeFailure::FileReference {
                field: "tokenFile".into(),
                path: "/etc/shadow".into()
            })
        );
    }
}
