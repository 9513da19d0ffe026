//! Server side of the wizard's server functions (compiled with `ssr` only).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use engine::wizard::{check_step, Draft, STEPS as ENGINE_STEPS};
use stack::model::{StackConfig, TlsMode};

use super::internal;
use super::wizard::{Check, Notice, Review, ShownFile, WizardView, FLAGS, LE_STAGING, STEPS};
use crate::error::AppError;
use crate::state::AppState;

const LE_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

fn known_step(step: &str) -> Result<(), AppError> {
    if ENGINE_STEPS.contains(&step) {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "there is no wizard step {step:?}"
        )))
    }
}

pub async fn view(state: &AppState, step: &str) -> Result<WizardView, AppError> {
    known_step(step)?;
    let store = &state.store;
    let draft = store.wizard_draft(&state.vault).await.map_err(internal)?;
    let password = store
        .draft_smtp_password(&state.vault)
        .await
        .map_err(internal)?;
    let checked = check_step(&draft, step, password.as_deref());
    let editing = store
        .latest_revision(&state.vault)
        .await
        .map_err(internal)?
        .is_some();
    let checks = if step == "domain" && draft.is_completed("domain") {
        domain_checks(state, &draft).await
    } else {
        Vec::new()
    };
    let review = if step == "review" {
        Some(review(state, &draft, password.as_deref()).await?)
    } else {
        None
    };
    Ok(WizardView {
        step: step.to_owned(),
        steps: STEPS
            .iter()
            .map(|(s, t)| (s.to_string(), t.to_string(), draft.is_completed(s)))
            .collect(),
        values: draft.fields.clone(),
        smtp_password_set: draft.smtp_password_set || password.is_some(),
        docker_url: draft.target.docker_url.clone(),
        kube_source: draft.target.kube_source.clone(),
        kube_context: draft.target.kube_context.clone(),
        kube_namespace: draft.target.kube_namespace.clone(),
        kubeconfig_set: draft.kubeconfig_set,
        warnings: checked
            .warnings
            .into_iter()
            .map(|w| Notice {
                message: match &w.fix {
                    Some(fix) => format!("{} — {fix}", w.message),
                    None => w.message.clone(),
                },
                field: w.field,
            })
            .collect(),
        editing,
        checks,
        review,
        last_mail: None,
        last_target: None,
    })
}

/// Form keys that are not `stack.toml` keys, handled here.
const EXTRA: [&str; 9] = [
    "tls.cert_pem",
    "tls.key_pem",
    "tls.staging",
    "smtp.password",
    "target.docker_url",
    "target.kube_source",
    "target.kube_context",
    "target.kube_namespace",
    "target.kubeconfig",
];

fn kept(form: &BTreeMap<String, String>) -> Vec<(String, String)> {
    form.iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "smtp.password" | "tls.key_pem" | "target.kubeconfig"
            )
        })
        .map(|(k, v)| (k.clone(), v.chars().take(20_000).collect()))
        .collect()
}

fn refuse(errors: Vec<(String, String)>, form: &BTreeMap<String, String>) -> AppError {
    AppError::Fields {
        errors,
        kept: kept(form),
    }
}

/// A submitted step worked out without writing anything: the draft it
/// would leave, the problems found, and what saving would write besides.
struct Evaluated {
    next: Draft,
    position: usize,
    errors: Vec<(String, String)>,
    new_password: Option<String>,
    new_kubeconfig: Option<String>,
    own_files: Option<(PathBuf, String, PathBuf, String)>,
}

/// The problems `form` has for `step`, by field, without saving anything:
/// what the console shows while the operator types.
pub async fn check(
    state: &AppState,
    step: &str,
    mut form: BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, AppError> {
    Ok(evaluate(state, step, &mut form).await?.errors)
}

/// Saves `step` from `form`; returns the step to show next. Nothing is
/// written when anything is refused.
pub async fn save(
    state: &AppState,
    step: &str,
    mut form: BTreeMap<String, String>,
    actor: &str,
) -> Result<String, AppError> {
    let Evaluated {
        mut next,
        position,
        errors,
        new_password,
        new_kubeconfig,
        own_files,
    } = evaluate(state, step, &mut form).await?;
    if !errors.is_empty() {
        return Err(refuse(errors, &form));
    }
    let store = &state.store;
    if let Some((cert_path, cert, key_path, key)) = own_files {
        for (path, content, mode) in [(cert_path, cert, 0o644), (key_path, key, 0o600)] {
            stack::files::write_file(&path, content.as_bytes(), mode).map_err(internal)?;
        }
    }
    if let Some(yaml) = new_kubeconfig {
        store
            .put_draft_kubeconfig(&state.vault, &yaml)
            .await
            .map_err(internal)?;
        next.kubeconfig_set = true;
    }
    if let Some(pw) = new_password {
        store
            .put_draft_smtp_password(&state.vault, &pw)
            .await
            .map_err(internal)?;
        next.smtp_password_set = true;
    }
    if !next.is_completed(step) {
        next.completed.push(step.to_owned());
    }
    store.save_wizard_draft(&next).await.map_err(internal)?;
    store
        .record(
            actor,
            None,
            "wizard",
            engine::audit::Outcome::Success,
            Some(step),
        )
        .await
        .map_err(internal)?;
    // The domain step stays to show its checks; the others move on.
    Ok(if step == "domain" {
        "domain".to_owned()
    } else {
        ENGINE_STEPS[position + 1].to_owned()
    })
}

async fn evaluate(
    state: &AppState,
    step: &str,
    form: &mut BTreeMap<String, String>,
) -> Result<Evaluated, AppError> {
    known_step(step)?;
    if step == "review" {
        return Err(AppError::BadRequest(
            "the review has nothing to save".into(),
        ));
    }
    let store = &state.store;
    let draft = store.wizard_draft(&state.vault).await.map_err(internal)?;
    // Steps are taken in order: a later step needs the earlier ones.
    let position = ENGINE_STEPS.iter().position(|s| *s == step).unwrap_or(0);
    if let Some(missing) = ENGINE_STEPS[..position]
        .iter()
        .find(|s| !draft.is_completed(s))
    {
        return Err(AppError::Conflict(format!(
            "Complete the {missing} step first."
        )));
    }
    for v in form.values_mut() {
        *v = v.trim().to_owned();
    }
    // Unchecked boxes are not sent.
    if let Some((_, flags)) = FLAGS.iter().find(|(s, _)| *s == step) {
        for f in *flags {
            let on = form.get(*f).is_some_and(|v| v == "true" || v == "on");
            form.insert(f.to_string(), on.to_string());
        }
    }
    let mut next = draft.clone();
    // The step's own keys are replaced as a whole (a field left empty is
    // unset, so its default applies).
    let owned = engine::wizard::step_fields(step);
    next.fields.retain(|path, _| {
        !owned.iter().any(|p| {
            if p.ends_with('.') {
                path.starts_with(p)
            } else {
                path == *p
            }
        })
    });
    let mut errors = Vec::new();
    for (key, value) in form.iter() {
        if EXTRA.contains(&key.as_str()) || value.is_empty() {
            continue;
        }
        let belongs = owned.iter().any(|p| {
            if p.ends_with('.') {
                key.starts_with(p)
            } else {
                key == *p
            }
        });
        if belongs {
            next.fields.insert(key.clone(), value.clone());
        }
    }
    let mut password = store
        .draft_smtp_password(&state.vault)
        .await
        .map_err(internal)?;
    let mut new_password = None;
    let mut new_kubeconfig = None;
    let mut own_files = None;
    match step {
        "tls" => {
            if next.get("tls.mode") == Some("acme") {
                let staging = form
                    .get("tls.staging")
                    .is_some_and(|v| v == "true" || v == "on");
                if staging {
                    next.fields
                        .insert("tls.directory".into(), LE_STAGING.into());
                } else if next.get("tls.directory") == Some(LE_STAGING) {
                    // Unticked: back to Let's Encrypt's production CA.
                    next.fields
                        .insert("tls.directory".into(), LE_PRODUCTION.into());
                }
            }
            if next.get("tls.mode") == Some("own") {
                let cert = form.get("tls.cert_pem").cloned().unwrap_or_default();
                let key = form.get("tls.key_pem").cloned().unwrap_or_default();
                let had = draft.get("tls.cert_file").is_some();
                if cert.is_empty() && key.is_empty() && had {
                    for k in ["tls.cert_file", "tls.key_file"] {
                        if let Some(v) = draft.get(k) {
                            next.fields.insert(k.into(), v.into());
                        }
                    }
                } else if next.get("tls.cert_file").is_none() {
                    if cert.is_empty() {
                        errors.push((
                            "tls.cert_pem".into(),
                            "Paste the certificate (PEM), the server's first, then its chain."
                                .into(),
                        ));
                    }
                    if key.is_empty() {
                        errors.push((
                            "tls.key_pem".into(),
                            "Paste the private key (PEM) that belongs to the certificate.".into(),
                        ));
                    }
                    // The certificate is checked as soon as it is there,
                    // so a loaded file gets its verdict before the key.
                    if !cert.is_empty() {
                        let domain = draft.get("domain").unwrap_or_default().to_owned();
                        match engine::certs::check_own_certificate(
                            &cert,
                            &key,
                            &domain,
                            time::OffsetDateTime::now_utc(),
                        ) {
                            Ok(_) if errors.is_empty() => {
                                let dir = state.data_dir.join("tls").join("own");
                                let cert_path = dir.join("fullchain.pem");
                                let key_path = dir.join("privkey.pem");
                                next.fields.insert(
                                    "tls.cert_file".into(),
                                    cert_path.display().to_string(),
                                );
                                next.fields
                                    .insert("tls.key_file".into(), key_path.display().to_string());
                                own_files = Some((cert_path, cert, key_path, key));
                            }
                            Ok(_) => {}
                            Err(problems) => {
                                use engine::certs::CertProblem;
                                for p in problems {
                                    let about_key = matches!(
                                        p,
                                        CertProblem::UnreadableKey | CertProblem::KeyMismatch
                                    );
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
                }
            }
        }
        "smtp" => {
            // The offer shown when e-mail stays off: registration by invite.
            if form.get("registration").map(String::as_str) == Some("invite-only")
                && next.get("smtp.enabled") != Some("true")
            {
                next.fields
                    .insert("registration".into(), "invite-only".into());
            }
            if let Some(pw) = form.get("smtp.password").filter(|p| !p.is_empty()) {
                new_password = Some(pw.clone());
                password = Some(pw.clone());
            }
        }
        "target" => {
            let url = form.get("target.docker_url").cloned().unwrap_or_default();
            if !(url.is_empty() || url.starts_with("unix:///") || url.starts_with("tcp://")) {
                errors.push(("target.docker_url".into(), "Use unix:///path/to/docker.sock or tcp://host:port, or leave it empty for this machine's Docker.".into()));
            }
            next.target.docker_url = url;
            next.target.kube_source = form
                .get("target.kube_source")
                .cloned()
                .unwrap_or_else(|| "kubeconfig".into());
            next.target.kube_context = form.get("target.kube_context").cloned().unwrap_or_default();
            let ns = form
                .get("target.kube_namespace")
                .cloned()
                .unwrap_or_default();
            let ns = if ns.is_empty() {
                "stoat".to_owned()
            } else {
                ns
            };
            if ns.len() > 63
                || !ns
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                || ns.starts_with('-')
                || ns.ends_with('-')
            {
                errors.push(("target.kube_namespace".into(), "A namespace is up to 63 lower-case letters, digits and '-', starting and ending with a letter or digit.".into()));
            }
            next.target.kube_namespace = ns;
            if next.get("target") == Some("kubernetes") && next.target.kube_source != "in-cluster" {
                match form.get("target.kubeconfig").filter(|k| !k.is_empty()) {
                    Some(yaml) if !(yaml.contains("clusters") && yaml.contains("server")) => {
                        errors.push(("target.kubeconfig".into(), "This is not a kubeconfig: it needs a clusters list with a server address.".into()));
                    }
                    Some(yaml) => new_kubeconfig = Some(yaml.clone()),
                    None if draft.kubeconfig_set => {}
                    None => errors.push((
                        "target.kubeconfig".into(),
                        "Paste the kubeconfig Burrow should use, or choose in-cluster credentials."
                            .into(),
                    )),
                }
            }
        }
        _ => {}
    }
    let checked = check_step(&next, step, password.as_deref());
    errors.extend(checked.errors);
    Ok(Evaluated {
        next,
        position,
        errors,
        new_password,
        new_kubeconfig,
        own_files,
    })
}

/// DNS and host ports for the saved domain step, each as a sentence.
pub async fn domain_checks(state: &AppState, draft: &Draft) -> Vec<Check> {
    use engine::preflight::{check_ports, check_ports_with_docker, resolve_domain, PortWanted};
    let password = state
        .store
        .draft_smtp_password(&state.vault)
        .await
        .ok()
        .flatten();
    let Some(config) = check_step(draft, "domain", password.as_deref()).config else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let dns = resolve_domain(config.domain.as_str()).await;
    out.push(Check {
        ok: dns.ok(),
        level: if dns.ok() { "ok" } else { "warning" }.to_owned(),
        title: "DNS:".to_owned(),
        detail: dns.summary.clone(),
    });
    for issue in &dns.issues {
        out.push(Check {
            ok: false,
            level: "warning".to_owned(),
            title: "DNS:".to_owned(),
            detail: issue.fix.clone(),
        });
    }
    let wanted = PortWanted::for_config(&config);
    // The daemon the operator chose on the Target step (shared connection).
    let docker = match config.target {
        stack::model::TargetKind::Docker => state
            .deployer
            .targets()
            .docker(Some(&draft.target.docker_url))
            .await
            .ok(),
        stack::model::TargetKind::Kubernetes => None,
    };
    let ports = match docker {
        Some(docker) => {
            check_ports_with_docker(&wanted, docker.as_ref(), config.name.as_str()).await
        }
        None => check_ports(&wanted).await,
    };
    for report in ports {
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

fn summary(config: &StackConfig, draft: &Draft) -> Vec<(String, String)> {
    let tls = match &config.tls {
        TlsMode::SelfSigned => "Burrow's own CA (download it from Certificate)".to_owned(),
        TlsMode::Acme { directory, email } => format!(
            "ACME at {directory}{}",
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
        stack::model::TargetKind::Docker => format!(
            "Docker at {}",
            if draft.target.docker_url.is_empty() {
                "this machine"
            } else {
                &draft.target.docker_url
            }
        ),
        stack::model::TargetKind::Kubernetes => {
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

async fn review(
    state: &AppState,
    draft: &Draft,
    password: Option<&str>,
) -> Result<Review, AppError> {
    let checked = check_step(draft, "review", password);
    let mut blocking: Vec<Notice> = checked
        .errors
        .iter()
        .map(|(f, m)| Notice {
            field: f.clone(),
            message: m.clone(),
        })
        .collect();
    for s in ENGINE_STEPS.iter().filter(|s| **s != "review") {
        if !draft.is_completed(s) {
            blocking.push(Notice {
                field: s.to_string(),
                message: format!("The {s} step is not completed yet."),
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
    let secrets = state
        .store
        .ensure_stack_secrets(&state.vault)
        .await
        .map_err(internal)?;
    let plan = stack::render::render(&config, &secrets);
    // The shown files (this one mask for every page) include the Kubernetes
    // objects; the review lists the four a Docker deploy uses.
    let files: Vec<ShownFile> = engine::history::shown_files(&config, &secrets)
        .into_iter()
        .filter(|f| {
            f.name != "kubernetes.yaml" || config.target == stack::model::TargetKind::Kubernetes
        })
        .collect();
    let deployed = state.store.deployed_revision().await.map_err(internal)?;
    let diff = match deployed {
        Some(id) => state
            .store
            .revision(&state.vault, id)
            .await
            .map_err(internal)?
            .map(|r| {
                (
                    id,
                    engine::history::diff_lines(
                        &engine::revisions::public_toml(&r.config),
                        &engine::revisions::public_toml(&config),
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

pub async fn test_mail(state: &AppState, to: &str) -> Result<(bool, String), AppError> {
    let store = &state.store;
    let draft = store.wizard_draft(&state.vault).await.map_err(internal)?;
    let password = store
        .draft_smtp_password(&state.vault)
        .await
        .map_err(internal)?;
    if draft.get("smtp.enabled") != Some("true") || draft.get("smtp.host").is_none() {
        return Err(AppError::invalid(
            "to",
            "Save the SMTP settings first (Save and continue), then send the test mail.",
        ));
    }
    let to = to.trim();
    if to.is_empty() || !to.contains('@') {
        return Err(AppError::invalid(
            "to",
            "Enter the address the test mail goes to, e.g. you@example.com.",
        )
        .keeping("to", to));
    }
    let security = match draft.get("smtp.security") {
        Some("tls") => engine::mail::Security::ImplicitTls,
        Some("none") => engine::mail::Security::None,
        Some("starttls") => engine::mail::Security::StartTls,
        _ => match draft.get("smtp.port") {
            Some("465") => engine::mail::Security::ImplicitTls,
            Some("25") => engine::mail::Security::None,
            _ => engine::mail::Security::StartTls,
        },
    };
    let settings = engine::mail::SmtpSettings {
        host: draft.get("smtp.host").unwrap_or_default().to_owned(),
        port: draft
            .get("smtp.port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(587),
        security,
        username: draft
            .get("smtp.username")
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
        password: password.map(engine::mail::Secret::new),
        from: draft.get("smtp.from").unwrap_or_default().to_owned(),
        extra_root_pem: None,
        hello_name: draft.get("domain").map(str::to_owned),
    };
    match engine::mail::send_test_mail(&settings, to, Duration::from_secs(20)).await {
        Ok(report) => Ok((report.delivered(), report.sentence())),
        Err(e) => Err(AppError::invalid("to", e.to_string()).keeping("to", to)),
    }
}

pub async fn test_target(state: &AppState) -> Result<(bool, String), AppError> {
    let draft = state
        .store
        .wizard_draft(&state.vault)
        .await
        .map_err(internal)?;
    if draft.get("target") == Some("kubernetes") {
        use engine::preflight::{test_kubernetes, KubeSource};
        let source = if draft.target.kube_source == "in-cluster" {
            KubeSource::InCluster
        } else {
            match state
                .store
                .draft_kubeconfig(&state.vault)
                .await
                .map_err(internal)?
            {
                Some(yaml) => KubeSource::Kubeconfig {
                    yaml,
                    context: Some(draft.target.kube_context.clone()).filter(|c| !c.is_empty()),
                },
                None => {
                    return Ok((false, "Paste a kubeconfig and save the step first.".into()));
                }
            }
        };
        let namespace = if draft.target.kube_namespace.is_empty() {
            "stoat"
        } else {
            &draft.target.kube_namespace
        };
        let report = test_kubernetes(source, namespace).await;
        let mut sentence = report.summary.clone();
        for p in &report.permissions {
            sentence.push(' ');
            sentence.push_str(&p.sentence);
        }
        for fix in &report.fixes {
            sentence.push(' ');
            sentence.push_str(fix);
        }
        return Ok((report.ok(), sentence));
    }
    let url = Some(draft.target.docker_url.as_str()).filter(|u| !u.is_empty());
    let report = engine::preflight::test_docker(url).await;
    Ok((report.connected(), report.sentence))
}

pub async fn finish(state: &AppState, actor: &str) -> Result<i64, AppError> {
    let store = &state.store;
    let draft = store.wizard_draft(&state.vault).await.map_err(internal)?;
    let password = store
        .draft_smtp_password(&state.vault)
        .await
        .map_err(internal)?;
    if let Some(missing) = ENGINE_STEPS
        .iter()
        .filter(|s| **s != "review")
        .find(|s| !draft.is_completed(s))
    {
        return Err(AppError::Conflict(format!(
            "Complete the {missing} step first."
        )));
    }
    let checked = check_step(&draft, "review", password.as_deref());
    let Some(config) = checked.config else {
        return Err(refuse(checked.errors, &BTreeMap::new()));
    };
    let target = state
        .deployer
        .targets()
        .settings_for(config.target, &draft.target);
    // Refused before anything is saved: the draft stays as it is.
    if let Some(why) = target.undeployable() {
        return Err(AppError::Conflict(why.to_owned()));
    }
    let (meta, _) = store
        .save_revision(&state.vault, &config, &target, actor, Some("wizard"))
        .await?;
    let revision = store
        .revision(&state.vault, meta.id)
        .await?
        .ok_or(AppError::Internal)?;
    store
        .save_target_settings(&state.vault, &draft.target)
        .await
        .map_err(internal)?;
    store.clear_wizard_draft().await.map_err(internal)?;
    match state
        .deployer
        .start_apply(revision, actor, engine::deploy::ApplyOptions::default())
        .await
    {
        Ok(id) => Ok(id),
        Err(engine::deployer::DeployerError::Busy(id)) => Err(AppError::Conflict(format!(
            "Saved as revision {}; deployment {id} is still running, deploy it from the Deploy page when it ends.",
            meta.id
        ))),
        Err(e) => Err(e.into()),
    }
}
