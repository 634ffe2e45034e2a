// Drives a real headless Chromium through Switchboard's Connect page (the page at a
// connect session's `connect_url`) and reports what happened. Run by
// crates/switchboard/tests/it/connect_page.rs.
//
//   node connect_page.mjs '<input JSON>'      (or the JSON in $SWITCHBOARD_BROWSER_INPUT)
//
// Input: {connect_url, integration, app_port, timeout_ms?, chromium?}. It serves the
// app's `return_to` page (plain node:http, any path) on http://127.0.0.1:<app_port>,
// opens `connect_url`, records its status, security headers and a few facts about the
// page (one <main>, every visible input labelled, the nonced stylesheet applied), clicks
// the link of `integration` (`section[data-integration=…] a.button`), lets the browser
// walk Switchboard and the authorization server, and waits until it lands on the app's
// page. It prints one JSON line on stdout and exits 0 whenever the browser could be
// driven; assertions are the caller's. Driver problems exit 2 with a
// `connect_page.mjs: …` message on stderr.

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
  if (!Number.isInteger(input.app_port) || input.app_port < 1 || input.app_port > 65535) {
    fail(`app_port must be a port number, got ${JSON.stringify(input.app_port)}`);
  }
  try {
    new URL(input.connect_url);
  } catch {
    fail(`connect_url must be an absolute URL, got ${JSON.stringify(input.connect_url)}`);
  }
  if (typeof input.integration !== 'string' || !input.integration) fail('integration must be a non-empty string');
  input.timeout_ms ??= 15000;
  input.chromium ??= process.env.CHROMIUM ?? DEFAULT_CHROMIUM;
  return input;
}

// The app's return_to page: records every URL asked for.
function serveApp(port, hits) {
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    hits.push(req.url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>app</title></head><body><p>back in the app</p></body></html>\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new DriverError(`cannot serve the app page on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function drive(browser, input, appOrigin, hits) {
  const started = Date.now();
  const out = {
    connect_page: null,
    clicked: null,
    final_url: null,
    app_hits: hits,
    navigations: [],
    console: [],
    page_errors: [],
    timed_out: false,
    elapsed_ms: 0,
  };
  const context = await browser.newContext();
  try {
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
    const page = await context.newPage();
    const res = await page.goto(input.connect_url, { timeout: input.timeout_ms });
    if (!res) fail(`the Connect page ${input.connect_url} gave no response`);
    const headers = await res.allHeaders().catch(() => res.headers());
    const facts = await page.evaluate((integration) => {
      const inputs = [...document.querySelectorAll('input:not([type=hidden])')];
      const main = document.querySelector('main');
      const link = document.querySelector(`section[data-integration="${integration}"] a.button`);
      return {
        title: document.title,
        lang: document.documentElement.lang,
        mains: document.querySelectorAll('main').length,
        h1: document.querySelector('h1')?.textContent ?? null,
        unlabelled_inputs: inputs.filter((i) => !i.labels || i.labels.length === 0).map((i) => i.name),
        // The nonced inline stylesheet applied (main is 40rem wide at most).
        main_max_width: main ? getComputedStyle(main).maxWidth : null,
        link_href: link ? link.getAttribute('href') : null,
        link_text: link ? link.textContent : null,
      };
    }, input.integration);
    out.connect_page = {
      url: res.url(),
      status: res.status(),
      content_type: headers['content-type'] ?? null,
      csp: headers['content-security-policy'] ?? null,
      cache_control: headers['cache-control'] ?? null,
      referrer_policy: headers['referrer-policy'] ?? null,
      x_content_type_options: headers['x-content-type-options'] ?? null,
      ...facts,
    };
    if (!facts.link_href) return out;
    out.clicked = facts.link_href;
    await page.click(`section[data-integration="${input.integration}"] a.button`, { timeout: input.timeout_ms });
    try {
      await page.waitForURL((u) => u.toString().startsWith(`${appOrigin}/`), {
        timeout: Math.max(1000, input.timeout_ms - (Date.now() - started)),
        waitUntil: 'load',
      });
    } catch {
      out.timed_out = true;
    }
    out.final_url = page.url();
    if (out.timed_out) out.final_text = await page.evaluate(() => document.body?.innerText ?? '').catch(() => null);
  } finally {
    out.elapsed_ms = Date.now() - started;
    await context.close().catch(() => {});
  }
  return out;
}

async function main() {
  const input = readInput();
  const hits = [];
  let server;
  let browser;
  try {
    server = await serveApp(input.app_port, hits);
    const appOrigin = `http://127.0.0.1:${server.address().port}`;
    try {
      browser = await chromium.launch({
        executablePath: input.chromium,
        headless: true,
        // Root (CI containers) cannot use Chromium's sandbox.
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
        timeout: 30000,
      });
    } catch (e) {
      fail(`cannot start Chromium at ${input.chromium} (run scripts/setup to install Debian's chromium): ${e.message}`);
    }
    const run = await drive(browser, input, appOrigin, hits);
    process.stdout.write(`${JSON.stringify({ chromium: browser.version(), app_origin: appOrigin, ...run })}\n`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server) {
      server.closeAllConnections?.();
      server.close();
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`connect_page.mjs: ${e instanceof DriverError ? e.message : e?.stack ?? e}\n`);
    process.exit(2);
  },
);
