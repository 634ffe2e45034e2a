// Drives a real headless Chromium through Switchboard's connect snippet
// (`/connect/switchboard.js`) and takes screenshots of the Connect page. Run by
// crates/switchboard/tests/it/snippet.rs; see README.md for the input and output.
//
//   node snippet.mjs '<input JSON>'      (or the JSON in $SWITCHBOARD_BROWSER_INPUT)
//
// For each run it serves an app page on 127.0.0.1:<app_port> that loads switchboard.js
// from Switchboard, clicks its button (which calls Switchboard.connect(run.options)),
// acts in the popup as the run says, and reports how the Promise settled. Actions:
//   oauth, deny     click the integration's button in the popup (the OIDC peer
//                   approves, or denies with login_hint=deny)
//   close           close the popup once it loaded, as a user would
//   api_key         fill run.fields in the popup's form and submit it; with
//                   run.close_after, wait for the form's error, then close the popup
//   none            nothing in a popup (the snippet rejects by itself)
//   redirect        with run.block_popup: the whole page goes to the Connect page;
//                   click the integration's button there and wait for the page to land
//                   back on the app's origin (return_to), reported as final_url
//   concurrent      a second connect() (run.options2) while the popup is open, reported
//                   as outcome2 with the number of windows; then the popup's oauth flow;
//                   then the second connect() again, in a popup of its own (outcome3)
// run.block_popup stubs window.open (returns null) in the app page before the click.
// Nothing waits a fixed time: each step waits for what it needs, within timeout_ms. It prints one
// JSON line on stdout and exits 0 whenever the browser could be driven; assertions are
// the caller's. Driver problems exit 2 with a `snippet.mjs: …` message on stderr.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const DEFAULT_CHROMIUM = '/usr/bin/chromium';
const ACTIONS = ['oauth', 'deny', 'close', 'api_key', 'none', 'redirect', 'concurrent'];

class DriverError extends Error {}
const fail = (m) => {
  throw new DriverError(m);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readInput() {
  const raw = process.argv[2] ?? process.env.SWITCHBOARD_BROWSER_INPUT;
  if (!raw) fail('no input: pass the input JSON as the first argument or in $SWITCHBOARD_BROWSER_INPUT');
  let input;
  try {
    input = JSON.parse(raw);
  } catch (e) {
    fail(`the input is not JSON (${e.message})`);
  }
  if (!Number.isInteger(input.app_port) || input.app_port < 1 || input.app_port > 65535) fail('app_port must be a port number');
  try {
    input.switchboard = new URL(input.switchboard).origin;
  } catch {
    fail('switchboard must be Switchboard\'s URL');
  }
  input.runs ??= [];
  input.screenshots ??= [];
  if (!Array.isArray(input.runs) || !Array.isArray(input.screenshots)) fail('runs and screenshots must be arrays');
  const names = new Set();
  for (const [i, run] of input.runs.entries()) {
    if (typeof run.name !== 'string' || !run.name || names.has(run.name)) fail(`runs[${i}].name must be a unique non-empty string`);
    names.add(run.name);
    run.action ??= 'oauth';
    if (!ACTIONS.includes(run.action)) fail(`runs[${i}].action must be one of ${ACTIONS.join(', ')}`);
    if (typeof run.options !== 'object' || run.options === null) fail(`runs[${i}].options must be the object given to Switchboard.connect`);
    run.fields ??= {};
    run.forge = Boolean(run.forge);
    run.block_popup = Boolean(run.block_popup);
    run.close_after = Boolean(run.close_after);
    if (run.action === 'concurrent' && (typeof run.options2 !== 'object' || run.options2 === null)) fail(`runs[${i}].options2 must be the second connect()'s options`);
    if (run.action === 'redirect' && !run.block_popup) fail(`runs[${i}]: the redirect action needs block_popup`);
  }
  for (const [i, s] of input.screenshots.entries()) {
    if (typeof s.name !== 'string' || !/^[a-z0-9_-]+$/.test(s.name)) fail(`screenshots[${i}].name must be [a-z0-9_-]+`);
    if (!Number.isInteger(s.width) || s.width < 200) fail(`screenshots[${i}].width must be a number of pixels`);
    s.height ??= 900;
    s.scheme ??= 'light';
  }
  if (input.screenshots.length && typeof input.screenshot_dir !== 'string') fail('screenshot_dir is needed for screenshots');
  // Generous: a bound on a loaded machine, never a measurement.
  input.timeout_ms ??= 60000;
  input.chromium ??= process.env.CHROMIUM ?? DEFAULT_CHROMIUM;
  return input;
}

// The app's page: loads the snippet from Switchboard; its button calls connect() with
// the options in the query and records how the Promise settles.
function appPage(switchboard) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>app</title>
<script src="${switchboard}/connect/switchboard.js"></script></head>
<body>
<button id="connect" type="button">Connect</button>
<button id="connect2" type="button">Connect another</button>
<script>
  window.__outcome = null;
  window.__outcome2 = null;
  window.__messages = [];
  window.addEventListener('message', (e) => {
    let data;
    try { data = JSON.parse(JSON.stringify(e.data)); } catch { data = String(e.data); }
    window.__messages.push({ origin: e.origin, data });
  });
  function start(param, slot) {
    const options = JSON.parse(new URLSearchParams(location.search).get(param));
    window[slot] = null;
    Switchboard.connect(options).then(
      (value) => { window[slot] = { resolved: value }; },
      (e) => {
        window[slot] = { rejected: {
          name: e && e.name, code: e && e.code, message: e && e.message,
          is_error: e instanceof Error, is_switchboard_error: e instanceof Switchboard.SwitchboardError,
          connection_id: e && e.connectionId, integration: e && e.integration,
        } };
      },
    );
  }
  document.getElementById('connect').addEventListener('click', () => start('options', '__outcome'));
  document.getElementById('connect2').addEventListener('click', () => start('options2', '__outcome2'));
</script>
</body></html>
`;
}

function serveApp(port, html) {
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (req.method === 'GET' && p === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    } else if (req.method === 'GET' && p === '/done') {
      // The sessions' return_to.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end('<!doctype html><title>done</title><p>back in the app</p>');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new DriverError(`cannot serve the app page on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(port, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

// A page of the provider's origin that posts a forged "connected" result to the opener,
// then goes on to the real authorization URL.
function forgeryPage(next) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>forgery</title></head><body>
<script>
  if (window.opener) window.opener.postMessage({ source: 'switchboard', status: 'connected', connection_id: 'forged', integration: 'acme' }, '*');
  setTimeout(() => location.replace(${JSON.stringify(next)}), 300);
</script></body></html>`;
}

async function drive(browser, input, run, app) {
  const started = Date.now();
  const out = { name: run.name, outcome: null, popup_opened: false, popup_closed: false, messages: [], navigations: [], console: [], page_errors: [], forged: 0 };
  const context = await browser.newContext();
  try {
    context.on('console', (m) => out.console.push({ type: m.type(), text: m.text() }));
    context.on('weberror', (e) => out.page_errors.push(String(e.error())));
    context.on('request', (r) => {
      if (r.isNavigationRequest()) out.navigations.push(r.url());
    });
    const isAuth = (u) => u.origin === input.switchboard && /^\/api\/integrations\/[^/]+\/auth$/.test(u.pathname);
    if (run.action === 'deny') {
      await context.route(isAuth, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 });
        const headers = response.headers();
        if (!headers.location) {
          await route.fulfill({ response });
          return;
        }
        const location = new URL(headers.location, route.request().url());
        location.searchParams.set('login_hint', 'deny');
        await route.fulfill({ response, headers: { ...headers, location: location.toString() } });
      });
    }
    if (run.forge) {
      // Routes never see the hops of a redirect chain, so Switchboard's redirect to the
      // provider is fetched here and replaced by a page that goes there itself; that
      // navigation (to the provider's origin) is answered once with the forgery page.
      await context.route(isAuth, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 });
        const location = response.headers().location;
        if (!location) {
          await route.fulfill({ response });
          return;
        }
        const next = new URL(location, route.request().url()).toString();
        await route.fulfill({
          status: 200,
          contentType: 'text/html',
          body: `<!doctype html><script>location.replace(${JSON.stringify(next)})</script>`,
        });
      });
      await context.route(
        (u) => u.origin !== input.switchboard && u.origin !== app.origin && !u.searchParams.has('sb_forged'),
        async (route) => {
          if (!route.request().isNavigationRequest()) return route.continue();
          const next = new URL(route.request().url());
          next.searchParams.set('sb_forged', '1');
          out.forged += 1;
          await route.fulfill({ status: 200, contentType: 'text/html', body: forgeryPage(next.toString()) });
        },
      );
    }
    const page = await context.newPage();
    const nextPopup = () => context.waitForEvent('page', { timeout: input.timeout_ms }).catch(() => null);
    const popupEvent = run.block_popup ? Promise.resolve(null) : nextPopup();
    let url = `${app.origin}/?options=${encodeURIComponent(JSON.stringify(run.options))}`;
    if (run.options2) url += `&options2=${encodeURIComponent(JSON.stringify(run.options2))}`;
    const nav = await page.goto(url, { timeout: input.timeout_ms });
    if (!nav || nav.status() !== 200) fail(`${run.name}: the app page answered ${nav?.status()}`);
    if (run.block_popup) {
      // As a popup blocker does: window.open gives null.
      await page.evaluate(() => {
        window.open = () => null;
      });
    }
    await page.click('#connect', { timeout: input.timeout_ms });
    const settled = (slot = '__outcome') => page.evaluate((s) => window[s], slot);
    const waitSettled = async (slot) => {
      const until = Date.now() + input.timeout_ms;
      while (Date.now() < until && (await settled(slot)) === null) await sleep(50);
      return settled(slot);
    };
    const it = run.options.integration ?? run.integration;
    const section = `section[data-integration="${it}"]`;
    if (run.action === 'redirect') {
      // The page itself went to the Connect page; through the provider and back to
      // return_to on the app's origin.
      await page.click(`${section} a.button`, { timeout: input.timeout_ms });
      await page.waitForURL((u) => u.origin === app.origin && u.pathname === '/done', { timeout: input.timeout_ms });
      out.final_url = page.url();
      out.popups = context.pages().length - 1;
      return out;
    }
    let popup = null;
    if (run.action === 'concurrent') {
      popup = await popupEvent;
      if (!popup) fail(`${run.name}: no popup opened`);
      await popup.waitForSelector(section, { timeout: input.timeout_ms });
      await page.click('#connect2', { timeout: input.timeout_ms });
      out.outcome2 = await waitSettled('__outcome2');
      out.windows_after_second = context.pages().length;
      out.first_popup_url = popup.url();
      await popup.click(`${section} a.button`, { timeout: input.timeout_ms });
      out.outcome = await waitSettled('__outcome');
      // Settled: the next connect() opens a popup of its own.
      const third = nextPopup();
      await page.click('#connect2', { timeout: input.timeout_ms });
      const popup3 = await third;
      if (!popup3) fail(`${run.name}: no popup for the third connect()`);
      out.third_is_new_window = popup3 !== popup;
      await popup3.click(`${section} a.button`, { timeout: input.timeout_ms });
      out.outcome3 = await waitSettled('__outcome2');
      out.messages = await page.evaluate(() => window.__messages);
      return out;
    }
    if (run.action !== 'none') {
      popup = await popupEvent;
      out.popup_opened = popup !== null;
      if (!popup) fail(`${run.name}: no popup opened`);
      popup.on('close', () => {
        out.popup_closed = true;
      });
      if (run.action !== 'close') await popup.waitForSelector(section, { timeout: input.timeout_ms }).catch(() => {});
      out.popup_page = await popup.evaluate(() => ({ url: location.href, title: document.title })).catch(() => null);
      if (run.action === 'oauth' || run.action === 'deny') {
        await popup.click(`${section} a.button`, { timeout: input.timeout_ms });
      } else if (run.action === 'api_key') {
        for (const [name, value] of Object.entries(run.fields)) {
          await popup.fill(`${section} input[name="${name}"]`, value, { timeout: input.timeout_ms });
        }
        await popup.click(`${section} button[type=submit]`, { timeout: input.timeout_ms });
        if (run.close_after) {
          // The form again, with the reason; then the user gives up.
          await popup.waitForSelector(`${section} [role=alert]`, { timeout: input.timeout_ms });
          out.popup_text = await popup.evaluate(() => document.body?.innerText ?? '');
          out.popup_form = await popup.evaluate((sel) => {
            const f = document.querySelector(`${sel} form`);
            return f ? Object.fromEntries([...new FormData(f)].filter(([k]) => k !== 'session')) : null;
          }, section);
          await popup.close();
        }
      } else if (run.action === 'close') {
        await popup.waitForLoadState('load', { timeout: input.timeout_ms }).catch(() => {});
        await popup.close();
      }
    }
    out.outcome = await waitSettled('__outcome');
    if (popup && out.outcome !== null && !popup.isClosed()) {
      // The popup closes on the snippet's acknowledgement, just after the Promise settled.
      await popup.waitForEvent('close', { timeout: input.timeout_ms }).catch(() => {});
    }
    if (popup && !out.popup_closed) {
      out.popup_closed = popup.isClosed();
      out.popup_url = popup.isClosed() ? null : popup.url();
      out.popup_text ??= popup.isClosed() ? null : await popup.evaluate(() => document.body?.innerText ?? '').catch(() => null);
    }
    out.messages = await page.evaluate(() => window.__messages);
  } finally {
    out.elapsed_ms = Date.now() - started;
    await context.close().catch(() => {});
  }
  return out;
}

async function screenshot(browser, input, s) {
  const context = await browser.newContext({
    viewport: { width: s.width, height: s.height },
    colorScheme: s.scheme,
    deviceScaleFactor: 1,
  });
  try {
    const page = await context.newPage();
    const violations = [];
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) violations.push(m.text());
    });
    const nav = await page.goto(s.url, { timeout: input.timeout_ms });
    await page.waitForLoadState('load');
    const file = path.join(input.screenshot_dir, `${s.name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const metrics = await page.evaluate(() => {
      const doc = document.documentElement;
      const button = document.querySelector('a.button, button');
      const bs = button ? getComputedStyle(button) : null;
      return {
        scroll_width: doc.scrollWidth,
        client_width: doc.clientWidth,
        background: getComputedStyle(document.body).backgroundColor,
        text: getComputedStyle(document.body).color,
        button_background: bs ? bs.backgroundColor : null,
        button_text: bs ? bs.color : null,
        logo_loaded: (() => {
          const img = document.querySelector('header.brand img');
          return img ? img.complete && img.naturalWidth > 0 : null;
        })(),
      };
    });
    return { name: s.name, file, status: nav?.status() ?? null, csp_violations: violations, ...metrics };
  } finally {
    await context.close().catch(() => {});
  }
}

async function main() {
  const input = readInput();
  let browser;
  let app;
  try {
    app = await serveApp(input.app_port, appPage(input.switchboard));
    try {
      browser = await chromium.launch({
        executablePath: input.chromium,
        headless: true,
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
        // Generous: a loaded machine starts Chromium slowly.
        timeout: 90000,
      });
    } catch (e) {
      fail(`cannot start Chromium at ${input.chromium} (run scripts/setup to install Debian's chromium): ${e.message}`);
    }
    const runs = await Promise.all(input.runs.map((run) => drive(browser, input, run, app)));
    if (input.screenshots.length) fs.mkdirSync(input.screenshot_dir, { recursive: true });
    const shots = [];
    for (const s of input.screenshots) shots.push(await screenshot(browser, input, s));
    process.stdout.write(`${JSON.stringify({ chromium: browser.version(), app_origin: app.origin, runs, screenshots: shots })}\n`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (app) {
      app.server.closeAllConnections?.();
      app.server.close();
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`snippet.mjs: ${e instanceof DriverError ? e.message : e?.stack ?? e}\n`);
    process.exit(2);
  },
);
