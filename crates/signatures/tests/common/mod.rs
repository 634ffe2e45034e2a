//! Fixtures shared by the integration tests: one signed request per scheme, built with
//! the crate's own signer (which `vectors.rs` checks against independent vectors).
#![allow(dead_code)]

use signatures::{
    GenericHmac, Headers, HmacAlgorithm, KeyEncoding, Request, Scheme, SecretString, SignRequest,
    SignatureEncoding, Verified, VerifyError, VerifyOptions, public_key, sign, verify,
};

pub const TS: i64 = 1_700_000_000;
pub const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

pub fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter().map(|s| SecretString::from(*s)).collect()
}

/// How a scheme is exercised.
#[derive(Debug, Clone)]
pub struct Case {
    pub label: String,
    pub scheme: Scheme,
    /// The secret the request is signed with.
    pub sign_secret: String,
    /// What verification is configured with to accept it (a public key for Ed25519).
    pub verify_secret: String,
    /// A well-formed key that must not verify it.
    pub wrong_secret: String,
    pub url: &'static str,
    pub form: Option<Vec<(String, String)>>,
    /// The header carrying the signature (`None`: Mailgun, in the body).
    pub sig_header: Option<&'static str>,
    /// The header carrying the timestamp, when it is a separate header.
    pub ts_header: Option<&'static str>,
    /// Headers whose absence must be reported as missing.
    pub required: Vec<&'static str>,
    /// Whether the whole body is signed (Mailgun signs only its own fields).
    pub body_signed: bool,
}

impl Case {
    fn new(scheme: Scheme, secret: &str, wrong: &str) -> Self {
        Self {
            label: scheme.name().to_owned(),
            scheme,
            sign_secret: secret.to_owned(),
            verify_secret: secret.to_owned(),
            wrong_secret: wrong.to_owned(),
            url: "https://example.com/hooks/in?x=1",
            form: None,
            sig_header: None,
            ts_header: None,
            required: Vec::new(),
            body_signed: true,
        }
    }

    fn sig(mut self, h: &'static str) -> Self {
        self.sig_header = Some(h);
        self.required.push(h);
        self
    }

    fn ts(mut self, h: &'static str) -> Self {
        self.ts_header = Some(h);
        self.required.push(h);
        self
    }

    fn req(mut self, h: &'static str) -> Self {
        self.required.push(h);
        self
    }

    pub fn tolerance(&self) -> Option<u64> {
        self.scheme.default_tolerance_secs()
    }
}

pub fn whsec(seed: u8) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..24).map(|i| seed.wrapping_add(i)).collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

pub fn whsk(seed: u8) -> String {
    use base64::Engine as _;
    format!(
        "whsk_{}",
        base64::engine::general_purpose::STANDARD.encode([seed; 32])
    )
}

pub fn pub_of(scheme: &Scheme, secret: &str) -> String {
    public_key(scheme, &SecretString::from(secret)).unwrap()
}

pub fn generic_full() -> GenericHmac {
    GenericHmac {
        prefix: "sha512=".into(),
        algorithm: HmacAlgorithm::Sha512,
        encoding: SignatureEncoding::Base64,
        template: "{timestamp}.{id}.{method}.{url}.{body}".into(),
        timestamp_header: Some("X-Acme-Timestamp".into()),
        id_header: Some("X-Acme-Id".into()),
        tolerance_secs: Some(120),
        ..GenericHmac::new("X-Acme-Signature")
    }
}

/// Close's settings: hex key, `{timestamp}{body}`.
pub fn generic_close() -> GenericHmac {
    GenericHmac {
        template: "{timestamp}{body}".into(),
        timestamp_header: Some("close-sig-timestamp".into()),
        key_encoding: KeyEncoding::Hex,
        ..GenericHmac::new("close-sig-hash")
    }
}

/// Airtable's settings: base64 key, `hmac-sha256=` prefix.
pub fn generic_airtable() -> GenericHmac {
    GenericHmac {
        prefix: "hmac-sha256=".into(),
        key_encoding: KeyEncoding::Base64,
        ..GenericHmac::new("X-Airtable-Content-MAC")
    }
}

/// PagerDuty's settings: comma-separated `v1=` signatures.
pub fn generic_pagerduty() -> GenericHmac {
    GenericHmac {
        prefix: "v1=".into(),
        separator: Some(",".into()),
        ..GenericHmac::new("X-PagerDuty-Signature")
    }
}

/// Fixed P-256 keys for the `sendgrid` fixtures (base64 PKCS#8 DER, made by Node's crypto).
pub const SENDGRID_SK: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8d3+5T/2ojBm+OZ3DwLdr5u07Ww9YowDoZA/DRKZti2hRANCAAR/7sAuUz49/EDM8qXV9rFjoNrMIF5lMts42fJC0ScIMGUkYV3Npq8Jk32AW9stOP60Tr5WaMpZ59vYdXUxgB0P";
pub const SENDGRID_OTHER_SK: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYrSwoRcKSG3sE08DyuF56ZOKOGILh1mJN6//74dqvV2hRANCAARS0EQO27KcXrMvVYOooxKtJZP86Op89UNjWDp6JY2ppsGkuFJ6h5H0q3/YG+QMd/KIi0UQ6GYGVgOOsbjPK/jd";

/// Every scheme, with the Standard Webhooks `v1a` variant and Twilio's form mode too.
pub fn cases() -> Vec<Case> {
    let sw = Scheme::StandardWebhooks;
    let discord_sk = hex::encode([5u8; 32]);
    let mut v = vec![
        Case::new(sw.clone(), &whsec(1), &whsec(2))
            .sig("webhook-signature")
            .ts("webhook-timestamp")
            .req("webhook-id"),
        Case {
            label: "standard-webhooks v1a".into(),
            verify_secret: pub_of(&sw, &whsk(7)),
            wrong_secret: pub_of(&sw, &whsk(8)),
            ..Case::new(sw.clone(), &whsk(7), "")
                .sig("webhook-signature")
                .ts("webhook-timestamp")
                .req("webhook-id")
        },
        Case::new(Scheme::Svix, &whsec(3), &whsec(4))
            .sig("svix-signature")
            .ts("svix-timestamp")
            .req("svix-id"),
        Case::new(Scheme::Stripe, "whsec_stripe_secret", "whsec_other").sig("Stripe-Signature"),
        Case::new(Scheme::Github, "gh secret", "other").sig("X-Hub-Signature-256"),
        Case::new(Scheme::Slack, "slack secret", "other")
            .sig("X-Slack-Signature")
            .ts("X-Slack-Request-Timestamp"),
        Case::new(Scheme::Shopify, "shopify secret", "other").sig("X-Shopify-Hmac-Sha256"),
        Case::new(Scheme::Twilio, "twilio token", "other").sig("X-Twilio-Signature"),
        Case {
            label: "twilio form".into(),
            form: Some(vec![
                ("From".into(), "+14155550100".into()),
                ("Body".into(), "héllo & bye".into()),
                ("MessageSid".into(), "SM1".into()),
            ]),
            ..Case::new(Scheme::Twilio, "twilio token", "other").sig("X-Twilio-Signature")
        },
        Case::new(Scheme::Square, "square key", "other").sig("x-square-hmacsha256-signature"),
        Case::new(Scheme::Trello, "trello app secret", "other").sig("X-Trello-Webhook"),
        Case::new(Scheme::Tiktok, "tiktok client secret", "other").sig("TikTok-Signature"),
        Case::new(Scheme::Zoom, "zoom token", "other")
            .sig("x-zm-signature")
            .ts("x-zm-request-timestamp"),
        Case {
            verify_secret: pub_of(&Scheme::Discord, &discord_sk),
            wrong_secret: pub_of(&Scheme::Discord, &hex::encode([6u8; 32])),
            ..Case::new(Scheme::Discord, &discord_sk, "")
                .sig("X-Signature-Ed25519")
                .ts("X-Signature-Timestamp")
        },
        Case::new(Scheme::TwitchEventsub, "twitch secret", "other")
            .sig("Twitch-Eventsub-Message-Signature")
            .ts("Twitch-Eventsub-Message-Timestamp")
            .req("Twitch-Eventsub-Message-Id"),
        Case::new(Scheme::Linear, "linear secret", "other").sig("Linear-Signature"),
        Case::new(Scheme::Intercom, "intercom secret", "other").sig("X-Hub-Signature"),
        Case::new(Scheme::HubspotV3, "hubspot secret", "other")
            .sig("X-HubSpot-Signature-v3")
            .ts("X-HubSpot-Request-Timestamp"),
        Case {
            body_signed: false,
            ..Case::new(Scheme::Mailgun, "mailgun key", "other")
        },
        Case::new(Scheme::Calendly, "calendly key", "other").sig("Calendly-Webhook-Signature"),
        Case::new(Scheme::Typeform, "typeform secret", "other").sig("Typeform-Signature"),
        Case::new(Scheme::Docusign, "docusign key", "other").sig("X-DocuSign-Signature-1"),
        Case::new(Scheme::PaddleBilling, "pdl_ntfset_secret", "other").sig("Paddle-Signature"),
        Case::new(Scheme::Webflow, "webflow client secret", "other")
            .sig("x-webflow-signature")
            .ts("x-webflow-timestamp"),
        Case::new(Scheme::Workos, "workos webhook secret", "other").sig("WorkOS-Signature"),
        Case::new(Scheme::Zendesk, "zendesk signing secret", "other")
            .sig("X-Zendesk-Webhook-Signature")
            .ts("X-Zendesk-Webhook-Signature-Timestamp"),
        Case::new(Scheme::Box, "box primary signature key", "other")
            .sig("BOX-SIGNATURE-PRIMARY")
            .ts("BOX-DELIVERY-TIMESTAMP"),
        Case {
            verify_secret: pub_of(&Scheme::Sendgrid, SENDGRID_SK),
            wrong_secret: pub_of(&Scheme::Sendgrid, SENDGRID_OTHER_SK),
            ..Case::new(Scheme::Sendgrid, SENDGRID_SK, "")
                .sig("X-Twilio-Email-Event-Webhook-Signature")
                .ts("X-Twilio-Email-Event-Webhook-Timestamp")
        },
        Case {
            label: "generic-hmac full".into(),
            ..Case::new(Scheme::GenericHmac(generic_full()), "acme secret", "other")
                .sig("X-Acme-Signature")
                .ts("X-Acme-Timestamp")
                .req("X-Acme-Id")
        },
        Case::new(Scheme::Buildkite, "buildkite webhook token", "other")
            .sig("X-Buildkite-Signature"),
        Case {
            label: "generic-hmac hex key".into(),
            ..Case::new(
                Scheme::GenericHmac(generic_close()),
                "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c",
                "00ff",
            )
            .sig("close-sig-hash")
            .ts("close-sig-timestamp")
        },
        Case {
            label: "generic-hmac base64 key".into(),
            ..Case::new(
                Scheme::GenericHmac(generic_airtable()),
                "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=",
                "AAAA",
            )
            .sig("X-Airtable-Content-MAC")
        },
        Case {
            label: "generic-hmac separator".into(),
            ..Case::new(
                Scheme::GenericHmac(generic_pagerduty()),
                "pagerduty secret",
                "other",
            )
            .sig("X-PagerDuty-Signature")
        },
        Case {
            label: "generic-hmac body".into(),
            ..Case::new(
                Scheme::GenericHmac(GenericHmac::new("X-Sig")),
                "plain secret",
                "other",
            )
            .sig("X-Sig")
        },
    ];
    for c in &mut v {
        if c.label == "twilio" {
            c.label = "twilio json".into();
        }
    }
    v
}

/// A signed request, as the provider would send it.
#[derive(Debug, Clone)]
pub struct Built {
    pub headers: Headers,
    pub url: String,
    pub body: Vec<u8>,
    pub form: Option<Vec<(String, String)>>,
}

impl Built {
    pub fn request(&self) -> Request<'_> {
        let r = Request::new("POST", &self.url, &self.headers, &self.body);
        match &self.form {
            Some(f) => r.with_form(f),
            None => r,
        }
    }

    pub fn without(&self, header: &str) -> Built {
        Built {
            headers: self
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(header))
                .collect(),
            ..self.clone()
        }
    }

    pub fn with_header(&self, header: &str, value: impl AsRef<[u8]>) -> Built {
        let mut b = self.without(header);
        b.headers.append(header, value);
        b
    }

    pub fn header(&self, name: &str) -> String {
        String::from_utf8(self.headers.get(name).unwrap().to_vec()).unwrap()
    }
}

/// The body a scheme's request carries around `payload`.
fn body_for(case: &Case, payload: &[u8], ts: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(payload).into_owned();
    match case.scheme {
        Scheme::Linear => {
            serde_json::json!({"webhookTimestamp": ts * 1000, "data": {"text": text}})
                .to_string()
                .into_bytes()
        }
        _ => payload.to_vec(),
    }
}

/// Signs `payload` at `ts` with `case.sign_secret`.
pub fn build_at(case: &Case, payload: &[u8], ts: i64) -> Built {
    let body = body_for(case, payload, ts);
    let mut input = SignRequest::new(&body, ts).url(case.url).id(ID);
    if let Some(f) = &case.form {
        input = input.form(f);
    }
    let signed = sign(&case.scheme, &secrets(&[&case.sign_secret]), &input).unwrap();
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    let body = match (&case.scheme, &case.form) {
        (Scheme::Mailgun, _) => {
            let fields: serde_json::Map<String, serde_json::Value> = signed
                .body_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            serde_json::json!({"signature": fields, "event-data": {"text": String::from_utf8_lossy(&body)}})
                .to_string()
                .into_bytes()
        }
        (_, Some(form)) => form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        _ => body,
    };
    Built {
        headers,
        url: signed.url.clone(),
        body,
        form: None,
    }
}

pub fn build(case: &Case, payload: &[u8]) -> Built {
    build_at(case, payload, TS)
}

/// Minimal form-urlencoding for the fixtures.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn check_with(
    case: &Case,
    built: &Built,
    keys: &[&str],
    opts: VerifyOptions,
) -> Result<Verified, VerifyError> {
    verify(&case.scheme, &built.request(), &secrets(keys), &opts)
}

/// Verifies with the case's own key at `TS + 1`.
pub fn check(case: &Case, built: &Built) -> Result<Verified, VerifyError> {
    check_with(
        case,
        built,
        &[&case.verify_secret],
        VerifyOptions::at(TS + 1),
    )
}
