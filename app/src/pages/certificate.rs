//! Burrow's CA: download it, check its fingerprint, install it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::certificate::{get_certificate, CaInfo};
use crate::components::field::LoadError;

pub const PEM_URL: &str = "/certificate/burrow-ca.pem";
pub const DER_URL: &str = "/certificate/burrow-ca.der";

#[component]
pub fn CertificatePage() -> impl IntoView {
    let data = crate::codec::page_data(|| (), |_| get_certificate());
    view! {
        <Title text="Certificate" />
        <h1>"Certificate authority"</h1>
        <p class="lead">
            "In the self-signed TLS mode, Caddy serves a certificate issued by Burrow's own "
            "certificate authority. Install this CA on the devices that use your Stoat server "
            "once, and browsers and apps trust the server without warnings."
        </p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(ca) => view! { <CaCard ca /> <InstallSteps /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

fn date(rfc3339: &str) -> String {
    rfc3339.split('T').next().unwrap_or(rfc3339).to_owned()
}

#[component]
fn CaCard(ca: CaInfo) -> impl IntoView {
    let usage = match (&ca.domain, ca.in_use) {
        (Some(domain), true) => {
            format!("Used now: Caddy serves a certificate for {domain} signed by it.")
        }
        (Some(_), false) => "Not used now: the stack's TLS mode is not \"self-signed\".".to_owned(),
        (None, _) => "No stack configured yet; a self-signed deploy will use it.".to_owned(),
    };
    view! {
        <section class="card">
            <h2>{ca.subject.clone()}</h2>
            <p class="muted">{usage}</p>
            <dl class="facts">
                <dt>"SHA-256 fingerprint"</dt>
                <dd><code data-testid="ca-fingerprint" class="fingerprint">{ca.fingerprint.clone()}</code></dd>
                <dt>"Valid from"</dt>
                <dd><time datetime=ca.not_before.clone()>{date(&ca.not_before)}</time></dd>
                <dt>"Valid until"</dt>
                <dd><time datetime=ca.not_after.clone() data-testid="ca-not-after">{date(&ca.not_after)}</time></dd>
            </dl>
            <p class="actions">
                <a class="button" href=PEM_URL download="burrow-ca.pem" rel="external">"Download PEM"</a>
                <a class="button secondary" href=DER_URL download="burrow-ca.crt" rel="external">"Download DER (.crt)"</a>
            </p>
            <p class="muted">
                "Before you trust it, compare the fingerprint your device shows with the one above."
            </p>
        </section>
    }
}

#[component]
fn InstallSteps() -> impl IntoView {
    let steps: [(&str, &[&str]); 6] = [
        ("macOS", &[
            "Download the PEM file and open it: Keychain Access adds it to the login keychain.",
            "Double-click \"Burrow private CA\", open Trust, set \"When using this certificate\" to Always Trust, close the window and confirm with your password.",
        ]),
        ("Windows", &[
            "Download the DER (.crt) file and open it, then choose Install Certificate…",
            "Pick Local Machine, then \"Place all certificates in the following store\" → Trusted Root Certification Authorities, and finish.",
        ]),
        ("Linux (Debian, Ubuntu)", &[
            "sudo cp burrow-ca.pem /usr/local/share/ca-certificates/burrow-ca.crt",
            "sudo update-ca-certificates (Fedora: copy to /etc/pki/ca-trust/source/anchors/ and run sudo update-ca-trust).",
        ]),
        ("Firefox (its own store, every OS)", &[
            "Settings → Privacy & Security → Certificates → View Certificates… → Authorities → Import…",
            "Choose the PEM file and tick \"Trust this CA to identify websites\".",
        ]),
        ("Android", &[
            "Copy the DER (.crt) file to the device.",
            "Settings → Security → Encryption & credentials → Install a certificate → CA certificate, then choose the file.",
        ]),
        ("iOS and iPadOS", &[
            "Open the DER (.crt) link in Safari and allow the profile download; install it in Settings → Profile Downloaded.",
            "Then Settings → General → About → Certificate Trust Settings: switch on full trust for \"Burrow private CA\".",
        ]),
    ];
    view! {
        <section class="card">
            <h2>"Install it"</h2>
            <div class="install-grid">
                {steps
                    .into_iter()
                    .map(|(platform, lines)| {
                        view! {
                            <article class="install">
                                <h3>{platform}</h3>
                                <ol>
                                    {lines.iter().map(|l| view! { <li>{*l}</li> }).collect_view()}
                                </ol>
                            </article>
                        }
                    })
                    .collect_view()}
            </div>
        </section>
    }
}
