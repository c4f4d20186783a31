// The report's call stack views in Debian's headless Chromium: the flame
// graph, the sites table and inspector, the bottom-up table, the top sites
// on the timeline and a range picked on it. Every figure is checked against
// sums computed here from the JSON the page embeds.
//
//   cd tests/browser && npm ci && node --test stacks.test.js
//
// `demo` is a real recording (examples/report_demo.rs); `stacks` and
// `nostacks` are made by stacks-fixture.js (a document with a hostile
// function name, an inlined frame, a truncated stack, unresolved frames and
// warnings; and one without stacks), in the page of a real report. All come
// from build-reports.sh. The views' tests run on `demo` and `stacks`.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launch, openClean, reportsDir, ROOT } = require('./lib');
const { HOSTILE } = require('./stacks-fixture');

const NF = new Intl.NumberFormat('en-US');
const METRICS = ['peak_bytes', 'live_bytes_end', 'allocated_bytes', 'allocations', 'temporary'];
/** The documents with call stacks: a real recording, and the made-up one. */
const SUBJECTS = ['demo', 'stacks'];
/** What to search for in the made-up one: a recursive function. */
const PROBE = { stacks: 'myapp::tree::walk' };

let OUT;
let browser;
const json = {};

before(async () => {
  OUT = reportsDir();
  for (const name of [...SUBJECTS, 'nostacks']) json[name] = JSON.parse(fs.readFileSync(path.join(OUT, `${name}.json`), 'utf8'));
  browser = await launch();
}, { timeout: 900_000 });

after(async () => {
  if (browser) await browser.close();
});

const open = (t, name, opts) => openClean(t, browser.context, path.join(OUT, `${name}.html`), opts);

// ------------------------------------------------- the figures, from the JSON

const names = (doc, s) => s.frames.map((i) => doc.frames[i].function);
const sum = (list, f) => list.reduce((a, x) => a + f(x), 0);
/** The value at the end of timeline point i of a sparse site timeline (col 1 live, 2 allocated so far, 3 allocations so far). */
function at(tl, i, col) {
  let v = 0;
  for (const e of tl) if (e[0] <= i) v = e[col];
  return v;
}
/** The timeline points a range [tA, tB] is widened to, as docs say: from the end of `from` to the end of `to`. */
function snap(doc, tA, tB) {
  const w = doc.timeline[0].width_ns;
  let from = -1, to = -1;
  doc.timeline.forEach((p, i) => {
    if (p.ts_ns + w <= tA) from = i;
    if (p.ts_ns < tB) to = i;
  });
  if (to <= from) to = from + 1;
  return { from, to };
}
/** Ids and figures of the sites that allocated in (from, to] or were live at the end of `to`. */
function rangeSites(doc, from, to) {
  const out = new Map();
  for (const s of doc.sites) {
    const allocated = at(s.timeline, to, 2) - (from < 0 ? 0 : at(s.timeline, from, 2));
    const allocations = at(s.timeline, to, 3) - (from < 0 ? 0 : at(s.timeline, from, 3));
    const live = at(s.timeline, to, 1);
    if (allocated > 0 || live > 0) out.set(s.id, { allocated, allocations, live });
  }
  return out;
}

/** The rows of a report table: the first cell's text and each [data-field] value. */
const tableRows = (page, selector) => page.$$eval(`${selector} tbody tr`, (trs) => trs.map((tr) => {
  const fields = {};
  tr.querySelectorAll('[data-field]').forEach((e) => { fields[e.dataset.field] = Number(e.dataset.value); });
  return { first: tr.cells[0].textContent, second: tr.cells[1] ? tr.cells[1].textContent : '', fields };
}));
const siteId = (text) => Number(text.replace('#', ''));
const escapeRe = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The site naming rule: its innermost frame that is not allocation plumbing (std, core, alloc, hashbrown, memscope). */
const PLUMBING = /^<?(&(mut )?)?(dyn )?(alloc|core|std|hashbrown|memscope|__rustc)::|^(__rust_|__rdl_|__rg_|_?malloc$|_?calloc$|_?realloc$|_?free$|operator new)/;
function siteName(doc, s) {
  const n = names(doc, s);
  return n.find((x) => !PLUMBING.test(x) && x !== '[truncated]') || n[0];
}
/** A function in some sites but not all, in as many as possible: to search for, filter by and select. */
function commonFunction(doc) {
  const count = new Map();
  for (const s of doc.sites) for (const n of new Set(names(doc, s))) count.set(n, (count.get(n) || 0) + 1);
  const list = [...count].filter(([n, c]) => c >= 2 && c < doc.sites.length && !n.startsWith('[')).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  assert.ok(list.length, 'a function shared by some sites');
  return list[0][0];
}

// ----------------------------------------------------------------- the tests

test('without call stacks the views say so, and the timeline offers no range', async (t) => {
  const { page, clean } = await open(t, 'nostacks');
  assert.equal(json.nostacks.stacks.recorded, false);
  assert.match(await page.locator('#stacks-none').textContent(), /This recording has no call stacks/);
  assert.equal(await page.locator('#flame').count(), 0, 'no empty flame graph');
  assert.equal(await page.locator('#timeline-range-mode').count(), 0);
  assert.equal(await page.locator('#timeline-site-key').count(), 0);
  await clean();
});

// The views of each document with call stacks: a real recording (the demo)
// and the made-up one. Every choice (a function to search for, a site to
// inspect) is drawn from the document itself.
for (const name of SUBJECTS) {
  const doc = () => json[name];
  const probe = () => PROBE[name] || commonFunction(doc());

  test(`${name}: the recording has call stacks`, () => {
    assert.equal(doc().stacks.recorded, true);
    assert.ok(doc().sites.length > 0 && doc().frames.length > 0);
  });

  test(`${name}: the flame graph root is the sum over the sites, for each figure`, async (t) => {
    const { page, clean } = await open(t, name);
    for (let i = 0; i < METRICS.length; i++) {
      await page.selectOption('#stack-metric', String(i));
      const key = METRICS[i];
      const total = sum(doc().sites, (s) => s[key]);
      assert.equal(await page.getAttribute('#flame', 'data-total'), String(total), `${key}: the whole`);
      if (total === 0) {
        assert.match(await page.locator('#flame').textContent(), /Nothing to show/, `${key}: no site has any`);
        continue;
      }
      assert.equal(await page.getAttribute('#flame .fnode.root', 'data-value'), String(total), `${key}: the root bar`);
      // The first row under the root: one bar per outermost function, as wide as its sites' sum.
      const outer = new Map();
      for (const s of doc().sites) {
        const n = names(doc(), s);
        outer.set(n[n.length - 1], (outer.get(n[n.length - 1]) || 0) + s[key]);
      }
      const bars = await page.$$eval('#flame .fnode[data-depth="1"]:not(.other)', (es) => es.map((e) => [e.textContent, Number(e.dataset.value)]));
      assert.ok(bars.length > 0);
      for (const [fn, value] of bars) assert.equal(value, outer.get(fn), `${key}: ${fn}`);
      const width = await page.$eval('#flame', (e) => e.clientWidth);
      assert.equal(bars.length, [...outer.values()].filter((v) => v / total * width >= 1).length, `${key}: every outermost function a pixel wide or more is drawn`);
    }
    await clean();
  });

  test(`${name}: the flame graph zooms on a click, shows a tooltip and goes back with the bars above, Escape or Reset`, async (t) => {
    const { page, clean } = await open(t, name);
    const total = sum(doc().sites, (s) => s.peak_bytes);
    const bar = page.locator('#flame .fnode[data-depth="1"]').first();
    const fn = await bar.textContent();
    const value = Number(await bar.getAttribute('data-value'));
    await bar.hover();
    const tip = await page.locator('#tooltip').textContent();
    assert.ok(tip.startsWith(`${fn}\n`), tip);
    if (doc().frames.some((f) => f.function === fn && f.file)) assert.match(tip, /\n {2}at \S+:\d+/, 'file:line in the tooltip');
    assert.ok(tip.includes('peak bytes: ') && tip.includes(`(${NF.format(value)} bytes)`), tip);
    assert.ok(tip.includes(`${(value / total * 100).toFixed(value / total >= 0.001 ? 1 : 2)}% of all`), tip);

    await bar.click();
    assert.equal(await page.getAttribute('#flame', 'data-view'), String(value), 'zoomed: the view is the bar');
    assert.equal(await page.locator('#flame .fnode.ancestor').count(), 1, 'the root above it');
    assert.equal(await page.locator('#flame-crumbs').textContent(), `all sites › ${fn}`);
    assert.ok(await page.locator('#flame-reset').isEnabled());
    // deeper, then back with a click on a bar above
    const child = page.locator('#flame .fnode[data-depth="2"]:not(.other)').first();
    const childValue = await child.getAttribute('data-value');
    await child.click();
    assert.equal(await page.getAttribute('#flame', 'data-view'), childValue);
    await page.locator('#flame .fnode.ancestor[data-depth="1"]').click();
    assert.equal(await page.getAttribute('#flame', 'data-view'), String(value), 'a bar above zooms back out to it');
    await page.locator('#flame .fnode[data-depth="1"]:not(.ancestor)').first().focus();
    await page.keyboard.press('Escape');
    assert.equal(await page.getAttribute('#flame', 'data-view'), String(total), 'Escape zooms out');
    await bar.click();
    await page.click('#flame-reset');
    assert.equal(await page.getAttribute('#flame', 'data-view'), String(total), 'Reset zoom');
    assert.ok(await page.locator('#flame-reset').isDisabled());
    await clean();
  });

  test(`${name}: the flame graph search highlights matching functions and adds up their sites once`, async (t) => {
    const { page, clean } = await open(t, name);
    await page.selectOption('#stack-metric', '2');
    const q = probe();
    await page.fill('#flame-search', q.toUpperCase());
    await page.press('#flame-search', 'Enter');
    const matched = await page.$$eval('#flame .fnode.match', (es) => es.map((e) => e.textContent));
    assert.ok(matched.length >= 1, `${q} is highlighted`);
    for (const m of matched) assert.ok(m.toLowerCase().includes(q.toLowerCase()), m);
    const expected = sum(doc().sites.filter((s) => names(doc(), s).some((n) => n.toLowerCase().includes(q.toLowerCase()))), (s) => s.allocated_bytes);
    assert.equal(await page.getAttribute('#flame', 'data-matched'), String(expected), 'each matching site counted once');
    await page.fill('#flame-search', '');
    await page.press('#flame-search', 'Enter');
    assert.equal(await page.locator('#flame .fnode.match').count(), 0);
    await clean();
  });

  test(`${name}: the sites table sorts by a figure, filters by function and opens a site from the keyboard`, async (t) => {
    const { page, clean } = await open(t, name);
    const sites = doc().sites;
    let rows = await tableRows(page, '#sites-table');
    const byPeak = sites.map((s, i) => [s, i]).sort((a, b) => b[0].peak_bytes - a[0].peak_bytes || a[1] - b[1]).map((x) => x[0].id);
    assert.deepEqual(rows.map((r) => siteId(r.first)), byPeak, 'by peak bytes at first');
    for (const r of rows) {
      const s = sites.find((x) => x.id === siteId(r.first));
      assert.ok(r.second.startsWith(siteName(doc(), s)), `site #${s.id} is named by its innermost frame that is not plumbing: ${r.second}`);
      for (const key of [...METRICS, 'peak_count', 'live_count_end', 'reallocations', 'deallocations', 'deallocated_bytes', 'max_live_bytes', 'max_live_at_ns', 'total_lifetime_ns']) {
        assert.equal(r.fields[key], s[key], `site #${s.id}: ${key}`);
      }
    }
    const header = page.locator('#sites-table thead th', { hasText: /^allocated$/ });
    await header.locator('button').click();
    assert.equal(await header.getAttribute('aria-sort'), 'descending');
    rows = await tableRows(page, '#sites-table');
    const byAllocated = sites.map((s, i) => [s, i]).sort((a, b) => b[0].allocated_bytes - a[0].allocated_bytes || a[1] - b[1]).map((x) => x[0].id);
    assert.deepEqual(rows.map((r) => siteId(r.first)), byAllocated);
    await header.locator('button').click();
    assert.equal(await header.getAttribute('aria-sort'), 'ascending');

    const q = probe();
    await page.fill('#site-filter', q.toUpperCase());
    await page.press('#site-filter', 'Enter');
    rows = await tableRows(page, '#sites-table');
    const withIt = sites.filter((s) => names(doc(), s).some((n) => n.toLowerCase().includes(q.toLowerCase())));
    assert.ok(withIt.length > 0 && withIt.length < sites.length);
    assert.deepEqual(rows.map((r) => siteId(r.first)).sort(), withIt.map((s) => s.id).sort(), 'the sites with the function anywhere in the stack');
    await page.fill('#site-filter', '');
    await page.press('#site-filter', 'Enter');

    const first = page.locator('#sites-table tbody tr').first();
    await first.focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const second = sites.map((s, i) => [s, i]).sort((a, b) => a[0].allocated_bytes - b[0].allocated_bytes || a[1] - b[1])[1][0];
    assert.ok(await page.locator('#inspector').isVisible());
    assert.equal(await page.getAttribute('#inspector', 'data-site'), String(second.id), 'Enter opens the focused row');
    await page.keyboard.press('Escape');
    assert.ok(await page.locator('#inspector').isHidden());
    assert.equal(await page.evaluate(() => document.activeElement.dataset.index), '1', 'focus returns to the row');
    await clean();
  });

  test(`${name}: the site inspector shows the whole stack with file:line:column, the figures and the live bytes over time`, async (t) => {
    const { page, clean } = await open(t, name);
    const d = doc();
    const site = d.sites.find((s) => s.frames.some((i) => d.frames[i].inlined) && s.peak_bytes > 0) || d.sites[0];
    await page.locator('#sites-table tbody tr').nth(d.sites.indexOf(site)).click();
    assert.equal(await page.getAttribute('#inspector', 'data-site'), String(site.id));
    assert.equal(await page.locator('#inspector-title').textContent(), siteName(d, site), 'named by its innermost non-plumbing frame');
    const rows = await page.$$eval('#site-stack tbody tr', (trs) => trs.map((tr) => ({ fn: tr.cells[1].textContent, loc: tr.cells[2].textContent, badges: [...tr.querySelectorAll('.badge')].map((b) => b.textContent) })));
    assert.equal(rows.length, site.frames.length, 'one row per frame, innermost first');
    site.frames.forEach((i, j) => {
      const f = d.frames[i];
      assert.ok(rows[j].fn.startsWith(f.function), `frame ${j}: ${f.function}`);
      const loc = f.file ? `${f.file}${f.line ? `:${f.line}${f.column ? `:${f.column}` : ''}` : ''}` : f.module ? f.module.split('/').pop() : '—';
      assert.equal(rows[j].loc, loc, `frame ${j}: file:line:column`);
      assert.equal(rows[j].badges.includes('inlined'), !!f.inlined, `frame ${j}: inlined mark`);
    });
    assert.ok(rows[0].badges.includes('allocates'));

    await page.click('#tab-site-figures');
    const figures = await page.$$eval('#panel-site-figures [data-field]', (es) => es.map((e) => [e.dataset.field, e.dataset.value]));
    assert.ok(figures.length >= 13);
    for (const [field, value] of figures) assert.equal(value, String(site[field.replace('sites.', '')]), field);

    await page.click('#tab-site-live');
    const inked = await page.locator('#site-live-chart').evaluate((c) => {
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 500, `the site's live bytes are drawn (${inked} pixels)`);
    // Show in the flame graph: zooms to the deepest bar of the site's stack that has peak bytes
    await page.click('#tab-stack');
    await page.click('#site-in-flame');
    assert.ok(await page.locator('#inspector').isHidden());
    const path = names(d, site).reverse();
    let expected = sum(d.sites, (s) => s.peak_bytes);
    for (let k = 1; k <= path.length; k++) {
      const under = sum(d.sites.filter((s) => { const n = names(d, s).reverse(); return path.slice(0, k).every((x, i) => n[i] === x); }), (s) => s.peak_bytes);
      if (!(under > 0)) break;
      expected = under;
    }
    assert.equal(await page.getAttribute('#flame', 'data-view'), String(expected), 'zoomed to the site');
    await clean();
  });

  test(`${name}: bottom-up: each function’s self and total equal the sums over the JSON’s sites, and its callers and callees too`, async (t) => {
    const { page, clean } = await open(t, name);
    const d = doc();
    for (const i of [0, 2, 3]) {
      await page.selectOption('#stack-metric', String(i));
      const key = METRICS[i];
      const rows = await tableRows(page, '#functions-table');
      const all = new Set(d.sites.flatMap((s) => names(d, s)));
      assert.equal(rows.length, Math.min(all.size, 1000), 'one row per function');
      for (const r of rows) {
        const fn = r.first;
        const self = sum(d.sites.filter((s) => names(d, s)[0] === fn), (s) => s[key]);
        const total = sum(d.sites.filter((s) => names(d, s).includes(fn)), (s) => s[key]);
        assert.equal(r.fields.self, self, `${key}: self of ${fn}`);
        assert.equal(r.fields.total, total, `${key}: total of ${fn}`);
      }
    }
    // callers and callees of a function, with the allocations figure
    const fn = probe();
    await page.fill('#fn-filter', fn);
    await page.press('#fn-filter', 'Enter');
    await page.locator('#functions-table tbody tr', { has: page.locator('td:first-child', { hasText: new RegExp(`^${escapeRe(fn)}$`) }) }).click();
    assert.equal(await page.getAttribute('#fn-detail', 'data-function'), fn);
    const neighbours = (dir) => {
      const m = new Map();
      for (const s of d.sites) {
        const n = names(d, s), seen = new Set();
        n.forEach((x, j) => { if (x === fn && n[j + dir] !== undefined) seen.add(n[j + dir]); });
        for (const o of seen) m.set(o, (m.get(o) || 0) + s.allocations);
      }
      return m;
    };
    for (const [id, dir] of [['#fn-callers', 1], ['#fn-callees', -1]]) {
      const expected = neighbours(dir);
      if (!expected.size) { assert.equal(await page.locator(id).count(), 0, `${id}: none`); continue; }
      const shown = await tableRows(page, id);
      assert.deepEqual(new Map(shown.map((r) => [r.first, r.fields.value])), expected, id);
    }
    if (name === 'stacks') assert.ok(neighbours(1).has('myapp::tree::walk'), 'recursion: it is its own caller');
    await clean();
  });

  test(`${name}: the timeline stacks the top five sites by peak bytes`, async (t) => {
    const { page, clean } = await open(t, name);
    const top = doc().sites.map((s, i) => [s, i]).filter((x) => x[0].peak_bytes > 0 && (x[1] < 500 || x[0].timeline.length))
      .sort((a, b) => b[0].peak_bytes - a[0].peak_bytes || b[0].allocated_bytes - a[0].allocated_bytes).slice(0, 5).map((x) => x[0]);
    const keys = await page.locator('#timeline-site-key .key-name').allTextContents();
    assert.deepEqual(keys.map((k) => Number(/\(#(\d+)\)$/.exec(k)[1])), top.map((s) => s.id));
    assert.deepEqual(keys, top.map((s) => `${siteName(doc(), s)} (#${s.id})`));
    assert.ok(await page.locator('#timeline-sites-toggle').isChecked());
    const canvas = page.locator('#timeline-canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.3);
    const tip = await page.locator('#tooltip').textContent();
    assert.match(tip, /^at /);
    assert.ok(tip.includes('top sites:'), tip);
    await clean();
  });

  test(`${name}: a range picked on the timeline lists exactly the sites that allocated in it and those live at its end`, async (t) => {
    const { page, clean } = await open(t, name);
    const d = doc();
    const canvas = page.locator('#timeline-canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = await canvas.boundingBox();
    const shown = page.locator('#timeline-range');
    const before = await shown.textContent();
    const drag = async (a, b, shift) => {
      if (shift) await page.keyboard.down('Shift');
      await page.mouse.move(box.x + box.width * a, box.y + 120);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * b, box.y + 120, { steps: 6 });
      await page.mouse.up();
      if (shift) await page.keyboard.up('Shift');
    };
    const check = async () => {
      const ds = await page.locator('#range-panel').evaluate((e) => ({ ...e.dataset }));
      const from = Number(ds.from), to = Number(ds.to);
      assert.deepEqual(snap(d, Number(ds.ta), Number(ds.tb)), { from, to }, 'the range is widened to whole intervals');
      const w = d.timeline[0].width_ns;
      assert.equal(Number(ds.t1), d.timeline[to].ts_ns + w);
      assert.equal(Number(ds.t0), from < 0 ? 0 : d.timeline[from].ts_ns + w);
      const expected = rangeSites(d, from, to);
      const rows = await tableRows(page, '#range-table');
      assert.deepEqual(new Map(rows.map((r) => [siteId(r.first), { allocated: r.fields['range.allocated'], allocations: r.fields['range.allocations'], live: r.fields['range.live'] }])), expected);
      const allocating = [...expected.values()].filter((x) => x.allocated > 0);
      assert.equal(ds.allocating, String(allocating.length));
      assert.equal(ds.living, String([...expected.values()].filter((x) => x.live > 0).length));
      assert.equal(await page.getAttribute('#range-flame', 'data-total'), String(sum(allocating, (x) => x.allocated)), 'the range flame graph adds up the range');
      return { from, to };
    };

    assert.ok(await page.locator('#range-panel').isHidden(), 'nothing picked yet');
    await drag(0.35, 0.6, true);
    assert.ok(await page.locator('#range-panel').isVisible());
    const first = await check();
    assert.ok(first.to > first.from);
    assert.equal(await shown.textContent(), before, 'shift+drag does not pan');

    // "Pick a range" mode: a plain drag picks
    await page.click('#timeline-range-mode');
    assert.equal(await page.getAttribute('#timeline-range-mode', 'aria-pressed'), 'true');
    await drag(0.1, 0.3, false);
    const second = await check();
    assert.notDeepEqual(second, first, 'a new range');
    assert.equal(await shown.textContent(), before);
    await page.click('#timeline-range-mode');
    // a plain drag pans again and keeps the range
    await canvas.focus();
    await page.keyboard.press('+');
    const zoomed = await shown.textContent();
    await drag(0.6, 0.4, false);
    assert.notEqual(await shown.textContent(), zoomed, 'dragging pans');
    assert.deepEqual(await check(), second, 'the range is kept');
    // the keyboard way: zoom, then pick the time shown
    await page.click('#timeline-range-view');
    const third = await check();
    assert.notDeepEqual(third, second);

    // the range flame graph switches figure; the range table opens a site
    await page.selectOption('#range-metric', '2');
    const live = sum([...rangeSites(d, third.from, third.to).values()], (x) => x.live);
    assert.equal(await page.getAttribute('#range-flame', 'data-total'), String(live));
    const rows = await tableRows(page, '#range-table');
    if (rows.length) {
      await page.locator('#range-table tbody tr').first().click();
      assert.equal(await page.getAttribute('#inspector', 'data-site'), String(siteId(rows[0].first)));
      await page.keyboard.press('Escape');
    }
    await page.click('#range-clear');
    assert.ok(await page.locator('#range-panel').isHidden());
    await clean();
  });
}

test('warnings and truncated stacks are shown plainly', async (t) => {
  const { page, clean } = await open(t, 'stacks');
  const doc = json.stacks;
  const warnings = await page.locator('#stacks-warnings li').allTextContents();
  assert.deepEqual(warnings, doc.stacks.warnings);
  const cut = doc.sites.filter((s) => s.truncated);
  assert.ok(cut.length > 0);
  const note = page.locator('#stacks-truncated');
  assert.equal(await note.getAttribute('data-sites'), String(cut.length));
  assert.equal(await note.getAttribute('data-bytes'), String(sum(cut, (s) => s.allocated_bytes)));
  const share = (sum(cut, (s) => s.allocated_bytes) / sum(doc.sites, (s) => s.allocated_bytes) * 100).toFixed(1);
  assert.ok((await note.textContent()).includes(`${share}% of the allocated bytes`));
  assert.match(await page.locator('#stacks-table-full').textContent(), new RegExp(`^${NF.format(doc.stacks.table_full_allocations)} allocations`));
  assert.match(await page.locator('#stacks-listed').textContent(), new RegExp(`has ${doc.stacks.sites} distinct call stacks; the JSON lists the ${doc.sites.length}`));
  assert.equal(await page.locator('#flame .fnode[data-depth="1"]', { hasText: /^\[truncated\]$/ }).count(), 1, '[truncated] is an outermost frame');
  await clean();
});

test('hostile function names and paths in the stacks show as text and run nothing', async (t) => {
  const { page, clean } = await open(t, 'stacks');
  const doc = json.stacks;
  const fn = `myapp::parse::${HOSTILE}`;
  const site = doc.sites.find((s) => names(doc, s).includes(fn));
  assert.ok(site);
  const rows = await tableRows(page, '#sites-table');
  assert.ok(rows.some((r) => r.second.startsWith(fn)), 'named by it in the sites table');
  assert.ok((await page.locator('#flame .fnode').allTextContents()).includes(fn), 'a flame bar');
  assert.ok((await page.locator('#functions-table tbody td:first-child').allTextContents()).includes(fn), 'the functions table');
  assert.ok((await page.locator('#timeline-site-key .key-name').allTextContents()).some((k) => k.startsWith(fn)) || site.peak_bytes === 0, 'the timeline key');
  await page.fill('#flame-search', '<img');
  await page.press('#flame-search', 'Enter');
  assert.ok((await page.locator('#flame .fnode.match').allTextContents()).includes(fn));
  await page.locator('#sites-table tbody tr').nth(doc.sites.indexOf(site)).click();
  assert.equal(await page.locator('#inspector-title').textContent(), fn);
  const file = doc.frames.find((f) => f.function === fn).file;
  assert.ok((await page.locator('#site-stack').textContent()).includes(file), 'its file path, literally');
  await page.keyboard.press('Escape');
  await page.locator('#flame .fnode', { hasText: fn }).first().hover();
  assert.ok((await page.locator('#tooltip').textContent()).startsWith(`${fn}\n`));
  assert.equal(await page.locator('img, svg, iframe, object, embed').count(), 0, 'no element made from a name');
  assert.equal(await page.locator('b', { hasText: /^x$/ }).count(), 0, 'no <b> from a file path');
  assert.equal(await page.locator('[onerror], [onload], [onmouseover], [onclick]').count(), 0);
  assert.equal(await page.locator('script').count(), 2);
  await clean();
});

test('the call stack views are readable in dark mode', async (t) => {
  const { page, clean } = await open(t, 'stacks', { colorScheme: 'dark' });
  const [bg, fg] = await page.$eval('#flame .fnode[data-depth="2"]', (e) => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]);
  assert.notEqual(bg, fg);
  await clean();
});

test('demo: the loaded objects the frames were resolved against are listed', async (t) => {
  const { page, clean } = await open(t, 'demo');
  const modules = json.demo.stacks.modules || [];
  if (!modules.length) return;
  await page.click('#stacks-modules summary');
  const paths = await page.locator('#stacks-modules tbody td:first-child').allTextContents();
  assert.deepEqual(paths, modules.slice(0, 200).map((m) => m.path));
  await clean();
});

test('screenshot of the call stack views for the README (MEMSCOPE_SCREENSHOTS=1)', { skip: process.env.MEMSCOPE_SCREENSHOTS !== '1' && 'set MEMSCOPE_SCREENSHOTS=1' }, async (t) => {
  const { page, clean } = await open(t, 'demo', { colorScheme: 'light' });
  // the section at the top of the window, under the sticky header
  const header = await page.locator('header.top').boundingBox();
  await page.evaluate((h) => { const e = document.getElementById('stacks-h'); window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - h - 8); }, header.height);
  // hover the widest bar in the middle of the graph, for its tooltip
  const bars = await page.$$eval('#flame .fnode:not(.other):not(.root)', (es) => es.map((e, i) => [i, Number(e.dataset.depth), e.getBoundingClientRect().width]));
  const deepest = Math.max(...bars.map((b) => b[1]));
  const pick = bars.filter((b) => b[1] === Math.min(deepest, 17)).sort((a, b) => b[2] - a[2])[0];
  const bar = page.locator('#flame .fnode:not(.other):not(.root)').nth(pick[0]);
  const box = await bar.boundingBox();
  await page.mouse.move(box.x + Math.min(box.width / 2, 200), box.y + box.height / 2);
  await page.screenshot({ path: path.join(ROOT, 'docs/report-flame.png'), clip: { x: 0, y: header.height, width: 1280, height: 900 - header.height } });
  await clean();
});
