// A real OAuth 2.0 / OpenID Connect authorization server (panva/oidc-provider) for
// Switchboard's end-to-end tests. See README.md for the interface.
//
// stdout carries exactly one line, `LISTENING <port>`; everything else goes to stderr.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// oidc-provider prints its NOTICEs with console.info (stdout): send all console output to
// stderr before the library is loaded, so stdout stays the single readiness line.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const { default: Provider } = await import('oidc-provider');

const log = (...args) => console.error('[oidc-peer]', ...args);

function die(message) {
  log(`fatal: ${message}`);
  process.exit(1);
}

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) die(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

const PORT = intEnv('PORT', 0);
const ACCESS_TOKEN_TTL = intEnv('ACCESS_TOKEN_TTL', 3600);
// Changeable at run time (POST /__test/ttl), so a test can issue one short-lived token
// and long-lived ones after it.
let accessTtl = ACCESS_TOKEN_TTL;
// Every token value the token endpoint handed out (GET /__test/issued), so leak tests
// can grep for each of them.
const issued = [];
const REFRESH_TOKEN_TTL = intEnv('REFRESH_TOKEN_TTL', 24 * 60 * 60);

let clients;
try {
  clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
} catch (e) {
  die(`OIDC_CLIENTS is not valid JSON: ${e.message}`);
}
if (!Array.isArray(clients)) die('OIDC_CLIENTS must be a JSON array of client metadata objects');

// Endpoint paths (the oidc-provider defaults, spelled out so the counters can match them).
const ROUTES = {
  authorization: '/auth',
  token: '/token',
  userinfo: '/me',
  revocation: '/token/revocation',
  introspection: '/token/introspection',
  jwks: '/jwks',
  end_session: '/session/end',
};
const FAULTABLE = new Map([
  [ROUTES.token, 'token'],
  [ROUTES.userinfo, 'userinfo'],
  [ROUTES.revocation, 'revocation'],
  [ROUTES.introspection, 'introspection'],
]);
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'];

// ---- counters and fault injection -----------------------------------------------------

function zeroStats() {
  return {
    token: Object.fromEntries(GRANT_TYPES.map((g) => [g, 0])),
    token_other: 0, // token requests with a missing or other grant_type
    token_errors: 0, // token responses with status >= 400 (injected faults included)
    revocation: 0,
    introspection: 0,
    userinfo: 0,
    authorization: 0,
    faults_injected: 0,
  };
}
let stats = zeroStats();
const faults = new Map(); // endpoint -> { status, count, body, delay_ms, content_type, hold }
// Requests stopped by a `hold` fault, per endpoint: the resolve functions that let them go
// on (POST /__test/release). Not counters: they survive POST /__test/reset.
const held = new Map(); // endpoint -> [resolve]

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const BODY_LIMIT = 56 * 1024; // the same limit oidc-provider applies

async function readRaw(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Error('request entity too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

async function testControl(ctx) {
  const { method, path } = ctx;
  if (method === 'GET' && path === '/__test/stats') {
    return json(ctx, 200, stats);
  }
  if (method === 'POST' && path === '/__test/reset') {
    stats = zeroStats();
    return json(ctx, 200, stats);
  }
  if (method === 'GET' && path === '/__test/issued') {
    return json(ctx, 200, issued);
  }
  if (method === 'POST' && path === '/__test/ttl') {
    let spec;
    try {
      spec = JSON.parse((await readRaw(ctx.req)).toString('utf8') || '{}');
    } catch (e) {
      return json(ctx, 400, { error: `body must be JSON: ${e.message}` });
    }
    const n = spec?.access_token;
    if (!Number.isInteger(n) || n < 1) return json(ctx, 400, { error: 'access_token must be an integer >= 1' });
    accessTtl = n;
    return json(ctx, 200, { access_token: accessTtl });
  }
  if (method === 'GET' && path === '/__test/fail') {
    return json(ctx, 200, Object.fromEntries(faults));
  }
  if (method === 'GET' && path === '/__test/held') {
    return json(ctx, 200, Object.fromEntries([...FAULTABLE.values()].map((e) => [e, (held.get(e) ?? []).length])));
  }
  if (method === 'POST' && path === '/__test/release') {
    let spec;
    try {
      spec = JSON.parse((await readRaw(ctx.req)).toString('utf8') || '{}');
    } catch (e) {
      return json(ctx, 400, { error: `body must be JSON: ${e.message}` });
    }
    const endpoint = spec?.endpoint;
    if (![...FAULTABLE.values()].includes(endpoint)) {
      return json(ctx, 400, { error: `endpoint must be one of ${[...FAULTABLE.values()].join(', ')}` });
    }
    const waiting = held.get(endpoint) ?? [];
    held.delete(endpoint);
    for (const resolve of waiting) resolve();
    return json(ctx, 200, { released: waiting.length });
  }
  if (method === 'POST' && path === '/__test/fail') {
    let spec;
    try {
      const raw = await readRaw(ctx.req);
      spec = JSON.parse(raw.toString('utf8') || '{}');
    } catch (e) {
      return json(ctx, 400, { error: `body must be JSON: ${e.message}` });
    }
    const endpoint = spec?.endpoint;
    if (![...FAULTABLE.values()].includes(endpoint)) {
      return json(ctx, 400, { error: `endpoint must be one of ${[...FAULTABLE.values()].join(', ')}` });
    }
    const status = spec.status ?? 0;
    const count = spec.count ?? 1;
    const delayMs = spec.delay_ms ?? 0;
    if (!Number.isInteger(status) || (status !== 0 && (status < 100 || status > 599))) {
      return json(ctx, 400, { error: 'status must be an HTTP status (or 0 to only delay)' });
    }
    if (!Number.isInteger(count) || count < 0) return json(ctx, 400, { error: 'count must be an integer >= 0' });
    if (!Number.isInteger(delayMs) || delayMs < 0) return json(ctx, 400, { error: 'delay_ms must be an integer >= 0' });
    if (spec.body !== undefined && typeof spec.body !== 'string') {
      return json(ctx, 400, { error: 'body must be a string' });
    }
    if (spec.hold !== undefined && typeof spec.hold !== 'boolean') {
      return json(ctx, 400, { error: 'hold must be true or false' });
    }
    if (count === 0) {
      faults.delete(endpoint);
    } else {
      faults.set(endpoint, {
        status, count, delay_ms: delayMs, body: spec.body, content_type: spec.content_type, hold: spec.hold ?? false,
      });
    }
    return json(ctx, 200, Object.fromEntries(faults));
  }
  return json(ctx, 404, { error: `no test-control route ${method} ${path}` });
}

// Answers the request with an injected fault if one is armed for `endpoint`. Returns true
// when the request was answered (the provider must not see it).
async function injectFault(ctx, endpoint) {
  const fault = faults.get(endpoint);
  if (!fault) return false;
  fault.count -= 1;
  if (fault.count <= 0) faults.delete(endpoint);
  stats.faults_injected += 1;
  if (fault.delay_ms) await sleep(fault.delay_ms);
  if (fault.hold) {
    await new Promise((resolve) => {
      if (!held.has(endpoint)) held.set(endpoint, []);
      held.get(endpoint).push(resolve);
      log(`holding a ${endpoint} request until POST /__test/release`);
    });
  }
  if (!fault.status) return false; // delay only, then the provider answers
  ctx.status = fault.status;
  let { body } = fault;
  if (body === undefined) {
    body = JSON.stringify({ error: 'temporarily_unavailable', error_description: `injected fault (${fault.status})` });
  }
  let type = fault.content_type;
  if (!type) {
    try {
      JSON.parse(body);
      type = 'application/json';
    } catch {
      type = 'text/plain';
    }
  }
  ctx.type = type;
  ctx.body = body;
  return true;
}

// ---- accounts and interactions -----------------------------------------------------------

function account(id) {
  const name = id.charAt(0).toUpperCase() + id.slice(1);
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: `${id}@example.test`,
        email_verified: true,
        name,
        given_name: name,
        preferred_username: id,
        // For admission by group: `ops-*` accounts administer, `case-*` are in a group
        // whose name differs from it only by case, everyone is staff.
        groups: id.startsWith('ops-')
          ? ['staff', 'switchboard-admins']
          : id.startsWith('case-') ? ['staff', 'Switchboard-Admins'] : ['staff'],
      };
    },
  };
}

// ---- the provider --------------------------------------------------------------------------

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }), kid: `rs256-${crypto.randomUUID()}`, use: 'sig', alg: 'RS256',
};

let handler = (_req, res) => {
  res.statusCode = 503;
  res.end('starting');
};
const server = http.createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 5000;

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, '127.0.0.1', resolve);
}).catch((e) => die(`cannot listen on 127.0.0.1:${PORT}: ${e.message}`));

const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients,
  jwks: { keys: [signingKey] },
  findAccount: async (_ctx, sub) => account(sub),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'api:read', 'api:write'],
  routes: ROUTES,
  pkce: { required: () => true }, // oidc-provider 9 only implements S256
  rotateRefreshToken: true,
  // A refresh token for every code grant of a client allowed to refresh (no offline_access needed).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Tokens outlive the (throw-away) browser session of the test.
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: () => accessTtl,
    ClientCredentials: () => accessTtl,
    RefreshToken: REFRESH_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 24 * 60 * 60,
    Grant: Math.max(REFRESH_TOKEN_TTL, 24 * 60 * 60),
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  clientBasedCORS: () => true,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out, error) => {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(out);
    log(`rendered error ${JSON.stringify(out)} ${error?.message ?? ''}`);
  },
};

let provider;
try {
  provider = new Provider(issuer, configuration);
  for (const c of clients) {
    // eslint-disable-next-line no-await-in-loop
    await provider.Client.validate(c);
  }
} catch (e) {
  die(`invalid configuration or OIDC_CLIENTS: ${e.message}${e.error_description ? ` (${e.error_description})` : ''}`);
}

provider.on('grant.success', (ctx) => {
  const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
  for (const key of ['access_token', 'refresh_token', 'id_token']) {
    if (typeof body[key] === 'string') issued.push({ kind: key, value: body[key] });
  }
});

// Loopback only: HTTP without TLS is what the tests use.
provider.proxy = false;

for (const event of [
  'server_error', 'grant.error', 'authorization.error', 'introspection.error',
  'revocation.error', 'userinfo.error', 'discovery.error', 'jwks.error',
]) {
  provider.on(event, (_ctx, err) => {
    log(`${event}: ${err?.name ?? ''} ${err?.message ?? err}${err?.error_description ? ` (${err.error_description})` : ''}${err?.error_detail ? ` [${err.error_detail}]` : ''}`);
  });
}

// Outermost: access log on stderr (path only, no query strings or bodies).
provider.use(async (ctx, next) => {
  const start = Date.now();
  try {
    await next();
  } finally {
    log(`${ctx.method} ${ctx.path} -> ${ctx.status} (${Date.now() - start} ms)`);
  }
});

// Test control, counters and fault injection, before the provider's own routes.
provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/__test/')) {
    return testControl(ctx);
  }

  if (ctx.path === ROUTES.authorization && (ctx.method === 'GET' || ctx.method === 'POST')) {
    stats.authorization += 1;
    return next();
  }

  const endpoint = ctx.method === 'POST' || (ctx.path === ROUTES.userinfo && ctx.method === 'GET')
    ? FAULTABLE.get(ctx.path)
    : undefined;
  if (!endpoint) return next();

  if (endpoint !== 'token') {
    stats[endpoint] += 1;
    if (await injectFault(ctx, endpoint)) return undefined;
    return next();
  }

  // Token endpoint: read the form body here to count by grant_type (rejected requests
  // too), then hand the raw bytes to oidc-provider, which parses `req.body` when the
  // stream was already consumed.
  let grantType;
  if (ctx.is('application/x-www-form-urlencoded')) {
    let raw;
    try {
      raw = await readRaw(ctx.req);
    } catch (e) {
      stats.token_other += 1;
      stats.token_errors += 1;
      return json(ctx, 400, { error: 'invalid_request', error_description: `failed to read the request body: ${e.message}` });
    }
    ctx.req.body = raw;
    grantType = new URLSearchParams(raw.toString('utf8')).getAll('grant_type');
    grantType = grantType.length === 1 ? grantType[0] : undefined;
  }
  if (GRANT_TYPES.includes(grantType)) {
    stats.token[grantType] += 1;
  } else {
    stats.token_other += 1;
  }
  try {
    if (!(await injectFault(ctx, 'token'))) await next();
  } finally {
    if (ctx.status >= 400) stats.token_errors += 1;
  }
  return undefined;
});

// Interactions complete on their own: log in `login_hint` (default `alice`) and grant
// everything requested; `login_hint=deny` ends with error=access_denied at the client.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET') return next();

  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  const login = typeof params.login_hint === 'string' && params.login_hint ? params.login_hint : 'alice';

  let result;
  if (login === 'deny') {
    result = { error: 'access_denied', error_description: 'the end-user denied the request (login_hint=deny)' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: login } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: 'access_denied', error_description: `the test peer cannot complete the ${prompt.name} prompt` };
  }

  log(`interaction ${match[1]}: prompt=${prompt.name} login=${login} -> ${Object.keys(result).join(',')}`);
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: !('error' in result),
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
});

handler = provider.callback();

function shutdown(signal) {
  log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

log(`issuer ${issuer}; ${clients.length} client(s); access token ttl ${ACCESS_TOKEN_TTL}s; refresh token ttl ${REFRESH_TOKEN_TTL}s`);
process.stdout.write(`LISTENING ${port}\n`);
