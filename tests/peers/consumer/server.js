// A destination for Switchboard's delivery tests: every POST outside /__test/ is verified
// with the `standardwebhooks` package (the reference TypeScript implementation of
// Standard Webhooks, independent of Switchboard's signer), recorded, and answered as the
// current mode says. See README.md for the interface.
//
// stdout carries exactly one line, `LISTENING <port>`; everything else goes to stderr.

'use strict';

const http = require('node:http');
const { Webhook } = require('standardwebhooks');

const log = (...args) => console.error('[consumer-peer]', ...args);

function die(message) {
  log(`fatal: ${message}`);
  process.exit(1);
}

// --port N and --secret S, or the PORT and CONSUMER_SECRET variables.
function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined) die(`--${name} needs a value`);
  return v;
}

const portRaw = arg('port') ?? process.env.PORT ?? '0';
const PORT = Number(portRaw);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) die(`bad port ${JSON.stringify(portRaw)}`);
const SECRET = arg('secret') ?? process.env.CONSUMER_SECRET;
if (!SECRET) die('the signing secret is required: --secret whsec_… or CONSUMER_SECRET');
let webhook;
try {
  webhook = new Webhook(SECRET);
} catch (e) {
  die(`the secret is not usable by standardwebhooks: ${e.message}`);
}

// ---- state ------------------------------------------------------------------------------

const MODES = ['up', 'down', 'gone', 'status'];
// mode: up (200) | down (the connection is closed, no answer) | gone (410) | status (`status`)
// delay_ms: wait this long before answering (or closing), for slow consumers.
let mode = { mode: 'up', status: 200, delay_ms: 0 };
let received = [];
let seq = 0;

function answerFor(m) {
  switch (m.mode) {
    case 'up':
      return 200;
    case 'down':
      return 0;
    case 'gone':
      return 410;
    default:
      return m.status;
  }
}

// ---- HTTP -------------------------------------------------------------------------------

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseMode(body) {
  let v;
  try {
    v = JSON.parse(body.toString('utf8') || '{}');
  } catch (e) {
    return { error: `not JSON: ${e.message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'expected a JSON object' };
  if (!MODES.includes(v.mode)) return { error: `mode must be one of ${MODES.join(', ')}` };
  const status = v.status ?? (v.mode === 'status' ? undefined : answerFor({ mode: v.mode }));
  if (v.mode === 'status' && !(Number.isInteger(status) && status >= 100 && status <= 599)) {
    return { error: 'mode "status" needs an integer status between 100 and 599' };
  }
  const delay = v.delay_ms ?? 0;
  if (!Number.isInteger(delay) || delay < 0) return { error: 'delay_ms must be a non-negative integer' };
  return { mode: { mode: v.mode, status: v.mode === 'status' ? status : answerFor({ mode: v.mode }), delay_ms: delay } };
}

async function control(req, res, path) {
  if (path === '/__test/mode') {
    if (req.method === 'GET') return sendJson(res, 200, mode);
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'GET or POST' });
    const parsed = parseMode(await readBody(req));
    if (parsed.error) return sendJson(res, 400, { error: parsed.error });
    mode = parsed.mode;
    log(`mode ${JSON.stringify(mode)}`);
    return sendJson(res, 200, mode);
  }
  if (path === '/__test/received' && req.method === 'GET') {
    return sendJson(res, 200, { requests: received });
  }
  if (path === '/__test/reset' && req.method === 'POST') {
    received = [];
    return sendJson(res, 200, { reset: true });
  }
  return sendJson(res, 404, { error: 'unknown test endpoint' });
}

async function hook(req, res, path) {
  const body = await readBody(req);
  const text = body.toString('utf8');
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  let verified = false;
  let verifyError = null;
  try {
    webhook.verify(text, headers);
    verified = true;
  } catch (e) {
    verifyError = String(e && e.message ? e.message : e);
  }
  let type = null;
  let data = null;
  try {
    const parsed = JSON.parse(text);
    type = parsed.type ?? null;
    data = parsed.data ?? null;
  } catch {
    // recorded with type null
  }
  const m = mode;
  const answered = answerFor(m);
  const record = {
    seq: ++seq,
    at_ms: Date.now(),
    method: req.method,
    path,
    webhook_id: headers['webhook-id'] ?? null,
    webhook_timestamp: headers['webhook-timestamp'] ?? null,
    event_id: headers['x-switchboard-event-id'] ?? null,
    integration: headers['x-switchboard-integration'] ?? null,
    type,
    data,
    verified,
    verify_error: verifyError,
    answered,
    // Whether the whole answer was handed to the connection (false while waiting,
    // when the client gave up first, or when the connection was cut on purpose).
    completed: false,
    // Whether the client closed the connection before the answer.
    aborted: false,
  };
  received.push(record);
  res.on('finish', () => {
    record.completed = true;
  });
  res.on('close', () => {
    if (!record.completed && answered !== 0) record.aborted = true;
  });
  if (m.delay_ms > 0) await new Promise((r) => setTimeout(r, m.delay_ms));
  if (answered === 0) {
    // Down: no answer at all, the connection is cut.
    req.socket.destroy();
    return;
  }
  if (res.destroyed || req.socket.destroyed) return;
  if (answered === 204 || answered === 304) {
    res.writeHead(answered);
    return res.end();
  }
  sendJson(res, answered, { received: answered < 300 });
}

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  const handler = path.startsWith('/__test/') ? control : hook;
  handler(req, res, path).catch((e) => {
    log(`error on ${req.method} ${path}: ${e && e.stack ? e.stack : e}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
    else res.destroy();
  });
});
server.keepAliveTimeout = 5000;

server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
