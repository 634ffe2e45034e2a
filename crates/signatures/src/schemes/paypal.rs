//! PayPal: `PAYPAL-TRANSMISSION-SIG` is a base64 SHA256withRSA signature
//! (`PAYPAL-AUTH-ALGO`) of `{PAYPAL-TRANSMISSION-ID}|{PAYPAL-TRANSMISSION-TIME}|{webhook
//! id}|{CRC-32 of the raw body, unsigned decimal}`, made with the key of the certificate
//! at `PAYPAL-CERT-URL`; the webhook id is the one PayPal gave the registered webhook
//! (the integration's `webhook_id`), not the event's. PayPal's own SDKs check that the
//! certificate's subject is `CN=messageverificationcerts….paypal.com` and that it is
//! within its validity period; so does this module. The transmission time is checked
//! only when the integration sets a tolerance: PayPal documents none.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use crc::{CRC_32_ISO_HDLC, Crc};
use x509_cert::Certificate;

use crate::crypto::{self, SignatureEncoding};
use crate::fetched::{KeyContext, KeyError, KeyKind, KeyRequest, ProviderKey};
use crate::time::parse_rfc3339;
use crate::{Request, Verified, VerifyError};

pub(crate) const TRANSMISSION_ID: &str = "PAYPAL-TRANSMISSION-ID";
pub(crate) const TRANSMISSION_TIME: &str = "PAYPAL-TRANSMISSION-TIME";
pub(crate) const TRANSMISSION_SIG: &str = "PAYPAL-TRANSMISSION-SIG";
pub(crate) const CERT_URL: &str = "PAYPAL-CERT-URL";
pub(crate) const AUTH_ALGO: &str = "PAYPAL-AUTH-ALGO";

/// The one algorithm PayPal signs with.
const ALGORITHM: &str = "SHA256withRSA";
/// Longest header value read (PayPal's API caps the id at 50, the signature and the URL
/// at 500 characters).
const MAX_VALUE_LEN: usize = 1024;
/// The subject PayPal's SDKs require of the signing certificate.
const CN_PREFIX: &str = "messageverificationcerts";
const CN_SUFFIX: &str = ".paypal.com";
/// Largest certificate bundle read.
const MAX_PEM_LEN: usize = 64 * 1024;

/// zlib's CRC-32 (ISO-HDLC), as PayPal computes it over the body.
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

fn value<'a>(req: &Request<'a>, name: &str) -> Result<&'a str, VerifyError> {
    let v = req.headers.text(name)?;
    if v.len() > MAX_VALUE_LEN {
        return Err(VerifyError::malformed(name, "too long"));
    }
    if v.chars().any(char::is_control) {
        return Err(VerifyError::malformed(name, "has a control character"));
    }
    Ok(v)
}

fn check_algorithm(req: &Request<'_>) -> Result<(), VerifyError> {
    let algo = value(req, AUTH_ALGO)?;
    if !algo.eq_ignore_ascii_case(ALGORITHM) {
        return Err(VerifyError::unsupported(AUTH_ALGO, algo));
    }
    Ok(())
}

pub(crate) fn key_request(req: &Request<'_>) -> Result<KeyRequest, VerifyError> {
    check_algorithm(req)?;
    value(req, TRANSMISSION_ID)?;
    value(req, TRANSMISSION_TIME)?;
    signature(req)?;
    let url = value(req, CERT_URL)?;
    if url.contains(char::is_whitespace) {
        return Err(VerifyError::malformed(CERT_URL, "has a space"));
    }
    Ok(KeyRequest::CertUrl(url.to_owned()))
}

fn signature(req: &Request<'_>) -> Result<Vec<u8>, VerifyError> {
    let sig = value(req, TRANSMISSION_SIG)?;
    crypto::decode(SignatureEncoding::Base64, sig)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| VerifyError::malformed(TRANSMISSION_SIG, "signature is not base64"))
}

/// What PayPal signs for this request.
pub(crate) fn message(id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    format!("{id}|{time}|{webhook_id}|{}", CRC32.checksum(body))
}

pub(crate) fn verify(
    req: &Request<'_>,
    key: &ProviderKey,
    context: &KeyContext<'_>,
    now: i64,
    tolerance: Option<u64>,
) -> Result<Verified, VerifyError> {
    check_algorithm(req)?;
    let webhook_id = context
        .webhook_id
        .filter(|w| !w.trim().is_empty())
        .ok_or(VerifyError::MissingSetting("webhook_id"))?;
    let id = value(req, TRANSMISSION_ID)?;
    let time = value(req, TRANSMISSION_TIME)?;
    let ts = parse_rfc3339(time)
        .ok_or_else(|| VerifyError::malformed(TRANSMISSION_TIME, "not an RFC 3339 date-time"))?;
    let sig = signature(req)?;
    let KeyKind::Rsa(pkcs1) = &key.kind else {
        return Err(VerifyError::KeyNotFetched);
    };
    let msg = message(id, time, webhook_id.trim(), req.body);
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1)
        .verify(msg.as_bytes(), &sig)
        .is_err()
    {
        return Err(VerifyError::NoMatch {
            signatures: 1,
            secrets: 1,
        });
    }
    if let Some(t) = tolerance {
        crypto::check_tolerance(now, ts, t)?;
    }
    Ok(Verified {
        secret_index: 0,
        timestamp: Some(ts),
        id: None,
        key: crate::KeyRole::Provider,
    })
}

/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: x509_cert::der::oid::ObjectIdentifier =
    x509_cert::der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

pub(crate) fn parse_cert(pem: &[u8]) -> Result<ProviderKey, KeyError> {
    if pem.len() > MAX_PEM_LEN {
        return Err(KeyError::Malformed("the certificate bundle is too large"));
    }
    let chain = Certificate::load_pem_chain(pem)
        .map_err(|_| KeyError::Malformed("not PEM certificates"))?;
    let leaf = chain
        .first()
        .ok_or(KeyError::Malformed("no certificate in the answer"))?;
    let tbs = leaf.tbs_certificate();
    let cn: Option<String> = tbs.subject().common_name().ok().flatten().map(String::from);
    if !cn.is_some_and(|cn| {
        cn.len() >= CN_PREFIX.len() + CN_SUFFIX.len()
            && cn.starts_with(CN_PREFIX)
            && cn.ends_with(CN_SUFFIX)
    }) {
        return Err(KeyError::Unsupported(
            "its subject is not PayPal's message verification certificate (CN=messageverificationcerts….paypal.com)",
        ));
    }
    let spki = tbs.subject_public_key_info();
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(KeyError::Unsupported("its key is not RSA"));
    }
    let pkcs1 = spki
        .subject_public_key
        .as_bytes()
        .ok_or(KeyError::Malformed("its public key is not whole bytes"))?
        .to_vec();
    if pkcs1.is_empty() {
        return Err(KeyError::Malformed("its public key is empty"));
    }
    let validity = tbs.validity();
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).ok();
    Ok(ProviderKey {
        kind: KeyKind::Rsa(pkcs1),
        kid: None,
        not_before: secs(validity.not_before),
        not_after: secs(validity.not_after).map(|t| t.saturating_add(1)),
    })
}
