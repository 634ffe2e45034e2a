// Signs Plaid webhooks for the end-to-end tests (crates/switchboard/tests/it/webhook_keys.rs)
// with npm `jose` (the copy tests/peers/jwt-grant pins), never with Switchboard's code,
// as Plaid's documentation describes them
// (https://plaid.com/docs/api/webhooks/webhook-verification/): `Plaid-Verification` is an
// ES256 JWT whose header names the key (`kid`), with `iat` (now) and `request_body_sha256`
// (hex SHA-256 of the body); the key is what `/webhook_verification_key/get` answers.
//
// Reads JSON on stdin: {"kids": ["k1", …], "webhooks": [{"kid": "k1", "body": "…"}, …]}.
// Writes JSON on stdout: {"answers": {"k1": <the key endpoint's answer>, …},
// "tokens": ["…", …]} (one token per webhook, in order). Fresh keys on every run.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../jwt-grant/package.json", import.meta.url));
const jose = require("jose");

const input = JSON.parse(readFileSync(0, "utf8"));
const now = Math.floor(Date.now() / 1000);
const keys = {};
const answers = {};
for (const kid of input.kids) {
  const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  keys[kid] = privateKey;
  answers[kid] = {
    key: { alg: "ES256", created_at: now - 86400, crv: "P-256", expired_at: null, kid, kty: "EC", use: "sig", x: jwk.x, y: jwk.y },
    request_id: "req-" + kid,
  };
}
const tokens = [];
for (const w of input.webhooks) {
  const hash = createHash("sha256").update(w.body, "utf8").digest("hex");
  tokens.push(
    await new jose.SignJWT({ request_body_sha256: hash })
      .setProtectedHeader({ alg: "ES256", kid: w.kid })
      .setIssuedAt(now)
      .sign(keys[w.kid]),
  );
}
process.stdout.write(JSON.stringify({ answers, tokens }));
