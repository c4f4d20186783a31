// The report in Debian's Firefox ESR, headless, over WebDriver BiDi
// (bidi.js): it loads offline with no console error and no request, shows
// the JSON's figures, filters, opens an inspector, and a report with
// hostile names runs nothing. The same reports as report.test.js, built by
// build-reports.sh (or taken from MEMSCOPE_REPORTS).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { launchFirefox, openInFirefox } = require('./bidi');

const ROOT = path.resolve(__dirname, '../..');
const OUT = process.env.MEMSCOPE_REPORTS || path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'browser-tests');

let ff;
const json = {};

before(async () => {
  if (!process.env.MEMSCOPE_REPORTS) {
    execFileSync('bash', [path.join(__dirname, 'build-reports.sh'), OUT], { stdio: ['ignore', 'inherit', 'inherit'], cwd: ROOT });
  }
  for (const name of ['demo', 'hostile']) json[name] = JSON.parse(fs.readFileSync(path.join(OUT, `${name}.json`), 'utf8'));
  ff = await launchFirefox();
}, { timeout: 900_000 });

after(async () => {
  if (ff) await ff.close();
});

async function open(t, name) {
  const page = await openInFirefox(ff, path.join(OUT, `${name}.html`));
  t.after(() => page.close());
  assert.equal(await page.evaluate('window.memscopeReady === true'), true, `the report became ready in Firefox ${ff.version}`);
  const clean = async () => {
    const p = await page.problems();
    assert.deepEqual(p.console, [], 'no console errors or warnings');
    assert.deepEqual(p.requests, [], 'no request other than file: and data:');
    assert.deepEqual(p.fired, [], 'no alert, error event or CSP violation');
  };
  return { ...page, clean };
}

test('Firefox: the report loads offline and shows the JSON figures', async (t) => {
  const { evaluate, clean } = await open(t, 'demo');
  const doc = json.demo;
  const shown = await evaluate(`[...document.querySelectorAll('#overview [data-field]')].map((e) => [e.dataset.field, e.dataset.value])`);
  assert.ok(shown.length >= 14, `the overview shows its figures (${shown.length})`);
  for (const [field, value] of shown) {
    if (field === 'bytes_per_event') continue;
    const v = field.split('.').reduce((o, k) => o[k], doc);
    assert.equal(value, String(v), `${field}: shown value equals the JSON's`);
  }
  assert.equal(await evaluate(`document.querySelectorAll('#threads-table tbody tr').length`), doc.threads.length);
  assert.equal(await evaluate(`document.querySelectorAll('#variables-table tbody tr').length`), doc.variables.length);
  await clean();
});

test('Firefox: filtering the variables and opening an inspector work', async (t) => {
  const { evaluate, clean } = await open(t, 'demo');
  const doc = json.demo;
  const filter = 'ARC<';
  const expected = doc.variables.filter((v) => `${v.name}\u0000${v.type}`.toLowerCase().includes(filter.toLowerCase())).length;
  assert.ok(expected > 0 && expected < doc.variables.length, 'the filter selects some variables');
  const rows = await evaluate(`(() => {
    const input = document.getElementById('var-filter');
    input.value = ${JSON.stringify(filter)};
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    return document.querySelectorAll('#variables-table tbody tr').length;
  })()`);
  assert.equal(rows, expected, 'rows after filtering');
  const opened = await evaluate(`(() => {
    const row = document.querySelector('#variables-table tbody tr');
    const name = row.querySelector('td').textContent;
    row.click();
    const inspector = document.getElementById('inspector');
    return { name, title: document.getElementById('inspector-title').textContent, visible: !inspector.hidden && inspector.getClientRects().length > 0,
             tabs: [...inspector.querySelectorAll('[role=tab]')].map((e) => e.textContent) };
  })()`);
  assert.ok(opened.visible, 'the inspector opened');
  assert.equal(opened.title, opened.name);
  assert.deepEqual(opened.tabs, ['Overview', 'Lifetime', 'Sharing', 'Foreign memory', 'Suggestions']);
  await clean();
});

test('Firefox: hostile names show as text and run no script', async (t) => {
  const { evaluate, clean } = await open(t, 'hostile');
  const doc = json.hostile;
  const names = await evaluate(`[...document.querySelectorAll('#variables-table tbody tr td:first-child')].map((td) => td.textContent)`);
  const hostile = doc.variables.find((v) => v.name.includes('</script><img src=x onerror=alert(1)>'));
  assert.ok(hostile && names.includes(hostile.name), 'the hostile name is shown literally');
  for (const v of doc.variables) assert.ok(names.includes(v.name), `${v.name} shown literally`);
  assert.equal(await evaluate(`document.querySelectorAll('img, svg, iframe, object, embed').length`), 0, 'no element made from a name');
  assert.equal(await evaluate(`document.querySelectorAll('[onerror], [onload], [onmouseover], [onclick]').length`), 0);
  await clean();
});
