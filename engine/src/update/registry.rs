//! Credentials for a private registry the releases' images come from: a
//! JSON secret `{"username", "password", "serveraddress"}` (Docker's own
//! `X-Registry-Auth` shape), checked when it is saved, kept sealed, and
//! handed to the daemon only for images of that registry.

use serde::{Deserialize, Serialize};

use crate::sealed::Vault;
use crate::{EngineError, Store};

/// The sealed secret's name.
const SECRET: &str = "registry_auth";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    pub serveraddress: String,
}

/// Never the password, in logs or errors.
impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .finish_non_exhaustive()
    }
}

/// The registry host an image reference names (`docker.io` when it names
/// none, as Docker reads it).
fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_ascii_lowercase()
        }
        _ => "docker.io".to_owned(),
    }
}

impl RegistryAuth {
    /// `text` as credentials; `Err` is the sentence for its field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let auth: RegistryAuth = serde_json::from_str(text.trim()).map_err(|e| {
            format!("This is not {{\"username\", \"password\", \"serveraddress\"}} as JSON: {e}.")
        })?;
        for (name, value) in [
            ("username", &auth.username),
            ("password", &auth.password),
            ("serveraddress", &auth.serveraddress),
        ] {
            if value.trim().is_empty() {
                return Err(format!("Its {name} is empty."));
            }
        }
        if auth.host().is_empty() || auth.host().contains(char::is_whitespace) {
            return Err(format!(
                "Its serveraddress {:?} is no registry address (e.g. registry.example:5000).",
                auth.serveraddress
            ));
        }
        Ok(auth)
    }

    /// The registry's host (and port), without a scheme or path.
    pub fn host(&self) -> String {
        let s = self.serveraddress.trim();
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let host = s.split('/').next().unwrap_or_default().to_ascii_lowercase();
        match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
            _ => host,
        }
    }

    /// Whether these credentials are for `image`'s registry (they are sent
    /// to no other).
    pub fn applies_to(&self, image: &str) -> bool {
        registry_of(image) == self.host()
    }

    /// As the Docker API takes them, when they are for `image`'s registry.
    pub fn for_image(auth: Option<&Self>, image: &str) -> Option<bollard::auth::DockerCredentials> {
        let auth = auth.filter(|a| a.applies_to(image))?;
        Some(bollard::auth::DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.clone()),
            serveraddress: Some(auth.serveraddress.clone()),
            ..Default::default()
        })
    }
}

/// The credentials kept, if any.
pub async fn load(store: &Store, vault: &Vault) -> Result<Option<RegistryAuth>, EngineError> {
    let Some(text) = store.secret(vault, SECRET).await? else {
        return Ok(None);
    };
    // Stored only after parsing: a stored value that no longer reads is
    // reported, never guessed at.
    RegistryAuth::parse(&text).map(Some).map_err(|why| {
        EngineError::Config(format!(
            "The registry credentials kept do not read any more ({why}): save them again."
        ))
    })
}

/// What the Updates page shows of the kept credentials: the registry and
/// the user, or why they cannot be used.
pub async fn describe(
    store: &Store,
    vault: &Vault,
) -> (Option<wire::updates::RegistryView>, Option<String>) {
    match load(store, vault).await {
        Ok(auth) => (
            auth.map(|a| wire::updates::RegistryView {
                host: a.host(),
                username: a.username,
            }),
            None,
        ),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Checks `text` and keeps it sealed (recorded in the audit log without
/// the secret); `Err` is the sentence for the field.
pub async fn save(
    store: &Store,
    vault: &Vault,
    text: &str,
    actor: &str,
) -> Result<RegistryAuth, String> {
    let auth = RegistryAuth::parse(text)?;
    let normalized = serde_json::to_string(&auth).map_err(|e| e.to_string())?;
    store
        .put_secret(vault, SECRET, &normalized)
        .await
        .map_err(|e| e.to_string())?;
    let _ = store
        .record(
            actor,
            None,
            "registry credentials saved",
            crate::audit::Outcome::Success,
            Some(&format!("{} as {}", auth.host(), auth.username)),
        )
        .await;
    Ok(auth)
}

/// Forgets the credentials.
pub async fn remove(store: &Store, actor: &str) -> Result<(), EngineError> {
    store.delete_secret(SECRET).await?;
    let _ = store
        .record(
            actor,
            None,
            "registry credentials removed",
            crate::audit::Outcome::Success,
            None,
        )
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked_when_saved_and_sent_only_to_their_registry() {
        let auth = RegistryAuth::parse(
            r#"{"username":"ci","password":"s3cret","serveraddress":"https://Registry.Example:5000/v2/"}"#,
        )
        .unwrap();
        assert_eq!(auth.host(), "registry.example:5000");
        assert!(auth.applies_to("registry.example:5000/stoatchat/api@sha256:ab"));
        assert!(!auth.applies_to("ghcr.io/stoatchat/api:v1"));
        assert!(!auth.applies_to("stoatchat/api:v1"));
        let creds = RegistryAuth::for_image(Some(&auth), "registry.example:5000/x:1").unwrap();
        assert_eq!(creds.username.as_deref(), Some("ci"));
        assert!(RegistryAuth::for_image(Some(&auth), "ghcr.io/x:1").is_none());
        assert!(!format!("{auth:?}").contains("s3cret"));
        let hub = RegistryAuth::parse(
            r#"{"username":"u","password":"p","serveraddress":"https://index.docker.io/v1/"}"#,
        )
        .unwrap();
        assert!(hub.applies_to("stoatchat/api:v1"));

        for (text, says) in [
            (
                "not json",
                "is not {\"username\", \"password\", \"serveraddress\"} as JSON",
            ),
            (
                r#"{"username":"u","password":"p"}"#,
                "missing field `serveraddress`",
            ),
            (
                r#"{"username":"u","password":"","serveraddress":"r.example"}"#,
                "Its password is empty.",
            ),
            (
                r#"{"username":"u","password":"p","serveraddress":"r.example","email":"x"}"#,
                "unknown field `email`",
            ),
            (
                r#"{"username":"u","password":"p","serveraddress":"https:// r"}"#,
                "is no registry address",
            ),
        ] {
            let err = RegistryAuth::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("s3cret"));
        }
    }
}
