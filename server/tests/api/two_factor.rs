//! Two-factor sign-in through the HTTP API: set up with a code, then every
//! sign-in asks for one after the password; a code works once, a recovery
//! code works once, wrong codes are throttled like passwords, and the
//! command line can turn it off for a locked-out admin.

use reqwest::StatusCode;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::*;

/// The code an authenticator app shows for `secret` (as the page shows it),
/// `steps_ahead` steps from now.
pub(crate) fn code(secret: &str, steps_ahead: u64) -> String {
    let bytes = Secret::Encoded(secret.replace(' ', "")).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + 30 * steps_ahead)
}

async fn security(app: &TestApp, cookie: &Cookie) -> serde_json::Value {
    json(app.call("/api/account/security", &[], Some(cookie)).await).await
}

#[tokio::test]
async fn two_factor_sign_in_from_set_up_to_recovery() {
    let app = spawn_app().await;
    let cookie = app.claim().await;
    assert_eq!(security(&app, &cookie).await["two_factor"], "off");

    // Set up: a secret and its QR code, the same until confirmed.
    let res = app
        .call("/api/account/two-factor/start", &[], Some(&cookie))
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let view = security(&app, &cookie).await;
    assert_eq!(view["two_factor"], "pending");
    let secret = view["secret"].as_str().unwrap().to_owned();
    assert!(view["qr_svg"].as_str().unwrap().starts_with("<svg"));
    assert_eq!(security(&app, &cookie).await["secret"], secret.as_str());

    // A wrong code is refused beside its field; the right one turns it on,
    // and the recovery codes are shown once.
    let res = app
        .call(
            "/api/account/two-factor/confirm",
            &[("code", "000000")],
            Some(&cookie),
        )
        .await;
    let wrong = code(&secret, 0) == "000000";
    if !wrong {
        assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json(res).await["Invalid"]["field"], "code");
    }
    // The answer carries the recovery codes; the page does not show them
    // again (a plain form post gets them once through the page instead:
    // the e2e test without JavaScript).
    let answer = app
        .call(
            "/api/account/two-factor/confirm",
            &[("code", &code(&secret, 0))],
            Some(&cookie),
        )
        .await;
    assert_status(&answer, StatusCode::OK);
    let recovery: Vec<String> = json(answer)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let view = security(&app, &cookie).await;
    assert_eq!(view["two_factor"], "on", "{view}");
    assert!(
        view["new_codes"].as_array().unwrap().is_empty(),
        "shown once"
    );

    // The password alone no longer signs in: it leads to the code step.
    let res = app.login(ADMIN, PASSWORD).await;
    let pending = session_cookie(&res).expect("a session for the second step");
    assert_status(
        &app.call("/api/whoami", &[], Some(&pending)).await,
        StatusCode::UNAUTHORIZED,
    );
    let page = app.get("/login/code", Some(&pending)).await;
    assert_status(&page, StatusCode::OK);

    // A wrong code is refused; the next step's code signs in, once.
    let res = app
        .call("/api/login/code", &[("code", "12345")], Some(&pending))
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    let next = code(&secret, 1);
    let res = app
        .call("/api/login/code", &[("code", &next)], Some(&pending))
        .await;
    let signed = session_cookie(&res).expect("signed in on a new session id");
    assert_ne!(signed, pending);
    assert_status(
        &app.call("/api/whoami", &[], Some(&signed)).await,
        StatusCode::OK,
    );
    let again = session_cookie(&app.login(ADMIN, PASSWORD).await).unwrap();
    let res = app
        .call("/api/login/code", &[("code", &next)], Some(&again))
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json(res).await.to_string().contains("used already"));

    // A recovery code signs in once.
    let res = app
        .call("/api/login/code", &[("code", &recovery[0])], Some(&again))
        .await;
    let by_recovery = session_cookie(&res).expect("signed in with a recovery code");
    assert_status(
        &app.call("/api/whoami", &[], Some(&by_recovery)).await,
        StatusCode::OK,
    );
    assert_eq!(security(&app, &by_recovery).await["recovery_left"], 9);
    let third = session_cookie(&app.login(ADMIN, PASSWORD).await).unwrap();
    let res = app
        .call("/api/login/code", &[("code", &recovery[0])], Some(&third))
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);

    // The code step without the password step is nothing.
    let res = app
        .call("/api/login/code", &[("code", &code(&secret, 0))], None)
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json(res)
        .await
        .to_string()
        .contains("sign in with your password again"));

    // Wrong codes are throttled like wrong passwords, and a right password
    // does not buy more guesses.
    // One wrong since the last sign-in (the used recovery code); four more
    // make five.
    for _ in 0..4 {
        let res = app
            .call("/api/login/code", &[("code", "999999x")], Some(&third))
            .await;
        assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = app
        .call(
            "/api/login/code",
            &[("code", &code(&secret, 1))],
            Some(&third),
        )
        .await;
    assert_status(&res, StatusCode::TOO_MANY_REQUESTS);
    assert_status(
        &app.login(ADMIN, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
    );

    // Turning it off needs the password.
    let res = app
        .call(
            "/api/account/two-factor/stop",
            &[("password", "not it")],
            Some(&by_recovery),
        )
        .await;
    assert_status(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(security(&app, &by_recovery).await["two_factor"], "on");

    // The secret is sealed: not in the database in the clear.
    let raw = [
        std::fs::read(app.data.path().join("burrow.db")).unwrap_or_default(),
        std::fs::read(app.data.path().join("burrow.db-wal")).unwrap_or_default(),
    ]
    .concat();
    let plain = Secret::Encoded(secret.replace(' ', "")).to_bytes().unwrap();
    assert!(!raw.windows(plain.len()).any(|w| w == plain.as_slice()));
    for c in &recovery {
        assert!(
            !raw.windows(c.len()).any(|w| w == c.as_bytes()),
            "recovery codes hashed"
        );
    }

    // The operator's way back in from the shell.
    let out = app.burrow(
        &["admin", "reset-password", ADMIN, "--remove-2fa"],
        "a brand new passphrase\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("two-factor sign-in turned off"));
    let res = app.login(ADMIN, "a brand new passphrase").await;
    let status = res.status();
    let Some(cookie) = session_cookie(&res) else {
        panic!("{status}: {}", res.text().await.unwrap_or_default());
    };
    assert_status(
        &app.call("/api/whoami", &[], Some(&cookie)).await,
        StatusCode::OK,
    );
}
