// Two token issuers that take JWTs Switchboard signs, each verified with the npm package
// `jose` (never with Switchboard's own code), for the end-to-end tests of the
// `github_app` and `jwt_bearer` auth modes (crates/switchboard/tests/it/app_auth.rs):
//
// - GitHub's App API: `POST /app/installations/{id}/access_tokens` and
//   `GET /app/installations/{id}`, authenticated by an RS256 app JWT (iss = APP_ID,
//   exp at most 10 minutes after iat), plus the install page
//   `/apps/{slug}/installations/new`, which sends the browser to the Setup URL with
//   `installation_id`, `setup_action=install` and the state, as GitHub does.
// - GitHub's user authorization during installation: with `userAuth` on (the default),
//   the install page also sends a `code`; `POST /login/oauth/access_token` exchanges it
//   (with CLIENT_ID / CLIENT_SECRET) for a user token (`ghu_…`), `GET /user/installations`
//   lists the installations that user can reach (paginated as GitHub does: `per_page`
//   up to 100, `page`, a `Link` header with `rel="next"`), and
//   `DELETE /applications/{client_id}/token` (basic auth with the client) revokes it.
// - GitHub as a webhook sender: `POST /__test/deliver` signs an `installation` (or any)
//   event with `X-Hub-Signature-256` (node's crypto HMAC, not Switchboard's code) and
//   posts it to `webhookUrl`.
// - An RFC 7523 token endpoint, `POST /token` with
//   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`: the assertion's signature,
//   iss, aud (this endpoint's URL), exp, iat and sub are checked with a leeway. Each
//   issuer has its own public key (and key id): the integrator's service account and
//   two customers that bring their own keys (connections with a key of their own).
// - `GET /api/whoami`, an API for proxied calls, which accepts the tokens issued above.
// - `GET /signed/whoami`, an API that takes no issued token but a JWT the caller signs
//   itself as its credential (Vonage's way): RS256 with the service account's key, the
//   application id in `application_id`, `iat`, `exp` (at most 24 h after iat) and `jti`.
//
// It makes its own RSA keys at start and writes the private halves to KEY_DIR:
// `app.pem` (PKCS#1, as GitHub hands them out), `sa.pem` (PKCS#8, as Google does),
// `wrong.pem` (a key nobody trusts), customer A's Google key file `customer-a.json`
// (with `customer-a.pem` inside it), customer B's `customer-b.pem` (PKCS#1) and
// `ec.pem` (a P-256 key, which RS256 cannot use). Control endpoints under /__test/
// change its state (see README.md). stdout carries exactly one line, `LISTENING <port>`.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { jwtVerify, decodeProtectedHeader } from 'jose';

const log = (...args) => console.error('[jwt-grant-peer]', ...args);
const die = (m) => {
  log(`fatal: ${m}`);
  process.exit(1);
};

const PORT = Number(process.env.PORT ?? '0');
const KEY_DIR = process.env.KEY_DIR ?? die('KEY_DIR is required: where to write the private keys');
const APP_ID = process.env.APP_ID ?? '4242';
const SA_CLIENT_ID = process.env.SA_CLIENT_ID ?? 'robot@switchboard-test.iam.example';
const SUBJECTS = (process.env.SUBJECTS ?? 'alice@example.test,bob@example.test').split(',');
const LEEWAY = Number(process.env.LEEWAY_SECS ?? '30');
const CLIENT_ID = process.env.CLIENT_ID ?? 'Iv1.switchboardtest';
const CLIENT_SECRET = process.env.CLIENT_SECRET ?? 'test-client-secret-1234';
const APPLICATION_ID = process.env.APPLICATION_ID ?? 'aaaaaaaa-bbbb-cccc-dddd-0123456789ab';
const CUSTOMER_A_EMAIL = process.env.CUSTOMER_A_EMAIL ?? 'robot@customer-a.iam.example';
const CUSTOMER_B_ISSUER = process.env.CUSTOMER_B_ISSUER ?? '3MVG9customerBconsumerKey';

function keyPair() {
  return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
}
const app = keyPair();
const sa = keyPair();
const wrong = keyPair();
const customerA = keyPair();
const customerB = keyPair();
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
// Customer A's key id, as Google names keys: 40 hex digits.
const CUSTOMER_A_KID = crypto.randomBytes(20).toString('hex');
fs.mkdirSync(KEY_DIR, { recursive: true });
const write = (name, pem) => fs.writeFileSync(path.join(KEY_DIR, name), pem, { mode: 0o600 });
write('app.pem', app.privateKey.export({ type: 'pkcs1', format: 'pem' }));
write('sa.pem', sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
write('wrong.pem', wrong.privateKey.export({ type: 'pkcs8', format: 'pem' }));
write('customer-a.pem', customerA.privateKey.export({ type: 'pkcs8', format: 'pem' }));
write('customer-b.pem', customerB.privateKey.export({ type: 'pkcs1', format: 'pem' }));
write('ec.pem', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));

// Who the token endpoint trusts: issuer -> its public key and the kid it must carry
// (if the assertion names one). `revoked` issuers had their key deleted at the provider.
const clients = new Map([
  [SA_CLIENT_ID, { key: () => pub(state.saKey, sa), kid: 'k1' }],
  [CUSTOMER_A_EMAIL, { key: () => customerA.publicKey, kid: CUSTOMER_A_KID }],
  [CUSTOMER_B_ISSUER, { key: () => customerB.publicKey, kid: undefined }],
]);

const state = {
  // Which public key verifies each issuer's JWTs ("own" or "wrong": a key the
  // operator deleted at the provider).
  appKey: 'own',
  saKey: 'own',
  revoked: [], // issuers whose key was deleted at the provider
  skewSecs: 0, // this peer's clock minus the real one
  delayMs: 0, // before answering a token request
  ttlSecs: 3600, // lifetime of the tokens issued
  setupUrl: null,
  nextInstall: '101',
  installations: { '101': 'active', '202': 'active' },
  suspendedAt: {}, // installation id -> when it was suspended (RFC 3339)
  tokens: new Map(), // token -> { kind, who, scope, exp }
  // User authorization during installation: whether the install page sends a `code`,
  // and the installations the installing user can reach (150 others first, so that the
  // one installed is on the second page of 100).
  userAuth: true,
  userInstallations: [...Array.from({ length: 150 }, (_, i) => String(5000 + i)), '101'],
  codes: new Map(), // code -> installations the user reaches (single use)
  userTokens: new Map(), // user token -> installations the user reaches
  webhookUrl: null,
  webhookSecret: null,
  stats: {
    app_tokens: 0, app_refused: 0, installation_reads: 0, jwt_tokens: 0, jwt_refused: 0, api: 0, revoked: 0,
    user_tokens: 0, user_token_refused: 0, user_installation_pages: 0, user_tokens_revoked: 0,
    signed_api: 0, signed_refused: 0,
    jwt_tokens_by_issuer: {},
  },
  signedJtis: new Set(), // the jti of every signed JWT accepted
};

const nowSecs = () => Math.floor(Date.now() / 1000) + state.skewSecs;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pub = (which, own) => (which === 'own' ? own.publicKey : wrong.publicKey);

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

// jose checks the signature, the algorithm, iss, aud and exp (with the leeway, against
// this peer's possibly skewed clock); iat is checked here too, as providers do: not in
// the future beyond the leeway.
async function verify(jwt, key, options) {
  const currentDate = new Date(nowSecs() * 1000);
  const { payload, protectedHeader } = await jwtVerify(jwt, key, {
    algorithms: ['RS256'],
    clockTolerance: LEEWAY,
    currentDate,
    requiredClaims: ['iat', 'exp'],
    ...options,
  });
  if (payload.iat > nowSecs() + LEEWAY) {
    const e = new Error('iat is in the future');
    e.code = 'ERR_JWT_CLAIM_VALIDATION_FAILED';
    throw e;
  }
  return { payload, protectedHeader };
}

function issue(kind, who, scope, iss) {
  const token = (kind === 'installation' ? 'ghs_' : 'ya29.') + crypto.randomBytes(24).toString('base64url');
  const exp = nowSecs() + state.ttlSecs;
  state.tokens.set(token, { kind, who, scope, exp, iss });
  return { token, exp };
}

async function appAuth(req, res) {
  const auth = req.headers.authorization ?? '';
  const jwt = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  try {
    const { payload } = await verify(jwt, pub(state.appKey, app), { issuer: APP_ID });
    if (payload.exp - payload.iat > 660) throw new Error('exp is more than 10 minutes after iat');
    return true;
  } catch (e) {
    state.stats.app_refused += 1;
    log(`app JWT refused: ${e.code ?? ''} ${e.message}`);
    send(res, 401, {
      message: 'A JSON web token could not be decoded',
      documentation_url: 'https://docs.github.com/rest',
    });
    return false;
  }
}

function installationRefusal(res, id) {
  const s = state.installations[id];
  if (s === undefined || s === 'uninstalled') {
    send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    return true;
  }
  if (s === 'suspended') {
    send(res, 403, { message: 'This installation has been suspended', documentation_url: 'https://docs.github.com/rest' });
    return true;
  }
  return false;
}

async function accessTokens(req, res, id) {
  await readBody(req);
  if (state.delayMs) await sleep(state.delayMs);
  if (!(await appAuth(req, res))) return;
  if (installationRefusal(res, id)) return;
  state.stats.app_tokens += 1;
  const { token, exp } = issue('installation', id, 'contents:read metadata:read');
  send(res, 201, {
    token,
    expires_at: new Date((exp - state.skewSecs) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    permissions: { contents: 'read', metadata: 'read' },
    repository_selection: 'all',
  });
}

// GitHub answers this one for a suspended installation too (only tokens are refused):
// `suspended_at` is when it was suspended, null when it is not.
async function installation(req, res, id) {
  if (!(await appAuth(req, res))) return;
  const s = state.installations[id];
  if (s === undefined || s === 'uninstalled') {
    return send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  }
  state.stats.installation_reads += 1;
  const suspendedAt = s === 'suspended' ? state.suspendedAt[id] ?? null : null;
  send(res, 200, {
    id: Number(id),
    app_id: Number(APP_ID),
    app_slug: 'switchboard-test',
    target_type: 'Organization',
    account: { login: `org-${id}`, type: 'Organization' },
    suspended_at: suspendedAt,
    suspended_by: suspendedAt ? { login: 'org-owner', type: 'User' } : null,
  });
}

async function tokenEndpoint(req, res) {
  const form = new URLSearchParams(await readBody(req));
  if (state.delayMs) await sleep(state.delayMs);
  const refuse = (status, error, description) => {
    state.stats.jwt_refused += 1;
    log(`assertion refused: ${error}: ${description}`);
    send(res, status, { error, error_description: description });
  };
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    return refuse(400, 'unsupported_grant_type', 'only the JWT bearer grant is served here');
  }
  const assertion = form.get('assertion') ?? '';
  const audience = `http://127.0.0.1:${server.address().port}/token`;
  let payload;
  try {
    const header = decodeProtectedHeader(assertion);
    // The issuer picks the key (unverified until jose has checked the signature with it).
    const claimed = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8'));
    const client = clients.get(claimed.iss);
    if (!client || state.revoked.includes(claimed.iss)) throw new Error(`unknown issuer ${claimed.iss}`);
    if (header.kid !== undefined && client.kid !== undefined && header.kid !== client.kid) {
      throw new Error(`unknown kid ${header.kid}`);
    }
    ({ payload } = await verify(assertion, client.key(), { issuer: claimed.iss, audience }));
    if (payload.exp - payload.iat > 3600) throw new Error('the assertion lives more than an hour');
  } catch (e) {
    return refuse(400, 'invalid_grant', `Invalid JWT: ${e.code ?? 'ERR'} ${e.message}`);
  }
  if (payload.sub !== undefined && !SUBJECTS.includes(payload.sub)) {
    return refuse(400, 'invalid_grant', 'Invalid email or User ID');
  }
  state.stats.jwt_tokens += 1;
  const byIssuer = state.stats.jwt_tokens_by_issuer;
  byIssuer[payload.iss] = (byIssuer[payload.iss] ?? 0) + 1;
  const { token } = issue('service_account', payload.sub ?? payload.iss, payload.scope ?? '', payload.iss);
  const body = { access_token: token, token_type: 'Bearer', expires_in: state.ttlSecs };
  if (payload.scope) body.scope = payload.scope;
  send(res, 200, body);
}

async function userToken(req, res) {
  const form = new URLSearchParams(await readBody(req));
  const refuse = (error, description) => {
    state.stats.user_token_refused += 1;
    // GitHub answers these with 200 and an `error`.
    send(res, 200, { error, error_description: description });
  };
  if (form.get('client_id') !== CLIENT_ID || form.get('client_secret') !== CLIENT_SECRET) {
    return refuse('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
  }
  const code = form.get('code') ?? '';
  const reach = state.codes.get(code);
  if (!reach) return refuse('bad_verification_code', 'The code passed is incorrect or expired.');
  state.codes.delete(code);
  const token = 'ghu_' + crypto.randomBytes(24).toString('base64url');
  state.userTokens.set(token, reach);
  state.stats.user_tokens += 1;
  send(res, 200, {
    access_token: token,
    expires_in: 28800,
    refresh_token: 'ghr_' + crypto.randomBytes(24).toString('base64url'),
    refresh_token_expires_in: 15811200,
    scope: '',
    token_type: 'bearer',
  });
}

function userInstallations(req, res, url) {
  const auth = req.headers.authorization ?? '';
  const reach = state.userTokens.get(auth.startsWith('Bearer ') ? auth.slice(7) : '');
  if (!reach) return send(res, 401, { message: 'Bad credentials' });
  const perPage = Math.min(Number(url.searchParams.get('per_page') ?? '30') || 30, 100);
  const page = Math.max(Number(url.searchParams.get('page') ?? '1') || 1, 1);
  const slice = reach.slice((page - 1) * perPage, page * perPage);
  state.stats.user_installation_pages += 1;
  const headers = { 'content-type': 'application/json' };
  if (page * perPage < reach.length) {
    const next = new URL(url);
    next.searchParams.set('page', String(page + 1));
    headers.link = `<http://127.0.0.1:${server.address().port}${next.pathname}${next.search}>; rel="next"`;
  }
  res.writeHead(200, headers);
  res.end(JSON.stringify({
    total_count: reach.length,
    installations: slice.map((id) => ({ id: Number(id), app_id: Number(APP_ID), account: { login: `org-${id}` } })),
  }));
}

async function revokeUserToken(req, res, clientId) {
  const body = JSON.parse((await readBody(req)) || '{}');
  const auth = req.headers.authorization ?? '';
  const basic = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
  if (clientId !== CLIENT_ID || basic !== `${CLIENT_ID}:${CLIENT_SECRET}`) {
    return send(res, 404, { message: 'Not Found' });
  }
  if (!state.userTokens.delete(body.access_token ?? '')) {
    return send(res, 404, { message: 'Not Found' });
  }
  state.stats.user_tokens_revoked += 1;
  res.writeHead(204);
  res.end();
}

// GitHub's webhook delivery, signed here with node's crypto (X-Hub-Signature-256: the
// hex HMAC-SHA256 of the body under the webhook secret).
async function deliver(body) {
  if (!state.webhookUrl || !state.webhookSecret) throw new Error('webhookUrl and webhookSecret are not set');
  const id = String(body.installationId);
  const payload = body.payload ?? {
    action: body.action,
    installation: {
      id: body.installationId,
      account: { login: `org-${body.installationId}` },
      app_id: Number(APP_ID),
      suspended_at: state.installations[id] === 'suspended' ? state.suspendedAt[id] ?? null : null,
      updated_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    sender: { login: 'octocat' },
  };
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const secret = body.wrongSecret ? 'not-the-secret' : state.webhookSecret;
  const signature = 'sha256=' + crypto.createHmac('sha256', secret).update(text).digest('hex');
  const r = await fetch(state.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': body.event ?? 'installation',
      'x-github-delivery': body.delivery ?? crypto.randomUUID(),
      'x-hub-signature-256': signature,
      'x-github-hook-installation-target-type': 'integration',
      'x-github-hook-installation-target-id': APP_ID,
    },
    body: text,
  });
  return { status: r.status, body: await r.text() };
}

function whoami(req, res) {
  const auth = req.headers.authorization ?? '';
  const t = state.tokens.get(auth.startsWith('Bearer ') ? auth.slice(7) : '');
  if (!t || t.exp <= nowSecs()) {
    return send(res, 401, { message: 'Bad credentials' });
  }
  state.stats.api += 1;
  const body = { kind: t.kind, who: t.who, scope: t.scope };
  // The issuer of a service account's token (several keys sign at this endpoint).
  if (t.iss !== undefined && t.iss !== SA_CLIENT_ID) body.iss = t.iss;
  send(res, 200, body);
}

// A JWT the caller signed as its own credential (no token endpoint issued it).
async function signedWhoami(req, res) {
  const auth = req.headers.authorization ?? '';
  const jwt = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  const refuse = (message) => {
    state.stats.signed_refused += 1;
    send(res, 401, { title: 'Unauthorized', detail: message });
  };
  let payload;
  try {
    ({ payload } = await verify(jwt, pub(state.saKey, sa), { requiredClaims: ['iat', 'exp', 'jti'] }));
  } catch (e) {
    return refuse(`${e.code ?? 'error'}: ${e.message}`);
  }
  if (payload.application_id !== APPLICATION_ID) return refuse('unknown application_id');
  if (payload.exp - payload.iat > 24 * 3600) return refuse('lives longer than 24 hours');
  state.stats.signed_api += 1;
  state.signedJtis.add(payload.jti);
  send(res, 200, { application_id: payload.application_id, jti: payload.jti, sub: payload.sub ?? null,
    jtis_seen: state.signedJtis.size });
}

async function control(req, res, what) {
  const body = req.method === 'POST' ? JSON.parse((await readBody(req)) || '{}') : {};
  switch (what) {
    case 'stats':
      return send(res, 200, state.stats);
    case 'reset':
      for (const k of Object.keys(state.stats)) state.stats[k] = 0;
      state.stats.jwt_tokens_by_issuer = {};
      return send(res, 200, {});
    case 'deliver':
      return send(res, 200, await deliver(body));
    case 'set':
      for (const k of ['appKey', 'saKey', 'revoked', 'skewSecs', 'delayMs', 'ttlSecs', 'setupUrl', 'nextInstall',
        'userAuth', 'userInstallations', 'webhookUrl', 'webhookSecret']) {
        if (k in body) state[k] = body[k];
      }
      for (const [id, s] of Object.entries(body.installations ?? {})) {
        if (s === 'suspended' && state.installations[id] !== 'suspended') {
          state.suspendedAt[id] = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        } else if (s !== 'suspended') {
          delete state.suspendedAt[id];
        }
        state.installations[id] = s;
      }
      if (body.revokeTokens) state.tokens.clear();
      return send(res, 200, {});
    default:
      return send(res, 404, { message: 'no such control' });
  }
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://peer');
    const p = url.pathname;
    let m;
    if (p.startsWith('/__test/')) return await control(req, res, p.slice(8));
    if (req.method === 'POST' && (m = p.match(/^\/app\/installations\/(\d+)\/access_tokens$/))) {
      return await accessTokens(req, res, m[1]);
    }
    if (req.method === 'GET' && (m = p.match(/^\/app\/installations\/(\d+)$/))) {
      return await installation(req, res, m[1]);
    }
    if (req.method === 'GET' && /^\/apps\/[a-z0-9-]+\/installations\/new$/.test(p)) {
      // The user "installs" the app: back to the Setup URL, as GitHub does.
      if (!state.setupUrl) return send(res, 500, { message: 'setupUrl is not set' });
      const to = new URL(state.setupUrl);
      to.searchParams.set('installation_id', state.nextInstall);
      to.searchParams.set('setup_action', 'install');
      if (state.userAuth) {
        // "Request user authorization (OAuth) during installation": a code for the
        // installing user, who reaches `userInstallations`.
        const code = crypto.randomBytes(10).toString('hex');
        state.codes.set(code, [...state.userInstallations]);
        to.searchParams.set('code', code);
      }
      if (url.searchParams.get('state')) to.searchParams.set('state', url.searchParams.get('state'));
      res.writeHead(302, { location: to.toString() });
      return res.end();
    }
    if (req.method === 'DELETE' && p === '/installation/token') {
      // GitHub: an installation token revokes itself.
      const auth = req.headers.authorization ?? '';
      const t = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!state.tokens.has(t)) return send(res, 401, { message: 'Bad credentials' });
      state.tokens.delete(t);
      state.stats.revoked += 1;
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'POST' && p === '/login/oauth/access_token') return await userToken(req, res);
    if (req.method === 'GET' && p === '/user/installations') return userInstallations(req, res, url);
    if (req.method === 'DELETE' && (m = p.match(/^\/applications\/([^/]+)\/token$/))) {
      return await revokeUserToken(req, res, decodeURIComponent(m[1]));
    }
    if (req.method === 'POST' && p === '/token') return await tokenEndpoint(req, res);
    if (req.method === 'GET' && p === '/api/whoami') return whoami(req, res);
    if (req.method === 'GET' && p === '/signed/whoami') return await signedWhoami(req, res);
    send(res, 404, { message: 'Not Found' });
  } catch (e) {
    log(`error: ${e.stack}`);
    if (!res.headersSent) send(res, 500, { message: 'peer error' });
  }
});

server.listen(PORT, '127.0.0.1', () => {
  const port = server.address().port;
  // Customer A's key as Google hands it out (IAM > Service accounts > Keys > JSON),
  // pointing at this token endpoint.
  write('customer-a.json', JSON.stringify({
    type: 'service_account',
    project_id: 'customer-a',
    private_key_id: CUSTOMER_A_KID,
    private_key: customerA.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: CUSTOMER_A_EMAIL,
    client_id: '109876543210987654321',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: `http://127.0.0.1:${port}/token`,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(CUSTOMER_A_EMAIL)}`,
    universe_domain: 'googleapis.com',
  }, null, 2) + '\n');
  process.stdout.write(`LISTENING ${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
