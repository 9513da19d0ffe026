//! What Caddy's own log says about the stack's ACME certificate, as one
//! sentence for the dashboard: obtained, or why not with the fix. Caddy
//! logs JSON lines (no TTY in a container); the events read here are
//! certmagic's `tls.obtain`/`tls.renew` outcomes and the ACME client's
//! failed challenges (the CA's own words on why it could not check this
//! server), as Caddy 2.6 and later write them.

use stack::model::{StackConfig, TlsMode};
use wire::ProbeResult;

use crate::deploy::Target;

/// The probe's name on the dashboard.
pub const PROBE_PATH: &str = "certificate";

/// How many of Caddy's last log lines are read.
const TAIL: usize = 400;

/// The certificate as Caddy's log tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeState {
    Obtained,
    /// The sentence: what failed, with the fix.
    Failing(String),
}

/// The state the last relevant lines of `lines` (Caddy's log, oldest
/// first) describe for `domain` with the CA at `directory`; `None` when
/// they say nothing about it (a certificate loaded from Caddy's storage).
pub fn acme_state<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    domain: &str,
    directory: &str,
) -> Option<AcmeState> {
    let mut state = None;
    // Failed challenges since the last outcome: (type, the CA's words).
    let mut challenges: Vec<(String, String)> = Vec::new();
    for line in lines {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
            continue;
        };
        let text = |key: &str| event.get(key).and_then(|v| v.as_str()).unwrap_or_default();
        let (logger, msg) = (text("logger"), text("msg"));
        let about_us = text("identifier").is_empty() || text("identifier") == domain;
        if !about_us {
            continue;
        }
        if logger.ends_with("acme_client") && msg == "challenge failed" {
            let kind = text("challenge_type").to_owned();
            challenges.retain(|(k, _)| *k != kind);
            challenges.push((kind, text("error").to_owned()));
        } else if logger.starts_with("tls.obtain") || logger.starts_with("tls.renew") {
            match msg {
                "certificate obtained successfully" | "certificate renewed successfully" => {
                    state = Some(AcmeState::Obtained);
                    challenges.clear();
                }
                "could not get certificate from issuer" => {
                    state = Some(AcmeState::Failing(sentence(
                        domain,
                        directory,
                        text("error"),
                        &challenges,
                    )));
                    challenges.clear();
                }
                _ => {}
            }
        }
    }
    state
}

fn sentence(domain: &str, directory: &str, error: &str, challenges: &[(String, String)]) -> String {
    let why = if !challenges.is_empty() {
        let said: Vec<String> = challenges
            .iter()
            .map(|(kind, error)| format!("{kind}: {error}"))
            .collect();
        format!(
            "the ACME server could not check that this server answers for {domain} ({}). It \
             must reach {domain} on the stack's HTTP port (http-01) or HTTPS port \
             (tls-alpn-01): check the domain's DNS records and that those ports are open to it.",
            said.join("; ")
        )
    } else if error.contains("x509:") || error.contains("unknown authority") {
        format!(
            "Caddy does not trust the directory's HTTPS certificate ({}). Paste the root CA \
             of the directory on the TLS step.",
            last_part(error)
        )
    } else if error.contains("performing request") || error.contains("dial tcp") {
        format!(
            "the ACME directory does not answer ({}). Check its address on the TLS step, and \
             that Caddy's container can reach it.",
            last_part(error)
        )
    } else {
        format!("{}.", last_part(error))
    };
    format!("Caddy could not get the certificate for {domain} from {directory}: {why} Caddy retries on its own.")
}

/// The useful end of certmagic's nested error text: after its
/// "Obtain:"/"registering account" wrappers.
fn last_part(error: &str) -> &str {
    let error = error.trim();
    for marker in ["performing request: ", "solving challenges: ", "Obtain: "] {
        if let Some((_, rest)) = error.rsplit_once(marker) {
            return rest.trim();
        }
    }
    error
}

/// The dashboard's certificate line for an ACME stack, from Caddy's log
/// through `target`; `None` for the other TLS modes, or while Caddy has
/// said nothing about it.
pub async fn acme_probe(target: &dyn Target, config: &StackConfig) -> Option<ProbeResult> {
    use futures_util::StreamExt;
    let TlsMode::Acme { directory, .. } = &config.tls else {
        return None;
    };
    let lines: Vec<String> = target
        .logs(config.name.as_str(), Some("caddy"), TAIL, false)
        .filter_map(|line| async move { line.ok().map(|l| l.text) })
        .collect()
        .await;
    let domain = config.domain.as_str();
    let state = acme_state(lines.iter().map(String::as_str), domain, directory.as_str())?;
    Some(match state {
        AcmeState::Obtained => ProbeResult {
            path: PROBE_PATH.to_owned(),
            ok: true,
            detail: format!("Caddy obtained the certificate for {domain} from {directory}."),
        },
        AcmeState::Failing(detail) => ProbeResult {
            path: PROBE_PATH.to_owned(),
            ok: false,
            detail,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::{acme_state, AcmeState};

    const DOMAIN: &str = "stoat.burrow.test";
    const DIRECTORY: &str = "https://172.17.0.1:45121/dir";

    // Lines as Caddy 2.6 (Debian's) wrote them in the pebble tests.
    const OBTAINED: &str = r#"{"level":"info","ts":1796512806.8108356,"logger":"tls.obtain","msg":"obtaining certificate","identifier":"stoat.burrow.test"}
{"level":"info","ts":1796512806.8166177,"logger":"http.acme_client","msg":"trying to solve challenge","identifier":"stoat.burrow.test","challenge_type":"http-01","ca":"https://172.17.0.1:36645/dir"}
{"level":"info","ts":1796512807.3255095,"logger":"tls.obtain","msg":"certificate obtained successfully","identifier":"stoat.burrow.test"}
{"level":"warn","ts":1796512807.326185,"logger":"tls","msg":"stapling OCSP","error":"no OCSP stapling for [stoat.burrow.test]: no OCSP server specified in certificate","identifiers":["stoat.burrow.test"]}"#;

    const DIRECTORY_DOWN: &str = r#"{"level":"error","ts":1796512817.3642309,"logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"stoat.burrow.test","issuer":"172.17.0.1:34255-dir","error":"registering account [] with server: provisioning client: performing request: Get \"https://172.17.0.1:34255/dir\": dial tcp 172.17.0.1:34255: connect: connection refused"}
{"level":"error","ts":1796512817.3643236,"logger":"tls.obtain","msg":"will retry","error":"[stoat.burrow.test] Obtain: registering account [] with server: provisioning client: performing request: Get \"https://172.17.0.1:34255/dir\": dial tcp 172.17.0.1:34255: connect: connection refused","attempt":1,"retrying_in":60,"elapsed":0.50425635,"max_duration":2592000}"#;

    const CHALLENGE_REFUSED: &str = r#"{"level":"error","ts":1796512817.9429712,"logger":"http.acme_client","msg":"challenge failed","identifier":"stoat.burrow.test","challenge_type":"http-01","status_code":400,"problem_type":"urn:ietf:params:acme:error:connection","error":"Get \"http://stoat.burrow.test:36871/.well-known/acme-challenge/7e7c\": dial tcp 127.0.0.1:36871: connect: connection refused"}
{"level":"error","ts":1796512819.1997006,"logger":"http.acme_client","msg":"challenge failed","identifier":"stoat.burrow.test","challenge_type":"tls-alpn-01","status_code":403,"problem_type":"urn:ietf:params:acme:error:unauthorized","error":"Failed to connect to 127.0.0.1:36003 for the tls-alpn-01 challenge"}
{"level":"error","ts":1796512820.2040582,"logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"stoat.burrow.test","issuer":"172.17.0.1:45121-dir","error":"[stoat.burrow.test] solving challenges: stoat.burrow.test: no solvers available for remaining challenges (configured=[http-01 tls-alpn-01] offered=[tls-alpn-01 http-01 dns-01] remaining=[dns-01])"}"#;

    fn state(text: &str) -> Option<AcmeState> {
        acme_state(text.lines(), DOMAIN, DIRECTORY)
    }

    #[test]
    fn success_and_each_failure_read_as_what_they_are() {
        assert_eq!(state(OBTAINED), Some(AcmeState::Obtained));
        let Some(AcmeState::Failing(down)) = state(DIRECTORY_DOWN) else {
            panic!("{:?}", state(DIRECTORY_DOWN));
        };
        assert_eq!(
            down,
            "Caddy could not get the certificate for stoat.burrow.test from \
             https://172.17.0.1:45121/dir: the ACME directory does not answer (Get \
             \"https://172.17.0.1:34255/dir\": dial tcp 172.17.0.1:34255: connect: connection \
             refused). Check its address on the TLS step, and that Caddy's container can reach \
             it. Caddy retries on its own."
        );
        let Some(AcmeState::Failing(refused)) = state(CHALLENGE_REFUSED) else {
            panic!("{:?}", state(CHALLENGE_REFUSED));
        };
        // The CA's own words for both challenges, not certmagic's summary.
        assert!(
            refused.contains("http-01: Get \"http://stoat.burrow.test:36871/"),
            "{refused}"
        );
        assert!(
            refused.contains("tls-alpn-01: Failed to connect to 127.0.0.1:36003"),
            "{refused}"
        );
        assert!(!refused.contains("no solvers available"), "{refused}");
        assert!(
            refused.contains("check the domain's DNS records"),
            "{refused}"
        );
    }

    #[test]
    fn the_last_outcome_wins_and_other_names_and_noise_are_ignored() {
        let failed_then_obtained = format!("{CHALLENGE_REFUSED}\nnot json\n{OBTAINED}");
        assert_eq!(state(&failed_then_obtained), Some(AcmeState::Obtained));
        let obtained_then_failed = format!("{OBTAINED}\n{DIRECTORY_DOWN}");
        assert!(matches!(
            state(&obtained_then_failed),
            Some(AcmeState::Failing(_))
        ));
        let other_name = DIRECTORY_DOWN.replace(
            "\"identifier\":\"stoat.burrow.test\"",
            "\"identifier\":\"other.example\"",
        );
        assert_eq!(state(&other_name), None);
        assert_eq!(
            state("{\"level\":\"info\",\"msg\":\"serving initial configuration\"}"),
            None
        );
        assert_eq!(state(""), None);
    }

    #[test]
    fn an_untrusted_directory_names_the_root_ca_field() {
        let line = r#"{"level":"error","logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"stoat.burrow.test","error":"registering account [] with server: provisioning client: performing request: Get \"https://acme.internal/dir\": x509: certificate signed by unknown authority"}"#;
        let Some(AcmeState::Failing(s)) = state(line) else {
            panic!()
        };
        assert!(
            s.contains("Paste the root CA of the directory on the TLS step"),
            "{s}"
        );
        assert!(
            s.contains("x509: certificate signed by unknown authority"),
            "{s}"
        );
    }
}
