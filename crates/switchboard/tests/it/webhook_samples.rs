//! Every catalog entry's `[webhooks.sample]` through a real server's intake, sent by
//! `switchboard webhook test`: stored with the provider's event id and type.

use crate::harness::{Server, open_db, sandbox};

/// RFC 8032 test vector 1: Discord signs with the private key; the server verifies with
/// the public one.
const ED25519_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const ED25519_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// A P-256 key pair made by Node's crypto: SendGrid signs with the private key (base64
/// PKCS#8 DER); the server verifies with the public one (base64 SubjectPublicKeyInfo DER).
const P256_SECRET: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8d3+5T/2ojBm+OZ3DwLdr5u07Ww9YowDoZA/DRKZti2hRANCAAR/7sAuUz49/EDM8qXV9rFjoNrMIF5lMts42fJC0ScIMGUkYV3Npq8Jk32AW9stOP60Tr5WaMpZ59vYdXUxgB0P";
const P256_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf+7ALlM+PfxAzPKl1faxY6DazCBeZTLbONnyQtEnCDBlJGFdzaavCZN9gFvbLTj+tE6+VmjKWefb2HV1MYAdDw==";
const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET: &str = "sample-secret-0123456789abcdef0123456789";
/// Keys some providers give written in hex (Close) or base64 (Airtable).
const HEX_SECRET: &str = "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c";
const BASE64_SECRET: &str = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=";

/// One integration per catalog entry with webhooks; `signing` gives the CLI's copy
/// (Discord's and SendGrid's private keys where the server has the public ones).
fn config(signing: bool, key: &std::path::Path) -> String {
    let mut out = String::new();
    for p in catalog::Catalog::builtin().list() {
        let Some(w) = &p.webhooks else { continue };
        let key_encoding = match &w.scheme {
            Some(signatures::Scheme::GenericHmac(g)) => g.key_encoding,
            _ => signatures::KeyEncoding::Raw,
        };
        let secret = match w.scheme.as_ref().map(|s| s.name()) {
            _ if key_encoding == signatures::KeyEncoding::Hex => HEX_SECRET,
            _ if key_encoding == signatures::KeyEncoding::Base64 => BASE64_SECRET,
            Some("standard-webhooks" | "svix") => STD_SECRET,
            Some("discord") if signing => ED25519_SECRET,
            Some("discord") => ED25519_PUBLIC,
            Some("sendgrid") if signing => P256_SECRET,
            Some("sendgrid") => P256_PUBLIC,
            _ => SECRET,
        };
        // Keys fetched from the provider: no secret; what the entry asks for instead.
        if w.scheme
            .as_ref()
            .is_some_and(signatures::Scheme::fetches_keys)
        {
            out.push_str(&format!(
                "[[integrations]]\nid = \"{id}\"\nprovider = \"{id}\"\nclient_id = \"samples\"\nclient_secret = \"samples-secret\"\nsettings = {{ environment = \"sandbox\", webhook_id = \"8PT597110X687430LKGECATA\" }}\n",
                id = p.id
            ));
            continue;
        }
        out.push_str(&format!(
            "[[integrations]]\nid = \"{id}\"\nprovider = \"{id}\"\nwebhook_secrets = [\"{secret}\"]\n",
            id = p.id
        ));
        // Modes that sign their own grants need their keys to load (a GitHub App, a
        // service account); the key is made by Node's crypto, not by us.
        match p.auth_mode {
            catalog::AuthMode::GithubApp => out.push_str(&format!(
                "app_id = \"1\"\napp_slug = \"sb-samples\"\nprivate_key = \"file:{}\"\n",
                key.display()
            )),
            catalog::AuthMode::JwtBearer => out.push_str(&format!(
                "client_id = \"samples@example.test\"\nprivate_key = \"file:{}\"\n",
                key.display()
            )),
            _ => {}
        }
        // Providers that do not sign (or whose scheme the integration picks) get one.
        if w.scheme.is_none() || w.scheme_configurable {
            out.push_str("webhook_scheme = { generic-hmac = { header = \"X-Test-Signature\" } }\n");
        }
    }
    out
}

#[tokio::test]
async fn every_providers_sample_is_stored_with_its_event_id_and_type() {
    let dir = sandbox();
    let key = dir.path().join("app-key.pem");
    let made = std::process::Command::new("node")
        .args(["-e", "const {generateKeyPairSync}=require('crypto');const {privateKey}=generateKeyPairSync('rsa',{modulusLength:2048});process.stdout.write(privateKey.export({type:'pkcs8',format:'pem'}))"])
        .output()
        .expect("node runs (scripts/setup installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::write(&key, &made.stdout).unwrap();
    std::fs::write(dir.path().join("switchboard.toml"), config(false, &key)).unwrap();
    std::fs::write(dir.path().join("cli.toml"), config(true, &key)).unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let listen = server.base.trim_start_matches("http://").to_owned();
    let env = [
        ("SWITCHBOARD_URL", server.base.as_str()),
        ("SWITCHBOARD_LISTEN", listen.as_str()),
    ];
    let db = open_db(dir.path()).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut fetched = Vec::new();
    for p in catalog::Catalog::builtin().list() {
        let Some(w) = &p.webhooks else { continue };
        // Signed with the provider's own key (Plaid, PayPal): `webhook test` cannot sign
        // one and says so, naming how the provider sends one; their samples are read here
        // (type and id where the entry says); their verification runs against a local
        // key server in the engine's tests (crates/engine/src/tests/webhook_keys.rs).
        if w.scheme
            .as_ref()
            .is_some_and(signatures::Scheme::fetches_keys)
        {
            let out = crate::harness::run(
                dir.path(),
                &["--config", "cli.toml", "--json", "webhook", "test", &p.id],
                &env,
            );
            assert!(!out.status.success(), "{}: {}", p.id, out.stdout);
            assert!(
                out.stdout.contains("have the provider send one")
                    || out.stderr.contains("have the provider send one"),
                "{}: {} {}",
                p.id,
                out.stdout,
                out.stderr
            );
            let sample = w
                .sample
                .as_ref()
                .expect("a sample from the provider's docs");
            let r = sample.render("17000000000001", 1_700_000_000);
            let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let h: signatures::Headers = r.headers.iter().map(|(n, v)| (n, v)).collect();
            let ty = w
                .event_type
                .as_ref()
                .and_then(|l| w.read(l, &h, Some(&json), &r.body));
            assert!(ty.is_some(), "{}: the sample has no event type", p.id);
            let id = w
                .event_id
                .as_ref()
                .and_then(|l| w.read(l, &h, Some(&json), &r.body));
            assert_eq!(
                id.is_some(),
                w.event_id != Some(catalog::Location::None),
                "{}: the sample's event id",
                p.id
            );
            fetched.push(p.id.clone());
            continue;
        }
        let out = crate::harness::run(
            dir.path(),
            &["--config", "cli.toml", "--json", "webhook", "test", &p.id],
            &env,
        );
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
        if v["status"] != 200 || v["answer"]["duplicate"] != false {
            failures.push(format!(
                "{}: {} {}",
                p.id,
                out.stdout.trim(),
                out.stderr.trim()
            ));
            continue;
        }
        let event = v["answer"]["id"].as_str().unwrap().to_owned();
        let (pid, ty): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT provider_event_id, event_type FROM events WHERE id = ?")
                .bind(&event)
                .fetch_one(&db)
                .await
                .unwrap();
        // `event_id = "none"`: the provider sends no id (nothing is deduplicated).
        let wants_id = w.event_id != Some(catalog::Location::None);
        if ty.is_none() || pid.is_some() != wants_id {
            failures.push(format!(
                "{}: stored with provider event id {pid:?} and type {ty:?}",
                p.id
            ));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 35, "only {checked} providers with webhooks");
    assert_eq!(fetched, ["paypal", "plaid"]);
}

/// Asana's handshake over HTTP: the secret is echoed in the answer's `X-Hook-Secret`,
/// later events signed with it are stored, and a second handshake is refused.
#[tokio::test]
async fn asana_handshake_over_http_with_the_switch_on_and_off() {
    use hmac::{KeyInit, Mac};
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"on\"\nprovider = \"asana\"\nwebhook_secret_handshake = true\n\
         [[integrations]]\nid = \"off\"\nprovider = \"asana\"\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let secret = "f1d2d2f924e986ac86fdf7b36c94bcdf32beec15";
    let post = |id: &str, headers: Vec<(&'static str, String)>, body: &'static str| {
        let mut rb = server
            .http()
            .post(server.url(&format!("/webhooks/{id}/event")));
        for (n, v) in headers {
            rb = rb.header(n, v);
        }
        rb.body(body).send()
    };
    // Off: refused like any unsigned request.
    let r = post("off", vec![("X-Hook-Secret", secret.into())], "")
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.headers().get("x-hook-secret").is_none());
    // On: answered 200 with the secret echoed.
    let r = post("on", vec![("X-Hook-Secret", secret.into())], "")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hook-secret"], secret);
    // A signed event is stored.
    let body = r#"{"events":[{"action":"added","created_at":"2026-12-05T23:00:00.000Z"}]}"#;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let sig = hex::encode(m.finalize().into_bytes());
    let r = post("on", vec![("X-Hook-Signature", sig)], body)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A replayed handshake is refused and does not echo.
    let r = post("on", vec![("X-Hook-Secret", secret.into())], "")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("x-hook-secret").is_none());
    // A bad secret header on a fresh integration is a 400 (the "off" one has no switch).
    let r = post("on", vec![("X-Hook-Secret", "short".into())], "")
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a stored secret makes any handshake an unsigned request"
    );

    // `webhook reset-handshake` forgets the secret (audited with who did it): the
    // provider's next handshake is taken, with its new secret.
    let out = crate::harness::run(
        dir.path(),
        &["webhook", "reset-handshake", "--integration", "on"],
        &[],
    );
    assert!(
        out.success().stdout.contains("handshake secret forgotten"),
        "{}",
        out.stdout
    );
    let fresh = "0b9c2625dc21ef05f6ad4ddf47c5f203837aa32c";
    let r = post("on", vec![("X-Hook-Secret", fresh.into())], "")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hook-secret"], fresh);
    crate::harness::run(
        dir.path(),
        &[
            "webhook",
            "reset-handshake",
            "--integration",
            "off",
            "--json",
        ],
        &[],
    )
    .failure()
    .stdout
    .contains("webhook_secret_handshake");
    let rows = crate::harness::audit_list_local(dir.path(), &[]);
    let reset: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["action"] == "webhook.handshake_reset")
        .collect();
    assert_eq!(reset.len(), 1, "{rows:?}");
    assert_eq!(reset[0]["target"], "on");
    assert!(
        reset[0]["actor"].as_str().unwrap().starts_with("cli:"),
        "{:?}",
        reset[0]
    );
}
