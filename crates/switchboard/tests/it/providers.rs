//! `providers list|show` and the catalog checks of `config check` and `serve`.

use crate::harness::{run, sandbox};

#[test]
fn providers_list_and_show() {
    let dir = sandbox();
    let list = run(dir.path(), &["--json", "providers", "list"], &[])
        .success()
        .json();
    let rows = list.as_array().unwrap();
    assert!(rows.len() >= 40, "{} providers", rows.len());
    let gh = rows.iter().find(|r| r["id"] == "github").unwrap();
    assert_eq!(gh["webhook_scheme"], "github");
    assert_eq!(gh["custom"], false);
    let human = run(dir.path(), &["providers", "list"], &[])
        .success()
        .stdout
        .clone();
    assert!(human.starts_with("ID"), "{human}");
    assert!(human.contains("google"));

    let g = run(dir.path(), &["--json", "providers", "show", "google"], &[])
        .success()
        .json();
    assert_eq!(g["id"], "google");
    let toml = run(dir.path(), &["providers", "show", "stripe"], &[])
        .success()
        .stdout
        .clone();
    assert!(toml.contains("id = \"stripe\""), "{toml}");
    // The verification date and the sources come first.
    assert!(
        toml.starts_with("# Verified against the provider's documentation on 20"),
        "{toml}"
    );
    assert!(toml.contains("# Sources:\n#   "), "{toml}");
    assert!(
        toml.lines().any(|l| l.starts_with("#   webhooks ")
            && l.trim_end().ends_with("https://docs.stripe.com/webhooks")),
        "{toml}"
    );
    assert!(g["verified"].as_str().unwrap().starts_with("20"), "{g}");
    assert!(
        g["sources"]["oauth2"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{g}"
    );
    run(dir.path(), &["providers", "show", "nope"], &[])
        .failure()
        .stderr_has(&["unknown provider \"nope\"", "providers list"]);
}

#[test]
fn custom_providers_are_listed_and_checked() {
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[providers]]\nid = \"acme\"\nauthorization_url = \"https://id.acme.example/a\"\ntoken_url = \"https://id.acme.example/t\"\n\
         [[integrations]]\nid = \"a\"\nprovider = \"acme\"\n",
    )
    .unwrap();
    let list = run(dir.path(), &["--json", "providers", "list"], &[])
        .success()
        .json();
    let acme = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "acme")
        .unwrap()
        .clone();
    assert_eq!(acme["custom"], true);
    run(dir.path(), &["config", "check"], &[]).success();

    // An integration naming an unknown provider stops config check and serve.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"a\"\nprovider = \"acmee\"\n",
    )
    .unwrap();
    run(dir.path(), &["config", "check"], &[])
        .exit_code(1)
        .stderr_has(&["integrations[0].provider", "unknown provider \"acmee\""]);
    run(
        dir.path(),
        &["serve", "--dev", "--listen", "127.0.0.1:0"],
        &[],
    )
    .failure()
    .stderr_has(&["integrations[0].provider"]);
    // A broken config does not stop browsing the built-in catalog.
    let out = run(dir.path(), &["--json", "providers", "list"], &[]);
    out.success().stderr_has(&["built-in providers only"]);

    // http:// custom providers are for --dev only.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[providers]]\nid = \"local\"\nauthorization_url = \"http://127.0.0.1:9/a\"\ntoken_url = \"http://127.0.0.1:9/t\"\n",
    )
    .unwrap();
    run(dir.path(), &["config", "check"], &[])
        .exit_code(1)
        .stderr_has(&["providers[0]", "https"]);
    run(dir.path(), &["config", "check", "--dev"], &[]).success();
}
