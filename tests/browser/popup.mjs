// Drives a real headless Chromium through Switchboard's popup connect flow and reports
// what an app's opener window observes. Run by crates/switchboard/tests/it/browser.rs;
// see README.md for the input and output formats.
//
//   node popup.mjs '<input JSON>'      (or the JSON in $SWITCHBOARD_BROWSER_INPUT)
//
// For each run it opens an opener page (served here, plain node:http, on 127.0.0.1),
// clicks its button, which does `window.open(auth_url)`, lets the popup walk Switchboard
// and the authorization server, and records every `message` event the opener receives
// (data and event.origin) and whether the popup closed itself. It prints one JSON line on
// stdout and exits 0 whenever the browser could be driven; assertions are the caller's.
// Driver problems (bad input, a port that cannot be bound, Chromium that does not start,
// a popup that never opens) exit 2 with a `popup.mjs: …` message on stderr.

import http from 'node:http';
import { chromium } from 'playwright-core';

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

class DriverError extends Error {}

function fail(message) {
  throw new DriverError(message);
}

function readInput() {
  const raw = process.argv[2] ?? process.env.SWITCHBOARD_BROWSER_INPUT;
  if (!raw) fail('no input: pass the input JSON as the first argument or in $SWITCHBOARD_BROWSER_INPUT');
  let input;
  try {
    input = JSON.parse(raw);
  } catch (e) {
    fail(`the input is not JSON (${e.message})`);
  }
  const port = (v, what, allowZero) => {
    if (!Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535) fail(`${what} must be a port number, got ${JSON.stringify(v)}`);
    return v;
  };
  port(input.app_port, 'app_port', false);
  input.foreign_port = port(input.foreign_port ?? 0, 'foreign_port', true);
  if (!Array.isArray(input.runs) || input.runs.length === 0) fail('runs must be a non-empty array');
  const names = new Set();
  for (const [i, run] of input.runs.entries()) {
    if (typeof run.name !== 'string' || !run.name) fail(`runs[${i}].name must be a non-empty string`);
    if (names.has(run.name)) fail(`runs[${i}].name ${JSON.stringify(run.name)} is used twice`);
    names.add(run.name);
    run.opener ??= 'app';
    if (run.opener !== 'app' && run.opener !== 'foreign') fail(`runs[${i}].opener must be "app" or "foreign"`);
    try {
      new URL(run.auth_url);
    } catch {
      fail(`runs[${i}].auth_url must be an absolute URL, got ${JSON.stringify(run.auth_url)}`);
    }
    run.deny = Boolean(run.deny);
    run.inject_inline = Boolean(run.inject_inline);
  }
  input.timeout_ms ??= 15000;
  input.settle_ms ??= 400;
  // Past result.js's own wait for an acknowledgement (5 s), under load too.
  input.after_result_ms ??= 15000;
  input.chromium ??= process.env.CHROMIUM ?? DEFAULT_CHROMIUM;
  if (input.opener_html !== undefined && typeof input.opener_html !== 'string') fail('opener_html must be a string');
  input.app_json ??= {};
  if (input.popup_click !== undefined && typeof input.popup_click !== 'string') fail('popup_click must be a CSS selector');
  if (input.opener_wait !== undefined && typeof input.opener_wait !== 'string') fail('opener_wait must be a CSS selector');
  if (typeof input.app_json !== 'object' || Array.isArray(input.app_json)) fail('app_json must be an object of path: JSON');
  return input;
}

// The opener page: a button that opens the popup, and a log of every message received.
// A message from Switchboard's origin is acknowledged, as the docs tell an app without
// switchboard.js to do (the popup closes on that).
const OPENER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opener</title></head>
<body>
<button id="connect" type="button">Connect</button>
<script>
  window.__messages = [];
  window.__popup = undefined;
  window.addEventListener('message', (e) => {
    let data;
    try { data = JSON.parse(JSON.stringify(e.data)); } catch { data = String(e.data); }
    window.__messages.push({ origin: e.origin, data });
    const auth = new URLSearchParams(location.search).get('auth');
    if (e.source === window.__popup && e.origin === new URL(auth).origin && data && data.source === 'switchboard') {
      e.source.postMessage({ source: 'switchboard', type: 'ack' }, e.origin);
    }
  });
  document.getElementById('connect').addEventListener('click', () => {
    const auth = new URLSearchParams(location.search).get('auth');
    window.__popup = window.open(auth, 'switchboard_connect', 'popup,width=520,height=640');
  });
</script>
</body></html>
`;

// The app page is OPENER_PAGE, or the caller's `opener_html` (a page from the docs) with
// the caller's `app_json` answers (path: JSON, to GET or POST) standing in for the app's
// backend.
function serveOpener(port, openerHtml = OPENER_PAGE, appJson = {}) {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(openerHtml);
    } else if ((req.method === 'GET' || req.method === 'POST') && Object.hasOwn(appJson, path)) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(appJson[path]));
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new DriverError(`cannot serve the opener page on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(port, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({ server, origin });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function isCallback(url) {
  try {
    return /^\/api\/integrations\/[^/]+\/callback$/.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

async function drive(browser, input, run, openerOrigin) {
  const started = Date.now();
  const out = {
    name: run.name,
    opener_origin: openerOrigin,
    popup_opened: false,
    popup_closed: false,
    messages: [],
    result: null,
    navigations: [],
    console: [],
    page_errors: [],
    elapsed_ms: 0,
  };
  const context = await browser.newContext();
  try {
    let resultSeenAt = null;
    context.on('console', (m) => {
      let url = '';
      try {
        url = m.page()?.url() ?? '';
      } catch {}
      out.console.push({ type: m.type(), text: m.text(), url });
    });
    context.on('weberror', (e) => out.page_errors.push(String(e.error())));
    context.on('request', (r) => {
      if (r.isNavigationRequest()) out.navigations.push(r.url());
    });
    context.on('response', async (r) => {
      if (!r.request().isNavigationRequest() || !isCallback(r.url())) return;
      resultSeenAt ??= Date.now();
      const headers = await r.allHeaders().catch(() => r.headers());
      out.result = {
        url: r.url(),
        status: r.status(),
        content_type: headers['content-type'] ?? null,
        csp: headers['content-security-policy'] ?? null,
      };
    });
    if (run.deny) {
      // The peer denies when the authorization request carries login_hint=deny. The URL
      // is Switchboard's to build, and a route never sees the hops of a redirect chain,
      // so Switchboard's redirect to the provider is fetched here and passed on to the
      // browser with login_hint=deny added to its Location.
      await context.route(
        (u) => u.toString() === run.auth_url,
        async (route) => {
          const response = await route.fetch({ maxRedirects: 0 });
          const headers = response.headers();
          if (response.status() < 300 || response.status() > 399 || !headers.location) {
            out.deny_error = `Switchboard answered ${response.status()} to the auth URL, not a redirect`;
            await route.fulfill({ response });
            return;
          }
          const location = new URL(headers.location, run.auth_url);
          location.searchParams.set('login_hint', 'deny');
          await route.fulfill({ response, headers: { ...headers, location: location.toString() } });
        },
      );
    }
    if (run.inject_inline) {
      // A control: the result page with an inline script added, which the page's CSP
      // (script-src 'self') must refuse. A route never sees the hops of a redirect
      // chain, so the whole chain (Switchboard, the provider, the callback) is walked
      // here with the context's cookies and the result page is served to the popup in
      // place of the auth URL (same origin, same headers, the body with the script).
      await context.route(
        (u) => u.toString() === run.auth_url,
        async (route) => {
          const response = await route.fetch({ maxRedirects: 20 });
          const headers = response.headers();
          let injected = 0;
          // In the head, so that it comes before the page's own script (which closes
          // the popup).
          const body = (await response.text()).replace(/<\/head>/, () => {
            injected += 1;
            return `<script>window.opener && window.opener.postMessage({source: 'switchboard', status: 'connected', connection_id: 'injected'}, '*');</script></head>`;
          });
          resultSeenAt ??= Date.now();
          out.result = {
            url: response.url(),
            status: response.status(),
            content_type: headers['content-type'] ?? null,
            csp: headers['content-security-policy'] ?? null,
          };
          out.injected = injected;
          await route.fulfill({ response, body });
        },
      );
    }

    const custom = input.opener_html !== undefined && run.opener === 'app';
    if (custom) {
      // The page is not ours: record the messages it receives from the start.
      await context.addInitScript(() => {
        window.__messages = [];
        window.addEventListener('message', (e) => {
          let data;
          try { data = JSON.parse(JSON.stringify(e.data)); } catch { data = String(e.data); }
          window.__messages.push({ origin: e.origin, data });
        });
      });
    }
    const page = await context.newPage();
    const popupEvent = context.waitForEvent('page', { timeout: input.timeout_ms }).catch(() => null);
    const openerUrl = `${openerOrigin}/?auth=${encodeURIComponent(run.auth_url)}`;
    const nav = await page.goto(openerUrl, { timeout: input.timeout_ms });
    if (!nav || nav.status() !== 200) fail(`${run.name}: the opener page ${openerUrl} answered ${nav?.status()}`);
    await page.click('#connect', { timeout: input.timeout_ms });
    const popupPage = custom ? await popupEvent : null;
    if (popupPage && input.popup_click) {
      // The page opened the Connect page: click the integration's button, as a user.
      await popupPage.click(input.popup_click, { timeout: input.timeout_ms });
    }
    out.popup_opened = custom ? popupPage != null : await page.evaluate(() => window.__popup != null);
    if (!out.popup_opened) fail(`${run.name}: window.open returned null (popup blocked?)`);
    const popupClosed = () => (custom ? popupPage.isClosed() : page.evaluate(() => window.__popup.closed));

    // Until the popup closed itself (and, with opener_wait, the opener shows a result),
    // or its result page has been up for after_result_ms (its script did not close it),
    // or the timeout. No fixed pause decides anything: on a loaded machine every step
    // may take seconds.
    const deadline = started + input.timeout_ms;
    const openerDone = () =>
      input.opener_wait === undefined || !custom
        ? true
        : page.evaluate((sel) => (document.querySelector(sel)?.textContent ?? '').trim() !== '', input.opener_wait);
    while (Date.now() < deadline) {
      if (!out.popup_closed && (await popupClosed())) out.popup_closed = true;
      if (out.popup_closed && (await openerDone())) break;
      if (resultSeenAt !== null && Date.now() - resultSeenAt > input.after_result_ms) break;
      await sleep(50);
    }
    // Messages are delivered asynchronously: give late ones a chance to arrive.
    await sleep(input.settle_ms);
    out.messages = await page.evaluate(() => window.__messages);
    if (custom) out.opener_text = await page.evaluate(() => document.body?.innerText ?? '');
    if (!out.popup_closed) {
      out.popup_closed = await popupClosed();
      const popup = context.pages().find((p) => p !== page);
      out.popup_url = popup ? popup.url() : null;
      out.popup_text = popup ? await popup.evaluate(() => document.body?.innerText ?? '').catch(() => null) : null;
    }
    out.timed_out = !out.popup_closed && resultSeenAt === null;
  } finally {
    out.elapsed_ms = Date.now() - started;
    await context.close().catch(() => {});
  }
  return out;
}

async function main() {
  const input = readInput();
  const servers = [];
  let browser;
  try {
    const app = await serveOpener(input.app_port, input.opener_html, input.app_json);
    servers.push(app.server);
    const foreign = await serveOpener(input.foreign_port);
    servers.push(foreign.server);
    try {
      browser = await chromium.launch({
        executablePath: input.chromium,
        headless: true,
        // Root (CI containers) cannot use Chromium's sandbox.
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
        // Generous: a loaded machine starts Chromium slowly.
        timeout: 90000,
      });
    } catch (e) {
      fail(`cannot start Chromium at ${input.chromium} (run scripts/setup to install Debian's chromium): ${e.message}`);
    }
    const runs = await Promise.all(
      input.runs.map((run) => drive(browser, input, run, run.opener === 'app' ? app.origin : foreign.origin)),
    );
    const report = {
      chromium: browser.version(),
      app_origin: app.origin,
      foreign_origin: foreign.origin,
      runs,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    for (const s of servers) {
      s.closeAllConnections?.();
      s.close();
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`popup.mjs: ${e instanceof DriverError ? e.message : e?.stack ?? e}\n`);
    process.exit(2);
  },
);
