// Shared by the browser tests and benches/report_scale.sh: Debian's Chromium
// driven by playwright-core, offline, with a fresh profile. Never downloads a
// browser.
'use strict';

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.MEMSCOPE_CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium with a fresh user-data-dir; `close()` removes it. */
async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium); no browser is downloaded`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
    offline: true,
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens `file` in a new page of `context` and waits until the report says it
 * is ready. Collects console errors, page errors, dialogs, CSP violations
 * and every request that is not file: or data: (which are aborted).
 */
async function openReport(context, file, opts = {}) {
  const page = await context.newPage();
  const problems = { console: [], pageErrors: [], requests: [], dialogs: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.pageErrors.push(String(e && e.message)));
  page.on('dialog', (d) => {
    problems.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith('file:') && !url.startsWith('data:')) problems.requests.push(url);
  });
  await page.route(/.*/, (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    return route.abort();
  });
  await page.addInitScript(() => {
    // Anything a hostile name could make run would call one of these.
    window.__memscopeFired = [];
    for (const name of ['alert', 'confirm', 'prompt']) {
      window[name] = (...args) => { window.__memscopeFired.push(`${name}(${args.join(',')})`); };
    }
    window.a = () => window.__memscopeFired.push('a()');
    window.addEventListener('error', (e) => window.__memscopeFired.push(`error: ${e.message || (e.target && e.target.tagName)}`), true);
    document.addEventListener('securitypolicyviolation', (e) => window.__memscopeFired.push(`csp: ${e.violatedDirective} ${e.blockedURI}`));
  });
  if (opts.colorScheme) await page.emulateMedia({ colorScheme: opts.colorScheme });
  await page.goto(pathToFileURL(path.resolve(file)).href, { waitUntil: 'load' });
  await page.waitForFunction(() => window.memscopeReady === true, null, { timeout: opts.timeout || 15000 });
  return { page, problems };
}

/**
 * Opens `file` as openReport does, closes the page when test `t` ends, and
 * returns it with `clean()`, which asserts that nothing went wrong: no
 * console error or warning, no uncaught exception, no request, no dialog, and
 * nothing caught by the page's hooks (alert, error events, CSP violations).
 */
async function openClean(t, context, file, opts) {
  const { page, problems } = await openReport(context, file, opts);
  t.after(() => page.close());
  const clean = async () => {
    const fired = await page.evaluate(() => window.__memscopeFired);
    assert.deepEqual(problems.console, [], 'no console errors or warnings');
    assert.deepEqual(problems.pageErrors, [], 'no uncaught exceptions');
    assert.deepEqual(problems.requests, [], 'no request other than file: and data:');
    assert.deepEqual(problems.dialogs, [], 'no dialog opened');
    assert.deepEqual(fired, [], 'no alert, error event or CSP violation');
  };
  return { page, clean };
}

const ROOT = path.resolve(__dirname, '../..');

/**
 * The folder of the reports the tests open: MEMSCOPE_REPORTS when set, else
 * target/browser-tests (under CARGO_TARGET_DIR when set), built by
 * build-reports.sh once per `npm test` run: the test files run one after
 * another as children of one runner, and the first one to ask builds.
 */
function reportsDir() {
  if (process.env.MEMSCOPE_REPORTS) return process.env.MEMSCOPE_REPORTS;
  const out = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'browser-tests');
  const run = process.env.NODE_TEST_CONTEXT ? `test run ${process.ppid}` : null;
  const stamp = path.join(out, '.built-for');
  if (run && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === run) return out;
  execFileSync('bash', [path.join(__dirname, 'build-reports.sh'), out], { stdio: ['ignore', 'inherit', 'inherit'], cwd: ROOT });
  if (run) fs.writeFileSync(stamp, run);
  return out;
}

module.exports = { launch, openReport, openClean, reportsDir, CHROMIUM, ROOT };
