// memscope's DHAT export in valgrind's own viewer, dh_view.html
// (/usr/libexec/valgrind, Debian's valgrind package), opened from file:// in
// Debian's headless Chromium:
//
//   cd tests/browser && npm ci && node --test dhat.test.js
//
// Two files, each taken by the page through its <input type=file>, as a
// user's "Load…" would:
// - hand: written by tests/export_consumers.rs from a hand-built profile
//   with known sites (cargo test --test export_consumers, into
//   $CARGO_TARGET_DIR/tmp/export-consumers/), with its no-stacks twin;
// - real: a recording of examples/report_demo.rs (release build, with call
//   stacks), exported by `memscope export --format dhat`. MEMSCOPE_DHAT=FILE
//   opens FILE in its place and skips the build.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { launch } = require('./lib');

const ROOT = path.resolve(__dirname, '../..');
const DH_VIEW = process.env.MEMSCOPE_DH_VIEW || '/usr/libexec/valgrind/dh_view.html';
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
const FIXTURES = path.join(TARGET, 'tmp', 'export-consumers');

// The Firefox Profiler's DHAT importer parses each frame with this pattern
// (src/profile-logic/import/dhat.ts): address, function, file, line, column.
const FIREFOX_FRAME = /^0x([0-9a-f]+): (.+) \((?:in )?(.+?)(?::(\d+))?(?::(\d+))?\)$/i;

let browser;
const files = {};
const run = (cmd, args) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT });

before(async () => {
  if (!fs.existsSync(DH_VIEW)) {
    throw new Error(`${DH_VIEW} not found: install Debian's valgrind (apt-get install valgrind)`);
  }
  run('cargo', ['test', '--locked', '--quiet', '--test', 'export_consumers', '--', 'dhat_document']);
  files.hand = path.join(FIXTURES, 'demo.dhat.json');
  files.noStacks = path.join(FIXTURES, 'no-stacks.dhat.json');
  if (process.env.MEMSCOPE_DHAT) {
    files.real = path.resolve(process.env.MEMSCOPE_DHAT);
  } else {
    run('cargo', ['build', '--release', '--locked', '--quiet', '--bin', 'memscope', '--example', 'report_demo']);
    const recording = path.join(FIXTURES, 'report_demo.memscope');
    files.real = path.join(FIXTURES, 'report_demo.dhat.json');
    run(path.join(TARGET, 'release', 'examples', 'report_demo'), [recording]);
    run(path.join(TARGET, 'release', 'memscope'), ['export', recording, '--format', 'dhat', '-o', files.real]);
  }
  browser = await launch();
}, { timeout: 900_000 });

after(async () => {
  if (browser) await browser.close();
});

/** dh_view.html with `file` loaded through its file input; the page and `clean()`. */
async function view(t, file) {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const problems = { console: [], pageErrors: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.pageErrors.push(String(e && e.message)));
  await page.route(/.*/, (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    problems.requests.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(DH_VIEW).href, { waitUntil: 'load' });
  await page.setInputFiles('input[type=file]', file);
  // The tree is drawn, or an error is shown in its place.
  await page.waitForFunction(() => /Invocation \{|error|Error/.test(document.body.innerText), null, { timeout: 15000 });
  const clean = async () => {
    assert.equal(await page.locator('.error').count(), 0, `dh_view shows no error: ${await page.locator('.error').allTextContents()}`);
    assert.deepEqual(problems.pageErrors, [], 'no uncaught exceptions');
    assert.deepEqual(problems.console, [], 'no console errors or warnings');
    assert.deepEqual(problems.requests, [], 'no request other than file: and data:');
  };
  return { page, clean };
}

/** What dh_view writes for a number: its own Intl.NumberFormat, in the page's locale. */
function formatIn(page, n) {
  return page.evaluate((v) => new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 }).format(v), n);
}

/** Checks the invocation, the root's totals and the largest program point's frames; returns the text. */
async function rendersTotals(t, file) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { page, clean } = await view(t, file);
  await clean();
  const text = await page.locator('pre').first().innerText();

  assert.match(text, /Mode: +rust-heap/);
  assert.ok(text.includes(`Command: ${doc.cmd}`), text);
  assert.ok(text.includes(`PID:     ${doc.pid}`), text);
  assert.ok(text.includes(`t-end:  ${await formatIn(page, doc.te)} ns`), text);
  assert.ok(text.includes(`t-gmax: ${await formatIn(page, doc.tg)} ns`), text);

  // The root program point holds the sums of every program point.
  const sum = (k) => doc.pps.reduce((a, pp) => a + pp[k], 0);
  const rootTotal = `Total:     ${await formatIn(page, sum('tb'))} bytes (100%`;
  assert.ok(text.includes(rootTotal), `${rootTotal} in\n${text}`);
  assert.ok(text.includes(` in ${await formatIn(page, sum('tbk'))} blocks (100%`), text);
  assert.ok(text.includes(`At t-gmax: ${await formatIn(page, sum('gb'))} bytes (100%`), text);
  assert.ok(text.includes(`At t-end:  ${await formatIn(page, sum('eb'))} bytes (100%`), text);

  // The program point with the most allocations (the default sort) is shown with its frames.
  const largest = doc.pps.reduce((a, pp) => (pp.tbk > a.tbk ? pp : a));
  for (const i of largest.fs) assert.ok(text.includes(doc.ftbl[i]), `frame ${doc.ftbl[i]} shown in\n${text}`);
  return text;
}

test('dh_view.html renders the hand-built profile: invocation, totals and frames', async (t) => {
  const text = await rendersTotals(t, files.hand);
  assert.ok(text.includes('0x555500001234: demo::parse::read_records (src/parse.rs:42:17)'), text);
  assert.ok(text.includes('0x555500001234: alloc::vec::Vec<T>::with_capacity ('), text);
});

test('dh_view.html renders `memscope export --format dhat` of a real recording', async (t) => {
  const text = await rendersTotals(t, files.real);
  if (!process.env.MEMSCOPE_DHAT) {
    assert.match(text, /: report_demo::main \(.*examples\/report_demo\.rs:\d+(:\d+)?\)/, 'symbolized to the example\'s main');
  }
});

test('every sort metric dh_view offers redraws the tree without an error', async (t) => {
  for (const file of [files.hand, files.real]) {
    const { page, clean } = await view(t, file);
    const options = await page.$$eval('select option', (os) => os.map((o) => ({ value: o.value, label: o.label, disabled: o.disabled })));
    const enabled = options.filter((o) => !o.disabled);
    // bklt: true, bkacc: false: the total, short-lived, t-gmax and t-end sorts, none of the access ones.
    assert.ok(enabled.length >= 5, JSON.stringify(options));
    assert.ok(options.filter((o) => /reads|access/.test(o.label)).every((o) => o.disabled), JSON.stringify(options));
    for (const o of enabled) {
      await page.selectOption('select', o.value);
      assert.match(await page.locator('pre').first().innerText(), /PP 1\/1/, `the tree for "${o.label}" of ${file}`);
      await clean();
    }
  }
});

test('frames read as the Firefox Profiler importer parses them', () => {
  for (const file of [files.hand, files.real]) {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(doc.ftbl[0], '[root]');
    let parsed = 0;
    for (const frame of doc.ftbl.slice(1)) {
      if (frame.startsWith('[')) continue; // [truncated], [no stack], [no stacks]: taken as a name
      assert.match(frame, /^0x[0-9a-f]+: /, frame);
      const m = frame.match(FIREFOX_FRAME);
      if (!m) {
        // Only an unresolved address in no module: the importer shows the frame as is.
        assert.match(frame, /^0x[0-9a-f]+: \?\?\?$/, frame);
        continue;
      }
      parsed++;
      assert.ok(m[2].length > 0 && m[3].length > 0, `a function and a file or module in ${frame}`);
    }
    assert.ok(parsed > 0, `some frames of ${file} parse`);
  }
  const doc = JSON.parse(fs.readFileSync(files.hand, 'utf8'));
  const m = doc.ftbl.find((f) => f.includes('read_records')).match(FIREFOX_FRAME);
  assert.deepEqual(m.slice(1), ['555500001234', 'demo::parse::read_records', 'src/parse.rs', '42', '17']);
});

test('a recording without call stacks shows its single [no stacks] frame', async (t) => {
  const doc = JSON.parse(fs.readFileSync(files.noStacks, 'utf8'));
  const { page, clean } = await view(t, files.noStacks);
  await clean();
  const text = await page.locator('pre').first().innerText();
  assert.ok(text.includes('[no stacks]'), text);
  assert.ok(text.includes(`Total:     ${await formatIn(page, doc.pps[0].tb)} bytes (100%`), text);
});
