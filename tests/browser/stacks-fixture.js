// A JSON document with call stacks (docs/JSON.md: `stacks`, `frames`,
// `sites`), made up but self-consistent, and report pages built from it: the
// browser tests use it for what real recordings may not hold (a hostile
// function name, an inlined frame, a truncated stack, unresolved frames,
// warnings, more sites than listed), and for a recording without stacks.
//
//   node tests/browser/stacks-fixture.js TEMPLATE.html OUT_DIR
//   node tests/browser/stacks-fixture.js --from-sources OUT_DIR
//
// writes OUT_DIR/stacks.{json,html} and OUT_DIR/nostacks.{json,html}. The
// page is TEMPLATE.html (a report `memscope html` wrote) with its embedded
// JSON swapped: the Content-Security-Policy hashes only the script and the
// style, and the data sits in a `<script type="application/json">` block,
// which is never run. `--from-sources` instead puts the page together from
// src/export/report/ as html.rs does (for working on the script without a
// cargo build).
//
// The figures follow the JSON's rules: three threads, 30 listed sites whose
// sparse timelines index the top-level timeline, the global timeline the sum
// of the sites' live bytes, each site's peak figures its value at the global
// peak, sites sorted by peak_bytes then allocated_bytes.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const HOSTILE = '<img src=x onerror=alert(1)>';

/** A small deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RUST = '/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library';
const OUTER = {
  main: [
    ['std::rt::lang_start_internal', `${RUST}/std/src/rt.rs`, 174, 5],
    ['std::rt::lang_start::{{closure}}', `${RUST}/std/src/rt.rs`, 195, 18],
    ['myapp::main', '/src/main.rs', 12, 5],
  ],
  worker: [
    ['std::sys::pal::unix::thread::Thread::new::thread_start', `${RUST}/std/src/sys/pal/unix/thread.rs`, 105, 17],
    ['std::thread::Builder::spawn_unchecked_::{{closure}}', `${RUST}/std/src/thread/mod.rs`, 561, 30],
    ['myapp::worker::run', '/src/worker.rs', 30, 9],
  ],
};
const MIDDLE = [
  ['myapp::parse::read_records', '/src/parse.rs', 42, 9],
  ['myapp::index::Index::insert', '/src/index.rs', 77, 13],
  ['myapp::index::tokenize', '/src/index.rs', 120, 21],
  ['myapp::report::render', '/src/report.rs', 18, 5],
  ['myapp::cache::Cache::get_or_load', '/src/cache.rs', 55, 22],
  ['serde_json::de::from_str', '/home/u/.cargo/registry/src/serde_json-1.0.128/src/de.rs', 2676, 5],
  ['myapp::worker::handle_batch', '/src/worker.rs', 64, 13],
];
const INNER = [
  ['alloc::raw_vec::RawVec<T,A>::grow_one', `${RUST}/alloc/src/raw_vec.rs`, 479, 7],
  ['<alloc::string::String as core::clone::Clone>::clone', `${RUST}/alloc/src/string.rs`, 2117, 22],
  ['alloc::alloc::exchange_malloc', `${RUST}/alloc/src/alloc.rs`, 237, 11],
  ['hashbrown::raw::RawTable<T,A>::reserve_rehash', '/home/u/.cargo/registry/src/hashbrown-0.14.5/src/raw/mod.rs', 1105, 25],
  ['alloc::vec::Vec<T>::with_capacity', `${RUST}/alloc/src/vec/mod.rs`, 480, 9],
];

/** Call stacks, outermost first: [function, file, line, column, inlined?, module]. */
function stackShapes(rand) {
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const shapes = [];
  for (let k = 0; k < 30; k++) {
    const thread = 1 + (k % 3);
    const outer = thread === 1 ? OUTER.main : OUTER.worker;
    const middle = [];
    const n = 1 + Math.floor(rand() * 3);
    let from = Math.floor(rand() * MIDDLE.length);
    for (let j = 0; j < n; j++) middle.push(MIDDLE[(from + j * 2) % MIDDLE.length]);
    const inner = rand() < 0.75 ? [pick(INNER)] : [];
    shapes.push({ thread, frames: [...outer, ...middle, ...inner], truncated: false });
  }
  // Special stacks, at fixed places.
  shapes[0].frames = [...OUTER.main, MIDDLE[0], ['myapp::parse::split_fields', '/src/parse.rs', 61, 17, true], INNER[1]];
  shapes[1].frames = [...OUTER.worker, MIDDLE[6], [`myapp::parse::${HOSTILE}`, `/src/</script><b>x</b>.rs`, 7, 3], INNER[0]];
  shapes[2].frames = [['[truncated]'], ['myapp::tree::walk', '/src/tree.rs', 20, 9], ['myapp::tree::walk', '/src/tree.rs', 24, 13],
    ['myapp::tree::walk', '/src/tree.rs', 24, 13], INNER[2]];
  shapes[2].truncated = true;
  shapes[3].frames = [...OUTER.worker, ['libfoo.so+0x1a2b', null, 0, 0, false, '/usr/lib/libfoo.so'], ['0x55d0c0a1b2c3', null, 0, 0, false, null]];
  shapes[4].frames = [['[stack table full]']];
  shapes[5].frames = [...OUTER.main, ['myapp::tree::walk', '/src/tree.rs', 20, 9], ['myapp::tree::walk', '/src/tree.rs', 24, 13], INNER[4]];
  return shapes;
}

/** The document: `memscope json` of an imagined recording with call stacks. */
function makeStacksDoc(opts = {}) {
  const rand = prng(opts.seed || 7);
  const width = 131072;
  const POINTS = 420;
  const shapes = opts.noStacks ? [{ thread: 1, frames: [['[no stacks]']], truncated: false }] : stackShapes(rand);

  // Frames, deduplicated.
  const frames = [];
  const frameIndex = new Map();
  const frameOf = ([fn, file = null, line = 0, column = 0, inlined = false, module]) => {
    const key = JSON.stringify([fn, file, line, column, inlined]);
    if (!frameIndex.has(key)) {
      frameIndex.set(key, frames.length);
      const standIn = fn.startsWith('[');
      const address = standIn ? '0x0' : `0x55d0c0a${(0x10000 + frames.length * 0x1f3).toString(16)}`;
      frames.push({ function: fn, file, line, column, address, module: module !== undefined ? module : standIn ? null : '/usr/bin/myapp', inlined: !!inlined });
    }
    return frameIndex.get(key);
  };

  // Each site's life: per timeline interval, allocations (some freed in the same interval: temporary) and deallocations.
  const sims = shapes.map((shape, k) => {
    const style = opts.noStacks ? 'steady' : ['steady', 'leak', 'spike', 'temp', 'late'][k % 5];
    const size = 16 << Math.floor(rand() * 8);
    return { shape, style, size, live: 0, liveCount: 0, cum: 0, count: 0, reallocs: 0, deallocs: 0, dbytes: 0, temp: 0, lifetime: 0,
      maxLive: 0, maxAt: 0, timeline: [], start: Math.floor(rand() * POINTS * 0.4), stop: Math.floor(POINTS * (0.5 + rand() * 0.5)) };
  });
  const timeline = [];
  const threadLive = new Map([[1, []], [2, []], [3, []]]);
  let peak = -1, peakAt = 0, peakPoint = -1;
  const livesAtPeak = [];
  for (let t = 0; t < POINTS; t++) {
    if (t % 17 === 9) continue; // an interval in which nothing changed: no point
    let changed = false;
    for (const s of sims) {
      if (t < s.start || t > s.stop) continue;
      const busy = s.style === 'temp' ? 0.5 : s.style === 'late' ? (t > POINTS * 0.7 ? 0.6 : 0.05) : 0.3;
      if (rand() >= busy) continue;
      const n = 1 + Math.floor(rand() * 4);
      let freed = 0;
      for (let j = 0; j < n; j++) {
        s.cum += s.size;
        s.count += 1;
        if (s.style === 'temp' && rand() < 0.8) { s.temp++; s.deallocs++; s.dbytes += s.size; s.lifetime += 200 + Math.floor(rand() * 900); freed++; continue; }
        s.live += s.size;
        s.liveCount += 1;
      }
      if (rand() < 0.2) { s.reallocs++; s.cum += s.size; s.live += s.size; s.dbytes += s.size; }
      const freeShare = s.style === 'leak' ? 0 : s.style === 'spike' ? (t > (s.start + s.stop) / 2 ? 0.6 : 0) : 0.35;
      const k = Math.floor(s.liveCount * freeShare * rand());
      if (k > 0 && s.live >= k * s.size) {
        s.live -= k * s.size; s.liveCount -= k; s.deallocs += k; s.dbytes += k * s.size; s.lifetime += k * width * (1 + Math.floor(rand() * 30));
      }
      if (s.live > s.maxLive) { s.maxLive = s.live; s.maxAt = t * width + width; }
      s.timeline.push([timeline.length, s.live, s.cum, s.count]);
      changed = true;
      void freed;
    }
    if (!changed) continue;
    const total = sims.reduce((a, s) => a + s.live, 0);
    const count = sims.reduce((a, s) => a + s.liveCount, 0);
    for (const [th, list] of threadLive) list.push(sims.filter((s) => s.shape.thread === th).reduce((a, s) => a + s.live, 0));
    if (total > peak) {
      peak = total; peakAt = t * width; peakPoint = timeline.length;
      livesAtPeak.length = 0;
      for (const s of sims) livesAtPeak.push([s.live, s.liveCount]);
    }
    timeline.push({ ts_ns: t * width, width_ns: width, live_bytes: total, live_count: count });
  }

  let sites = sims.map((s, k) => ({
    id: 100 + k * 3,
    frames: s.shape.frames.slice().reverse().map(frameOf),
    truncated: s.shape.truncated,
    allocations: s.count, allocated_bytes: s.cum, reallocations: s.reallocs, deallocations: s.deallocs, deallocated_bytes: s.dbytes,
    live_count_end: s.liveCount, live_bytes_end: s.live,
    peak_count: livesAtPeak[k] ? livesAtPeak[k][1] : 0, peak_bytes: livesAtPeak[k] ? livesAtPeak[k][0] : 0,
    max_live_bytes: s.maxLive, max_live_at_ns: s.maxAt, temporary: s.temp, total_lifetime_ns: s.lifetime,
    timeline: s.timeline,
    _thread: s.shape.thread,
  }));
  sites.sort((a, b) => b.peak_bytes - a.peak_bytes || b.allocated_bytes - a.allocated_bytes || a.id - b.id);
  const sum = (key, list = sites) => list.reduce((a, s) => a + s[key], 0);
  const threadIds = [1, 2, 3];
  const names = { 1: 'main', 2: 'worker-1', 3: 'worker-2' };
  const threads = threadIds.map((th) => {
    const mine = sites.filter((s) => s._thread === th);
    return {
      thread: th, os_tid: 4000 + th, name: names[th], start_ns: th === 1 ? 0 : 1000 * th, exit_ns: th === 1 ? null : POINTS * width - 5000,
      allocations: sum('allocations', mine), deallocations: sum('deallocations', mine), reallocations: sum('reallocations', mine),
      allocated_bytes: sum('allocated_bytes', mine), deallocated_bytes: sum('deallocated_bytes', mine), prerecording_deallocations: 0, lost_events: 0,
      live_count: sum('live_count_end', mine), live_bytes: sum('live_bytes_end', mine),
    };
  });
  for (const s of sites) delete s._thread;
  const duration = POINTS * width;
  const events = sum('allocations') + sum('deallocations') + sum('reallocations') + 9;
  const doc = {
    format_version: 1,
    recording: {
      version: 3, pid: 4242, start_unix_ns: 1767225600000000000, start_monotonic_ns: 1000, ring_capacity: 8192, on_full: 'block',
      file_bytes: events * 3, finished: true, end: { events_written: events, events_lost: 0, end_ns: duration }, rounds: 40,
      damage_count: 0, damaged_bytes: 0, damage: [],
    },
    summary: {
      total_allocations: sum('allocations'), total_deallocations: sum('deallocations'), total_reallocations: sum('reallocations'),
      total_allocated_bytes: sum('allocated_bytes'), total_deallocated_bytes: sum('deallocated_bytes'),
      live_count: sum('live_count_end'), live_bytes: sum('live_bytes_end'), peak_live_bytes: peak, peak_at_ns: peakAt,
      lost_events: 0, duration_ns: duration, threads: 3, prerecording_deallocations: 0, prerecording_deallocated_bytes: 0,
      prerecording_reallocations: 0, events, late_events: 0, address_conflicts: 0, reordered_reallocations: 0, unresolved_conflicts: 0, size_mismatches: 0,
    },
    threads,
    largest_leaks: [],
    lifetime_histogram: [],
    size_histogram: [],
    timeline,
    mode: 'full',
    thread_timelines: threadIds.map((th) => ({ thread: th, live_bytes: threadLive.get(th) })),
    tracking: { variables: 0, variables_listed: 0, no_heap: 0, unlinked: 0, scope_intervals: 0 },
    variables: [], scopes: [], scope_intervals: [], foreign: [], suggestions: [],
    stacks: opts.noStacks
      ? { recorded: false, symbolized: false, sites: 1, sites_listed: 1, truncated_sites: 0, table_full_allocations: 0, warnings: [] }
      : {
        recorded: true, symbolized: true, sites: sites.length + 2, sites_listed: sites.length,
        truncated_sites: sites.filter((s) => s.truncated).length,
        table_full_allocations: sites.filter((s) => frames[s.frames[0]].function === '[stack table full]').reduce((a, s) => a + s.allocations, 0),
        warnings: ['/usr/lib/libfoo.so (build id 3f2a9c): no symbols; its frames read module+offset', `/src/${HOSTILE}: changed since the recording`],
      },
    frames,
    sites,
  };
  void peakPoint;
  return doc;
}

/** The JSON as html.rs embeds it: `<`, `>`, `&`, U+2028 and U+2029 escaped. */
function scriptSafeJson(doc) {
  return JSON.stringify(doc).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `template` (a report page) with its embedded JSON replaced by `doc`. */
function swapData(template, doc) {
  const open = '<script type="application/json" id="memscope-data">';
  const i = template.indexOf(open);
  const j = template.indexOf('</script>', i);
  if (i < 0 || j < 0) throw new Error('the template has no embedded data block');
  return template.slice(0, i + open.length) + scriptSafeJson(doc) + template.slice(j);
}

/** The page as html.rs writes it, from src/export/report/ (script files in html.rs's order). */
function pageFromSources(doc) {
  const dir = path.join(ROOT, 'src/export/report');
  const rs = fs.readFileSync(path.join(ROOT, 'src/export/html.rs'), 'utf8');
  const files = [...rs.matchAll(/include_str!\("report\/([\w-]+\.js)"\)/g)].map((m) => m[1]);
  const js = files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
  const css = fs.readFileSync(path.join(dir, 'report.css'), 'utf8');
  const hash = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('base64');
  const csp = `default-src 'none'; script-src 'sha256-${hash(js)}'; style-src 'sha256-${hash(css)}'; base-uri 'none'; form-action 'none'`;
  return fs.readFileSync(path.join(dir, 'report.html'), 'utf8')
    .replace('@@MEMSCOPE_CSP@@', () => csp).replace('@@MEMSCOPE_CSS@@', () => css)
    .replace('@@MEMSCOPE_DATA@@', () => scriptSafeJson(doc)).replace('@@MEMSCOPE_JS@@', () => js);
}

/** Writes NAME.json and NAME.html for the stacks fixture and the no-stacks one into `out`. */
function writeFixtures(template, out) {
  for (const [name, doc] of [['stacks', makeStacksDoc()], ['nostacks', makeStacksDoc({ noStacks: true })]]) {
    fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(doc));
    fs.writeFileSync(path.join(out, `${name}.html`), template === null ? pageFromSources(doc) : swapData(template, doc));
  }
}

if (require.main === module) {
  const [from, out] = process.argv.slice(2);
  if (!from || !out) {
    console.error('usage: node stacks-fixture.js TEMPLATE.html|--from-sources OUT_DIR');
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });
  writeFixtures(from === '--from-sources' ? null : fs.readFileSync(from, 'utf8'), out);
}

module.exports = { makeStacksDoc, swapData, pageFromSources, writeFixtures, HOSTILE };
