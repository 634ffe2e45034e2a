//! `webhook verify`: captured requests checked offline, with providers' published
//! examples (GitHub's docs, the Standard Webhooks vector).

use std::path::Path;

use crate::harness::{run, sandbox};

const GITHUB_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn write(dir: &Path, name: &str, content: &[u8]) {
    std::fs::write(dir.join(name), content).unwrap();
}

fn setup(dir: &Path) {
    write(
        dir,
        "switchboard.toml",
        br#"
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["env:OLD_GH_SECRET", "env:GH_SECRET"]

[[integrations]]
id = "own"
provider = "svix"
webhook_scheme = "standard-webhooks"
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#,
    );
    write(dir, "body.txt", b"Hello, World!");
    write(
        dir,
        "headers.txt",
        format!("POST /webhooks/gh/event HTTP/1.1\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {GITHUB_SIG}\r\n\r\n").as_bytes(),
    );
    write(dir, "sw-body.txt", br#"{"test": 2432232314}"#);
    write(
        dir,
        "sw-headers.txt",
        b"webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\nwebhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n",
    );
}

const ENV: &[(&str, &str)] = &[
    ("GH_SECRET", "It's a Secret to Everybody"),
    ("OLD_GH_SECRET", "previous"),
];

#[test]
fn github_published_example_verifies_with_the_second_secret() {
    let dir = sandbox();
    setup(dir.path());
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "gh",
            "--headers",
            "headers.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    out.success();
    assert!(
        out.stdout
            .contains("valid: github signature matched webhook_secrets[1]"),
        "{}",
        out.stdout
    );
    let out = run(
        dir.path(),
        &[
            "--json",
            "webhook",
            "verify",
            "gh",
            "--headers",
            "headers.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    let v = out.success().json();
    assert_eq!(
        (v["ok"].as_bool(), v["secret_index"].as_u64()),
        (Some(true), Some(1))
    );
    // No secret in the output.
    assert!(!out.stdout.contains("Secret to Everybody") && !out.stdout.contains("previous"));
}

#[test]
fn a_changed_body_or_wrong_secret_names_the_failed_check() {
    let dir = sandbox();
    setup(dir.path());
    write(dir.path(), "body2.txt", b"Hello, World?");
    let out = run(
        dir.path(),
        &[
            "--json",
            "webhook",
            "verify",
            "gh",
            "--headers",
            "headers.txt",
            "--body",
            "body2.txt",
        ],
        ENV,
    );
    let v = out.exit_code(1).json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "no_match");
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "gh",
            "--headers",
            "headers.txt",
            "--body",
            "body.txt",
        ],
        &[("GH_SECRET", "wrong"), ("OLD_GH_SECRET", "also wrong")],
    );
    out.exit_code(1);
    assert!(
        out.stdout.starts_with("invalid: github check failed"),
        "{}",
        out.stdout
    );
    // A missing signature header is named.
    write(
        dir.path(),
        "empty-headers.txt",
        b"Content-Type: application/json\n",
    );
    let out = run(
        dir.path(),
        &[
            "--json",
            "webhook",
            "verify",
            "gh",
            "--headers",
            "empty-headers.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    let v = out.exit_code(1).json();
    assert_eq!(v["error"]["code"], "missing_header");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("x-hub-signature"),
        "{v}"
    );
}

#[test]
fn standard_webhooks_vector_verifies_at_its_time_and_is_stale_now() {
    let dir = sandbox();
    setup(dir.path());
    let args = [
        "--json",
        "webhook",
        "verify",
        "own",
        "--headers",
        "sw-headers.txt",
        "--body",
        "sw-body.txt",
    ];
    let mut at = args.to_vec();
    at.extend(["--at", "1614265330"]);
    let v = run(dir.path(), &at, ENV).success().json();
    assert_eq!(v["id"], "msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_eq!(v["timestamp"], 1614265330);
    let v = run(dir.path(), &args, ENV).exit_code(1).json();
    assert_eq!(v["error"]["code"], "timestamp_outside_tolerance", "{v}");
}

#[test]
fn bad_invocations_are_clear_errors() {
    let dir = sandbox();
    setup(dir.path());
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "nope",
            "--headers",
            "headers.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    out.failure()
        .stderr_has(&["no integration \"nope\"", "gh, own"]);
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "gh",
            "--headers",
            "missing.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    out.failure().stderr_has(&["missing.txt"]);
    write(dir.path(), "bad-headers.txt", b"no colon here\n");
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "gh",
            "--headers",
            "bad-headers.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    out.failure().stderr_has(&["line 1", "Name: value"]);
}

#[test]
fn a_provider_without_a_scheme_needs_webhook_scheme() {
    let dir = sandbox();
    write(
        dir.path(),
        "switchboard.toml",
        b"[[integrations]]\nid = \"gl\"\nprovider = \"gitlab\"\nwebhook_secrets = [\"x\"]\n",
    );
    write(dir.path(), "h.txt", b"X-Gitlab-Token: x\n");
    write(dir.path(), "b.txt", b"{}");
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "gl",
            "--headers",
            "h.txt",
            "--body",
            "b.txt",
        ],
        &[],
    );
    out.failure()
        .stderr_has(&["integrations[0].webhook_scheme", "set webhook_scheme"]);
}
