//! The wizard's behaviour: a step's view, checking and saving a step, the
//! live tests with the values as typed, the review, and finishing (the
//! draft becomes a revision and is deployed). The web layer parses the
//! request into a [`Step`] and a form, calls one method of [`Wizard`], and
//! maps [`WizardError`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stack::model::{DomainName, StackConfig, TargetKind, TlsMode};
use wire::wizard::{
    Check, Notice, Review, Step, TestOutcome, WizardView, LE_PRODUCTION, LE_STAGING,
};

use super::input::{StepInput, TargetInput, TlsChoice};
use super::{check_step, field_label, Draft};
use crate::deployer::{Deployer, DeployerError};
use crate::sealed::Vault;
use crate::{EngineError, Store};

/// How long a test mail may take, connection to the relay's last answer.
const MAIL_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a wizard request was refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum WizardError {
    #[error("there is no wizard step {0:?}")]
    UnknownStep(String),
    #[error("the review has nothing to save")]
    NothingToSave,
    #[error("Complete the {} step first.", .0.title())]
    StepFirst(Step),
    /// Values of the form refused, each by field; `kept` refills the form
    /// (never a password or key).
    #[error("some values need a change")]
    Fields {
        errors: Vec<(String, String)>,
        kept: Vec<(String, String)>,
    },
    /// The request cannot be done now (a Kubernetes target, a running
    /// deployment); the sentence says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Deployer(#[from] DeployerError),
}

impl WizardError {
    fn field(field: &str, message: impl Into<String>, kept: Vec<(String, String)>) -> Self {
        WizardError::Fields {
            errors: vec![(field.to_owned(), message.into())],
            kept,
        }
    }
}

/// A step's input worked out against the draft without writing anything.
struct Evaluated {
    next: Draft,
    errors: Vec<(String, String)>,
    /// The whole config as it would be (when it validates).
    config: Option<StackConfig>,
    /// The SMTP password the step would use (typed, else saved).
    password: Option<String>,
    new_password: Option<String>,
    new_kubeconfig: Option<String>,
    /// Docker TLS settings pasted and accepted, to keep sealed.
    new_docker_tls: Option<crate::deploy::DockerTls>,
    /// A pasted own certificate and key, to keep sealed.
    own_pair: Option<(String, String)>,
}

/// The outcome of a test, with the values to show again (the test saved
/// nothing, and a page without JavaScript reloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tested {
    pub outcome: TestOutcome,
    pub step: Step,
    pub kept: Vec<(String, String)>,
}

/// The wizard over the store, the vault and the target factory.
pub struct Wizard<'a> {
    pub store: &'a Store,
    pub vault: &'a Vault,
    /// Where an own certificate is written.
    pub data_dir: &'a Path,
    pub deployer: &'a Arc<Deployer>,
}

impl Wizard<'_> {
    /// `step` as its page shows it. `unsaved` are values typed before a
    /// test (which saved nothing), shown instead of the saved ones.
    pub async fn view(
        &self,
        step: Step,
        unsaved: Option<&[(String, String)]>,
    ) -> Result<WizardView, WizardError> {
        let draft = self.store.wizard_draft(self.vault).await?;
        let password = self.store.draft_smtp_password(self.vault).await?;
        let checked = check_step(&draft, step, password.as_deref());
        let editing = self.store.latest_revision(self.vault).await?.is_some();
        // Run on the Domain step, and again on Review: by then the Target
        // step has said which machine the stack runs on.
        let checks = match step {
            Step::Domain | Step::Review if draft.is_completed(Step::Domain) => {
                self.domain_checks(&draft, checked.config.as_ref()).await
            }
            _ => Vec::new(),
        };
        let review = if step == Step::Review {
            Some(self.review(&draft, password.as_deref()).await?)
        } else {
            None
        };
        let mut values = draft.fields.clone();
        let mut target = draft.target.clone();
        if target.docker_plain_ok {
            values.insert("target.docker_plain_ok".into(), "true".into());
        }
        for (k, v) in unsaved.unwrap_or_default() {
            match k.as_str() {
                "target.docker_url" => target.docker_url = v.clone(),
                "target.kube_source" => target.kube_source = v.clone(),
                "target.kube_context" => target.kube_context = v.clone(),
                "target.kube_namespace" => target.kube_namespace = v.clone(),
                "target.kube_ingress_class" => target.kube_ingress_class = v.clone(),
                "target.kube_issuer" => target.kube_issuer = v.clone(),
                _ => {
                    values.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(WizardView {
            step,
            steps: Step::ALL
                .iter()
                .map(|s| (*s, draft.is_completed(*s)))
                .collect(),
            values,
            smtp_password_set: draft.smtp_password_set || password.is_some(),
            docker_url: target.docker_url,
            kube_source: target.kube_source,
            kube_context: target.kube_context,
            kube_namespace: target.kube_namespace,
            kube_ingress_class: target.kube_ingress_class,
            kube_issuer: target.kube_issuer,
            kubeconfig_set: draft.kubeconfig_set,
            docker_tls_set: draft.target.docker_tls_set,
            warnings: checked
                .warnings
                .into_iter()
                .map(|w| notice(&w, step == Step::Review))
                .collect(),
            editing,
            checks,
            review,
            last_mail: None,
            last_target: None,
        })
    }

    /// The problems `form` has for `step`, by field; nothing is saved (what
    /// the console shows while the operator types).
    pub async fn check(
        &self,
        step: Step,
        form: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, WizardError> {
        let input = StepInput::from_form(step, form).ok_or(WizardError::NothingToSave)?;
        Ok(self.evaluate(&input).await?.errors)
    }

    /// Saves `step` from `form`; the step to show next. Nothing is written
    /// when anything is refused.
    pub async fn save(
        &self,
        step: Step,
        form: &BTreeMap<String, String>,
        actor: &str,
    ) -> Result<Step, WizardError> {
        let input = StepInput::from_form(step, form).ok_or(WizardError::NothingToSave)?;
        let Evaluated {
            mut next,
            errors,
            config,
            new_password,
            new_kubeconfig,
            new_docker_tls,
            own_pair,
            ..
        } = self.evaluate(&input).await?;
        if !errors.is_empty() {
            return Err(WizardError::Fields {
                errors,
                kept: input.kept(),
            });
        }
        if let Some((cert, key)) = own_pair {
            // Sealed in the database, never on disk; the next revision
            // refers to it as a version.
            self.store
                .put_draft_own_tls(self.vault, &cert, &key)
                .await?;
        }
        if let Some(yaml) = new_kubeconfig {
            self.store.put_draft_kubeconfig(self.vault, &yaml).await?;
            next.kubeconfig_set = true;
        }
        if let Some(tls) = new_docker_tls {
            self.store.put_draft_docker_tls(self.vault, &tls).await?;
        }
        if let Some(pw) = new_password {
            self.store.put_draft_smtp_password(self.vault, &pw).await?;
            next.smtp_password_set = true;
        }
        if step == Step::Domain {
            next.domain = config.map(|c| c.domain);
        }
        next.complete(step);
        self.store.save_wizard_draft(&next).await?;
        self.store
            .record(
                actor,
                None,
                "wizard",
                crate::audit::Outcome::Success,
                Some(step.slug()),
            )
            .await?;
        // The domain step stays to show its checks; the others move on.
        Ok(match step {
            Step::Domain => Step::Domain,
            other => other.next().unwrap_or(Step::Review),
        })
    }

    /// The draft as it would be with `input`, the problems by field, and
    /// what saving would write besides the draft.
    async fn evaluate(&self, input: &StepInput) -> Result<Evaluated, WizardError> {
        let step = input.step();
        let draft = self.store.wizard_draft(self.vault).await?;
        // Steps are taken in order: a later step needs the earlier ones.
        if let Some(missing) = step.before().iter().find(|s| !draft.is_completed(**s)) {
            return Err(WizardError::StepFirst(*missing));
        }
        let mut next = draft.clone();
        // The step's own keys are replaced as a whole (a field left empty
        // is unset, so its default applies).
        next.fields.retain(|path, _| !super::owned_by(step, path));
        for (k, v) in input.values() {
            next.fields.insert(k.to_owned(), v);
        }
        let mut password = self.store.draft_smtp_password(self.vault).await?;
        let mut out = Evaluated {
            next,
            errors: Vec::new(),
            config: None,
            password: None,
            new_password: None,
            new_kubeconfig: None,
            new_docker_tls: None,
            own_pair: None,
        };
        match input {
            StepInput::Tls(t) => self.evaluate_tls(t, &draft, &mut out),
            StepInput::Smtp(s) => {
                if s.invite_only && !s.enabled {
                    out.next
                        .fields
                        .insert("registration".into(), "invite-only".into());
                }
                if s.enabled && !s.password.is_empty() {
                    out.new_password = Some(s.password.clone());
                    password = Some(s.password.clone());
                }
            }
            StepInput::Target(t) => self.evaluate_target(t, &draft, &mut out),
            _ => {}
        }
        let checked = check_step(&out.next, step, password.as_deref());
        out.errors.extend(checked.errors);
        out.config = checked.config;
        out.password = password;
        Ok(out)
    }

    fn evaluate_tls(&self, t: &super::input::TlsInput, draft: &Draft, out: &mut Evaluated) {
        let next = &mut out.next;
        if t.choice == TlsChoice::Acme {
            if t.staging {
                next.fields
                    .insert("tls.directory".into(), LE_STAGING.into());
            } else if next.get("tls.directory") == Some(LE_STAGING) {
                // Unticked: back to Let's Encrypt's production CA.
                next.fields
                    .insert("tls.directory".into(), LE_PRODUCTION.into());
            }
        }
        if t.choice != TlsChoice::Own {
            return;
        }
        let (cert, key) = (&t.cert_pem, &t.key_pem);
        if cert.is_empty() && key.is_empty() && draft.get("tls.cert_file").is_some() {
            // Nothing pasted: the saved certificate stays.
            for k in ["tls.cert_file", "tls.key_file"] {
                if let Some(v) = draft.get(k) {
                    next.fields.insert(k.into(), v.into());
                }
            }
            return;
        }
        let errors = &mut out.errors;
        if cert.is_empty() {
            errors.push((
                "tls.cert_pem".into(),
                "Paste the certificate (PEM), the server's first, then its chain.".into(),
            ));
        }
        if key.is_empty() {
            errors.push((
                "tls.key_pem".into(),
                "Paste the private key (PEM) that belongs to the certificate.".into(),
            ));
        }
        // The certificate is checked as soon as it is there, so a loaded
        // file gets its verdict before the key.
        if cert.is_empty() {
            return;
        }
        let domain = draft.domain.as_ref().map(DomainName::as_str).unwrap_or("");
        match crate::certs::check_own_certificate(
            cert,
            key,
            domain,
            time::OffsetDateTime::now_utc(),
        ) {
            Ok(_) if errors.is_empty() => {
                next.fields.insert(
                    "tls.cert_file".into(),
                    stack::render::OWN_CERT_SOURCE.to_owned(),
                );
                next.fields.insert(
                    "tls.key_file".into(),
                    stack::render::OWN_KEY_SOURCE.to_owned(),
                );
                out.own_pair = Some((cert.clone(), key.clone()));
            }
            Ok(_) => {}
            Err(problems) => {
                use crate::certs::CertProblem;
                for p in problems {
                    let about_key =
                        matches!(p, CertProblem::UnreadableKey | CertProblem::KeyMismatch);
                    if about_key && key.is_empty() {
                        continue; // "paste the key" says it already
                    }
                    let field = if about_key {
                        "tls.key_pem"
                    } else {
                        "tls.cert_pem"
                    };
                    errors.push((field.into(), p.to_string()));
                }
            }
        }
    }

    fn evaluate_target(&self, t: &TargetInput, draft: &Draft, out: &mut Evaluated) {
        let url = crate::targets::parse_docker_url(&t.docker_url);
        let tcp = !t.is_kubernetes() && matches!(&url, Ok(Some(u)) if crate::targets::takes_tls(u));
        let docker_tls_set = if !tcp {
            if t.tls_pasted() && !t.is_kubernetes() && url.is_ok() {
                out.errors.push((
                    "target.docker_tls_ca".into(),
                    "TLS is for a daemon at tcp://host:port; a socket on this machine needs \
                     none. Clear these fields, or give the daemon's tcp:// address."
                        .into(),
                ));
            }
            false
        } else if t.tls_pasted() {
            self.evaluate_docker_tls(t, out)
        } else {
            draft.target.docker_tls_set && !t.docker_tls_forget
        };
        match url {
            Err(why) => out.errors.push(("target.docker_url".into(), why)),
            Ok(Some(url))
                if !t.is_kubernetes()
                    && !docker_tls_set
                    && crate::targets::plain_tcp_elsewhere(&url)
                    && !t.docker_plain_ok =>
            {
                out.errors.push((
                    "target.docker_plain_ok".into(),
                    crate::targets::PLAIN_TCP_RISK.into(),
                ));
            }
            Ok(_) => {}
        }
        let ns = t.namespace();
        if ns.len() > 63
            || !ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || ns.starts_with('-')
            || ns.ends_with('-')
        {
            out.errors.push((
                "target.kube_namespace".into(),
                "A namespace is up to 63 lower-case letters, digits and '-', starting and \
                 ending with a letter or digit."
                    .into(),
            ));
        }
        out.next.target = super::TargetDraft {
            docker_url: t.docker_url.clone(),
            docker_plain_ok: t.docker_plain_ok,
            docker_tls_set,
            kube_source: t.kube_source.clone(),
            kube_context: t.kube_context.clone(),
            kube_namespace: ns.to_owned(),
            kube_ingress_class: t.kube_ingress_class.trim().to_owned(),
            kube_issuer: t.kube_issuer.trim().to_owned(),
        };
        if !crate::targets::INGRESS_CLASSES.contains(&t.kube_ingress_class.trim()) {
            out.errors.push((
                "target.kube_ingress_class".into(),
                "Choose nginx or traefik: the Ingress controllers Burrow renders routes for."
                    .into(),
            ));
        }
        if !crate::targets::valid_issuer(t.kube_issuer.trim()) {
            out.errors.push((
                "target.kube_issuer".into(),
                "An issuer's name is lower-case letters, digits, '-' and '.', up to 253, \
                 starting and ending with a letter or digit."
                    .into(),
            ));
        }
        if t.is_kubernetes() && !t.in_cluster() {
            if t.kubeconfig.is_empty() {
                if !draft.kubeconfig_set {
                    out.errors.push((
                        "target.kubeconfig".into(),
                        "Paste the kubeconfig Burrow should use, or choose in-cluster credentials."
                            .into(),
                    ));
                }
            } else if !(t.kubeconfig.contains("clusters") && t.kubeconfig.contains("server")) {
                out.errors.push((
                    "target.kubeconfig".into(),
                    "This is not a kubeconfig: it needs a clusters list with a server address."
                        .into(),
                ));
            } else {
                out.new_kubeconfig = Some(t.kubeconfig.clone());
            }
        }
    }

    /// The pasted Docker TLS settings, all three checked; whether they are
    /// usable (problems go beside their fields).
    fn evaluate_docker_tls(&self, t: &TargetInput, out: &mut Evaluated) -> bool {
        use crate::deploy::{DockerTls, TlsPart};
        let field = |part: TlsPart| match part {
            TlsPart::Ca => "target.docker_tls_ca",
            TlsPart::Cert => "target.docker_tls_cert",
            TlsPart::Key => "target.docker_tls_key",
        };
        let mut missing = false;
        for (part, text, what) in [
            (
                TlsPart::Ca,
                &t.docker_tls_ca,
                "the daemon's CA certificate (ca.pem)",
            ),
            (
                TlsPart::Cert,
                &t.docker_tls_cert,
                "Burrow's client certificate (cert.pem)",
            ),
            (
                TlsPart::Key,
                &t.docker_tls_key,
                "the client certificate's key (key.pem)",
            ),
        ] {
            if text.is_empty() {
                missing = true;
                out.errors.push((
                    field(part).into(),
                    format!("Paste {what} too: TLS needs all three."),
                ));
            }
        }
        if missing {
            return false;
        }
        match DockerTls::new(
            &t.docker_tls_ca,
            &t.docker_tls_cert,
            &t.docker_tls_key,
            time::OffsetDateTime::now_utc(),
        ) {
            Ok(tls) => {
                out.new_docker_tls = Some(tls);
                true
            }
            Err(problems) => {
                for (part, why) in problems {
                    out.errors.push((field(part).into(), why));
                }
                false
            }
        }
    }

    /// The Docker TLS settings the target step would use: pasted, else the
    /// kept ones when the draft uses TLS.
    async fn docker_tls_for(
        &self,
        target: &super::TargetDraft,
        pasted: Option<crate::deploy::DockerTls>,
    ) -> Result<Option<crate::deploy::DockerTls>, WizardError> {
        if pasted.is_some() || !target.docker_tls_set {
            return Ok(pasted);
        }
        Ok(self.store.draft_docker_tls(self.vault).await?)
    }

    /// Sends a real message with the SMTP settings as typed in `form` (the
    /// saved password when none is typed); nothing is saved.
    pub async fn test_mail(
        &self,
        form: &BTreeMap<String, String>,
        to: &str,
    ) -> Result<Tested, WizardError> {
        let input = StepInput::from_form(Step::Smtp, form).ok_or(WizardError::NothingToSave)?;
        let StepInput::Smtp(smtp) = &input else {
            return Err(WizardError::NothingToSave);
        };
        let mut kept = input.kept();
        let to = to.trim();
        kept.push(("to".into(), to.chars().take(256).collect()));
        if !smtp.enabled {
            return Err(WizardError::field(
                "smtp.enabled",
                "Tick \"Send e-mail\" and fill in the relay to send a test mail.",
                kept,
            ));
        }
        let evaluated = self.evaluate(&input).await?;
        if !evaluated.errors.is_empty() {
            return Err(WizardError::Fields {
                errors: evaluated.errors,
                kept,
            });
        }
        if to.is_empty() || !to.contains('@') {
            return Err(WizardError::field(
                "to",
                "Enter the address the test mail goes to, e.g. you@example.com.",
                kept,
            ));
        }
        let Some(smtp) = evaluated.config.and_then(|c| c.smtp) else {
            return Err(WizardError::field(
                "smtp.host",
                "Fill in the SMTP relay first.",
                kept,
            ));
        };
        let settings = crate::mail::SmtpSettings {
            host: smtp.host.to_string(),
            port: smtp.port.get(),
            security: match smtp.security {
                stack::model::SmtpSecurity::ImplicitTls => crate::mail::Security::ImplicitTls,
                stack::model::SmtpSecurity::StartTls => crate::mail::Security::StartTls,
                stack::model::SmtpSecurity::None => crate::mail::Security::None,
            },
            username: Some(smtp.username).filter(|u| !u.is_empty()),
            password: evaluated
                .password
                .filter(|p| !p.is_empty())
                .map(crate::mail::Secret::new),
            from: smtp.from.to_string(),
            extra_root_pem: None,
            hello_name: evaluated.next.domain.map(|d| d.to_string()),
        };
        match crate::mail::send_test_mail(&settings, to, MAIL_TIMEOUT).await {
            Ok(report) => Ok(Tested {
                outcome: TestOutcome {
                    ok: report.delivered(),
                    sentence: report.sentence(),
                },
                step: Step::Smtp,
                kept,
            }),
            Err(e) => Err(WizardError::field("to", e.to_string(), kept)),
        }
    }

    /// Connects to the target as typed in `form` (the saved kubeconfig when
    /// none is pasted); nothing is saved.
    pub async fn test_target(
        &self,
        form: &BTreeMap<String, String>,
    ) -> Result<Tested, WizardError> {
        let input = StepInput::from_form(Step::Target, form).ok_or(WizardError::NothingToSave)?;
        let StepInput::Target(t) = &input else {
            return Err(WizardError::NothingToSave);
        };
        let kept = input.kept();
        let evaluated = self.evaluate(&input).await?;
        if !evaluated.errors.is_empty() {
            return Err(WizardError::Fields {
                errors: evaluated.errors,
                kept,
            });
        }
        let outcome = if t.is_kubernetes() {
            use crate::preflight::{test_kubernetes, KubeSource};
            let source = if t.in_cluster() {
                KubeSource::InCluster
            } else {
                let yaml = match evaluated.new_kubeconfig {
                    Some(yaml) => yaml,
                    None => self
                        .store
                        .draft_kubeconfig(self.vault)
                        .await?
                        .unwrap_or_default(),
                };
                KubeSource::Kubeconfig {
                    yaml,
                    context: Some(t.kube_context.clone()).filter(|c| !c.is_empty()),
                }
            };
            let report = test_kubernetes(source, t.namespace()).await;
            let mut sentence = report.summary.clone();
            for p in &report.permissions {
                sentence.push(' ');
                sentence.push_str(&p.sentence);
            }
            for fix in &report.fixes {
                sentence.push(' ');
                sentence.push_str(fix);
            }
            TestOutcome {
                ok: report.ok(),
                sentence,
            }
        } else {
            let url = Some(t.docker_url.as_str()).filter(|u| !u.is_empty());
            let tls = self
                .docker_tls_for(&evaluated.next.target, evaluated.new_docker_tls)
                .await?;
            let report = crate::preflight::test_docker_with(url, tls.as_ref()).await;
            TestOutcome {
                ok: report.connected(),
                sentence: report.sentence,
            }
        };
        Ok(Tested {
            outcome,
            step: Step::Target,
            kept,
        })
    }

    /// DNS and host ports for the saved domain step, each as a sentence,
    /// asked about the machine the stack will run on: the daemon chosen on
    /// the Target step, which may be another machine's.
    async fn domain_checks(&self, draft: &Draft, config: Option<&StackConfig>) -> Vec<Check> {
        use crate::preflight::{
            check_ports_on, resolve_domain_for, stack_host, PortWanted, StackHost, SystemResolver,
        };
        let Some(config) = config else {
            return Vec::new();
        };
        let domain = config.domain.as_str();
        if config.target == TargetKind::Kubernetes {
            return cluster_checks(
                resolve_domain_for(&SystemResolver, domain, &StackHost::ThisMachine).await,
            );
        }
        let url = Some(draft.target.docker_url.as_str()).filter(|u| !u.trim().is_empty());
        let host = stack_host(url, &SystemResolver).await;
        let dns = resolve_domain_for(&SystemResolver, domain, &host).await;
        let mut out = vec![Check {
            ok: dns.ok(),
            level: if dns.ok() { "ok" } else { "warning" }.to_owned(),
            title: "DNS:".to_owned(),
            detail: dns.summary.clone(),
        }];
        for issue in &dns.issues {
            out.push(Check {
                ok: false,
                level: "warning".to_owned(),
                title: "DNS:".to_owned(),
                detail: issue.fix.clone(),
            });
        }
        let wanted = PortWanted::for_config(config);
        let tls = self
            .docker_tls_for(&draft.target, None)
            .await
            .ok()
            .flatten();
        let docker = self
            .deployer
            .targets()
            .docker_within(url, tls.as_ref(), Some(crate::targets::PAGE_WAIT))
            .await
            .ok();
        let lister = docker
            .as_deref()
            .map(|d| d as &dyn crate::preflight::docker::ContainerLister);
        for report in check_ports_on(&host, &wanted, lister, config.name.as_str()).await {
            let ok = report.ok();
            let mut detail = report.summary.clone();
            for fix in &report.fixes {
                detail.push(' ');
                detail.push_str(fix);
            }
            out.push(Check {
                ok,
                level: if ok { "ok" } else { "problem" }.to_owned(),
                title: "Ports:".to_owned(),
                detail,
            });
        }
        out
    }

    async fn review(&self, draft: &Draft, password: Option<&str>) -> Result<Review, WizardError> {
        let checked = check_step(draft, Step::Review, password);
        let mut blocking: Vec<Notice> = checked
            .errors
            .iter()
            .map(|(f, m)| Notice {
                field: f.clone(),
                message: format!("{}: {m}", field_label(f)),
            })
            .collect();
        for s in Step::ALL.iter().filter(|s| **s != Step::Review) {
            if !draft.is_completed(*s) {
                blocking.push(Notice {
                    field: s.slug().to_owned(),
                    message: format!("The {} step is not completed yet.", s.title()),
                });
            }
        }
        let Some(config) = checked.config else {
            return Ok(Review {
                summary: Vec::new(),
                files: Vec::new(),
                services: Vec::new(),
                diff: None,
                blocking,
            });
        };
        let secrets = self.store.ensure_stack_secrets(self.vault).await?;
        let plan = stack::render::render(&config, &secrets);
        // The shown files (one mask for every page) include the Kubernetes
        // objects; the review lists those only for a Kubernetes target.
        let target = self
            .deployer
            .targets()
            .settings_for(config.target, &draft.target);
        let files = crate::history::shown_files(&config, &secrets, &target)
            .into_iter()
            .filter(|f| f.name != "kubernetes.yaml" || config.target == TargetKind::Kubernetes)
            .collect();
        let diff = match self.store.deployed_revision().await? {
            Some(id) => self.store.revision(self.vault, id).await?.map(|r| {
                (
                    id,
                    crate::history::diff_lines(
                        &crate::revisions::public_toml(&r.config),
                        &crate::revisions::public_toml(&config),
                    ),
                )
            }),
            None => None,
        };
        Ok(Review {
            summary: summary(&config, draft),
            files,
            services: plan
                .services
                .iter()
                .map(|s| (s.name.clone(), s.image.to_string()))
                .collect(),
            diff,
            blocking,
        })
    }

    /// Turns the draft into the next revision and starts deploying it; the
    /// deployment's id. Refused before anything is saved when the draft is
    /// incomplete or its target cannot be deployed to.
    pub async fn finish(&self, actor: &str) -> Result<i64, WizardError> {
        let revision = self.save_revision(actor).await?;
        let id = revision.meta.id;
        match self
            .deployer
            .start_apply(revision, actor, crate::deploy::ApplyOptions::default())
            .await
        {
            Ok(id) => Ok(id),
            Err(DeployerError::Busy(running)) => Err(WizardError::Refused(format!(
                "Saved as revision {id}; deployment {running} is still running, deploy it from \
                 the Deploy page when it ends."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The draft as the next revision, with its target settings (and the
    /// version of its Docker TLS settings); the draft is cleared. Refused
    /// before anything is saved when the draft is incomplete or its target
    /// cannot be deployed to.
    pub async fn save_revision(
        &self,
        actor: &str,
    ) -> Result<crate::revisions::Revision, WizardError> {
        let store = self.store;
        let draft = store.wizard_draft(self.vault).await?;
        let password = store.draft_smtp_password(self.vault).await?;
        if let Some(missing) = Step::Review
            .before()
            .iter()
            .find(|s| !draft.is_completed(**s))
        {
            return Err(WizardError::StepFirst(*missing));
        }
        let checked = check_step(&draft, Step::Review, password.as_deref());
        let Some(config) = checked.config else {
            return Err(WizardError::Fields {
                errors: checked.errors,
                kept: Vec::new(),
            });
        };
        let mut target = self
            .deployer
            .targets()
            .settings_for(config.target, &draft.target);
        if let Some(why) = target.undeployable() {
            return Err(WizardError::Refused(why.to_owned()));
        }
        if let crate::targets::TargetSettings::Docker {
            url: Some(url),
            tls,
        } = &mut target
        {
            if crate::targets::takes_tls(url) {
                if let Some(kept) = self.docker_tls_for(&draft.target, None).await? {
                    *tls = Some(store.keep_docker_tls(self.vault, &kept).await?);
                }
            }
        }
        let (meta, _) = store
            .save_revision(self.vault, &config, &target, actor, Some("wizard"))
            .await?;
        let revision = store
            .revision(self.vault, meta.id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("revision {} is gone", meta.id)))?;
        store
            .save_target_settings(self.vault, &draft.target)
            .await?;
        store.clear_wizard_draft().await?;
        Ok(revision)
    }
}

/// A warning as a step shows it: named by its field's label (on the review,
/// with the step it is on), with its fix.
fn notice(w: &stack::model::FieldIssue, with_step: bool) -> Notice {
    let label = field_label(&w.field);
    let place = match (with_step, super::step_of(&w.field)) {
        (true, Some(step)) => format!("{} › {label}", step.title()),
        _ => label,
    };
    Notice {
        field: w.field.clone(),
        message: match &w.fix {
            Some(fix) => format!("{place}: {} — {fix}", w.message),
            None => format!("{place}: {}", w.message),
        },
    }
}

fn summary(config: &StackConfig, draft: &Draft) -> Vec<(String, String)> {
    let tls = match &config.tls {
        TlsMode::SelfSigned => "Burrow's own CA (download it from Certificate)".to_owned(),
        TlsMode::Acme {
            directory,
            email,
            directory_ca,
        } => format!(
            "ACME at {directory}{}{}",
            if directory_ca.is_some() {
                " (its own root CA trusted)"
            } else {
                ""
            },
            email
                .as_ref()
                .map(|e| format!(", notices to {e}"))
                .unwrap_or_default()
        ),
        TlsMode::OwnCertificate { cert_file, .. } => format!("your certificate ({cert_file})"),
    };
    let smtp = match &config.smtp {
        Some(s) => format!(
            "{}:{} ({}), from {}",
            s.host,
            s.port,
            s.security.as_str(),
            s.from
        ),
        None => "off: no verification or password-reset mail".to_owned(),
    };
    let voice = if config.livekit.enabled {
        format!(
            "on: node {}, TCP {}, UDP {}",
            config.livekit.node, config.livekit.tcp_port, config.livekit.udp_ports
        )
    } else {
        "off".to_owned()
    };
    let apps: Vec<&str> = config.services().into_iter().map(|s| s.name()).collect();
    let target = match config.target {
        TargetKind::Docker => format!(
            "Docker at {}",
            if draft.target.docker_url.is_empty() {
                "this machine"
            } else {
                &draft.target.docker_url
            }
        ),
        TargetKind::Kubernetes => {
            format!("Kubernetes, namespace {}", draft.target.kube_namespace)
        }
    };
    vec![
        ("Domain".into(), config.domain.to_string()),
        ("TLS".into(), tls),
        ("E-mail".into(), smtp),
        (
            "Registration".into(),
            config.registration.as_str().to_owned(),
        ),
        ("Voice & video".into(), voice),
        ("Services".into(), apps.join(", ")),
        ("Target".into(), target),
    ]
}

/// On Kubernetes the cluster's ingress publishes the stack: no port on this
/// machine matters, and only the operator knows the ingress's address.
fn cluster_checks(dns: crate::preflight::DomainReport) -> Vec<Check> {
    let ips: Vec<String> = dns.addresses.iter().map(|a| a.ip.to_string()).collect();
    let dns_check = if ips.is_empty() {
        Check {
            ok: false,
            level: "warning".to_owned(),
            title: "DNS:".to_owned(),
            detail: format!(
                "{} Create an A record for {} pointing at your cluster's ingress or load \
                 balancer.",
                dns.summary, dns.domain
            ),
        }
    } else {
        Check {
            ok: true,
            level: "ok".to_owned(),
            title: "DNS:".to_owned(),
            detail: format!(
                "{} points to {}: make sure that is your cluster's ingress or load balancer.",
                dns.domain,
                ips.join(", ")
            ),
        }
    };
    vec![
        dns_check,
        Check {
            ok: true,
            level: "ok".to_owned(),
            title: "Ports:".to_owned(),
            detail: "On Kubernetes the cluster's ingress publishes the stack; no port on this \
                     machine is used."
                .to_owned(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::dns::{resolve_domain_for, LookupError, Resolver};
    use crate::preflight::StackHost;
    use std::net::IpAddr;

    struct Answer(Vec<IpAddr>);

    #[async_trait::async_trait]
    impl Resolver for Answer {
        async fn lookup(&self, _domain: &str) -> Result<Vec<IpAddr>, LookupError> {
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn a_cluster_is_not_judged_by_this_machines_ports_or_addresses() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let dns = resolve_domain_for(
            &Answer(vec![ip]),
            "chat.example.com",
            &StackHost::ThisMachine,
        )
        .await;
        let checks = cluster_checks(dns);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert_eq!(
            checks[0].detail,
            "chat.example.com points to 203.0.113.9: make sure that is your cluster's ingress or \
             load balancer."
        );
        assert!(checks[1].detail.contains("no port on this machine is used"));

        let none =
            resolve_domain_for(&Answer(vec![]), "chat.example.com", &StackHost::ThisMachine).await;
        let checks = cluster_checks(none);
        assert!(!checks[0].ok);
        assert!(checks[0]
            .detail
            .ends_with("pointing at your cluster's ingress or load balancer."));
    }
}
