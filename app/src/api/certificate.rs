//! Burrow's private CA, as the certificate page shows it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaInfo {
    /// SHA-256 over the DER, `AB:CD:…`.
    pub fingerprint: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub subject: String,
    /// The domain the stack certificate is for, when a config exists.
    pub domain: Option<String>,
    /// Whether the stack uses this CA (TLS mode "self-signed").
    pub in_use: bool,
}

#[server(endpoint = "certificate")]
pub async fn get_certificate() -> Result<CaInfo, AppError> {
    use super::*;
    let run = async {
        require_user().await?;
        let state = state();
        let ca = state.store.burrow_ca(&state.vault).await?;
        let latest = state.store.running_revision(&state.vault).await?;
        let rfc = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        Ok(CaInfo {
            fingerprint: ca.sha256_fingerprint(),
            not_before: rfc(ca.not_before()),
            not_after: rfc(ca.not_after()),
            subject: "Burrow private CA".to_owned(),
            domain: latest.as_ref().map(|r| r.config.domain.as_str().to_owned()),
            in_use: latest
                .is_some_and(|r| matches!(r.config.tls, stack::model::TlsMode::SelfSigned)),
        })
    };
    respond(run.await)
}
