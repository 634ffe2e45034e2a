#!/usr/bin/env node
// Independent JWTs for the `atlassian` scheme's second kind of webhook: the ones an OAuth
// 2.0 (3LO) app registers with POST /rest/api/3/webhook, which carry
// `Authorization: Bearer <JWT>`, HS256 with the app's client secret. Made with the npm
// package `jose` (the pinned copy of tests/peers/jwt-grant, installed by scripts/setup),
// which shares nothing with the Rust crate (`jsonwebtoken`).
//
//     node crates/signatures/tests/vectors/atlassian.mjs
//
// writes atlassian-jose.json beside this file: a token that verifies, and tokens each
// wrong in one way (another secret, expired, no exp, alg none, RS256, HS512, iat far
// ahead), which generate.py turns into vectors and the Rust tests refuse one by one.
// HS256 is deterministic, so running it again gives the same HS256 tokens; the RS256
// one uses a fresh RSA key each time (equally valid); the committed file is what the
// tests use.

import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const peer = path.join(here, "../../../../tests/peers/jwt-grant/package.json");
const jose = await import(pathToFileURL(createRequire(peer).resolve("jose")).href);

// The same time as generate.py; these claims are test data shaped like the ones
// Atlassian's webhooks were seen to carry, not a specification.
const TS = 1700000000;
const CLIENT_SECRET = "atlassian-oauth-client-secret-0123456789abcdef";
const OTHER_SECRET = "another-oauth-client-secret-0123456789abcdef";
const claims = {
  iss: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
  sub: "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
  jti: "0f8ad6d0-3a38-4c6e-9b0e-7a1c7f6b2a11",
};
const key = (s) => new TextEncoder().encode(s);

async function hs(alg, secret, extra = {}, { iat = TS, exp = TS + 180 } = {}) {
  const body = { ...claims, ...extra };
  let jwt = new jose.SignJWT(body).setProtectedHeader({ alg, typ: "JWT" });
  if (iat !== null) jwt = jwt.setIssuedAt(iat);
  if (exp !== null) jwt = jwt.setExpirationTime(exp);
  return jwt.sign(key(secret));
}

const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const rs256 = await new jose.SignJWT(claims)
  .setProtectedHeader({ alg: "RS256", typ: "JWT" })
  .setIssuedAt(TS)
  .setExpirationTime(TS + 180)
  .sign(privateKey);
const none = new jose.UnsecuredJWT(claims).setIssuedAt(TS).setExpirationTime(TS + 180).encode();

const out = {
  note: "JWTs made by atlassian.mjs with npm jose; see that file.",
  timestamp: TS,
  client_secret: CLIENT_SECRET,
  other_secret: OTHER_SECRET,
  tokens: {
    valid: await hs("HS256", CLIENT_SECRET),
    wrong_secret: await hs("HS256", OTHER_SECRET),
    expired: await hs("HS256", CLIENT_SECRET, {}, { iat: TS - 600, exp: TS - 60 }),
    no_exp: await hs("HS256", CLIENT_SECRET, {}, { exp: null }),
    future_iat: await hs("HS256", CLIENT_SECRET, {}, { iat: TS + 3600, exp: TS + 3780 }),
    hs512: await hs("HS512", CLIENT_SECRET),
    rs256,
    alg_none: none,
  },
};
fs.writeFileSync(path.join(here, "atlassian-jose.json"), JSON.stringify(out, null, 1) + "\n");
console.log("wrote atlassian-jose.json");
