// Drives the admin console's buttons in a real headless Chromium (Debian's
// /usr/bin/chromium via playwright-core), as an operator would: sign in with an admin
// API key, then run steps. The Rust side (crates/switchboard/tests/it/console_pages.rs)
// starts the server and the peers, and checks what the buttons did.
//
// Input (argv[2] or $SWITCHBOARD_BROWSER_INPUT), JSON:
//   { "base": "http://127.0.0.1:PORT", "api_key": "sb_…", "chromium"?: path,
//     "steps": [ {"goto": "/ui/…"} | {"click": "<css selector>"} |
//                {"check": "<css selector>"} |
//                {"reload_until": "<text>", "timeout_ms"?: 30000} ] }
// Output (stdout), JSON: { "ok": true, "url": "…", "text": "<main's text>",
//   "dialogs": ["…"] } or { "ok": false, "error": "…", "url"?, "text"? }.
// JavaScript confirm() dialogs (forms with data-confirm) are accepted and recorded.
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2] ?? process.env.SWITCHBOARD_BROWSER_INPUT ?? '{}');
const out = (v) => { process.stdout.write(JSON.stringify(v) + '\n'); };
if (!input.base || !input.api_key || !Array.isArray(input.steps)) {
  out({ ok: false, error: 'input needs base, api_key and steps' });
  process.exit(2);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: input.chromium ?? process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
} catch (e) {
  out({ ok: false, error: `cannot start Chromium (run scripts/setup): ${e.message}` });
  process.exit(2);
}
const page = await browser.newPage();
const dialogs = [];
page.on('dialog', async (d) => { dialogs.push(d.message()); await d.accept(); });
const main = async () => (await page.textContent('main').catch(() => '')) ?? '';
let step = null;
try {
  await page.goto(`${input.base}/ui/sign-in`);
  await page.fill('#api_key', input.api_key);
  await Promise.all([
    page.waitForNavigation(),
    page.click('form[action="/ui/sign-in"] button[type=submit]'),
  ]);
  for (step of input.steps) {
    if (step.goto) {
      await page.goto(`${input.base}${step.goto}`);
    } else if (step.click) {
      await Promise.all([page.waitForNavigation(), page.click(step.click)]);
    } else if (step.check) {
      await page.check(step.check);
    } else if (step.reload_until) {
      const deadline = Date.now() + (step.timeout_ms ?? 30000);
      while (!(await main()).includes(step.reload_until)) {
        if (Date.now() > deadline) throw new Error(`"${step.reload_until}" did not appear`);
        await page.waitForTimeout(500);
        await page.reload();
      }
    } else {
      throw new Error('unknown step');
    }
  }
  out({ ok: true, url: page.url(), text: await main(), dialogs });
} catch (e) {
  out({ ok: false, error: `${JSON.stringify(step)}: ${e.message}`, url: page.url(), text: await main(), dialogs });
} finally {
  await browser.close();
}
