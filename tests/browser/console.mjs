// Drives headless Chromium through the admin console (/ui) and reports what it saw.
// Run by crates/switchboard/tests/it/console_browser.rs; see README.md.
//
//   node console.mjs '<input JSON>'      (or the JSON in $SWITCHBOARD_BROWSER_INPUT)
//
// Input: {base, key, wrong_key, pages: ["/ui", …], secrets: [...], artifacts: dir,
//         forge: {path, fields}, mode: "crawl" | "expiry", wait_ms, follow}
// "crawl": signs in with a wrong key (refused), then the key; visits every page of
// `pages` and (unless `follow` is false) every same-origin /ui link found on them (GET
// only, at most 60 pages);
// on each: the HTTP status, bytes transferred (document and sub-resources), CSP
// violations in the console, axe-core's serious and critical violations, whether a
// known secret appears in the HTML, and four screenshots (1280 px and 360 px wide,
// light and dark) written to `artifacts`. Then posts `forge` without a CSRF token,
// reads the session cookie, signs out with the button, and checks /ui sends it back
// to the sign-in page.
// "expiry": signs in, waits `wait_ms`, opens /ui again and reports where it landed.
// Prints one JSON line on stdout; assertions are the caller's. Driver problems exit 2.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const MAX_PAGES = 60;

function fail(message) {
  console.error(`console.mjs: ${message}`);
  process.exit(2);
}

const raw = process.argv[2] ?? process.env.SWITCHBOARD_BROWSER_INPUT;
if (!raw) fail('no input JSON');
const input = JSON.parse(raw);
const base = input.base;

async function signIn(page, key) {
  await page.goto(`${base}/ui/sign-in`);
  await page.fill('#api_key', key);
  const [resp] = await Promise.all([
    page.waitForNavigation(),
    page.click('form[action="/ui/sign-in"] button[type=submit]'),
  ]);
  return { status: resp?.status() ?? 0, url: page.url() };
}

function slug(p) {
  return p.replace(/^\/+/, '').replace(/[^A-Za-z0-9]+/g, '_') || 'root';
}

async function main() {
  const browser = await chromium.launch({
    executablePath: input.chromium ?? process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  }).catch((e) => fail(`cannot start Chromium: ${e.message}`));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleMessages = [];
  page.on('console', (m) => consoleMessages.push(m.text()));
  const report = { chromium: browser.version() };

  if (input.mode === 'expiry') {
    report.sign_in = await signIn(page, input.key);
    await page.waitForTimeout(input.wait_ms ?? 2500);
    const r = await page.goto(`${base}/ui`);
    report.after_wait = { status: r.status(), url: page.url() };
    await browser.close();
    console.log(JSON.stringify(report));
    return;
  }

  report.wrong = await signIn(page, input.wrong_key);
  report.wrong.error = await page.textContent('#sign-in-error').catch(() => null);
  report.signed_in = await signIn(page, input.key);

  const artifacts = input.artifacts;
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const queue = [...input.pages];
  const seen = new Set();
  report.pages = [];
  while (queue.length && seen.size < MAX_PAGES) {
    const p = queue.shift();
    if (seen.has(p)) continue;
    seen.add(p);
    let bytes = 0;
    const onResponse = async (r) => {
      try { bytes += (await r.body()).length + JSON.stringify(r.headers()).length; } catch (_) {}
    };
    page.on('response', onResponse);
    consoleMessages.length = 0;
    const resp = await page.goto(`${base}${p}`, { waitUntil: 'load' });
    await page.waitForTimeout(50);
    page.off('response', onResponse);
    const html = await page.content();
    const entry = {
      path: p,
      status: resp.status(),
      final_url: page.url(),
      bytes,
      secrets_found: input.secrets.filter((s) => html.includes(s)).length,
      csp_violations: consoleMessages.filter((t) => t.includes('Content Security Policy')),
    };
    await page.evaluate(AXE);
    const axe = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help,
        targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    entry.axe_serious = axe.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    entry.axe_other = axe.filter((v) => !(v.impact === 'serious' || v.impact === 'critical')).map((v) => v.id);
    // Dark first, then light, each at both widths.
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [w, h, name] of [[1280, 900, 'desktop'], [360, 740, 'mobile']]) {
        await page.setViewportSize({ width: w, height: h });
        await page.screenshot({ path: path.join(artifacts, `${slug(p)}-${name}-${scheme}.png`), fullPage: true });
      }
      if (scheme === 'dark') {
        const darkAxe = await page.evaluate(async () => {
          const r = await window.axe.run(document, { runOnly: ['color-contrast'] });
          return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
            targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
        });
        entry.axe_serious.push(...darkAxe.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ ...v, scheme: 'dark' })));
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
    const links = input.follow === false ? []
      : await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
    for (const l of links) {
      if (!l || !l.startsWith('/ui') || l.startsWith('/ui/sign-') || l.startsWith('/ui/assets')) continue;
      if (!seen.has(l)) queue.push(l);
    }
    report.pages.push(entry);
  }

  if (input.forge) {
    const r = await page.request.post(`${base}${input.forge.path}`, {
      form: input.forge.fields ?? {},
      maxRedirects: 0,
    });
    report.forged = { status: r.status() };
  }

  const cookies = await context.cookies(base);
  report.session_cookie = cookies.find((c) => c.name.endsWith('sb_console'))?.value ?? null;
  await page.goto(`${base}/ui`);
  await Promise.all([page.waitForNavigation(), page.click('form.signout button[type=submit]')]);
  report.after_sign_out = page.url();
  const again = await page.goto(`${base}/ui`);
  report.after_sign_out_open = { status: again.status(), url: page.url() };
  await browser.close();
  console.log(JSON.stringify(report));
}

main().catch((e) => fail(e.stack ?? String(e)));
