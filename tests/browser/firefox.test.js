// The report in Debian's Firefox ESR, headless, over WebDriver BiDi
// (bidi.js): it loads offline with no console error and no request, shows
// the JSON's figures, filters, opens an inspector, and a report with
// hostile names runs nothing; the call stack views render. The same reports
// as report.test.js, built by build-reports.sh (or taken from
// MEMSCOPE_REPORTS).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchFirefox, openInFirefox } = require('./bidi');
const { reportsDir } = require('./lib');

let OUT;

let ff;
const json = {};

before(async () => {
  OUT = reportsDir();
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

test('Firefox: the call stack views render: flame graph, sites, inspector, range', async (t) => {
  const stacks = JSON.parse(fs.readFileSync(path.join(OUT, 'stacks.json'), 'utf8'));
  const { evaluate, clean } = await open(t, 'stacks');
  const total = stacks.sites.reduce((a, s) => a + s.peak_bytes, 0);
  const flame = await evaluate(`(() => {
    const f = document.getElementById('flame');
    return { total: f.dataset.total, bars: f.querySelectorAll('.fnode').length, root: f.querySelector('.fnode.root').dataset.value,
             names: [...f.querySelectorAll('.fnode')].map((e) => e.textContent) };
  })()`);
  assert.equal(flame.total, String(total), 'the flame graph adds up the sites');
  assert.equal(flame.root, String(total));
  assert.ok(flame.bars > stacks.sites.length, `bars drawn (${flame.bars})`);
  const hostile = stacks.frames.find((f) => f.function.includes('<img src=x onerror=alert(1)>')).function;
  assert.ok(flame.names.includes(hostile), 'the hostile name is a bar, as text');
  const zoomed = await evaluate(`(() => {
    const bar = document.querySelector('#flame .fnode[data-depth="1"]');
    bar.click();
    return [bar.dataset.value, document.getElementById('flame').dataset.view];
  })()`);
  assert.equal(zoomed[1], zoomed[0], 'a click zooms');
  const site = await evaluate(`(() => {
    const rows = document.querySelectorAll('#sites-table tbody tr');
    rows[0].click();
    return { rows: rows.length, id: document.getElementById('inspector').dataset.site, frames: document.querySelectorAll('#site-stack tbody tr').length };
  })()`);
  assert.equal(site.rows, stacks.sites.length);
  assert.equal(site.id, String(stacks.sites[0].id));
  assert.equal(site.frames, stacks.sites[0].frames.length);
  const range = await evaluate(`(() => {
    document.getElementById('inspector-close').click();
    document.getElementById('timeline-range-view').click();
    const p = document.getElementById('range-panel');
    return { hidden: p.hidden, from: p.dataset.from, to: p.dataset.to, rows: document.querySelectorAll('#range-table tbody tr').length };
  })()`);
  assert.equal(range.hidden, false, 'picking the shown time opens the range panel');
  assert.equal(range.from, '-1');
  assert.equal(range.to, String(stacks.timeline.length - 1));
  assert.equal(range.rows, stacks.sites.filter((s) => s.allocated_bytes > 0 || s.live_bytes_end > 0).length, 'the whole recording: every site that allocated');
  assert.equal(await evaluate(`document.querySelectorAll('img, svg, iframe, object, embed').length`), 0);
  await clean();
});
