// Independent Plaid vectors for crates/signatures (tests/fetched.rs), made with npm `jose`
// (the JWT library tests/peers/jwt-grant pins), written from Plaid's documentation
// (https://plaid.com/docs/api/webhooks/webhook-verification/): an ES256 JWT in
// `Plaid-Verification` whose header names the key (`kid`), with `iat` and
// `request_body_sha256` (hex SHA-256 of the body), and the key as
// `/webhook_verification_key/get` answers it. Run from this folder with jose reachable:
//
//     NODE_PATH=../../../../tests/peers/jwt-grant/node_modules node plaid.mjs
//
// It writes plaid-jose.json. Keys are made afresh on each run; only public keys and
// tokens are written.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const jose = require("jose");

const TS = 1_700_000_000;
const NOW = TS + 30;
const KID = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
const BODY = JSON.stringify(
  {
    webhook_type: "TRANSACTIONS",
    webhook_code: "SYNC_UPDATES_AVAILABLE",
    item_id: "wz666MBjYWTp2PDzzggYhM6oWWmBb",
    initial_update_complete: true,
    historical_update_complete: false,
    environment: "sandbox",
  },
  null,
  2,
);

const sha256 = (s) => createHash("sha256").update(s, "utf8").digest("hex");

async function keyPair(alg) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { pub: await jose.exportJWK(publicKey), privateKey };
}

async function token(privateKey, { alg = "ES256", kid = KID, iat = TS, body = BODY, hash } = {}) {
  const claims = { request_body_sha256: hash ?? sha256(body) };
  if (iat !== null) claims.iat = iat;
  const header = { alg };
  if (kid !== null) header.kid = kid;
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(privateKey);
}

const answer = (jwk, expired_at = null) => ({
  key: { alg: "ES256", created_at: TS - 86400, crv: "P-256", expired_at, kid: KID, kty: "EC", use: "sig", x: jwk.x, y: jwk.y },
  request_id: "RZ6Omi1bzzwDaLo",
});

const signer = await keyPair("ES256");
const other = await keyPair("ES256");
const hmacKey = new TextEncoder().encode("a-shared-secret-that-plaid-never-uses-000");
const noneToken = new jose.UnsecuredJWT({ iat: TS, request_body_sha256: sha256(BODY) }).encode();

const vectors = [
  { name: "valid", token: await token(signer.privateKey), body: BODY, now: NOW, answer: answer(signer.pub), expect: "ok" },
  { name: "valid, iat 299 s old", token: await token(signer.privateKey), body: BODY, now: TS + 299, answer: answer(signer.pub), expect: "ok" },
  { name: "body tampered", token: await token(signer.privateKey), body: BODY.replace("true", "false"), now: NOW, answer: answer(signer.pub), expect: "body_hash_mismatch" },
  { name: "body hash of another body", token: await token(signer.privateKey, { hash: sha256("{}") }), body: BODY, now: NOW, answer: answer(signer.pub), expect: "body_hash_mismatch" },
  { name: "iat more than 5 minutes old", token: await token(signer.privateKey), body: BODY, now: TS + 301, answer: answer(signer.pub), expect: "timestamp_outside_tolerance" },
  { name: "no iat", token: await token(signer.privateKey, { iat: null }), body: BODY, now: NOW, answer: answer(signer.pub), expect: "malformed_header" },
  { name: "signed by another key under the same kid", token: await token(other.privateKey), body: BODY, now: NOW, answer: answer(signer.pub), expect: "no_match" },
  { name: "key expired", token: await token(signer.privateKey), body: BODY, now: NOW, answer: answer(signer.pub, TS), expect: "key_expired" },
  { name: "no kid", token: await token(signer.privateKey, { kid: null }), body: BODY, now: NOW, answer: answer(signer.pub), expect: "malformed_header" },
  {
    name: "HS256 instead of ES256",
    token: await new jose.SignJWT({ iat: TS, request_body_sha256: sha256(BODY) }).setProtectedHeader({ alg: "HS256", kid: KID }).sign(hmacKey),
    body: BODY, now: NOW, answer: answer(signer.pub), expect: "unsupported_algorithm",
  },
  { name: "alg none", token: noneToken, body: BODY, now: NOW, answer: answer(signer.pub), expect: "malformed_header" },
  { name: "not a JWT", token: "not.a.jwt", body: BODY, now: NOW, answer: answer(signer.pub), expect: "malformed_header" },
];

writeFileSync(
  new URL("plaid-jose.json", import.meta.url),
  JSON.stringify({ note: "Made by plaid.mjs with npm jose; public keys and tokens only.", kid: KID, vectors }, null, 1) + "\n",
);
