//! The wizard's behaviour in `engine::wizard::Wizard`, against a real
//! SQLite store (and, for the test mail, the real SMTP server above): typed
//! steps, tests with unsaved values, warnings that name their field, and a
//! draft saved before the domain was kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::deployer::Deployer;
use engine::sealed::Vault;
use engine::targets::Targets;
use engine::wizard::{Step, Wizard, WizardError};
use engine::Store;

struct Setup {
    dir: tempfile::TempDir,
    store: Store,
    vault: Vault,
    deployer: Arc<Deployer>,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let vault = Vault::open(&dir.path().join("secrets.key")).unwrap();
        let deployer = Arc::new(Deployer::new(
            store.clone(),
            vault.clone(),
            Arc::new(Targets::new(None)),
        ));
        Self {
            dir,
            store,
            vault,
            deployer,
        }
    }

    fn wizard(&self) -> Wizard<'_> {
        Wizard {
            store: &self.store,
            vault: &self.vault,
            data_dir: self.dir.path(),
            deployer: &self.deployer,
        }
    }

    async fn save(&self, step: Step, pairs: &[(&str, &str)]) -> Result<Step, WizardError> {
        self.wizard().save(step, &form(pairs), "admin").await
    }
}

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field_errors(e: WizardError) -> Vec<(String, String)> {
    match e {
        WizardError::Fields { errors, .. } => errors,
        other => panic!("expected field errors, got {other:?}"),
    }
}

/// The steps up to SMTP, saved as a new operator would (the TLS step posts
/// the ACME directory the page pre-fills, as browsers do).
async fn up_to_smtp(s: &Setup) {
    assert_eq!(
        s.save(Step::Domain, &[("domain", "chat.burrow.test")])
            .await
            .unwrap(),
        Step::Domain
    );
    let next = s
        .save(
            Step::Tls,
            &[
                ("tls.mode", "self-signed"),
                (
                    "tls.directory",
                    "https://acme-v02.api.letsencrypt.org/directory",
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(next, Step::Smtp);
}

#[tokio::test]
async fn steps_are_typed_and_taken_in_order() {
    let s = Setup::new().await;
    let err = s.save(Step::Smtp, &[("smtp.enabled", "true")]).await;
    assert!(
        matches!(err, Err(WizardError::StepFirst(Step::Domain))),
        "{err:?}"
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "Complete the Domain step first."
    );
    let review = s
        .wizard()
        .save(Step::Review, &BTreeMap::new(), "admin")
        .await;
    assert!(
        matches!(review, Err(WizardError::NothingToSave)),
        "{review:?}"
    );
    up_to_smtp(&s).await;
    let draft = s.store.wizard_draft(&s.vault).await.unwrap();
    assert_eq!(
        draft.domain.as_ref().map(|d| d.as_str()),
        Some("chat.burrow.test")
    );
    assert_eq!(draft.resume_step(), Step::Smtp);
    // A self-signed TLS step keeps no ACME field, so nothing is "ignored".
    assert_eq!(draft.get("tls.directory"), None, "{:?}", draft.fields);
}

#[tokio::test]
async fn defaults_never_warn_on_the_review_and_warnings_name_their_field() {
    let s = Setup::new().await;
    up_to_smtp(&s).await;
    s.save(Step::Smtp, &[]).await.unwrap();
    s.save(Step::Voice, &[("livekit.enabled", "true")])
        .await
        .unwrap();
    // The Apps page ticks voice-ingress by default once voice is on.
    let apps = [
        ("apps.api", "true"),
        ("apps.events", "true"),
        ("apps.web", "true"),
        ("apps.autumn", "true"),
        ("apps.january", "true"),
        ("apps.crond", "true"),
        ("apps.pushd", "true"),
        ("apps.voice_ingress", "true"),
        ("registration", "invite-only"),
    ];
    s.save(Step::Apps, &apps).await.unwrap();
    s.save(Step::Target, &[("target", "docker")]).await.unwrap();
    let review = s.wizard().view(Step::Review, None).await.unwrap();
    assert!(review.warnings.is_empty(), "{:?}", review.warnings);
    assert!(review.review.unwrap().blocking.is_empty());

    // Turned off by hand, the warning says which field, on which step.
    let mut off = apps.to_vec();
    off.retain(|(k, _)| *k != "apps.voice_ingress");
    s.save(Step::Apps, &off).await.unwrap();
    let review = s.wizard().view(Step::Review, None).await.unwrap();
    let w = review
        .warnings
        .iter()
        .find(|w| w.field == "apps.voice_ingress")
        .unwrap_or_else(|| panic!("{:?}", review.warnings));
    assert!(
        w.message
            .starts_with("Apps › Voice events (voice-ingress): without voice-ingress"),
        "{}",
        w.message
    );
}

#[tokio::test]
async fn an_smtp_relay_by_address_needs_no_name_without_tls() {
    let s = Setup::new().await;
    up_to_smtp(&s).await;
    let relay = |security: &'static str| {
        vec![
            ("smtp.enabled", "true"),
            ("smtp.host", "192.168.1.20"),
            ("smtp.port", "25"),
            ("smtp.security", security),
            ("smtp.from", "noreply@burrow.test"),
        ]
    };
    let errors = field_errors(s.save(Step::Smtp, &relay("starttls")).await.unwrap_err());
    let (field, message) = &errors[0];
    assert_eq!(field, "smtp.host");
    assert!(message.contains("an IP address has none"), "{message}");
    assert!(message.contains("smtp.security = \"none\""), "{message}");
    assert_eq!(
        s.save(Step::Smtp, &relay("none")).await.unwrap(),
        Step::Voice
    );
}

#[tokio::test]
async fn test_mail_uses_the_values_as_typed_and_saves_nothing() {
    let s = Setup::new().await;
    up_to_smtp(&s).await;
    let server = super::SmtpServer::start("plain", &[&super::auth_arg()]);
    let port = server.port.to_string();
    let typed = [
        ("smtp.enabled", "true"),
        ("smtp.host", "127.0.0.1"),
        ("smtp.port", port.as_str()),
        ("smtp.security", "none"),
        ("smtp.username", super::USER),
        ("smtp.password", super::PASSWORD),
        ("smtp.from", "noreply@burrow.test"),
    ];
    // A wrong typed value is refused beside its field, before any mail.
    let mut wrong = typed.to_vec();
    wrong[6] = ("smtp.from", "noreply");
    let errors = field_errors(
        s.wizard()
            .test_mail(&form(&wrong), super::TO)
            .await
            .unwrap_err(),
    );
    assert_eq!(errors[0].0, "smtp.from", "{errors:?}");
    assert!(server.nothing_received());

    let tested = s
        .wizard()
        .test_mail(&form(&typed), super::TO)
        .await
        .unwrap();
    assert!(tested.outcome.ok, "{}", tested.outcome.sentence);
    assert!(tested.outcome.sentence.contains("accepted the message"));
    let (eml, _) = server.received();
    assert!(eml.contains("noreply@burrow.test"), "{eml}");
    // The typed values come back for the form, never the password.
    assert!(tested
        .kept
        .contains(&("smtp.host".to_owned(), "127.0.0.1".to_owned())));
    assert!(!tested.kept.iter().any(|(_, v)| v == super::PASSWORD));
    // Nothing was saved: the step is still to do, no password kept.
    let draft = s.store.wizard_draft(&s.vault).await.unwrap();
    assert!(!draft.is_completed(Step::Smtp));
    assert_eq!(draft.get("smtp.host"), None);
    assert_eq!(s.store.draft_smtp_password(&s.vault).await.unwrap(), None);
}

#[tokio::test]
async fn test_connection_uses_the_address_as_typed() {
    let s = Setup::new().await;
    up_to_smtp(&s).await;
    s.save(Step::Smtp, &[]).await.unwrap();
    s.save(Step::Voice, &[]).await.unwrap();
    s.save(Step::Apps, &[("apps.api", "true")]).await.unwrap();
    let tested = s
        .wizard()
        .test_target(&form(&[
            ("target", "docker"),
            ("target.docker_url", "tcp://127.0.0.1:9"),
        ]))
        .await
        .unwrap();
    assert!(!tested.outcome.ok);
    assert!(
        tested.outcome.sentence.contains("tcp://127.0.0.1:9"),
        "{}",
        tested.outcome.sentence
    );
    let draft = s.store.wizard_draft(&s.vault).await.unwrap();
    assert!(!draft.is_completed(Step::Target));
    assert_eq!(draft.target.docker_url, "");
    // A Kubernetes target without any kubeconfig says what to paste.
    let errors = field_errors(
        s.wizard()
            .test_target(&form(&[("target", "kubernetes")]))
            .await
            .unwrap_err(),
    );
    assert_eq!(errors[0].0, "target.kubeconfig", "{errors:?}");
}

/// A draft saved before the accepted domain was kept still loads, with its
/// domain filled in from the fields.
#[tokio::test]
async fn an_older_draft_gets_its_domain_when_loaded() {
    let s = Setup::new().await;
    let old = r#"{"fields":{"domain":"old.burrow.test","tls.mode":"self-signed"},
        "completed":["domain","tls"],
        "target":{"docker_url":"","kube_source":"","kube_context":"","kube_namespace":""}}"#;
    // Stored as it was then (no "domain" key), not re-serialized.
    sqlx::query("INSERT INTO wizard_draft (id, body, updated_at) VALUES (1, ?, 0)")
        .bind(old)
        .execute(s.store.pool())
        .await
        .unwrap();
    let loaded = s.store.wizard_draft(&s.vault).await.unwrap();
    assert_eq!(
        loaded.domain.as_ref().map(|d| d.as_str()),
        Some("old.burrow.test")
    );
    let view = s.wizard().view(Step::Smtp, None).await.unwrap();
    assert!(view.is_completed(Step::Tls));
    assert_eq!(view.value("domain").as_deref(), Some("old.burrow.test"));
}
