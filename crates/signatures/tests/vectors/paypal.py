#!/usr/bin/env python3
"""Independent PayPal vectors for crates/signatures (tests/fetched.rs).

Written from PayPal's documentation (https://developer.paypal.com/api/rest/webhooks/rest/)
and its Java SDK's self-verification (Event.validateReceivedEvent): PAYPAL-TRANSMISSION-SIG
is a base64 SHA256withRSA signature of
`{transmission id}|{transmission time}|{webhook id}|{CRC-32 of the body, decimal}`, made
with the key of the certificate at PAYPAL-CERT-URL, whose subject is
`CN=messageverificationcerts….paypal.com`. Python's `cryptography` makes self-signed
certificates (the real ones chain to a public CA; the pinned HTTPS host is what this
project trusts) and zlib makes the CRC-32. Keys are made afresh on each run; only
certificates and signatures are written, to paypal.json:

    python3 crates/signatures/tests/vectors/paypal.py
"""

import base64
import datetime
import json
import os
import zlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TS = 1_700_000_000  # 2023-11-14T22:13:20Z
NOW = TS + 30
WEBHOOK_ID = "8PT597110X687430LKGECATA"
TRANSMISSION_ID = "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
TIME = "2023-11-14T22:13:20Z"
BODY = json.dumps({
    "id": "WH-7Y7254563A4550640-11V2185806837105M",
    "event_version": "1.0",
    "create_time": "2023-11-14T22:13:19.000Z",
    "resource_type": "capture",
    "event_type": "PAYMENT.CAPTURE.COMPLETED",
    "summary": "Payment completed for $ 10.0 USD",
    "resource": {"id": "42311647XV020574X", "status": "COMPLETED",
                 "amount": {"currency_code": "USD", "value": "10.00"}},
}, separators=(",", ":"))
CN = "messageverificationcerts.paypal.com"
DAY = datetime.timedelta(days=1)
START = datetime.datetime.fromtimestamp(TS, datetime.timezone.utc)


def cert(key, cn=CN, not_before=START - 30 * DAY, not_after=START + 365 * DAY):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PayPal, Inc.")])
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .sign(key, hashes.SHA256()))
    return c.public_bytes(serialization.Encoding.PEM).decode()


def sign(key, body=BODY, webhook_id=WEBHOOK_ID, tid=TRANSMISSION_ID, time=TIME):
    msg = f"{tid}|{time}|{webhook_id}|{zlib.crc32(body.encode())}"
    return base64.b64encode(key.sign(msg.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def headers(sig, algo="SHA256withRSA", tid=TRANSMISSION_ID, time=TIME):
    return {
        "PAYPAL-TRANSMISSION-ID": tid,
        "PAYPAL-TRANSMISSION-TIME": time,
        "PAYPAL-TRANSMISSION-SIG": sig,
        "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
        "PAYPAL-AUTH-ALGO": algo,
    }


def main():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    good = cert(key)
    # The chain as a URL may serve it: the signing certificate, then another.
    chain = good + cert(other, cn="DigiCert stand-in")
    sig = sign(key)
    v = []

    def add(name, expect, pem=good, hdrs=None, body=BODY, webhook_id=WEBHOOK_ID, now=NOW):
        v.append({"name": name, "pem": pem, "headers": hdrs or headers(sig), "body": body,
                  "webhook_id": webhook_id, "now": now, "expect": expect})

    add("valid", "ok")
    add("valid, certificate followed by its chain", "ok", pem=chain)
    add("valid, a body with non-ASCII text", "ok",
        body=BODY.replace("USD\"", "USD \u00e9\u2713\""),
        hdrs=headers(sign(key, body=BODY.replace("USD\"", "USD \u00e9\u2713\""))))
    add("body tampered", "no_match", body=BODY.replace("10.00", "99.00"))
    add("another webhook id", "no_match", webhook_id="OTHERWEBHOOKID000")
    add("transmission id changed", "no_match", hdrs=headers(sig, tid="69cd13f0-d67a-11e5-baa3-778b53f4ae56"))
    add("signed by another key", "no_match", hdrs=headers(sign(other)))
    add("SHA1withRSA", "unsupported_algorithm", hdrs=headers(sig, algo="SHA1withRSA"))
    add("signature not base64", "malformed_header", hdrs=headers("not base64!!"))
    add("certificate expired", "key_expired", pem=cert(key, not_after=START - DAY))
    add("certificate not yet valid", "key_expired", pem=cert(key, not_before=START + DAY))
    add("certificate of another subject", "bad_key:unsupported",
        pem=cert(key, cn="messageverificationcerts.example.com"))
    add("certificate with an EC key", "bad_key:unsupported", pem=cert(ec_key))
    add("not a certificate", "bad_key:malformed", pem="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    add("no webhook id configured", "missing_setting", webhook_id="")

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paypal.json")
    with open(path, "w") as f:
        json.dump({"note": "Made by paypal.py with Python's cryptography and zlib; certificates and signatures only.",
                   "vectors": v}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
