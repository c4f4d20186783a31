// A minimal WebDriver BiDi client for Debian's Firefox ESR (/usr/bin/firefox-esr),
// so the report is tested in Firefox too. playwright-core's Firefox needs a
// patched build (never downloaded here), and its BiDi mode sends commands
// Firefox ESR does not know; the standard protocol over Node's WebSocket
// (`--experimental-websocket` on Node 20, set by package.json) is enough for
// loading a page, running script in it and reading its console.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const FIREFOX = process.env.MEMSCOPE_FIREFOX || '/usr/bin/firefox-esr';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts headless Firefox with a fresh profile and a BiDi session. */
async function launchFirefox() {
  if (!fs.existsSync(FIREFOX)) {
    throw new Error(`${FIREFOX} not found: install Debian's firefox-esr (apt-get install firefox-esr); no browser is downloaded`);
  }
  if (typeof WebSocket === 'undefined') throw new Error('run node with --experimental-websocket (package.json does)');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-firefox-'));
  // Offline: no update checks, telemetry or captive-portal probes.
  fs.writeFileSync(path.join(profile, 'user.js'), [
    'user_pref("network.captive-portal-service.enabled", false);',
    'user_pref("app.update.enabled", false);',
    'user_pref("datareporting.policy.dataSubmissionEnabled", false);',
    'user_pref("toolkit.telemetry.enabled", false);',
    'user_pref("browser.safebrowsing.malware.enabled", false);',
    'user_pref("browser.safebrowsing.phishing.enabled", false);',
    'user_pref("network.connectivity-service.enabled", false);',
  ].join('\n'));
  const proc = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0', '--width=1280', '--height=900'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  let url;
  for (let i = 0; i < 300 && !url; i++) {
    await sleep(100);
    const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(stderr);
    if (m) url = m[1];
    if (proc.exitCode !== null) break;
  }
  if (!url) {
    proc.kill();
    throw new Error(`firefox did not start its BiDi server: ${stderr.slice(-500)}`);
  }
  const ws = new WebSocket(`${url}/session`);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error(`cannot connect to ${url}`)); });
  let id = 0;
  const pending = new Map();
  const events = [];
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.id !== undefined && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    } else if (m.type === 'event') {
      events.push(m);
    }
  };
  const send = (method, params = {}) => new Promise((res, rej) => {
    const i = ++id;
    pending.set(i, (m) => (m.type === 'error' ? rej(new Error(`${method}: ${m.error}: ${m.message}`)) : res(m.result)));
    ws.send(JSON.stringify({ id: i, method, params }));
  });
  const session = await send('session.new', { capabilities: {} });
  await send('session.subscribe', { events: ['log.entryAdded', 'network.beforeRequestSent'] });
  return {
    version: session.capabilities.browserVersion,
    send,
    events,
    async close() {
      await send('session.end').catch(() => {});
      ws.close();
      proc.kill();
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens `file` in a new tab with alert/confirm/prompt and error events
 * hooked before any script of the page runs, and waits for the report's
 * ready flag. Returns `evaluate(expression)` (the value, JSON-serialisable)
 * and `problems()` (console errors, requests other than file: and data:,
 * and what the hooks caught).
 */
async function openInFirefox(ff, file) {
  const { context } = await ff.send('browsingContext.create', { type: 'tab' });
  const preload = await ff.send('script.addPreloadScript', {
    functionDeclaration: `() => {
      window.__memscopeFired = [];
      for (const name of ['alert', 'confirm', 'prompt']) {
        window[name] = (...args) => { window.__memscopeFired.push(name + '(' + args.join(',') + ')'); };
      }
      window.addEventListener('error', (e) => window.__memscopeFired.push('error: ' + (e.message || (e.target && e.target.tagName))), true);
      document.addEventListener('securitypolicyviolation', (e) => window.__memscopeFired.push('csp: ' + e.violatedDirective));
    }`,
    contexts: [context],
  });
  const first = ff.events.length;
  await ff.send('browsingContext.navigate', { context, url: `file://${path.resolve(file)}`, wait: 'complete' });
  const evaluate = async (expression) => {
    const r = await ff.send('script.evaluate', { expression: `JSON.stringify((() => (${expression}))())`, target: { context }, awaitPromise: false });
    if (r.type === 'exception') throw new Error(`${expression}: ${r.exceptionDetails.text}`);
    return JSON.parse(r.result.value);
  };
  for (let i = 0; i < 150; i++) {
    if (await evaluate('window.memscopeReady === true')) break;
    await sleep(100);
  }
  const problems = async () => {
    const mine = ff.events.slice(first).filter((e) => !e.params.context || e.params.context === context || e.params.source?.context === context);
    return {
      console: mine.filter((e) => e.method === 'log.entryAdded' && ['error', 'warn'].includes(e.params.level)).map((e) => `${e.params.level}: ${e.params.text}`),
      requests: mine.filter((e) => e.method === 'network.beforeRequestSent').map((e) => e.params.request.url)
        .filter((u) => !u.startsWith('file:') && !u.startsWith('data:')),
      fired: await evaluate('window.__memscopeFired'),
    };
  };
  const close = async () => {
    await ff.send('script.removePreloadScript', { script: preload.script }).catch(() => {});
    await ff.send('browsingContext.close', { context }).catch(() => {});
  };
  return { evaluate, problems, close };
}

module.exports = { launchFirefox, openInFirefox, FIREFOX };
