#!/usr/bin/env node
// Independent ECDSA P-256 signatures for the `sendgrid` scheme, made with Node's own
// crypto (OpenSSL), which shares nothing with the Rust crate (RustCrypto `p256`).
//
// SendGrid's signed Event Webhook: base64 DER ECDSA signature (SHA-256) of
// `{timestamp}{body}` in X-Twilio-Email-Event-Webhook-Signature, the Unix-seconds
// timestamp in X-Twilio-Email-Event-Webhook-Timestamp, the verification key a base64
// SubjectPublicKeyInfo DER public key.
//
//     node crates/signatures/tests/vectors/sendgrid.js
//
// writes sendgrid-node.json beside this file, which generate.py turns into vectors.
// Keys and signatures are random (OpenSSL's ECDSA is not deterministic), so running it
// again gives another, equally valid, file; the committed one is what the tests use.

"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

// The same body and time as generate.py.
const TS = 1700000000;
const BODY = '{"id":"evt_1","type":"thing.happened","data":{"n":42,"text":"h\u00e9llo \u2713"}}';
// The order of the P-256 group: a signature's s above n / 2 is the "high" form.
const N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

function keyPair() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    public: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    private: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
    key: privateKey,
  };
}

// s of a DER `SEQUENCE { INTEGER r, INTEGER s }` (short lengths: P-256 fits).
function sOf(der) {
  let i = 2;
  i += 2 + der[i + 1];
  return BigInt("0x" + der.subarray(i + 2, i + 2 + der[i + 1]).toString("hex"));
}

function sign(key, ts, body) {
  const s = crypto.createSign("sha256");
  s.update(`${ts}${body}`, "utf8");
  return s.sign(key); // DER, OpenSSL's default for ECDSA
}

const signer = keyPair();
const decoy = keyPair();
// One signature with a low s and one with a high s: both are what OpenSSL sends.
const found = {};
while (!(found.low && found.high)) {
  const der = sign(signer.key, TS, BODY);
  found[sOf(der) > N / 2n ? "high" : "low"] ??= der.toString("base64");
}
const out = {
  timestamp: TS,
  body: BODY,
  private_key: signer.private,
  public_key: signer.public,
  decoy_public_key: decoy.public,
  signatures: { low_s: found.low, high_s: found.high },
};
const file = path.join(__dirname, "sendgrid-node.json");
fs.writeFileSync(file, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${file}`);
