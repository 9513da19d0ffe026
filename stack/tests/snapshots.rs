//! Golden files: every rendered artifact of representative configurations.
//! A change to what Burrow deploys shows up here as a reviewed diff
//! (`INSTA_UPDATE=always cargo test -p stack --test snapshots`, then review).
//! Secrets are seed-derived, so the output is fixed.

mod common;

use stack::Plan;

fn services_yaml(plan: &Plan) -> String {
    serde_yaml::to_string(&plan.services).unwrap()
}

fn files_index(plan: &Plan) -> String {
    let mut out = String::new();
    for (name, f) in &plan.files {
        out.push_str(&format!("{name} mode={:o} secret={}\n", f.mode, f.secret));
    }
    for m in &plan.kubernetes {
        out.push_str(&format!("kubernetes/{} secret={}\n", m.file_name, m.secret));
    }
    out
}

#[test]
fn golden() {
    for (name, config) in common::fixtures() {
        let plan = stack::render(&config, &common::secrets());
        insta::assert_snapshot!(format!("{name}__index"), files_index(&plan));
        insta::assert_snapshot!(
            format!("{name}__revolt_toml"),
            &plan.files["Revolt.toml"].content
        );
        insta::assert_snapshot!(
            format!("{name}__caddyfile"),
            &plan.files["Caddyfile"].content
        );
        if let Some(lk) = plan.files.get("livekit.yml") {
            insta::assert_snapshot!(format!("{name}__livekit_yml"), &lk.content);
        }
        insta::assert_snapshot!(format!("{name}__services"), services_yaml(&plan));
        insta::assert_snapshot!(format!("{name}__compose"), &plan.compose);
        insta::assert_snapshot!(format!("{name}__kubernetes"), plan.kubernetes_yaml());
    }
}
