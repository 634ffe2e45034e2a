#!/usr/bin/env python3
"""Independent test vectors for crates/signatures.

Written from each provider's documentation, using only Python's standard library
(hmac, hashlib, base64, urllib.parse) plus `cryptography` for Ed25519 and FusionAuth's RSA and EC keys. SendGrid's ECDSA
P-256 signatures come from Node's crypto (sendgrid.js writes sendgrid-node.json, read
here), and the JWTs of Atlassian's OAuth 2.0 app webhooks from npm jose (atlassian.mjs
writes atlassian-jose.json, read here). It shares no
code with the Rust signer, so a Rust test that verifies these vectors checks the
scheme, not an echo of itself.

First it reproduces the examples the providers publish (so this generator is itself
checked against the providers), then it writes vectors.json beside this file:

    python3 crates/signatures/tests/vectors/generate.py

The output is deterministic (fixed keys, timestamps and bodies); the Rust tests read the
committed JSON with include_str! and need no Python.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TS = 1_700_000_000  # 2023-11-14T22:13:20Z
NOW = TS + 3  # inside every default tolerance (Paddle: 5 s)
BODY = '{"id":"evt_1","type":"thing.happened","data":{"n":42,"text":"h\u00e9llo \u2713"}}'


def mac(alg, key, msg):
    key = key if isinstance(key, bytes) else key.encode()
    msg = msg if isinstance(msg, bytes) else msg.encode()
    return hmac.new(key, msg, alg).digest()


def b64(b):
    return base64.b64encode(b).decode()


def ed25519(seed_byte):
    """A fixed key pair: (seed bytes, public bytes, private key object)."""
    seed = bytes([seed_byte]) * 32
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return seed, pk, sk


# --- the providers' own examples -------------------------------------------------------

def check_published():
    # Standard Webhooks / Svix reference libraries.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    sig = b64(mac(hashlib.sha256, key, 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}'))
    assert sig == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig
    # GitHub, "Validating webhook deliveries".
    sig = mac(hashlib.sha256, "It's a Secret to Everybody", "Hello, World!").hex()
    assert sig == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", sig
    # Slack, "Verifying requests from Slack".
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    sig = mac(hashlib.sha256, "8f742231b10e8888abcd99yyyzzz85a5", "v0:1531420618:" + body).hex()
    assert sig == "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", sig
    # Twilio, request validation example.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}
    s = "https://mycompany.com/myapp.php?foo=1&bar=2" + "".join(k + params[k] for k in sorted(params))
    sig = b64(mac(hashlib.sha1, "12345", s))
    assert sig == "RSOYDt4T1cUTdK1PDd93/VVr8B8=", sig


# --- one signer per scheme, from the providers' documentation --------------------------
# Each returns the request parts: headers, and optionally url / body / form / fields.

def standard(prefix):
    def sign(secret, ts, body, msg_id, **_):
        key = base64.b64decode(secret[len("whsec_"):])
        sig = b64(mac(hashlib.sha256, key, f"{msg_id}.{ts}.{body}"))
        return {"headers": [[f"{prefix}-id", msg_id], [f"{prefix}-timestamp", str(ts)],
                            [f"{prefix}-signature", f"v1,{sig}"]]}
    return sign


def standard_v1a(secret, ts, body, msg_id, **_):
    seed = base64.b64decode(secret[len("whsk_"):])
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    sig = b64(sk.sign(f"{msg_id}.{ts}.{body}".encode()))
    return {"headers": [["webhook-id", msg_id], ["webhook-timestamp", str(ts)],
                        ["webhook-signature", f"v1a,{sig}"]]}


def stripe(secret, ts, body, **_):
    sig = mac(hashlib.sha256, secret, f"{ts}.{body}").hex()
    return {"headers": [["Stripe-Signature", f"t={ts},v1={sig}"]]}


def github(secret, body, **_):
    return {"headers": [["X-Hub-Signature-256", "sha256=" + mac(hashlib.sha256, secret, body).hex()],
                        ["X-Hub-Signature", "sha1=" + mac(hashlib.sha1, secret, body).hex()]]}


def github_legacy(secret, body, **_):
    return {"headers": [["X-Hub-Signature", "sha1=" + mac(hashlib.sha1, secret, body).hex()]]}


def slack(secret, ts, body, **_):
    sig = mac(hashlib.sha256, secret, f"v0:{ts}:{body}").hex()
    return {"headers": [["X-Slack-Request-Timestamp", str(ts)], ["X-Slack-Signature", "v0=" + sig]]}


def shopify(secret, body, **_):
    return {"headers": [["X-Shopify-Hmac-Sha256", b64(mac(hashlib.sha256, secret, body))]]}


TWILIO_URL = "https://example.com/twilio/sms?account=acme&x=1"
TWILIO_FORM = [["MessageSid", "SM123"], ["Body", "Hello & welcome = yes +1"], ["From", "+14155550100"],
               ["To", "+14155550199"], ["AccountSid", "AC456"], ["NumMedia", "0"]]


def twilio_form(secret, **_):
    s = TWILIO_URL + "".join(k + v for k, v in sorted(TWILIO_FORM))
    return {"url": TWILIO_URL, "body": urlencode([tuple(p) for p in TWILIO_FORM]), "form": TWILIO_FORM,
            "headers": [["X-Twilio-Signature", b64(mac(hashlib.sha1, secret, s))]]}


def twilio_json(secret, body, **_):
    url = TWILIO_URL + "&bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()
    return {"url": url, "sign_url": TWILIO_URL,
            "headers": [["X-Twilio-Signature", b64(mac(hashlib.sha1, secret, url))]]}


SQUARE_URL = "https://example.com/square/notifications"


def square(secret, body, **_):
    return {"url": SQUARE_URL,
            "headers": [["x-square-hmacsha256-signature", b64(mac(hashlib.sha256, secret, SQUARE_URL + body))]]}


# Trello: base64 HMAC-SHA1 of the body followed by the callback URL the webhook was
# created with (the query string included), keyed by the app's secret.
TRELLO_URL = "https://example.com/webhooks/trello/event?board=5abbe4b7ddc1b351ef961414"


def trello(secret, body, **_):
    return {"url": TRELLO_URL,
            "headers": [["X-Trello-Webhook", b64(mac(hashlib.sha1, secret, body + TRELLO_URL))]]}


# TikTok: TikTok-Signature: t=<unix seconds>,s=<hex HMAC-SHA256 of "{t}.{body}"> keyed by
# the app's client secret.
def tiktok(secret, ts, body, **_):
    sig = mac(hashlib.sha256, secret, f"{ts}.{body}").hex()
    return {"headers": [["TikTok-Signature", f"t={ts},s={sig}"]]}


def zoom(secret, ts, body, **_):
    sig = mac(hashlib.sha256, secret, f"v0:{ts}:{body}").hex()
    return {"headers": [["x-zm-request-timestamp", str(ts)], ["x-zm-signature", "v0=" + sig]]}


def discord(secret, ts, body, **_):
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    return {"headers": [["X-Signature-Ed25519", sk.sign(f"{ts}{body}".encode()).hex()],
                        ["X-Signature-Timestamp", str(ts)]]}


def rfc3339(ts, fraction=""):
    days, secs = divmod(ts, 86400)
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    return f"{d.isoformat()}T{secs // 3600:02}:{secs // 60 % 60:02}:{secs % 60:02}{fraction}Z"


def twitch(fraction):
    def sign(secret, ts, body, msg_id, **_):
        stamp = rfc3339(ts, fraction)
        sig = mac(hashlib.sha256, secret, msg_id + stamp + body).hex()
        return {"headers": [["Twitch-Eventsub-Message-Id", msg_id], ["Twitch-Eventsub-Message-Timestamp", stamp],
                            ["Twitch-Eventsub-Message-Signature", "sha256=" + sig]]}
    return sign


def linear(secret, ts, **_):
    body = json.dumps({"action": "create", "type": "Issue", "data": {"id": "i1", "title": "Cr\u00e8me"},
                       "webhookTimestamp": ts * 1000 + 250}, separators=(",", ":"))
    return {"body": body, "headers": [["Linear-Signature", mac(hashlib.sha256, secret, body).hex()]]}


def intercom(secret, body, **_):
    return {"headers": [["X-Hub-Signature", "sha1=" + mac(hashlib.sha1, secret, body).hex()]]}


HUBSPOT_URL = "https://example.com/hubspot%3Ahook/events?portal=62515&next=%2Fback%40home&q=a%20b"


def hubspot_uri(url):
    table = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
             "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
    return re.sub(r"%[0-9A-Fa-f]{2}", lambda m: table.get(m.group(0).upper(), m.group(0)), url)


def hubspot(secret, ts, body, **_):
    ms = str(ts * 1000)
    sig = b64(mac(hashlib.sha256, secret, "POST" + hubspot_uri(HUBSPOT_URL) + body + ms))
    return {"url": HUBSPOT_URL, "headers": [["X-HubSpot-Signature-v3", sig], ["X-HubSpot-Request-Timestamp", ms]]}


def mailgun_fields(secret, ts, token):
    return [["timestamp", str(ts)], ["token", token],
            ["signature", mac(hashlib.sha256, secret, f"{ts}{token}").hex()]]


def mailgun_json(secret, ts, msg_id, **_):
    fields = mailgun_fields(secret, ts, msg_id)
    body = json.dumps({"signature": dict(fields), "event-data": {"event": "delivered", "id": "ev1"}})
    return {"body": body, "headers": [], "body_fields": fields}


def mailgun_form(secret, ts, msg_id, **_):
    fields = mailgun_fields(secret, ts, msg_id)
    return {"body": urlencode([tuple(p) for p in fields + [["event", "opened"], ["recipient", "a+b@example.com"]]]),
            "headers": [], "body_fields": fields}


# A subaccount's events also carry `parent-signature`: the same timestamp + token, keyed
# by the parent (primary) account's webhook signing key (Mailgun, "Securing Webhooks").
MAILGUN_PARENT_KEY = "key-mailgun-parent-account"


def mailgun_parent_fields(secret, ts, token):
    sig = mac(hashlib.sha256, MAILGUN_PARENT_KEY, f"{ts}{token}").hex()
    return mailgun_fields(secret, ts, token) + [["parent-signature", sig]]


def mailgun_parent_json(secret, ts, msg_id, **_):
    fields = mailgun_parent_fields(secret, ts, msg_id)
    body = json.dumps({"signature": dict(fields), "event-data": {"event": "delivered", "id": "ev2"}})
    return {"body": body, "headers": [], "body_fields": fields}


def mailgun_parent_form(secret, ts, msg_id, **_):
    fields = mailgun_parent_fields(secret, ts, msg_id)
    return {"body": urlencode([tuple(p) for p in fields + [["event", "opened"]]]),
            "headers": [], "body_fields": fields}


def calendly(secret, ts, body, **_):
    sig = mac(hashlib.sha256, secret, f"{ts}.{body}").hex()
    return {"headers": [["Calendly-Webhook-Signature", f"t={ts},v1={sig}"]]}


def typeform(secret, body, **_):
    return {"headers": [["Typeform-Signature", "sha256=" + b64(mac(hashlib.sha256, secret, body))]]}


def docusign(secret, body, **_):
    return {"headers": [["X-DocuSign-Signature-1", b64(mac(hashlib.sha256, secret, body))]]}


def paddle(secret, ts, body, **_):
    sig = mac(hashlib.sha256, secret, f"{ts}:{body}").hex()
    return {"headers": [["Paddle-Signature", f"ts={ts};h1={sig}"]]}


def webflow(secret, ts, body, **_):
    # Webflow: hex HMAC-SHA256 of "<ms timestamp>:<body>" keyed by the client secret.
    ms = ts * 1000
    sig = mac(hashlib.sha256, secret, f"{ms}:{body}").hex()
    return {"headers": [["x-webflow-timestamp", str(ms)], ["x-webflow-signature", sig]]}


def workos(secret, ts, body, **_):
    # WorkOS: "t=<ms timestamp>, v1=<hex HMAC-SHA256 of '<t>.<body>'>".
    ms = ts * 1000
    sig = mac(hashlib.sha256, secret, f"{ms}.{body}").hex()
    return {"headers": [["WorkOS-Signature", f"t={ms}, v1={sig}"]]}


def zendesk(secret, ts, body, **_):
    # Zendesk: base64 HMAC-SHA256 of the RFC 3339 timestamp header followed by the body.
    stamp = rfc3339(ts)
    sig = b64(mac(hashlib.sha256, secret, stamp + body))
    return {"headers": [["X-Zendesk-Webhook-Signature-Timestamp", stamp], ["X-Zendesk-Webhook-Signature", sig]]}


def zendesk_offset(secret, ts, body, **_):
    # The same instant written with a UTC offset: the header's text is what is signed.
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone(datetime.timedelta(hours=-7)))
    stamp = d.isoformat()
    sig = b64(mac(hashlib.sha256, secret, stamp + body))
    return {"headers": [["X-Zendesk-Webhook-Signature-Timestamp", stamp], ["X-Zendesk-Webhook-Signature", sig]]}


# Box: the application has a primary and a secondary signature key; each signs the body's
# bytes followed by the BOX-DELIVERY-TIMESTAMP bytes (base64 HMAC-SHA256).
BOX_SECONDARY_KEY = "box-secondary-signature-key-0002"


def box_headers(stamp, sigs):
    h = [["BOX-DELIVERY-TIMESTAMP", stamp], ["BOX-SIGNATURE-VERSION", "1"],
         ["BOX-SIGNATURE-ALGORITHM", "HmacSHA256"]]
    return h + [[n, v] for n, v in zip(["BOX-SIGNATURE-PRIMARY", "BOX-SIGNATURE-SECONDARY"], sigs)]


def box(secret, ts, body, **_):
    stamp = rfc3339(ts)
    sigs = [b64(mac(hashlib.sha256, k, body + stamp)) for k in (secret, BOX_SECONDARY_KEY)]
    return {"headers": box_headers(stamp, sigs)}


def box_primary_only(secret, ts, body, **_):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone(datetime.timedelta(hours=-7)))
    stamp = d.isoformat()
    return {"headers": box_headers(stamp, [b64(mac(hashlib.sha256, secret, body + stamp))])}


def sendgrid_node():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sendgrid-node.json")
    with open(path, encoding="utf-8") as f:
        node = json.load(f)
    assert node["timestamp"] == TS and node["body"] == BODY, "sendgrid-node.json is for another body"
    return node


def sendgrid(which):
    def sign(**_):
        node = sendgrid_node()
        return {"headers": [["X-Twilio-Email-Event-Webhook-Signature", node["signatures"][which]],
                            ["X-Twilio-Email-Event-Webhook-Timestamp", str(TS)]]}
    return sign


def buildkite(secret, ts, body, **_):
    # Buildkite: X-Buildkite-Signature "timestamp=<ts>,signature=<hex>", HMAC-SHA256 of
    # "<ts>.<body>" keyed by the webhook token.
    sig = mac(hashlib.sha256, secret, f"{ts}.{body}").hex()
    return {"headers": [["X-Buildkite-Signature", f"timestamp={ts},signature={sig}"]]}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def monday(secret, ts, **_):
    # monday.com: Authorization carries a JWT signed HS256 with the app's signing secret,
    # shaped like the documented one (exp 300 s after iat). Made here with hmac, not a JWT
    # library.
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"accountId": 1825529, "userId": 4012689, "aud": "https://example.com/hooks",
              "exp": ts + 300, "shortLivedToken": "short-lived-token", "iat": ts}
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64url(mac(hashlib.sha256, secret, f"{head}.{body}"))
    return {"headers": [["Authorization", f"{head}.{body}.{sig}"]]}


def atlassian_admin(secret, body, **_):
    # Atlassian admin webhooks with a secret: X-Hub-Signature "sha256=<hex>", HMAC-SHA256
    # of the body keyed by the webhook secret (WebSub's method=signature).
    return {"headers": [["X-Hub-Signature", "sha256=" + mac(hashlib.sha256, secret, body).hex()]]}


def atlassian_jose():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "atlassian-jose.json")
    with open(path, encoding="utf-8") as f:
        node = json.load(f)
    assert node["timestamp"] == TS, "atlassian-jose.json is for another time"
    return node


def atlassian_app(**_):
    # Webhooks an OAuth 2.0 app registered: Authorization "Bearer <JWT>", HS256 with the
    # app's client secret, made by npm jose (atlassian.mjs).
    return {"headers": [["Authorization", "Bearer " + atlassian_jose()["tokens"]["valid"]]]}


def brex(secret, ts, body, msg_id, **_):
    # Brex: Webhook-Id/-Timestamp/-Signature; the secret from GET /v1/webhooks/secrets is
    # base64 (no whsec_ prefix) and keys HMAC-SHA256 of "<id>.<ts>.<body>", written "v1,<b64>".
    sig = b64(mac(hashlib.sha256, base64.b64decode(secret), f"{msg_id}.{ts}.{body}"))
    return {"headers": [["Webhook-Id", msg_id], ["Webhook-Timestamp", str(ts)],
                        ["Webhook-Signature", f"v1,{sig}"]]}


# FusionAuth: X-FusionAuth-Signature-JWT is a JWT whose request_body_sha256 claim is the
# base64 SHA-256 of the body, signed with the webhook's signing key: an HMAC secret, or an
# RSA, EC or OKP (Ed25519) key pair whose public half (PEM) is configured. The RSA key is
# fixed in fusionauth-rsa.json (made once with `cryptography`, base64 PKCS#8 DER); the EC
# key comes from a fixed scalar and signs deterministically (RFC 6979), the Ed25519 key
# from a fixed seed (Ed25519 is deterministic), so the output does not change between runs.
def fusionauth_keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fusionauth-rsa.json")
    with open(path, encoding="utf-8") as f:
        stored = json.load(f)
    rsa_key = serialization.load_der_private_key(base64.b64decode(stored["private_key"]), password=None)
    ec_key = ec.derive_private_key(0x1F2E3D4C5B6A79880123456789ABCDEF0123456789ABCDEF0123456789ABCDEF, ec.SECP256R1())
    ec_decoy = ec.derive_private_key(12345678901234567890, ec.SECP256R1())
    ed_key = Ed25519PrivateKey.from_private_bytes(bytes(range(60, 92)))
    ed_decoy = Ed25519PrivateKey.from_private_bytes(bytes(range(160, 192)))

    def pub(k):
        return k.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def priv(k):
        # Base64 PKCS#8 DER, as the SendGrid vectors write private keys (no PEM armour).
        return b64(k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return {"rsa": rsa_key, "ec": ec_key, "rsa_pub": pub(rsa_key), "ec_pub": pub(ec_key),
            "rsa_priv": priv(rsa_key), "ec_priv": priv(ec_key), "ec_decoy_pub": pub(ec_decoy),
            "rsa_decoy_pub": stored["decoy_public_key"], "ed": ed_key, "ed_pub": pub(ed_key),
            "ed_priv": priv(ed_key), "ed_decoy_pub": pub(ed_decoy)}


def fusionauth(alg):
    def sign(secret, ts, body, **_):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        head = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": "c2c4b6a0-webhook-key"},
                                 separators=(",", ":")).encode())
        digest = b64(hashlib.sha256(body.encode()).digest())
        claims = {"iat": ts, "exp": ts + 600, "iss": "acme.fusionauth.io", "request_body_sha256": digest}
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{head}.{payload}".encode()
        keys = fusionauth_keys()
        if alg == "HS256":
            sig = mac(hashlib.sha256, secret, signing_input)
        elif alg == "HS512":
            sig = mac(hashlib.sha512, secret, signing_input)
        elif alg == "RS256":
            sig = keys["rsa"].sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "EdDSA":
            sig = keys["ed"].sign(signing_input)
        else:  # ES256: the JWS form is r || s, 32 bytes each
            der = keys["ec"].sign(signing_input, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            r, s = decode_dss_signature(der)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return {"headers": [["X-FusionAuth-Signature-JWT", f"{head}.{payload}.{b64url(sig)}"]]}
    return sign


# Close: close-sig-hash is the hex HMAC-SHA256 of close-sig-timestamp followed by the body,
# keyed by the hex-decoded signature_key (the crm catalog entry's generic-hmac settings).
CLOSE = {"generic-hmac": {
    "header": "close-sig-hash", "template": "{timestamp}{body}", "timestamp_header": "close-sig-timestamp",
    "key_encoding": "hex"}}


def close(secret, ts, body, **_):
    sig = mac(hashlib.sha256, bytes.fromhex(secret), f"{ts}{body}").hex()
    return {"headers": [["close-sig-timestamp", str(ts)], ["close-sig-hash", sig]]}


# Airtable: X-Airtable-Content-MAC "hmac-sha256=<hex>" of the body, keyed by the
# base64-decoded macSecretBase64.
AIRTABLE = {"generic-hmac": {"header": "X-Airtable-Content-MAC", "prefix": "hmac-sha256=", "key_encoding": "base64"}}


def airtable(secret, body, **_):
    sig = mac(hashlib.sha256, base64.b64decode(secret), body).hex()
    return {"headers": [["X-Airtable-Content-MAC", "hmac-sha256=" + sig]]}


# PagerDuty v3: X-PagerDuty-Signature lists comma-separated "v1=<hex>" HMAC-SHA256s of the
# body, one per active secret while a secret rotates.
PAGERDUTY = {"generic-hmac": {"header": "X-PagerDuty-Signature", "prefix": "v1=", "separator": ","}}
PAGERDUTY_NEW_SECRET = "pagerduty-rotated-webhook-secret-000002"


def pagerduty(secret, body, **_):
    return {"headers": [["X-PagerDuty-Signature", "v1=" + mac(hashlib.sha256, secret, body).hex()]]}


def pagerduty_rotating(secret, body, **_):
    sigs = ",".join("v1=" + mac(hashlib.sha256, k, body).hex() for k in (secret, PAGERDUTY_NEW_SECRET))
    return {"headers": [["X-PagerDuty-Signature", sigs]]}


def pagerduty_other_version(secret, body, **_):
    # A future version beside v1 (spaces after the commas): skipped, v1 still checked.
    sig = mac(hashlib.sha256, secret, body).hex()
    return {"headers": [["X-PagerDuty-Signature", f"v2=abcdef, v1={sig}"]]}


GENERIC_512 = {"generic-hmac": {
    "header": "X-Acme-Signature", "prefix": "sha512=", "algorithm": "sha512", "encoding": "base64",
    "template": "{timestamp}.{id}.{method}.{url}.{body}", "timestamp_header": "X-Acme-Timestamp",
    "id_header": "X-Acme-Id"}}
GENERIC_URL = "https://example.com/acme?k=v"


def generic_512(secret, ts, body, msg_id, **_):
    sig = b64(mac(hashlib.sha512, secret, f"{ts}.{msg_id}.POST.{GENERIC_URL}.{body}"))
    return {"url": GENERIC_URL, "headers": [["X-Acme-Id", msg_id], ["X-Acme-Timestamp", str(ts)],
                                            ["X-Acme-Signature", "sha512=" + sig]]}


GENERIC_SHA1 = {"generic-hmac": {"header": "X-Legacy-Sig", "algorithm": "sha1", "template": "{{v1}}:{body}"}}


def generic_sha1(secret, body, **_):
    return {"headers": [["X-Legacy-Sig", mac(hashlib.sha1, secret, "{v1}:" + body).hex()]]}


# --- the vectors -----------------------------------------------------------------------

def vectors():
    out = []

    def add(scheme, fn, secret, decoy, verify_key=None, decoy_key=None, check_sign=True, note="",
            extra_signing_secrets=(), key_role="webhook", timestamp_signed=None):
        """A vector signed with `secret`, and a rotation vector where it is the second.
        `extra_signing_secrets` are further keys the signer is given (Mailgun's parent key).
        `key_role` "app": the keys are the app's client secrets (Atlassian), not webhook
        secrets. `timestamp_signed` overrides whether a signed time comes back (default:
        the scheme has a tolerance)."""
        parts = fn(secret=secret, ts=TS, body=BODY, msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
        name = scheme if isinstance(scheme, str) else "generic-hmac"
        for label, verify_secrets, index in (("", [verify_key or secret], 0),
                                             (" (rotation)", [decoy_key or decoy, verify_key or secret], 1)):
            extra = {"extra_signing_secrets": list(extra_signing_secrets)} if extra_signing_secrets else {}
            if key_role != "webhook":
                extra["key_role"] = key_role
            if timestamp_signed is not None:
                extra["timestamp_signed"] = timestamp_signed
            out.append({
                "name": name + (f" {note}" if note else "") + label,
                "scheme": scheme,
                "signing_secret": secret,
                "verify_secrets": verify_secrets,
                "expect_index": index,
                "method": "POST",
                "url": parts.get("url", "https://example.com/hooks"),
                "sign_url": parts.get("sign_url", parts.get("url", "https://example.com/hooks")),
                "body": parts.get("body", BODY),
                "form": parts.get("form"),
                "headers": parts["headers"],
                "body_fields": parts.get("body_fields", []),
                "timestamp": TS,
                "id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
                "now": NOW,
                "check_sign": check_sign,
                **extra,
            })

    whsec = "whsec_" + b64(bytes(range(1, 25)))
    whsec_decoy = "whsec_" + b64(bytes(range(101, 133)))
    add("standard-webhooks", standard("webhook"), whsec, whsec_decoy)
    add("svix", standard("svix"), whsec, whsec_decoy)
    seed, pk, _ = ed25519(7)
    _, pk_decoy, _ = ed25519(9)
    add("standard-webhooks", standard_v1a, "whsk_" + b64(seed), None, verify_key="whpk_" + b64(pk),
        decoy_key="whpk_" + b64(pk_decoy), note="v1a")
    add("stripe", stripe, "whsec_5pYfD0dExampleStripeSecret00", "whsec_other")
    add("github", github, "It's a Secret to Everybody", "not it")
    add("github", github_legacy, "legacy secret", "not it", check_sign=False, note="sha1 only")
    add("slack", slack, "8f742231b10e8888abcd99yyyzzz85a5", "0000")
    add("shopify", shopify, "shpss_0123456789abcdef", "shpss_other")
    add("twilio", twilio_form, "12345abcdef", "99999", note="form")
    add("twilio", twilio_json, "12345abcdef", "99999", note="json")
    add("square", square, "sq0wsk-signature-key", "other")
    add("zoom", zoom, "zoom-secret-token", "other")
    add("trello", trello, "0f5c3a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1a0f9", "other")
    add("tiktok", tiktok, "tiktok-client-secret-0123456789ab", "other")
    dseed, dpk, _ = ed25519(3)
    _, dpk_decoy, _ = ed25519(4)
    add("discord", discord, dseed.hex(), None, verify_key=dpk.hex(), decoy_key=dpk_decoy.hex())
    add("twitch-eventsub", twitch(""), "twitch-subscription-secret", "other")
    add("twitch-eventsub", twitch(".123456789"), "twitch-subscription-secret", "other", check_sign=False,
        note="nanoseconds")
    add("linear", linear, "lin_wh_secret", "other")
    add("intercom", intercom, "intercom-client-secret", "other")
    add("hubspot-v3", hubspot, "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "other")
    add("mailgun", mailgun_json, "key-mailgun-signing", "other", note="json")
    add("mailgun", mailgun_form, "key-mailgun-signing", "other", note="form")
    # Verified with the parent's key alone: parent-signature is what matches.
    add("mailgun", mailgun_parent_json, "key-mailgun-signing", "other", verify_key=MAILGUN_PARENT_KEY,
        note="json parent-signature", extra_signing_secrets=[MAILGUN_PARENT_KEY])
    add("mailgun", mailgun_parent_form, "key-mailgun-signing", "other", verify_key=MAILGUN_PARENT_KEY,
        note="form parent-signature", extra_signing_secrets=[MAILGUN_PARENT_KEY])
    add("calendly", calendly, "calendly-signing-key", "other")
    add("typeform", typeform, "typeform-secret", "other")
    add("docusign", docusign, "docusign-connect-key=", "other")
    add("paddle-billing", paddle, "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI", "other")
    add("webflow", webflow, "b5e8a0c0f3d9d1f8d5a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d", "other")
    add("workos", workos, "wh_sec_0123456789abcdefABCDEF", "other")
    add("zendesk", zendesk, "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==", "other")
    add("zendesk", zendesk_offset, "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==", "other", check_sign=False,
        note="offset")
    add("box", box, "box-primary-signature-key-000001", "other", extra_signing_secrets=[BOX_SECONDARY_KEY])
    # Verified with the secondary key alone: BOX-SIGNATURE-SECONDARY is what matches.
    add("box", box, "box-primary-signature-key-000001", "other", verify_key=BOX_SECONDARY_KEY,
        note="secondary", extra_signing_secrets=[BOX_SECONDARY_KEY])
    add("box", box_primary_only, "box-primary-signature-key-000001", "other", check_sign=False,
        note="primary only, offset")
    node = sendgrid_node()
    for which in ("low_s", "high_s"):
        add("sendgrid", sendgrid(which), node["private_key"], None, verify_key=node["public_key"],
            decoy_key=node["decoy_public_key"], check_sign=False, note=which.replace("_", "-"))
    add("buildkite", buildkite, "309c9c842a8565adec0d7469a6005989", "other")
    add("monday", monday, "monday-app-signing-secret-0123456789", "other", check_sign=False)
    fa = fusionauth_keys()
    add("fusionauth", fusionauth("HS256"), "fusionauth-hmac-signing-key-0123456789", "other", check_sign=False,
        note="HS256")
    add("fusionauth", fusionauth("HS512"), "fusionauth-hmac-signing-key-0123456789", "other", check_sign=False,
        note="HS512")
    add("fusionauth", fusionauth("RS256"), fa["rsa_priv"], None, verify_key=fa["rsa_pub"],
        decoy_key=fa["rsa_decoy_pub"], check_sign=False, note="RS256")
    add("fusionauth", fusionauth("ES256"), fa["ec_priv"], None, verify_key=fa["ec_pub"],
        decoy_key=fa["ec_decoy_pub"], check_sign=False, note="ES256")
    add("fusionauth", fusionauth("EdDSA"), fa["ed_priv"], None, verify_key=fa["ed_pub"],
        decoy_key=fa["ed_decoy_pub"], check_sign=False, note="EdDSA")
    add("atlassian", atlassian_admin, "atlassian-admin-webhook-secret-0123456789", "other",
        note="admin", timestamp_signed=False)
    jose = atlassian_jose()
    add("atlassian", atlassian_app, jose["client_secret"], jose["other_secret"], check_sign=False,
        note="oauth app jwt", key_role="app")
    add("standard-webhooks", brex, b64(bytes(range(40, 72))), None, decoy_key=whsec_decoy, note="brex bare base64")
    add(CLOSE, close, "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c",
        "1111111111111111111111111111111111111111111111111111111111111111", note="close")
    add(AIRTABLE, airtable, b64(bytes(range(200, 232))), b64(bytes(32)), note="airtable")
    add(PAGERDUTY, pagerduty, "pagerduty-webhook-secret-000000001", "other", note="pagerduty")
    add(PAGERDUTY, pagerduty_rotating, "pagerduty-webhook-secret-000000001", "other",
        extra_signing_secrets=[PAGERDUTY_NEW_SECRET], note="pagerduty rotating")
    add(PAGERDUTY, pagerduty_other_version, "pagerduty-webhook-secret-000000001", "other", check_sign=False,
        note="pagerduty other version")
    add(GENERIC_512, generic_512, "acme-secret", "other")
    add(GENERIC_SHA1, generic_sha1, "legacy", "other")
    return out


if __name__ == "__main__":
    check_published()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(vectors(), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"published examples reproduced; wrote {path}")
