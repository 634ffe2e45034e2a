//! RSA private keys for the signed JWT grants (`github_app`, `jwt_bearer`): a PEM, or
//! Google's service-account key file (JSON), which carries the PEM with its issuer
//! (`client_email`) and key id (`private_key_id`).
//!
//! The configuration reads an integration's `private_key` with [`read_signing_key`], and
//! the engine reads a connection's own key (given to `POST /api/connections` or on the
//! Connect page) with it too, so both accept the same inputs, check them the same way
//! (parsed and made to sign RS256 once) and say the same things about them.
//!
//! Messages never hold the key or any part of the file; they read after the name of the
//! field they are about ("private_key is not a PEM key; …").

use serde::Deserialize;
use vault::{ExposeSecret, SecretString};

/// The most bytes a key or key file may have: an RSA key of 8192 bits in a Google key
/// file is about 7 KiB, and anything much larger is not a key.
pub const MAX_KEY_BYTES: usize = 16 * 1024;

/// A private key that signs RS256, with what its key file said about it.
pub struct SigningKey {
    /// The key in PEM (PKCS#1 or PKCS#8).
    pub pem: SecretString,
    /// The issuer a Google key file names (`client_email`); `None` for a bare PEM.
    pub client_email: Option<String>,
    /// The key id a Google key file names (`private_key_id`), if not empty.
    pub key_id: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("pem", &"[redacted]")
            .field("client_email", &self.client_email)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Reads a private key given as a PEM or as a Google service-account key file, and
/// checks that it is an RSA key that signs RS256. The error says what is wrong and what
/// to give instead, and never quotes the value.
pub fn read_signing_key(text: &SecretString) -> Result<SigningKey, String> {
    let len = text.expose_secret().len();
    if len > MAX_KEY_BYTES {
        return Err(format!(
            "is {len} bytes, more than a key or key file has ({MAX_KEY_BYTES} at most); give the PEM or the service-account key file (JSON) itself"
        ));
    }
    let key = match service_account_key(text)? {
        Some(file) => file,
        None => SigningKey {
            pem: text.clone(),
            client_email: None,
            key_id: None,
        },
    };
    check_private_key(&key.pem)?;
    Ok(key)
}

/// A Google service-account key file (JSON, `"type": "service_account"`), or `None`
/// when the text is not JSON (a PEM).
fn service_account_key(k: &SecretString) -> Result<Option<SigningKey>, String> {
    #[derive(Deserialize)]
    struct File {
        #[serde(rename = "type")]
        kind: Option<String>,
        client_email: Option<String>,
        private_key: Option<String>,
        private_key_id: Option<String>,
    }
    let text = k.expose_secret().trim_start();
    if !text.starts_with('{') {
        return Ok(None);
    }
    // serde_json's own error could quote the file; say only where it broke.
    let file: File = serde_json::from_str(text).map_err(|e| {
        format!(
            "is JSON but not a readable key file (line {}, column {}); give Google's service-account key file as downloaded, or the PEM alone",
            e.line(),
            e.column()
        )
    })?;
    // Sealed at once, so every way out below zeroes the key.
    let private_key = file.private_key.map(SecretString::from);
    if file.kind.as_deref() != Some("service_account") {
        return Err("is a JSON file whose \"type\" is not \"service_account\"; give the key file of a service account (IAM > Service accounts > Keys > Add key > JSON)".into());
    }
    let (Some(private_key), Some(client_email)) = (private_key, file.client_email) else {
        return Err("is a service-account key file without private_key or client_email; download a new JSON key for the service account".into());
    };
    if client_email.trim().is_empty() {
        return Err("is a service-account key file with an empty client_email; download a new JSON key for the service account".into());
    }
    Ok(Some(SigningKey {
        pem: private_key,
        client_email: Some(client_email),
        key_id: file.private_key_id.filter(|k| !k.is_empty()),
    }))
}

/// Checks that a private key is an RSA key in PEM (PKCS#1 `BEGIN RSA PRIVATE KEY`, as
/// GitHub gives it, or PKCS#8 `BEGIN PRIVATE KEY`, as Google does) that can sign RS256.
/// Other PEMs (an EC or Ed25519 key, an encrypted key, a public key or certificate) are
/// named, so the message says what to give instead. The message never holds the key.
pub fn check_private_key(k: &SecretString) -> Result<(), String> {
    let pem = k.expose_secret().trim();
    if !pem.starts_with("-----BEGIN") {
        return Err("is not a PEM key; write the key file's contents (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----), or file:/path/to/key.pem".into());
    }
    let label = pem
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("-----BEGIN ")
        .trim_end_matches('-')
        .trim();
    match label {
        "ENCRYPTED PRIVATE KEY" => {
            return Err("is an encrypted private key; give it without a passphrase (openssl pkcs8 -topk8 -nocrypt -in key.pem)".into());
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
            return Err(format!(
                "is a {} (the half the provider keeps); give the private key that goes with it",
                label.to_lowercase()
            ));
        }
        _ => {}
    }
    let Ok(key) = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()) else {
        let other = if label == "EC PRIVATE KEY"
            || jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).is_ok()
        {
            Some("an EC key")
        } else if jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).is_ok() {
            Some("an Ed25519 key")
        } else {
            None
        };
        return Err(match other {
            Some(kind) => format!(
                "is {kind}, but these JWTs are signed with RS256, which needs an RSA private key; create an RSA key (2048 bits or more) at the provider"
            ),
            None => "is not an RSA private key in PEM (PKCS#1 or PKCS#8); check that the whole file was copied".to_owned(),
        });
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &serde_json::json!({"check": true}),
        &key,
    )
    .map(|_| ())
    .map_err(|_| "is an RSA PEM that cannot sign RS256 (a key of 2048 bits or more is needed); generate a new key at the provider".to_owned())
}
