//! The stack's certificate in the self-signed mode: Burrow's own CA (kept
//! sealed, downloadable from the console) and the leaf it issues for the
//! Stoat domain, kept too so re-applying does not change Caddy's files.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::certs::{BurrowCa, IssuedCert};
use crate::sealed::Vault;
use crate::{EngineError, Store};

const CA_CERT: &str = "burrow_ca_cert";
const CA_KEY: &str = "burrow_ca_key";
const LEAF: &str = "stack_tls_leaf";
/// Apple's limit for certificates of private CAs is 825 days; browsers'
/// public-CA limit is 398. Stay under both.
const LEAF_VALIDITY: Duration = Duration::days(397);
/// Re-issue when less than this is left.
const RENEW_BEFORE: Duration = Duration::days(30);

#[derive(Serialize, Deserialize)]
struct KeptLeaf {
    domain: String,
    cert_pem: String,
    key_pem: String,
    not_after: i64,
}

fn cert_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Certificate(e.to_string())
}

impl Store {
    /// Burrow's CA if it exists already.
    pub async fn existing_burrow_ca(&self, vault: &Vault) -> Result<Option<BurrowCa>, EngineError> {
        let cert = self.secret(vault, CA_CERT).await?;
        let key = self.secret(vault, CA_KEY).await?;
        match (cert, key) {
            (Some(cert), Some(key)) => BurrowCa::restore(&cert, &key).map(Some).map_err(cert_error),
            _ => Ok(None),
        }
    }

    /// The CA Burrow's own probes of `config`'s stack trust: Burrow's CA
    /// when the stack's certificate comes from it, else none (public roots).
    pub async fn probe_ca_pem(
        &self,
        vault: &Vault,
        config: &stack::model::StackConfig,
    ) -> Option<String> {
        if !matches!(config.tls, stack::model::TlsMode::SelfSigned) {
            return None;
        }
        self.existing_burrow_ca(vault)
            .await
            .ok()
            .flatten()
            .map(|ca| ca.ca_pem().to_owned())
    }

    /// Burrow's CA, created and kept on first use.
    pub async fn burrow_ca(&self, vault: &Vault) -> Result<BurrowCa, EngineError> {
        if let Some(ca) = self.existing_burrow_ca(vault).await? {
            return Ok(ca);
        }
        let ca = BurrowCa::generate("Burrow private CA").map_err(cert_error)?;
        self.put_secret(vault, CA_KEY, &ca.key_pem()).await?;
        self.put_secret(vault, CA_CERT, ca.ca_pem()).await?;
        Ok(ca)
    }

    /// The certificate Caddy serves for `domain` in the self-signed mode:
    /// the kept one while it is for this domain and not near expiry.
    pub async fn stack_leaf(&self, vault: &Vault, domain: &str) -> Result<IssuedCert, EngineError> {
        if let Some(text) = self.secret(vault, LEAF).await? {
            if let Ok(kept) = serde_json::from_str::<KeptLeaf>(&text) {
                let fresh = OffsetDateTime::now_utc() + RENEW_BEFORE;
                if kept.domain == domain && kept.not_after > fresh.unix_timestamp() {
                    return Ok(IssuedCert {
                        cert_pem: kept.cert_pem,
                        key_pem: kept.key_pem,
                    });
                }
            }
        }
        let ca = self.burrow_ca(vault).await?;
        let leaf = ca.issue_leaf(domain, LEAF_VALIDITY).map_err(cert_error)?;
        let not_after = (OffsetDateTime::now_utc() + LEAF_VALIDITY).min(ca.not_after());
        let kept = KeptLeaf {
            domain: domain.to_string(),
            cert_pem: leaf.cert_pem.clone(),
            key_pem: leaf.key_pem.clone(),
            not_after: not_after.unix_timestamp(),
        };
        let text = serde_json::to_string(&kept).map_err(cert_error)?;
        self.put_secret(vault, LEAF, &text).await?;
        Ok(leaf)
    }
}
