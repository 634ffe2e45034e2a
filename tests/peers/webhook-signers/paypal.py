#!/usr/bin/env python3
"""Signs PayPal webhooks for the end-to-end tests (crates/switchboard/tests/it/webhook_keys.rs)
with Python's `cryptography` and zlib, never with Switchboard's code, as PayPal's
documentation describes them (https://developer.paypal.com/api/rest/webhooks/rest/):
PAYPAL-TRANSMISSION-SIG is a base64 SHA256withRSA signature of
`{transmission id}|{transmission time}|{webhook id}|{CRC-32 of the body, decimal}` made with
the key of the certificate at PAYPAL-CERT-URL (here a fresh self-signed one whose subject is
`CN=messageverificationcerts.paypal.com`, valid from a day ago for 30 days).

Reads JSON on stdin: {"webhook_id": "…", "cert_url": "…", "webhooks": [{"transmission_id":
"…", "body": "…"}, …]}. Writes JSON on stdout: {"pem": "<the certificate>", "headers":
[{…}, …]} (the headers of each webhook, in order; the transmission time is now).
Run with the venv scripts/setup makes: tests/peers/webhook-signers/.venv/bin/python.
"""

import base64
import datetime
import json
import sys
import zlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def main():
    inp = json.load(sys.stdin)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.com"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PayPal, Inc."),
    ])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    time = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for w in inp["webhooks"]:
        body = w["body"].encode()
        msg = f"{w['transmission_id']}|{time}|{inp['webhook_id']}|{zlib.crc32(body)}"
        sig = key.sign(msg.encode(), padding.PKCS1v15(), hashes.SHA256())
        out.append({
            "PAYPAL-TRANSMISSION-ID": w["transmission_id"],
            "PAYPAL-TRANSMISSION-TIME": time,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(sig).decode(),
            "PAYPAL-CERT-URL": inp["cert_url"],
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        })
    json.dump({"pem": cert.public_bytes(serialization.Encoding.PEM).decode(), "headers": out},
              sys.stdout)


if __name__ == "__main__":
    main()
