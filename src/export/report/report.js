// memscope report: draws the embedded JSON document (docs/JSON.md).
// Hand-written, no dependencies, no network. Every text that comes from the
// recording goes into the page as a text node or an attribute value, never
// as markup; every number shown is one the replay computed.
(function () {
  'use strict';

  // ---------------------------------------------------------------- helpers

  var byId = function (id) { return document.getElementById(id); };

  /** Creates an element. `props`: class, text, dataset, on<event>, or an attribute. Children: nodes or strings (as text). */
  function h(tag, props) {
    var e = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (!Object.prototype.hasOwnProperty.call(props, k)) continue;
        var v = props[k];
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k === 'dataset') { for (var d in v) e.dataset[d] = String(v[d]); }
        else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(parent, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { for (var i = 0; i < c.length; i++) add(parent, c[i]); return; }
    parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function arr(x) { return Array.isArray(x) ? x : []; }
  function num(x) { return typeof x === 'number' && isFinite(x) ? x : 0; }
  function has(x) { return typeof x === 'number' && isFinite(x); }

  var NF = new Intl.NumberFormat('en-US');
  function int(n) { return NF.format(n); }
  function fixed3(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }
  var BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  /** A byte count in binary units, e.g. "1.50 MiB". */
  function bytes(n) {
    n = num(n);
    if (n < 1024) return n + ' B';
    var v = n / 1024, u = 0;
    while (v >= 1024 && u < BYTE_UNITS.length - 1) { v /= 1024; u++; }
    return fixed3(v) + ' ' + BYTE_UNITS[u];
  }
  /** Nanoseconds in the largest unit that keeps them above 1, e.g. "2.35 s". */
  function dur(ns) {
    ns = num(ns);
    if (ns < 1e3) return Math.round(ns) + ' ns';
    if (ns < 1e6) return fixed3(ns / 1e3) + ' µs';
    if (ns < 1e9) return fixed3(ns / 1e6) + ' ms';
    if (ns < 1e12) return fixed3(ns / 1e9) + ' s';
    return int(Math.round(ns / 1e9)) + ' s';
  }
  function exactBytes(n) { return int(n) + (n === 1 ? ' byte' : ' bytes'); }
  function exactNs(n) { return int(n) + ' ns'; }

  /** A number shown humanised, exact in its tooltip; data-field names the JSON path it shows. */
  function qty(unit, n, field) {
    var text, title;
    if (!has(n)) return h('span', { class: 'muted', dataset: field ? { field: field, unit: unit, value: 'null' } : null }, '—');
    if (unit === 'bytes') { text = bytes(n); title = exactBytes(n); }
    else if (unit === 'ns') { text = dur(n); title = exactNs(n); }
    else { text = int(n); title = null; }
    return h('span', { class: 'q', title: title, dataset: field ? { field: field, unit: unit, value: String(n) } : null }, text);
  }
  function plural(n, one, many) { return int(n) + ' ' + (n === 1 ? one : many); }
  function empty(text) { return h('p', { class: 'empty' }, text); }

  // ------------------------------------------------------------------- data

  var data;
  try {
    data = JSON.parse(byId('memscope-data').textContent);
  } catch (err) {
    add(byId('alerts'), h('p', { class: 'alert danger', role: 'alert' }, 'The report data could not be read: ' + err.message));
    throw err;
  }
  var rec = data.recording || {};
  var S = data.summary || {};
  var threads = arr(data.threads);
  var timeline = arr(data.timeline);
  var threadTimelines = arr(data.thread_timelines);
  var variables = arr(data.variables);
  var scopes = arr(data.scopes);
  var foreign = arr(data.foreign);
  var suggestions = arr(data.suggestions);
  var tracking = data.tracking && typeof data.tracking === 'object' ? data.tracking : null;
  var onlyTracked = data.mode === 'only_tracked';
  var endNs = num(S.duration_ns) || (timeline.length ? num(timeline[timeline.length - 1].ts_ns) + num(timeline[0].width_ns) : 0);

  var varById = new Map();
  variables.forEach(function (v) { varById.set(v.id, v); });
  var scopeById = new Map();
  scopes.forEach(function (s) { scopeById.set(s.id, s); });
  var threadById = new Map();
  threads.forEach(function (t) { threadById.set(t.thread, t); });

  function threadLabel(id) {
    if (!has(id)) return '—';
    var t = threadById.get(id);
    if (t && t.name) return t.name + ' (#' + id + ')';
    return id === 0 ? 'unattributed (#0)' : 'thread #' + id;
  }
  function scopeName(id) {
    var s = scopeById.get(id);
    return s ? String(s.name) : '—';
  }
  function scopePath(id) {
    var parts = [], s = scopeById.get(id), guard = 0;
    while (s && guard++ < 256) { parts.unshift(String(s.name)); s = has(s.parent) ? scopeById.get(s.parent) : null; }
    return parts.join(' › ');
  }
  function varLabel(v) { return v ? String(v.name) + ' (#' + v.id + ')' : '—'; }
  function isShared(v) { return arr(v.shared_with).length > 0; }
  /** The state words a variable shows: the replay's state ("live" at the end is a leak) plus "shared". */
  function stateWords(v) {
    var st = v.state === 'live' ? 'leaked' : v.state === 'no_heap' ? 'no heap' : String(v.state || 'unknown');
    return isShared(v) ? [st, 'shared'] : [st];
  }
  var STATE_TITLES = {
    leaked: 'live at the end of the recording (state "live")',
    freed: 'every linked allocation was deallocated',
    shared: 'other tracked variables are linked to the same allocation (shared_with)',
    'no heap': 'owns no heap memory',
    unlinked: 'replay could not link it to an allocation'
  };
  function stateBadges(v) {
    return stateWords(v).map(function (w) {
      return h('span', { class: 'badge ' + w.replace(' ', '_'), title: STATE_TITLES[w] || null }, w);
    });
  }

  // ----------------------------------------------------- generic sortable table

  /**
   * A table of `rows` with sortable columns. Column: {key, label, num, value(row), cell(row)}.
   * `opts.cap` caps the rows drawn; `opts.onOpen(row)` makes rows focusable and openable.
   */
  function sortableTable(columns, rows, opts) {
    opts = opts || {};
    var state = { key: opts.sortKey || null, dir: opts.sortDir || 1, focus: 0 };
    var table = h('table', { class: opts.tableClass || null });
    var thead = h('thead'), tbody = h('tbody'), headRow = h('tr');
    var ths = columns.map(function (c) {
      var th = h('th', { class: c.num ? 'num' : null, scope: 'col', 'aria-sort': c.key === state.key ? (state.dir > 0 ? 'ascending' : 'descending') : 'none' });
      add(th, h('button', { type: 'button', class: 'sort', onclick: function () { sortBy(c.key); } }, c.label));
      headRow.appendChild(th);
      return th;
    });
    thead.appendChild(headRow);
    table.appendChild(thead);
    table.appendChild(tbody);
    var count = h('p', { class: 'count', 'aria-live': 'polite' });
    var wrap = h('div', { class: 'table-wrap' + (opts.short ? ' short' : '') }, table);
    var current = rows.slice();

    function sortBy(key) {
      if (state.key === key) state.dir = -state.dir;
      else { state.key = key; var c = columns.find(function (x) { return x.key === key; }); state.dir = c && c.num ? -1 : 1; }
      ths.forEach(function (th, i) {
        th.setAttribute('aria-sort', columns[i].key === state.key ? (state.dir > 0 ? 'ascending' : 'descending') : 'none');
      });
      render();
    }
    function sorted(list) {
      if (!state.key) return list;
      var c = columns.find(function (x) { return x.key === state.key; });
      var val = c.value || function (r) { return r[c.key]; };
      var keyed = list.map(function (r, i) { return { r: r, k: val(r), i: i }; });
      keyed.sort(function (a, b) {
        var x = a.k, y = b.k;
        if (x === y) return a.i - b.i;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        var o = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return o * state.dir || a.i - b.i;
      });
      return keyed.map(function (k) { return k.r; });
    }
    function render() {
      var list = sorted(current);
      var cap = opts.cap || Infinity;
      var shown = Math.min(list.length, cap);
      var frag = document.createDocumentFragment();
      for (var i = 0; i < shown; i++) {
        var r = list[i];
        var tr = h('tr', opts.onOpen ? { class: 'row', tabindex: i === 0 ? '0' : '-1', dataset: { index: i } } : null);
        for (var j = 0; j < columns.length; j++) {
          var c = columns[j];
          var td = h('td', { class: c.cls || (c.num ? 'num' : null) });
          add(td, c.cell ? c.cell(r) : r[c.key]);
          tr.appendChild(td);
        }
        tr._row = r;
        frag.appendChild(tr);
      }
      clear(tbody).appendChild(frag);
      state.focus = 0;
      var text = list.length > shown ? 'showing ' + int(shown) + ' of ' + plural(list.length, opts.noun || 'row', opts.nouns || 'rows') : plural(list.length, opts.noun || 'row', opts.nouns || 'rows');
      if (opts.countSuffix) text += opts.countSuffix(list.length);
      count.textContent = text;
      count.dataset.shown = String(shown);
      count.dataset.total = String(list.length);
    }
    if (opts.onOpen) {
      var focusRow = function (i) {
        var trs = tbody.rows;
        if (!trs.length) return;
        i = Math.max(0, Math.min(trs.length - 1, i));
        if (trs[state.focus]) trs[state.focus].tabIndex = -1;
        state.focus = i;
        trs[i].tabIndex = 0;
        trs[i].focus();
      };
      tbody.addEventListener('click', function (ev) {
        if (ev.target.closest('button')) return;
        var tr = ev.target.closest('tr');
        if (tr && tr._row) { focusRow(Number(tr.dataset.index)); opts.onOpen(tr._row, tr); }
      });
      tbody.addEventListener('keydown', function (ev) {
        var tr = ev.target.closest('tr');
        if (!tr || !tr._row) return;
        var i = Number(tr.dataset.index), page = 10, handled = true;
        switch (ev.key) {
          case 'ArrowDown': focusRow(i + 1); break;
          case 'ArrowUp': focusRow(i - 1); break;
          case 'PageDown': focusRow(i + page); break;
          case 'PageUp': focusRow(i - page); break;
          case 'Home': focusRow(0); break;
          case 'End': focusRow(tbody.rows.length - 1); break;
          case 'Enter': case ' ': opts.onOpen(tr._row, tr); break;
          default: handled = false;
        }
        if (handled) ev.preventDefault();
      });
    }
    render();
    return {
      element: h('div', null, wrap, count),
      table: table,
      setRows: function (list) { current = list; render(); }
    };
  }

  // --------------------------------------------------------------- overview

  function renderAlerts() {
    var box = byId('alerts');
    if (num(S.lost_events) > 0) {
      add(box, h('div', { class: 'alert danger loud', role: 'alert', id: 'lost-events-alert' },
        '⚠ ' + int(S.lost_events) + ' EVENTS LOST: the recorder dropped them (full ring under on_full = "' + String(rec.on_full) +
        '"); every count in this report is a lower bound.'));
    }
    if (rec.finished === false) {
      add(box, h('div', { class: 'alert warn', role: 'alert' },
        'The recording was not finished (no End record): the program stopped or the file was cut while recording. Everything up to byte ' +
        int(num(rec.file_bytes)) + ' was replayed.'));
    }
    if (num(rec.damage_count) > 0) {
      var list = h('ul');
      arr(rec.damage).slice(0, 20).forEach(function (d) {
        add(list, h('li', null, 'at byte ' + int(num(d.offset)) + ': ' + String(d.kind) + ' (' + exactBytes(num(d.skipped_bytes)) + ' skipped)'));
      });
      if (num(rec.damage_count) > Math.min(20, arr(rec.damage).length)) add(list, h('li', null, '… ' + int(num(rec.damage_count) - Math.min(20, arr(rec.damage).length)) + ' more'));
      add(box, h('div', { class: 'alert danger', role: 'alert' },
        h('b', null, 'Damaged file: '), int(rec.damage_count) + ' damaged stretch(es), ' + exactBytes(num(rec.damaged_bytes)) + ' skipped; their events are missing from every figure.', list));
    }
    var repairs = num(S.late_events) + num(S.address_conflicts) + num(S.size_mismatches);
    if (repairs > 0) {
      add(box, h('div', { class: 'alert warn' }, 'Ordering repairs: ' + int(num(S.late_events)) + ' late events, ' + int(num(S.address_conflicts)) +
        ' address conflicts, ' + int(num(S.size_mismatches)) + ' size mismatches (0 in a healthy file).'));
    }
    if (onlyTracked) {
      add(box, h('div', { class: 'alert info' }, 'This report was made with --only-tracked: it holds the totals and the tracked variables and scopes, but no timeline, threads, leaks or histograms.'));
    }
  }

  function card(label, main, subs, opts) {
    opts = opts || {};
    var c = h('div', { class: 'card' + (opts.danger ? ' danger' : ''), id: opts.id || null }, h('div', { class: 'label' }, label));
    var v = main;
    v.classList.add('v');
    c.appendChild(v);
    (subs || []).forEach(function (s) { add(c, h('div', { class: 'sub' }, s)); });
    return c;
  }

  function renderOverview() {
    var cards = byId('overview-cards');
    var f = function (unit, key) { return qty(unit, S[key], 'summary.' + key); };
    var sub = function (unit, key, prefix) { var q = f(unit, key); q.classList.add('v2'); return [prefix || '', q]; };
    add(cards, [
      card('Duration', f('ns', 'duration_ns')),
      card('Allocations', f('count', 'total_allocations'), [sub('bytes', 'total_allocated_bytes'), 'allocated']),
      card('Deallocations', f('count', 'total_deallocations'), [sub('bytes', 'total_deallocated_bytes'), 'deallocated']),
      card('Reallocations', f('count', 'total_reallocations'), ['resizes; new sizes count as allocated']),
      card('Live at end (leaks)', f('bytes', 'live_bytes'), [sub('count', 'live_count', ''), ' allocations still live'], { danger: false }),
      card('Peak live', f('bytes', 'peak_live_bytes'), [sub('ns', 'peak_at_ns', 'first reached at ')]),
      card('Threads', f('count', 'threads'), [threads.length ? plural(threads.length, 'thread entry', 'thread entries') + ' below' : '']),
      card('Events', f('count', 'events'), ['read from the file']),
      card('Events lost', f('count', 'lost_events'), [num(S.lost_events) > 0 ? 'counts are lower bounds' : 'none: every call was recorded'],
        { danger: num(S.lost_events) > 0, id: 'lost-card' }),
      card('File size', qty('bytes', rec.file_bytes, 'recording.file_bytes'), [bytesPerEvent()])
    ]);
    var facts = h('ul', { class: 'facts' });
    var fact = function (label, value) { add(facts, h('li', null, label + ' ', h('b', null, value))); };
    fact('process', has(rec.pid) ? String(rec.pid) : '—');
    if (has(rec.start_unix_ns)) {
      var d = new Date(rec.start_unix_ns / 1e6);
      fact('started', isNaN(d.getTime()) ? '—' : d.toISOString().replace('T', ' ').replace('Z', ' UTC'));
    }
    fact('finished', rec.finished ? 'yes' : 'NO');
    fact('full-ring policy', String(rec.on_full || '—'));
    fact('ring capacity', has(rec.ring_capacity) ? int(rec.ring_capacity) + ' events' : '—');
    fact('drain rounds', has(rec.rounds) ? int(rec.rounds) : '—');
    fact('pre-recording frees', int(num(S.prerecording_deallocations)) + ' (' + bytes(num(S.prerecording_deallocated_bytes)) + ')');
    fact('recording format', 'v' + String(rec.version));
    if (tracking) fact('tracked variables', int(num(tracking.variables)));
    add(byId('overview-facts'), facts);
    renderThreads();
  }

  function bytesPerEvent() {
    var e = num(S.events), b = num(rec.file_bytes);
    if (!e) return 'no events';
    return [h('span', { class: 'v2', dataset: { field: 'bytes_per_event', value: String(b / e) }, title: int(b) + ' bytes / ' + int(e) + ' events' }, (b / e).toFixed(2)), ' bytes per event'];
  }

  function renderThreads() {
    var box = byId('threads-table');
    if (!threads.length) { add(box, empty(onlyTracked ? 'Not in an --only-tracked report.' : 'No thread recorded an event.')); return; }
    var cols = [
      { key: 'thread', label: 'id', num: true },
      { key: 'name', label: 'name', cls: 'name', value: function (t) { return t.name || ''; }, cell: function (t) { return t.name ? t.name : h('span', { class: 'muted' }, t.thread === 0 ? 'unattributed' : '—'); } },
      { key: 'os_tid', label: 'OS tid', num: true, cell: function (t) { return has(t.os_tid) ? String(t.os_tid) : '—'; } },
      { key: 'allocations', label: 'allocations', num: true, cell: function (t) { return qty('count', t.allocations); } },
      { key: 'allocated_bytes', label: 'allocated', num: true, cell: function (t) { return qty('bytes', t.allocated_bytes); } },
      { key: 'deallocations', label: 'deallocations', num: true, cell: function (t) { return qty('count', t.deallocations); } },
      { key: 'reallocations', label: 'reallocations', num: true, cell: function (t) { return qty('count', t.reallocations); } },
      { key: 'live_count', label: 'live at end', num: true, cell: function (t) { return qty('count', t.live_count); } },
      { key: 'live_bytes', label: 'live bytes', num: true, cell: function (t) { return qty('bytes', t.live_bytes); } },
      { key: 'lost_events', label: 'lost', num: true, cell: function (t) { return qty('count', t.lost_events); } },
      { key: 'start_ns', label: 'started', num: true, cell: function (t) { return qty('ns', t.start_ns); } },
      { key: 'exit_ns', label: 'exited', num: true, cell: function (t) { return qty('ns', t.exit_ns); } }
    ];
    add(box, sortableTable(cols, threads, { sortKey: 'thread', sortDir: 1, noun: 'thread', nouns: 'threads', short: threads.length < 30 }).element);
  }

  // --------------------------------------------------------------- timeline

  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888'; }
  function threadColor(i) { return cssVar('--t' + (i % 8)); }

  /** "Nice" tick values covering [lo, hi] with about n ticks. */
  function ticks(lo, hi, n, binary) {
    var span = hi - lo;
    if (!(span > 0)) return [lo];
    var raw = span / n, step;
    if (binary && raw >= 1024) {
      var p = Math.pow(1024, Math.floor(Math.log(raw) / Math.log(1024)));
      step = p * niceStep(raw / p);
    } else {
      step = niceStep(raw);
    }
    var out = [], first = Math.ceil(lo / step) * step;
    for (var v = first; v <= hi + step * 1e-9 && out.length < 50; v += step) out.push(v);
    return out;
  }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // Scope entries (scope_intervals) for the timeline: a lane per thread, a
  // row per nesting depth present in it, each row's entries sorted by enter
  // time with a running maximum of their exits (`reach`) to binary-search.
  var SCOPE_ROWS = 4; // deeper nesting shares the last row of its lane
  function scopeLayout() {
    var list = arr(data.scope_intervals);
    var byThread = new Map(), count = 0, skipped = 0, names = new Map();
    for (var i = 0; i < list.length; i++) {
      var iv = list[i], s = iv ? scopeById.get(iv.scope) : null;
      if (!s || !has(iv.enter_ns) || !has(iv.exit_ns) || iv.exit_ns < iv.enter_ns) { skipped++; continue; }
      var tid = has(s.thread) ? s.thread : -1;
      var lane = byThread.get(tid);
      if (!lane) { lane = { thread: tid, byDepth: new Map(), count: 0 }; byThread.set(tid, lane); }
      var d = num(s.depth);
      if (!lane.byDepth.has(d)) lane.byDepth.set(d, []);
      lane.byDepth.get(d).push(iv);
      lane.count++;
      count++;
      var nm = String(s.name);
      names.set(nm, (names.get(nm) || 0) + 1);
    }
    var lanes = Array.from(byThread.values()).sort(function (a, b) { return a.thread - b.thread; }).map(function (lane) {
      var groups = [];
      Array.from(lane.byDepth.keys()).sort(function (a, b) { return a - b; }).forEach(function (d, k) {
        var r = Math.min(k, SCOPE_ROWS - 1);
        groups[r] = (groups[r] || []).concat(lane.byDepth.get(d));
      });
      var rows = groups.map(function (items) {
        items.sort(function (a, b) { return a.enter_ns - b.enter_ns || a.exit_ns - b.exit_ns; });
        var n = items.length, row = { enter: new Float64Array(n), exit: new Float64Array(n), reach: new Float64Array(n), scope: new Array(n) };
        var reach = -Infinity;
        for (var j = 0; j < n; j++) {
          row.enter[j] = items[j].enter_ns;
          row.exit[j] = items[j].exit_ns;
          reach = Math.max(reach, items[j].exit_ns);
          row.reach[j] = reach;
          row.scope[j] = items[j].scope;
        }
        return row;
      });
      return { thread: lane.thread, count: lane.count, rows: rows, top: 0, height: 0, short: null };
    });
    return { lanes: lanes, count: count, listed: list.length, skipped: skipped, names: names };
  }
  /** The first entry of `row` that ends at or after `t` (or one that encloses a later one). */
  function firstReaching(row, t) {
    var lo = 0, hi = row.reach.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (row.reach[m] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  /** One color per scope name, spread around the hue circle; lighter in dark mode. */
  var scopeNameIndex = new Map();
  scopes.forEach(function (s) { var n = String(s.name); if (!scopeNameIndex.has(n)) scopeNameIndex.set(n, scopeNameIndex.size); });
  var scopeColorCache = { dark: null, byName: new Map() };
  function isDark() { return !!(window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches); }
  /** The color of a scope name; `dark` is isDark(), passed by callers that draw many. */
  function scopeColor(name, dark) {
    if (dark === undefined) dark = isDark();
    if (scopeColorCache.dark !== dark) { scopeColorCache.dark = dark; scopeColorCache.byName = new Map(); }
    var c = scopeColorCache.byName.get(name);
    if (!c) {
      var hue = Math.round((num(scopeNameIndex.get(name)) * 137.508 + 200) % 360);
      c = dark ? 'hsl(' + hue + ', 70%, 64%)' : 'hsl(' + hue + ', 65%, 42%)';
      scopeColorCache.byName.set(name, c);
    }
    return c;
  }

  function renderTimeline() {
    var body = byId('timeline-body');
    if (!timeline.length) {
      add(body, empty(onlyTracked ? 'No timeline in an --only-tracked report.' : 'No allocation changed the live bytes in this recording.'));
      return;
    }
    var width = num(timeline[0].width_ns) || 1;
    var ts = timeline.map(function (p) { return num(p.ts_ns); });
    var series = [{ key: 'total', label: 'all threads', values: timeline.map(function (p) { return num(p.live_bytes); }), visible: true, total: true }];
    threadTimelines.forEach(function (tt, i) {
      var values = arr(tt.live_bytes);
      if (values.length !== ts.length) return;
      series.push({ key: 't' + tt.thread, label: threadLabel(tt.thread), values: values, visible: threadTimelines.length <= 8, colorIndex: i + 1, thread: tt.thread });
    });
    var overlayVars = variables.filter(function (v) { return has(v.tracked_at_ns); }).sort(function (a, b) { return a.tracked_at_ns - b.tracked_at_ns; });
    var OVERLAY_CAP = 5000;
    var view = { t0: 0, t1: Math.max(endNs, ts[ts.length - 1] + width) };
    var full = { t0: view.t0, t1: view.t1 };
    var showVars = overlayVars.length > 0;
    var selected = null;
    var SL = scopeLayout();
    var showScopes = SL.count > 0;
    var scopeTotal = tracking && has(tracking.scope_intervals) ? tracking.scope_intervals : SL.listed;

    var controls = h('div', { class: 'toolbar' });
    var canvas = h('canvas', { tabindex: '0', role: 'img', id: 'timeline-canvas',
      'aria-label': 'Live bytes over time' + (SL.count ? ', with scope entries in a lane per thread under it' : '') +
        '. Wheel or + and − zoom, drag or arrow keys pan, double-click or 0 resets.',
      'aria-describedby': SL.count ? 'timeline-scopes' : null });
    var chart = h('div', { class: 'chart' }, canvas);
    var legend = h('div', { class: 'legend' });
    var scopeKey = SL.count ? h('div', { class: 'legend scope-key', id: 'timeline-scope-key', role: 'list', 'aria-label': 'Scope colors' }) : null;
    var scopeInfo = SL.count ? h('p', { class: 'muted small', id: 'timeline-scopes',
      dataset: { intervals: SL.count, listed: SL.listed, total: scopeTotal, visible: SL.count, marks: 0 } }) : null;
    var note = h('p', { class: 'muted small' });
    add(body, [controls, chart, legend, scopeKey, scopeInfo, note]);
    add(controls, [
      h('button', { type: 'button', class: 'btn', onclick: function () { zoom(0.5, 0.5); }, title: 'Zoom in (+)' }, 'Zoom in'),
      h('button', { type: 'button', class: 'btn', onclick: function () { zoom(2, 0.5); }, title: 'Zoom out (−)' }, 'Zoom out'),
      h('button', { type: 'button', class: 'btn', onclick: function () { view.t0 = full.t0; view.t1 = full.t1; draw(); }, title: 'Show everything (0)' }, 'Reset'),
      h('span', { class: 'muted small', id: 'timeline-range' })
    ]);
    series.forEach(function (s) {
      var cb = h('input', { type: 'checkbox' });
      cb.checked = s.visible;
      cb.addEventListener('change', function () { s.visible = cb.checked; draw(); });
      s.swatch = h('span', { class: 'swatch' });
      add(legend, h('label', null, cb, s.swatch, s.label));
    });
    if (overlayVars.length) {
      var vcb = h('input', { type: 'checkbox' });
      vcb.checked = showVars;
      vcb.addEventListener('change', function () { showVars = vcb.checked; draw(); });
      var vsw = h('span', { class: 'swatch' });
      vsw.style.background = cssVar('--overlay');
      add(legend, h('label', null, vcb, vsw, 'tracked variables (when tracked → freed)'));
    }
    var scopeSwatches = [];
    if (SL.count) {
      var scb = h('input', { type: 'checkbox', id: 'timeline-scopes-toggle' });
      scb.checked = showScopes;
      scb.addEventListener('change', function () { showScopes = scb.checked; hoverX = null; hideTip(); resize(); });
      add(legend, h('label', { title: 'Each bar is one entry of a scope, from enter to exit, on the thread that entered it' }, scb, 'scope entries (a lane per thread, a row per nesting depth)'));
      var KEY_CAP = 12;
      var keyNames = Array.from(SL.names.keys()).sort(function (a, b) { return num(scopeNameIndex.get(a)) - num(scopeNameIndex.get(b)); });
      keyNames.slice(0, KEY_CAP).forEach(function (nm) {
        var sw = h('span', { class: 'swatch block' });
        scopeSwatches.push({ swatch: sw, name: nm });
        add(scopeKey, h('span', { class: 'key-item', role: 'listitem', title: nm + ': ' + plural(SL.names.get(nm), 'entry', 'entries') + ' drawn' }, sw, h('span', { class: 'key-name' }, nm)));
      });
      if (keyNames.length > KEY_CAP) add(scopeKey, h('span', { class: 'muted', role: 'listitem' }, '+ ' + plural(keyNames.length - KEY_CAP, 'more scope name', 'more scope names')));
      var perThread = SL.lanes.slice(0, 12).map(function (l) { return (l.thread < 0 ? 'unknown thread' : threadLabel(l.thread)) + ': ' + int(l.count); });
      if (SL.lanes.length > 12) perThread.push('and ' + plural(SL.lanes.length - 12, 'more thread', 'more threads'));
      add(scopeInfo, 'Scope lanes: ' + plural(SL.count, 'entry', 'entries') + ' on ' + plural(SL.lanes.length, 'thread', 'threads') + ' (' + perThread.join(', ') +
        '). Hover a bar for its scope, thread and duration; an entry narrower than a pixel is drawn as a 1-pixel mark, one per pixel column.');
      if (SL.skipped) add(scopeInfo, ' ' + plural(SL.skipped, 'listed entry names', 'listed entries name') + ' no known scope or no valid time and ' + (SL.skipped === 1 ? 'is' : 'are') + ' not drawn.');
      if (scopeTotal > SL.listed) {
        add(scopeInfo, [' ', h('span', { class: 'count-note', id: 'timeline-scopes-count' },
          'showing ' + int(SL.listed) + ' of ' + int(scopeTotal) + ' scope entries'), ' (the first ' + int(SL.listed) + ' to close; later entries are not in the data).']);
      }
    }
    var scopeNote = '';
    if (!Array.isArray(data.scope_intervals)) scopeNote = scopes.length ? ' This document has no scope_intervals (an older memscope made it), so scopes are not overlaid.' : '';
    else if (SL.skipped && !SL.count) scopeNote = ' ' + plural(SL.skipped, 'listed scope entry names', 'listed scope entries name') + ' no known scope or no valid time, so no scope lane is drawn.';
    else if (!SL.count && scopes.length) scopeNote = ' No scope entry closed during the recording, so no scope lane is drawn.';
    add(note, 'Each point is the most bytes live within an interval of ' + dur(width) + ' (' + exactNs(width) + '); between points the live bytes did not change.' +
      (overlayVars.length > OVERLAY_CAP ? ' The overlay draws the first ' + int(OVERLAY_CAP) + ' of ' + int(overlayVars.length) + ' tracked variables.' : '') +
      (threadTimelines.length ? '' : ' No per-thread timeline in this recording.') + scopeNote);

    var LANES = Math.min(overlayVars.length, 6);
    var BASE_H = 300, H = BASE_H, padL = 64, padR = 12, padT = 14, padB = 28, strip = LANES ? LANES * 3 + 5 : 0;
    var dpr = 1, W = 600, hoverX = null, drag = null;
    // Scope lanes sit between the variables strip and the time axis.
    var laneTop = BASE_H - padB + 4, LANE_GAP = 5, ROW = 7, BAR = 5, scopeH = 0;
    (function () {
      var rows = 0;
      SL.lanes.forEach(function (l) { rows += l.rows.length; });
      // Many threads or depths: thinner rows and gaps, so the lanes stay about 240 pixels tall.
      if (rows * ROW + (SL.lanes.length - 1) * LANE_GAP > 240) {
        LANE_GAP = 2;
        ROW = Math.max(3, Math.floor((240 - (SL.lanes.length - 1) * LANE_GAP) / rows));
        BAR = Math.max(2, ROW - 2);
      }
      var y = 0;
      SL.lanes.forEach(function (l, i) {
        if (i) y += LANE_GAP;
        l.top = y;
        l.height = l.rows.length * ROW;
        y += l.height;
      });
      scopeH = y;
    })();
    function X(t) { return padL + (t - view.t0) / (view.t1 - view.t0) * (W - padL - padR); }
    function T(x) { return view.t0 + (x - padL) / (W - padL - padR) * (view.t1 - view.t0); }
    function resize() {
      dpr = window.devicePixelRatio || 1;
      W = Math.max(320, Math.round(chart.clientWidth));
      H = BASE_H + (showScopes ? scopeH + 4 : 0);
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(H * dpr);
      canvas.style.height = H + 'px';
      draw();
    }
    function visibleRange() {
      var lo = 0, hi = ts.length;
      while (lo < hi) { var m = (lo + hi) >> 1; if (ts[m] + width < view.t0) lo = m + 1; else hi = m; }
      var a = Math.max(0, lo - 1);
      lo = a; hi = ts.length;
      while (lo < hi) { var m2 = (lo + hi) >> 1; if (ts[m2] <= view.t1) lo = m2 + 1; else hi = m2; }
      return [a, Math.min(ts.length, lo + 1)];
    }
    function draw() {
      var ctx = canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      var fg = cssVar('--fg'), muted = cssVar('--muted'), grid = cssVar('--grid');
      ctx.font = '11px ' + cssVar('--sans');
      var range = visibleRange();
      var yMax = 1;
      series.forEach(function (s) { if (!s.visible) return; for (var i = range[0]; i < range[1]; i++) if (s.values[i] > yMax) yMax = s.values[i]; });
      yMax *= 1.08;
      var plotB = BASE_H - padB - strip;
      var gridB = showScopes ? laneTop + scopeH : plotB + strip;
      var Y = function (v) { return plotB - v / yMax * (plotB - padT); };
      // grid and axes
      ctx.strokeStyle = grid; ctx.fillStyle = muted; ctx.lineWidth = 1;
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ticks(0, yMax, 5, true).forEach(function (v) {
        var y = Math.round(Y(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(W - padR, y); ctx.stroke();
        ctx.fillText(bytes(Math.round(v)), padL - 6, y);
      });
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ticks(view.t0, view.t1, Math.max(2, Math.floor((W - padL) / 110)), false).forEach(function (t) {
        var x = Math.round(X(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, padT); ctx.lineTo(x, gridB); ctx.stroke();
        ctx.fillText(dur(t), x, H - padB + 8);
      });
      ctx.save();
      ctx.beginPath(); ctx.rect(padL, 0, W - padL - padR, H); ctx.clip();
      // the selected variable's lifetime
      if (selected && has(selected.tracked_at_ns)) {
        var x0 = X(selected.tracked_at_ns), x1 = X(has(selected.freed_at_ns) ? selected.freed_at_ns : full.t1);
        ctx.fillStyle = cssVar('--select');
        ctx.fillRect(x0, padT, Math.max(2, x1 - x0), plotB - padT);
      }
      // series: steps holding each interval's maximum until the next point
      for (var si = series.length - 1; si >= 0; si--) {
        var s = series[si];
        if (!s.visible) continue;
        var color = s.total ? cssVar('--accent') : threadColor(s.colorIndex);
        s.swatch.style.background = color;
        ctx.beginPath();
        var startI = range[0];
        var prevV = startI > 0 ? s.values[startI - 1] : 0;
        ctx.moveTo(X(startI > 0 ? ts[startI - 1] + width : 0), Y(prevV));
        for (var i = startI; i < range[1]; i++) {
          ctx.lineTo(X(ts[i]), Y(prevV));
          ctx.lineTo(X(ts[i]), Y(s.values[i]));
          ctx.lineTo(X(ts[i] + width), Y(s.values[i]));
          prevV = s.values[i];
        }
        var lastX = range[1] < ts.length ? X(ts[range[1]]) : X(full.t1);
        ctx.lineTo(lastX, Y(prevV));
        ctx.strokeStyle = color; ctx.lineWidth = s.total ? 2 : 1.25;
        ctx.stroke();
        if (s.total) {
          ctx.lineTo(lastX, plotB);
          ctx.lineTo(X(startI > 0 ? ts[startI - 1] + width : 0), plotB);
          ctx.closePath();
          ctx.fillStyle = cssVar('--accent-soft');
          ctx.fill();
        }
      }
      // peak
      if (has(S.peak_at_ns) && num(S.peak_live_bytes) > 0) {
        var px = Math.round(X(S.peak_at_ns)) + 0.5;
        ctx.strokeStyle = cssVar('--peak'); ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(px, padT); ctx.lineTo(px, plotB); ctx.stroke(); ctx.setLineDash([]);
        ctx.fillStyle = cssVar('--peak'); ctx.textAlign = px > W - 180 ? 'right' : 'left'; ctx.textBaseline = 'top';
        ctx.fillText('peak ' + bytes(S.peak_live_bytes) + ' at ' + dur(S.peak_at_ns), px + (px > W - 180 ? -4 : 4), padT);
      }
      // tracked variables
      if (showVars && strip) {
        ctx.fillStyle = cssVar('--overlay');
        var n = Math.min(overlayVars.length, OVERLAY_CAP);
        for (var k = 0; k < n; k++) {
          var v = overlayVars[k];
          var a = X(v.tracked_at_ns), b = X(has(v.freed_at_ns) ? v.freed_at_ns : full.t1);
          if (b < padL || a > W) continue;
          ctx.fillRect(a, plotB + 4 + (k % LANES) * 3, Math.max(1.5, b - a), 2);
        }
      }
      // scope entries
      if (showScopes) drawScopes(ctx);
      else if (scopeInfo) { scopeInfo.dataset.visible = '0'; scopeInfo.dataset.marks = '0'; }
      // hover line
      if (hoverX !== null) {
        ctx.strokeStyle = fg; ctx.globalAlpha = 0.35;
        ctx.beginPath(); ctx.moveTo(hoverX + 0.5, padT); ctx.lineTo(hoverX + 0.5, gridB); ctx.stroke();
        ctx.globalAlpha = 1;
      }
      ctx.restore();
      ctx.strokeStyle = muted;
      ctx.beginPath(); ctx.moveTo(padL + 0.5, padT); ctx.lineTo(padL + 0.5, plotB + 0.5); ctx.lineTo(W - padR, plotB + 0.5); ctx.stroke();
      if (showScopes) drawLaneLabels(ctx, muted);
      if (scopeSwatches.length) { var dk = isDark(); scopeSwatches.forEach(function (k) { k.swatch.style.background = scopeColor(k.name, dk); }); }
      byId('timeline-range').textContent = 'showing ' + dur(view.t0) + ' – ' + dur(view.t1);
    }
    /**
     * Draws each listed scope entry in the view as a bar from enter to exit.
     * An entry narrower than a pixel becomes a 1-pixel mark, at most one per
     * pixel column and row, so 10,000 entries cost at most a few thousand
     * rectangles and the loop visits only the entries in the view.
     */
    function drawScopes(ctx) {
      var left = padL - 2, right = W - padR + 2, visible = 0, marks = 0;
      var bg = cssVar('--panel-2'), dark = isDark(), colorById = new Map();
      var colorOf = function (id) {
        var c = colorById.get(id);
        if (c === undefined) { c = scopeColor(scopeName(id), dark); colorById.set(id, c); }
        return c;
      };
      SL.lanes.forEach(function (lane) {
        ctx.fillStyle = bg;
        ctx.fillRect(padL, laneTop + lane.top, W - padL - padR, lane.height);
        var style = null;
        lane.rows.forEach(function (row, r) {
          var y = laneTop + lane.top + r * ROW + (ROW - BAR) / 2, n = row.enter.length, lastCol = -Infinity;
          for (var i = firstReaching(row, view.t0); i < n && row.enter[i] <= view.t1; i++) {
            if (row.exit[i] < view.t0) continue;
            visible++;
            var a = X(row.enter[i]), b = X(row.exit[i]), c;
            if (b - a >= 1) {
              a = Math.max(a, left); b = Math.min(b, right);
              c = colorOf(row.scope[i]);
              if (c !== style) ctx.fillStyle = style = c;
              // a 1-pixel gap at the end tells neighbouring entries apart once they are wide enough
              ctx.fillRect(a, y, b - a >= 4 ? b - a - 1 : b - a, BAR);
              marks++;
              lastCol = Math.max(lastCol, Math.ceil(b) - 1);
            } else {
              var col = Math.floor(a);
              if (col <= lastCol) continue;
              c = colorOf(row.scope[i]);
              if (c !== style) ctx.fillStyle = style = c;
              ctx.fillRect(col, y, 1, BAR);
              marks++;
              lastCol = col;
            }
          }
        });
      });
      scopeInfo.dataset.visible = String(visible);
      scopeInfo.dataset.marks = String(marks);
    }
    function drawLaneLabels(ctx, color) {
      ctx.save();
      ctx.font = '10px ' + cssVar('--sans');
      ctx.fillStyle = color; ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      SL.lanes.forEach(function (lane) {
        if (lane.height < 6) return;
        if (lane.short === null) {
          var t = threadById.get(lane.thread);
          var text = lane.thread < 0 ? '?' : t && t.name ? String(t.name) : '#' + lane.thread, max = padL - 10;
          if (ctx.measureText(text).width > max) {
            while (text.length > 1 && ctx.measureText(text + '…').width > max) text = text.slice(0, -1);
            text += '…';
          }
          lane.short = text;
        }
        ctx.fillText(lane.short, padL - 6, laneTop + lane.top + lane.height / 2);
      });
      ctx.restore();
    }
    /** The lane, row and entry under (x, y): the entry nearest x within 2 pixels, or index -1. */
    function scopeAt(x, y) {
      if (!showScopes || y < laneTop - LANE_GAP / 2 || y >= laneTop + scopeH + LANE_GAP / 2) return null;
      var lane = null;
      for (var k = 0; k < SL.lanes.length; k++) {
        var l = SL.lanes[k];
        if (y >= laneTop + l.top - LANE_GAP / 2 && y < laneTop + l.top + l.height + LANE_GAP / 2) { lane = l; break; }
      }
      if (!lane) return null;
      var r = Math.max(0, Math.min(lane.rows.length - 1, Math.floor((y - laneTop - lane.top) / ROW)));
      var row = lane.rows[r], t = T(x), tol = 2 * (view.t1 - view.t0) / (W - padL - padR);
      var best = -1, bestD = Infinity, near = 0;
      for (var i = firstReaching(row, t - tol), n = row.enter.length; i < n && row.enter[i] <= t + tol; i++) {
        if (row.exit[i] < t - tol) continue;
        near++;
        var d = t < row.enter[i] ? row.enter[i] - t : t > row.exit[i] ? t - row.exit[i] : 0;
        if (d < bestD || (d === bestD && row.exit[i] - row.enter[i] > row.exit[best] - row.enter[best])) { best = i; bestD = d; }
      }
      return { lane: lane, row: row, index: best, near: near };
    }
    function scopeTip(hit) {
      var row = hit.row, i = hit.index, id = row.scope[i], s = scopeById.get(id);
      var d = row.exit[i] - row.enter[i];
      var lines = ['scope ' + scopeName(id)];
      if (s && has(s.parent)) lines.push('  in ' + scopePath(id));
      lines.push('thread ' + (hit.lane.thread < 0 ? '—' : threadLabel(hit.lane.thread)));
      lines.push('duration ' + dur(d) + (d < 1e3 ? '' : ' (' + exactNs(d) + ')'));
      lines.push('entered at ' + dur(row.enter[i]) + ' (' + exactNs(row.enter[i]) + ')');
      lines.push('left at ' + dur(row.exit[i]) + ' (' + exactNs(row.exit[i]) + ')');
      if (hit.near > 1) lines.push(plural(hit.near - 1, 'other entry', 'other entries') + ' of this row within 2 pixels: zoom in to tell them apart');
      return lines.join('\n');
    }
    function zoom(factor, at) {
      var span = view.t1 - view.t0;
      var ns = Math.min(full.t1 - full.t0, Math.max(Math.min(width * 4, full.t1 - full.t0), span * factor));
      var c = view.t0 + span * at;
      view.t0 = c - ns * at; view.t1 = view.t0 + ns;
      clamp();
      draw();
    }
    function pan(dt) { view.t0 += dt; view.t1 += dt; clamp(); draw(); }
    function clamp() {
      var span = view.t1 - view.t0;
      if (view.t0 < full.t0) { view.t0 = full.t0; view.t1 = full.t0 + span; }
      if (view.t1 > full.t1) { view.t1 = full.t1; view.t0 = Math.max(full.t0, full.t1 - span); }
    }
    function localX(ev) { return ev.clientX - canvas.getBoundingClientRect().left; }
    canvas.addEventListener('wheel', function (ev) {
      ev.preventDefault();
      var x = localX(ev);
      var at = Math.max(0, Math.min(1, (x - padL) / (W - padL - padR)));
      // Firefox reports lines (deltaMode 1) or pages (2), Chromium pixels.
      var dy = ev.deltaY * (ev.deltaMode === 1 ? 33 : ev.deltaMode === 2 ? 800 : 1);
      zoom(Math.exp(Math.max(-600, Math.min(600, dy)) * 0.002), at);
    }, { passive: false });
    canvas.addEventListener('pointerdown', function (ev) {
      drag = { x: localX(ev), t0: view.t0, t1: view.t1 };
      canvas.setPointerCapture(ev.pointerId);
      canvas.classList.add('dragging');
    });
    canvas.addEventListener('pointerup', function (ev) {
      drag = null;
      canvas.classList.remove('dragging');
      if (canvas.hasPointerCapture(ev.pointerId)) canvas.releasePointerCapture(ev.pointerId);
    });
    canvas.addEventListener('pointermove', function (ev) {
      var x = localX(ev);
      if (drag) {
        var dt = (drag.x - x) / (W - padL - padR) * (drag.t1 - drag.t0);
        view.t0 = drag.t0 + dt; view.t1 = drag.t1 + dt; clamp();
        hideTip(); hoverX = null; draw();
        return;
      }
      hover(x, ev.clientX, ev.clientY, ev.clientY - canvas.getBoundingClientRect().top);
    });
    canvas.addEventListener('pointerleave', function () { hoverX = null; hideTip(); draw(); });
    canvas.addEventListener('dblclick', function () { view.t0 = full.t0; view.t1 = full.t1; draw(); });
    canvas.addEventListener('keydown', function (ev) {
      var span = view.t1 - view.t0, handled = true;
      switch (ev.key) {
        case '+': case '=': zoom(0.5, 0.5); break;
        case '-': case '_': zoom(2, 0.5); break;
        case 'ArrowLeft': pan(-span / 8); break;
        case 'ArrowRight': pan(span / 8); break;
        case '0': case 'Home': view.t0 = full.t0; view.t1 = full.t1; draw(); break;
        default: handled = false;
      }
      if (handled) ev.preventDefault();
    });
    function hover(x, cx, cy, y) {
      if (x < padL || x > W - padR) { hoverX = null; hideTip(); draw(); return; }
      hoverX = x;
      var hit = scopeAt(x, y);
      if (hit && hit.index >= 0) { showTip(scopeTip(hit), cx, cy); draw(); return; }
      var t = T(x);
      var lo = 0, hi = ts.length;
      while (lo < hi) { var m = (lo + hi) >> 1; if (ts[m] <= t) lo = m + 1; else hi = m; }
      var i = lo - 1;
      var lines = ['at ' + dur(t) + ' (' + exactNs(Math.round(t)) + ')'];
      if (i < 0) lines.push('no allocation live yet: 0 B');
      else {
        var inside = t < ts[i] + width;
        lines.push(inside ? 'interval ' + dur(ts[i]) + ' – ' + dur(ts[i] + width) + ', most live:' : 'unchanged since ' + dur(ts[i] + width) + ', at most:');
        series.forEach(function (s) {
          if (s.visible) lines.push('  ' + s.label + ': ' + bytes(s.values[i]) + ' (' + exactBytes(s.values[i]) + ')');
        });
        if (inside && has(timeline[i].live_count)) lines.push('  allocations live: ' + int(timeline[i].live_count));
      }
      if (has(S.peak_at_ns) && Math.abs(X(S.peak_at_ns) - x) < 4) lines.push('peak: ' + bytes(S.peak_live_bytes) + ' (' + exactBytes(S.peak_live_bytes) + ')');
      showTip(lines.join('\n'), cx, cy);
      draw();
    }
    timelineApi.select = function (v) {
      selected = v;
      if (v && has(v.tracked_at_ns)) {
        var end = has(v.freed_at_ns) ? v.freed_at_ns : full.t1;
        if (v.tracked_at_ns < view.t0 || end > view.t1) { view.t0 = full.t0; view.t1 = full.t1; }
      }
      draw();
    };
    if (typeof ResizeObserver === 'function') new ResizeObserver(function () { resize(); }).observe(chart);
    else window.addEventListener('resize', resize);
    if (window.matchMedia) {
      var mq = window.matchMedia('(prefers-color-scheme: dark)');
      if (mq.addEventListener) mq.addEventListener('change', draw);
    }
    resize();
  }
  var timelineApi = { select: function () {} };

  var tip = byId('tooltip');
  function showTip(text, x, y) {
    tip.textContent = text;
    tip.hidden = false;
    var r = tip.getBoundingClientRect();
    var left = x + 14, top = y + 14;
    if (left + r.width > window.innerWidth - 8) left = x - r.width - 14;
    if (top + r.height > window.innerHeight - 8) top = y - r.height - 14;
    tip.style.left = Math.max(4, left) + 'px';
    tip.style.top = Math.max(4, top) + 'px';
  }
  function hideTip() { tip.hidden = true; }

  // -------------------------------------------------------------- variables

  var VAR_CAP = 2000;
  function renderVariables() {
    var body = byId('variables-body');
    if (!variables.length) {
      var why = !tracking ? 'No tracked variables in this recording (it holds no variable tracking data).' : 'No tracked variables in this recording.';
      add(body, empty(why + ' Track one with memscope::track_var!(name).'));
      return;
    }
    var text = h('input', { type: 'search', id: 'var-filter', placeholder: 'name or type contains…', 'aria-label': 'Filter variables by name or type' });
    var threadSel = h('select', { id: 'var-thread', 'aria-label': 'Filter by thread' }, h('option', { value: '' }, 'all threads'));
    var ids = Array.from(new Set(variables.map(function (v) { return v.thread; }))).sort(function (a, b) { return a - b; });
    ids.forEach(function (t) { add(threadSel, h('option', { value: String(t) }, threadLabel(t))); });
    var stateSel = h('select', { id: 'var-state', 'aria-label': 'Filter by state' }, h('option', { value: '' }, 'any state'));
    ['leaked', 'freed', 'shared', 'no heap', 'unlinked'].forEach(function (s) { add(stateSel, h('option', { value: s, title: STATE_TITLES[s] }, s)); });
    add(body, h('div', { class: 'toolbar' }, h('label', null, 'Filter', text), h('label', null, 'Thread', threadSel), h('label', null, 'State', stateSel)));

    var prepared = variables.map(function (v) {
      return { v: v, hay: (String(v.name) + '\u0000' + String(v.type)).toLowerCase(), states: stateWords(v) };
    });
    var cols = [
      { key: 'name', label: 'name', cls: 'name', value: function (r) { return String(r.v.name); }, cell: function (r) { return String(r.v.name); } },
      { key: 'type', label: 'type', cls: 'type', value: function (r) { return String(r.v.type); }, cell: function (r) { return String(r.v.type); } },
      { key: 'size', label: 'size', num: true, value: function (r) { return num(r.v.size); }, cell: function (r) { return qty('bytes', r.v.size); } },
      { key: 'thread', label: 'thread', value: function (r) { return num(r.v.thread); }, cell: function (r) { return threadLabel(r.v.thread); } },
      { key: 'scope', label: 'scope', value: function (r) { return has(r.v.scope) ? scopeName(r.v.scope) : null; }, cell: function (r) { return has(r.v.scope) ? scopeName(r.v.scope) : h('span', { class: 'muted' }, '—'); } },
      { key: 'state', label: 'state', value: function (r) { return r.states.join(' '); }, cell: function (r) { return stateBadges(r.v); } },
      { key: 'tracked_at_ns', label: 'tracked at', num: true, value: function (r) { return num(r.v.tracked_at_ns); }, cell: function (r) { return qty('ns', r.v.tracked_at_ns); } }
    ];
    var listedNote = function () {
      if (tracking && num(tracking.variables) > variables.length) {
        return ' (the recording tracked ' + int(num(tracking.variables)) + ' variables; replay listed ' + int(variables.length) + ')';
      }
      return '';
    };
    var table = sortableTable(cols, prepared, {
      cap: VAR_CAP, noun: 'variable', nouns: 'variables', sortKey: 'tracked_at_ns', sortDir: 1,
      onOpen: function (r, tr) { openInspector(r.v, tr); },
      countSuffix: function (n) { return (n < prepared.length ? ' matching, of ' + int(prepared.length) : '') + listedNote(); }
    });
    table.table.id = 'variables-table';
    add(body, table.element);
    var timer = null;
    function apply() {
      var q = text.value.trim().toLowerCase(), t = threadSel.value, s = stateSel.value;
      table.setRows(prepared.filter(function (r) {
        if (q && r.hay.indexOf(q) < 0) return false;
        if (t !== '' && String(r.v.thread) !== t) return false;
        if (s && r.states.indexOf(s) < 0) return false;
        return true;
      }));
    }
    text.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 60); });
    text.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { clearTimeout(timer); apply(); } });
    threadSel.addEventListener('change', apply);
    stateSel.addEventListener('change', apply);
  }

  // -------------------------------------------------------------- inspector

  var inspector = byId('inspector');
  var returnFocus = null;
  var TABS = [['overview', 'Overview'], ['lifetime', 'Lifetime'], ['sharing', 'Sharing'], ['foreign', 'Foreign memory'], ['suggestions', 'Suggestions']];

  function varButton(id) {
    var v = varById.get(id);
    if (!v) return h('span', { class: 'muted' }, 'variable #' + id + ' (not listed)');
    return h('button', { type: 'button', class: 'link', onclick: function () { openInspector(v, null); } }, varLabel(v));
  }

  function openInspector(v, fromRow) {
    if (fromRow) {
      returnFocus = fromRow;
      document.querySelectorAll('tr.row.selected').forEach(function (r) { r.classList.remove('selected'); });
      fromRow.classList.add('selected');
    }
    inspector.dataset.variable = String(v.id);
    byId('inspector-title').textContent = String(v.name);
    var sub = clear(byId('inspector-sub'));
    add(sub, [h('span', { class: 'mono' }, String(v.type)), ' · ', stateBadges(v)]);
    var tabs = clear(byId('inspector-tabs')), panels = clear(byId('inspector-panels'));
    var buttons = TABS.map(function (t, i) {
      var b = h('button', { type: 'button', role: 'tab', id: 'tab-' + t[0], 'aria-controls': 'panel-' + t[0], 'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? '0' : '-1' }, t[1]);
      tabs.appendChild(b);
      var p = h('div', { role: 'tabpanel', id: 'panel-' + t[0], 'aria-labelledby': 'tab-' + t[0], tabindex: '0' });
      p.hidden = i !== 0;
      panels.appendChild(p);
      b.addEventListener('click', function () { selectTab(i); });
      return b;
    });
    function selectTab(i) {
      buttons.forEach(function (b, j) {
        b.setAttribute('aria-selected', i === j ? 'true' : 'false');
        b.tabIndex = i === j ? 0 : -1;
        byId('panel-' + TABS[j][0]).hidden = i !== j;
      });
      buttons[i].focus();
    }
    tabs.onkeydown = function (ev) {
      var i = buttons.indexOf(document.activeElement);
      if (i < 0) return;
      if (ev.key === 'ArrowRight') selectTab((i + 1) % buttons.length);
      else if (ev.key === 'ArrowLeft') selectTab((i + buttons.length - 1) % buttons.length);
      else if (ev.key === 'Home') selectTab(0);
      else if (ev.key === 'End') selectTab(buttons.length - 1);
      else return;
      ev.preventDefault();
    };
    add(byId('panel-overview'), inspectOverview(v));
    add(byId('panel-lifetime'), inspectLifetime(v));
    add(byId('panel-sharing'), inspectSharing(v));
    add(byId('panel-foreign'), inspectForeign(v));
    add(byId('panel-suggestions'), inspectSuggestions(v));
    inspector.hidden = false;
    timelineApi.select(v);
    byId('inspector-close').focus();
  }
  function closeInspector() {
    if (inspector.hidden) return;
    inspector.hidden = true;
    timelineApi.select(null);
    if (returnFocus && document.body.contains(returnFocus)) returnFocus.focus();
  }
  byId('inspector-close').addEventListener('click', closeInspector);
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') closeInspector(); });

  function kv(pairs) {
    var dl = h('dl', { class: 'kv' });
    pairs.forEach(function (p) { if (p) add(dl, [h('dt', null, p[0]), h('dd', null, p[1])]); });
    return dl;
  }
  function inspectOverview(v) {
    var loc = v.file ? String(v.file) + (has(v.line) ? ':' + v.line + (has(v.column) ? ':' + v.column : '') : '') : '—';
    var notes = arr(v.notes);
    return [
      kv([
        ['name', h('span', { class: 'mono' }, String(v.name))],
        ['type', h('span', { class: 'mono' }, String(v.type))],
        ['tracked at', [h('span', { class: 'mono' }, loc), ' (', v.origin === 'clone' ? 'track_clone!' : 'track_var!', ')']],
        ['id', '#' + v.id],
        ['thread', threadLabel(v.thread)],
        ['scope', has(v.scope) ? scopePath(v.scope) : '— (outside any tracked scope)'],
        ['tracked', qty('ns', v.tracked_at_ns)],
        ['size when tracked', qty('bytes', v.size)],
        ['state', stateBadges(v)],
        ['freed', has(v.freed_at_ns) ? qty('ns', v.freed_at_ns) : (v.state === 'live' ? 'never: live at the end (leaked)' : '—')],
        ['lifetime', has(v.lifetime_ns) ? qty('ns', v.lifetime_ns) : '—'],
        ['allocations linked', int(arr(v.allocations).length)],
        num(v.retracked) > 0 ? ['tracked again', plural(v.retracked, 'time', 'times')] : null
      ]),
      notes.length ? [h('h3', null, 'Notes from replay'), h('ul', null, notes.map(function (n) { return h('li', null, String(n)); }))] : null
    ];
  }
  function inspectLifetime(v) {
    var allocs = arr(v.allocations);
    if (!allocs.length) return empty(v.state === 'no_heap' ? 'This variable owns no heap memory.' : 'No allocation is linked to this variable.');
    var t0 = has(v.tracked_at_ns) ? v.tracked_at_ns : Infinity, t1 = 0;
    allocs.forEach(function (a) {
      t0 = Math.min(t0, num(a.allocated_at_ns));
      t1 = Math.max(t1, has(a.freed_at_ns) ? a.freed_at_ns : endNs);
      arr(a.history).forEach(function (e) { t0 = Math.min(t0, num(e.at_ns)); t1 = Math.max(t1, num(e.at_ns)); });
    });
    if (!(t1 > t0)) t1 = t0 + 1;
    var pct = function (t) { return ((t - t0) / (t1 - t0) * 100).toFixed(3) + '%'; };
    var axis = h('div', { class: 'axis', 'aria-hidden': 'true' });
    ticks(t0, t1, 5, false).forEach(function (t) {
      var tk = h('span', { class: 'tick' }, dur(t));
      tk.style.left = pct(t);
      axis.appendChild(tk);
    });
    var out = document.createDocumentFragment();
    var key = function (kind) { return h('span', { class: 'key' }, h('span', { class: 'keymark ' + kind }), kind); };
    add(out, h('p', { class: 'muted small' }, 'From ' + dur(t0) + ' to ' + dur(t1) + ' after the recording started. Hover a mark for its time and size.'));
    add(out, h('p', { class: 'muted small' }, key('allocation'), key('reallocation'), key('deallocation')));
    allocs.forEach(function (a, i) {
      var lane = h('div', { class: 'lane', role: 'group', 'aria-label': 'allocation ' + (i + 1) });
      var span = h('div', { class: 'span', title: 'allocation ' + String(a.ptr_hex) + ': ' + exactBytes(num(a.size)) + (has(a.freed_at_ns) ? '' : ', live at the end') });
      span.style.left = pct(num(a.allocated_at_ns));
      span.style.width = 'calc(' + pct(has(a.freed_at_ns) ? a.freed_at_ns : endNs) + ' - ' + pct(num(a.allocated_at_ns)) + ')';
      lane.appendChild(span);
      arr(a.history).forEach(function (e) {
        var m = h('button', { type: 'button', class: 'mark ' + String(e.kind), title: String(e.kind) + ' at ' + dur(e.at_ns) + ' (' + exactNs(num(e.at_ns)) + '): ' + exactBytes(num(e.size)) + ' at ' + String(e.ptr_hex), 'aria-label': String(e.kind) + ' at ' + dur(e.at_ns) });
        m.style.left = pct(num(e.at_ns));
        lane.appendChild(m);
      });
      add(out, [h('h3', null, 'Allocation ', h('span', { class: 'mono' }, String(a.ptr_hex)), ' — ', qty('bytes', a.size),
        ', ' + plural(num(a.reallocations), 'reallocation', 'reallocations') + ', peak ', qty('bytes', a.peak_size)), axis.cloneNode(true), lane]);
      var rows = arr(a.history).map(function (e) { return e; });
      var t = sortableTable([
        { key: 'at_ns', label: 'at', num: true, cell: function (e) { return qty('ns', e.at_ns); } },
        { key: 'kind', label: 'event' },
        { key: 'size', label: 'size', num: true, cell: function (e) { return qty('bytes', e.size); } },
        { key: 'ptr_hex', label: 'address', cls: 'name' }
      ], rows, { short: true, noun: 'event', nouns: 'events' });
      add(out, t.element);
      if (a.history_truncated) add(out, h('p', { class: 'muted small' }, 'History truncated: replay keeps the first entries only (' + plural(num(a.reallocations), 'reallocation', 'reallocations') + ' in all).'));
    });
    return out;
  }
  function inspectSharing(v) {
    var shared = arr(v.shared_with);
    var parts = document.createDocumentFragment();
    add(parts, kv([
      ['clone of', has(v.clone_of) ? varButton(v.clone_of) : '— (not made by track_clone!)'],
      ['shared with', shared.length ? h('ul', null, shared.map(function (id) { return h('li', null, varButton(id)); })) : '— (no other tracked variable links the same allocation)'],
      ['strong count', has(v.strong) ? int(v.strong) + ' when tracked' : '— (not an Rc/Arc)'],
      ['weak count', has(v.weak) ? int(v.weak) + ' when tracked' : '—']
    ]));
    var clones = variables.filter(function (o) { return o.clone_of === v.id; });
    if (clones.length) add(parts, [h('h3', null, 'Tracked clones of it'), h('ul', null, clones.slice(0, 200).map(function (o) { return h('li', null, varButton(o.id)); }))]);
    return parts;
  }
  function inspectForeign(v) {
    var handoffs = arr(v.handoffs);
    var ptrs = new Set(arr(v.allocations).map(function (a) { return String(a.ptr_hex); }));
    var regions = foreign.filter(function (f) { return ptrs.has(String(f.ptr_hex)); });
    if (!handoffs.length && !regions.length) return empty('Never handed to foreign code (no memscope::ffi hand-off recorded).');
    var out = document.createDocumentFragment();
    if (handoffs.length) {
      add(out, [h('h3', null, 'Handed to foreign code'), sortableTable([
        { key: 'label', label: 'label', cls: 'name', cell: function (x) { return String(x.label); } },
        { key: 'at_ns', label: 'at', num: true, cell: function (x) { return qty('ns', x.at_ns); } },
        { key: 'thread', label: 'thread', cell: function (x) { return threadLabel(x.thread); } }
      ], handoffs, { short: true, noun: 'hand-off', nouns: 'hand-offs' }).element]);
    }
    if (regions.length) add(out, [h('h3', null, 'Foreign regions at its addresses'), foreignTable(regions)]);
    return out;
  }
  function foreignTable(list) {
    return sortableTable([
      { key: 'label', label: 'label', cls: 'name', cell: function (x) { return String(x.label); } },
      { key: 'ptr_hex', label: 'address', cls: 'name' },
      { key: 'size', label: 'size', num: true, cell: function (x) { return qty('bytes', x.size); } },
      { key: 'thread', label: 'thread', cell: function (x) { return threadLabel(x.thread); } },
      { key: 'tracked_at_ns', label: 'tracked', num: true, cell: function (x) { return qty('ns', x.tracked_at_ns); } },
      { key: 'released_at_ns', label: 'released', num: true, cell: function (x) { return qty('ns', x.released_at_ns); } },
      { key: 'state', label: 'state' }
    ], list, { short: list.length < 30, noun: 'region', nouns: 'regions', cap: 2000 }).element;
  }
  function inspectSuggestions(v) {
    var mine = suggestions.filter(function (s) { return s.variable === v.id; });
    if (!mine.length) return empty('No suggestion for this variable.');
    return suggestionList(mine);
  }

  // ------------------------------------------------------------ suggestions

  function suggestionList(list) {
    var ul = h('ul', { class: 'sugg' });
    list.forEach(function (s) {
      var figs = h('div', { class: 'figures' });
      var f = s.figures && typeof s.figures === 'object' ? s.figures : {};
      Object.keys(f).forEach(function (k) {
        var val = f[k], shown, label = k;
        if (typeof val !== 'number') shown = String(val);
        else if (/_bytes$/.test(k)) { shown = qty('bytes', val); label = k.slice(0, -6); }
        else if (/_ns$/.test(k)) { shown = qty('ns', val); label = k.slice(0, -3); }
        else if (k === 'percent') shown = h('span', { title: String(val) + '%' }, (Math.round(val * 10) / 10) + '%');
        else shown = qty('count', val);
        add(figs, h('span', { dataset: { figure: k } }, label.replace(/_/g, ' ') + ' ', h('b', null, shown)));
      });
      var links = [];
      if (has(s.variable)) links.push(h('span', null, 'variable ', varButton(s.variable)));
      if (has(s.scope)) links.push(h('span', null, 'scope ', h('button', { type: 'button', class: 'link', onclick: function () { revealScope(s.scope); } }, scopeName(s.scope))));
      add(ul, h('li', { dataset: { kind: String(s.kind) } },
        h('div', null, h('span', { class: 'badge' }, String(s.kind).replace(/_/g, ' ')), ' ', h('span', { class: 'stext' }, String(s.text))),
        figs, links.length ? h('div', { class: 'figures' }, links) : null));
    });
    return ul;
  }
  function renderSuggestions() {
    var body = byId('suggestions-body');
    if (!suggestions.length) {
      add(body, empty(Array.isArray(data.suggestions) ? 'No suggestion: replay found nothing worth changing in this recording.' : 'No suggestions in this recording’s data.'));
      return;
    }
    add(body, [h('p', { class: 'muted small' }, 'Computed by replay from the recorded facts; each names the numbers it rests on.'), suggestionList(suggestions)]);
  }

  // ----------------------------------------------------------------- scopes

  var scopeTree = { reveal: function () {} };
  function revealScope(id) { scopeTree.reveal(id); }

  function renderScopes() {
    var body = byId('scopes-body');
    if (!scopes.length) {
      add(body, empty('No tracked scopes in this recording. Mark one with memscope::track_scope!("name").'));
      return;
    }
    var children = new Map();
    var roots = [];
    scopes.forEach(function (s) {
      if (has(s.parent) && scopeById.has(s.parent)) {
        if (!children.has(s.parent)) children.set(s.parent, []);
        children.get(s.parent).push(s);
      } else roots.push(s);
    });
    var bySize = function (a, b) { return num(b.allocated_bytes) - num(a.allocated_bytes) || a.id - b.id; };
    children.forEach(function (list) { list.sort(bySize); });
    var rootsByThread = new Map();
    roots.forEach(function (s) {
      if (!rootsByThread.has(s.thread)) rootsByThread.set(s.thread, []);
      rootsByThread.get(s.thread).push(s);
    });
    if (tracking && (num(tracking.unmatched_scope_exits) || num(tracking.scopes_open_at_end))) {
      add(body, h('p', { class: 'alert warn' }, int(num(tracking.scopes_open_at_end)) + ' scope entries still open at the end, ' + int(num(tracking.unmatched_scope_exits)) + ' exits without an entry.'));
    }
    add(body, h('p', { class: 'muted small' }, 'Allocations and bytes include nested scopes; “self” counts only those made directly in the scope. Peak: the most bytes live at once of the allocations made inside.'));
    var CHILD_CAP = 500;
    var rowsById = new Map();
    var head = ['scope', 'entries', 'allocations', 'allocated', 'self allocated', 'peak live', 'live at end', 'total time', 'longest'];
    Array.from(rootsByThread.keys()).sort(function (a, b) { return a - b; }).forEach(function (tid) {
      add(body, h('h3', null, threadLabel(tid)));
      var table = h('table', { class: 'tree', role: 'treegrid', 'aria-label': 'scopes of ' + threadLabel(tid) });
      var tr = h('tr');
      head.forEach(function (c, i) { add(tr, h('th', { class: i ? 'num' : null, scope: 'col' }, c)); });
      var tbody = h('tbody');
      add(table, [h('thead', null, tr), tbody]);
      add(body, h('div', { class: 'table-wrap' }, table));
      var list = rootsByThread.get(tid).sort(bySize);
      list.slice(0, CHILD_CAP).forEach(function (s) { tbody.appendChild(row(s)); });
      if (list.length > CHILD_CAP) tbody.appendChild(moreRow(list.length - CHILD_CAP, 0));
      if (scopes.length <= 200) list.forEach(function (s) { if (children.has(s.id)) expand(rowsById.get(s.id)); });
    });
    function moreRow(n, depth) {
      var td = h('td', { colspan: String(head.length), class: 'muted' }, '… ' + int(n) + ' more scopes not shown');
      td.style.paddingLeft = (depth * 1.3 + 0.6) + 'rem';
      return h('tr', { dataset: { depth: depth } }, td);
    }
    function row(s) {
      var kids = children.get(s.id) || [];
      var toggle = kids.length ? h('button', { type: 'button', class: 'toggle', 'aria-expanded': 'false', 'aria-label': 'expand ' + String(s.name) }, '▸') : h('span', { class: 'spacer' });
      var name = h('td', { class: 'name' }, toggle, String(s.name));
      name.style.paddingLeft = (num(s.depth) * 1.3 + 0.6) + 'rem';
      var flags = [];
      if (num(s.open_at_end)) flags.push(h('span', { class: 'badge leaked', title: 'entries still open at the end' }, int(s.open_at_end) + ' open'));
      if (num(s.unwound)) flags.push(h('span', { class: 'badge', title: 'exits during a panic' }, int(s.unwound) + ' unwound'));
      if (flags.length) add(name, [' ', flags]);
      var tr = h('tr', { 'aria-level': String(num(s.depth) + 1), dataset: { depth: num(s.depth), scope: s.id }, title: s.file ? String(s.file) + ':' + s.line : null },
        name,
        h('td', { class: 'num' }, qty('count', s.entries)),
        h('td', { class: 'num' }, qty('count', s.allocations)),
        h('td', { class: 'num' }, qty('bytes', s.allocated_bytes)),
        h('td', { class: 'num' }, qty('bytes', s.self_allocated_bytes)),
        h('td', { class: 'num' }, qty('bytes', s.peak_live_bytes)),
        h('td', { class: 'num' }, qty('bytes', s.live_bytes)),
        h('td', { class: 'num' }, qty('ns', s.total_duration_ns)),
        h('td', { class: 'num' }, qty('ns', s.max_duration_ns)));
      tr._scope = s;
      if (kids.length) {
        tr.setAttribute('aria-expanded', 'false');
        toggle.addEventListener('click', function () { if (toggle.getAttribute('aria-expanded') === 'true') collapse(tr); else expand(tr); });
      }
      rowsById.set(s.id, tr);
      return tr;
    }
    function expand(tr) {
      if (!tr || tr.getAttribute('aria-expanded') !== 'false') return;
      var s = tr._scope, kids = children.get(s.id) || [];
      var frag = document.createDocumentFragment();
      kids.slice(0, CHILD_CAP).forEach(function (k) { frag.appendChild(row(k)); });
      if (kids.length > CHILD_CAP) frag.appendChild(moreRow(kids.length - CHILD_CAP, num(s.depth) + 1));
      tr.parentNode.insertBefore(frag, tr.nextSibling);
      tr.setAttribute('aria-expanded', 'true');
      var t = tr.querySelector('.toggle');
      t.setAttribute('aria-expanded', 'true'); t.textContent = '▾';
    }
    function collapse(tr) {
      var depth = Number(tr.dataset.depth);
      while (tr.nextSibling && Number(tr.nextSibling.dataset.depth) > depth) {
        var gone = tr.nextSibling;
        if (gone._scope) rowsById.delete(gone._scope.id);
        gone.remove();
      }
      tr.setAttribute('aria-expanded', 'false');
      var t = tr.querySelector('.toggle');
      t.setAttribute('aria-expanded', 'false'); t.textContent = '▸';
    }
    scopeTree.reveal = function (id) {
      var path = [], s = scopeById.get(id), guard = 0;
      while (s && guard++ < 256) { path.unshift(s.id); s = has(s.parent) ? scopeById.get(s.parent) : null; }
      path.forEach(function (pid) { expand(rowsById.get(pid)); });
      var tr = rowsById.get(id);
      if (!tr) return;
      document.querySelectorAll('.tree tr.hl').forEach(function (r) { r.classList.remove('hl'); });
      tr.classList.add('hl');
      tr.scrollIntoView({ block: 'center' });
      closeInspector();
    };
  }

  // ------------------------------------------------------------- memory map

  function renderMemoryMap() {
    var body = byId('memory-map-body');
    var group = h('select', { id: 'map-group', 'aria-label': 'Group by' },
      h('option', { value: 'thread' }, 'thread'), h('option', { value: 'scope' }, 'scope'), h('option', { value: 'type' }, 'type (tracked variables)'));
    var when = h('select', { id: 'map-when', 'aria-label': 'When' }, h('option', { value: 'end' }, 'live at the end'), h('option', { value: 'peak' }, 'at the peak'));
    var out = h('div', { id: 'map-out' });
    add(body, [h('div', { class: 'toolbar' }, h('label', null, 'Group by', group), h('label', null, 'Show', when)), out]);
    var BAR_CAP = 60;
    function bars(items, note) {
      clear(out);
      if (note) add(out, h('p', { class: 'muted small' }, note));
      items = items.filter(function (x) { return x.value > 0; });
      if (!items.length) { add(out, empty('Nothing to show: no bytes in this view.')); return; }
      items.sort(function (a, b) { return b.value - a.value; });
      var max = items[0].value;
      var grid = h('div', { class: 'bars' });
      var lastGroup = null;
      items.slice(0, BAR_CAP).forEach(function (x) {
        if (x.group !== undefined && x.group !== lastGroup) { add(grid, h('div', { class: 'group' }, x.group)); lastGroup = x.group; }
        var fill = h('div', { class: 'bfill' });
        fill.style.width = (x.value / max * 100).toFixed(2) + '%';
        if (x.color) fill.style.background = x.color;
        add(grid, [h('div', { class: 'blabel', title: x.label }, x.label), h('div', { class: 'btrack', title: x.label + ': ' + exactBytes(x.value) }, fill), h('div', { class: 'bval' }, qty('bytes', x.value))]);
      });
      add(out, grid);
      if (items.length > BAR_CAP) add(out, h('p', { class: 'count' }, 'showing ' + int(BAR_CAP) + ' of ' + int(items.length) + ', largest first'));
    }
    function peakIndex() {
      if (!has(S.peak_at_ns)) return -1;
      for (var i = timeline.length - 1; i >= 0; i--) if (num(timeline[i].ts_ns) <= S.peak_at_ns) return i;
      return -1;
    }
    function update() {
      var g = group.value, w = when.value;
      if (g === 'thread' && w === 'end') {
        if (!threads.length) return bars([], onlyTracked ? 'No per-thread figures in an --only-tracked report.' : '');
        bars(threads.map(function (t, i) { return { label: threadLabel(t.thread), value: num(t.live_bytes), color: threadColor(i + 1) }; }),
          'Bytes live at the end, by the thread that allocated them (threads[].live_bytes).');
      } else if (g === 'thread') {
        var pi = peakIndex();
        if (pi < 0 || !threadTimelines.length) return bars([], 'No per-thread timeline in this recording, so no per-thread figure at the peak.');
        bars(threadTimelines.map(function (tt, i) { return { label: threadLabel(tt.thread), value: num(arr(tt.live_bytes)[pi]), color: threadColor(i + 1) }; }),
          'Most bytes live per thread within the timeline interval of the peak (' + dur(num(timeline[pi].ts_ns)) + ' – ' + dur(num(timeline[pi].ts_ns) + num(timeline[pi].width_ns)) +
          '); the peak itself is ' + bytes(num(S.peak_live_bytes)) + ' at ' + dur(num(S.peak_at_ns)) + '.');
      } else if (g === 'scope') {
        if (!scopes.length) return bars([], 'No tracked scopes in this recording.');
        var key = w === 'end' ? 'live_bytes' : 'peak_live_bytes';
        bars(scopes.map(function (s) { return { label: scopePath(s.id) + ' · ' + threadLabel(s.thread), value: num(s[key]) }; }),
          w === 'end' ? 'Bytes still live at the end that were allocated inside each scope (nested scopes included, so bars overlap).'
            : 'Each scope’s own peak: the most bytes live at once of the allocations made inside it (nested scopes included; the peaks need not be at the same moment).');
      } else {
        if (!variables.length) return bars([], 'No tracked variables in this recording.');
        if (w === 'peak') return bars([], 'The recording does not say which tracked variables were live at the peak; choose “live at the end”.');
        var items = [];
        variables.forEach(function (v) {
          if (v.state !== 'live') return;
          arr(v.allocations).forEach(function (a) {
            if (!has(a.freed_at_ns)) items.push({ label: String(v.name) + ' ' + String(a.ptr_hex), value: num(a.size), type: String(v.type) });
          });
        });
        items.sort(function (a, b) { return a.type.localeCompare(b.type) || b.value - a.value; });
        var top = items.filter(function (x) { return x.value > 0; }).sort(function (a, b) { return b.value - a.value; }).slice(0, BAR_CAP);
        top.sort(function (a, b) { return a.type.localeCompare(b.type) || b.value - a.value; });
        clear(out);
        add(out, h('p', { class: 'muted small' }, 'Allocations of tracked variables still live at the end (leaked), grouped by type, one bar each.'));
        if (!top.length) { add(out, empty('No tracked variable was live at the end.')); return; }
        var max = Math.max.apply(null, top.map(function (x) { return x.value; }));
        var grid = h('div', { class: 'bars' }), last = null;
        top.forEach(function (x) {
          if (x.type !== last) { add(grid, h('div', { class: 'group' }, x.type)); last = x.type; }
          var fill = h('div', { class: 'bfill' });
          fill.style.width = (x.value / max * 100).toFixed(2) + '%';
          add(grid, [h('div', { class: 'blabel', title: x.label }, x.label), h('div', { class: 'btrack' }, fill), h('div', { class: 'bval' }, qty('bytes', x.value))]);
        });
        add(out, grid);
        if (items.length > top.length) add(out, h('p', { class: 'count' }, 'showing ' + int(top.length) + ' of ' + int(items.length) + ', largest first'));
      }
    }
    group.addEventListener('change', update);
    when.addEventListener('change', update);
    update();
    var leaks = arr(data.largest_leaks);
    add(body, h('h3', null, 'Largest allocations live at the end'));
    if (!leaks.length) add(body, empty(onlyTracked ? 'Not in an --only-tracked report.' : 'None: every allocation was freed.'));
    else {
      var t = sortableTable([
        { key: 'ptr_hex', label: 'address', cls: 'name' },
        { key: 'size', label: 'size', num: true, cell: function (l) { return qty('bytes', l.size); } },
        { key: 'allocated_at_ns', label: 'allocated at', num: true, cell: function (l) { return qty('ns', l.allocated_at_ns); } },
        { key: 'thread', label: 'thread', cell: function (l) { return threadLabel(l.thread); } }
      ], leaks, { noun: 'allocation', nouns: 'allocations', countSuffix: function () { return ' listed (the ' + int(leaks.length) + ' largest of ' + int(num(S.live_count)) + ' live at the end)'; } });
      add(body, t.element);
    }
    if (foreign.length) add(body, [h('h3', null, 'Foreign memory regions'), foreignTable(foreign)]);
  }

  // ------------------------------------------------------------- histograms

  function renderHistograms() {
    var body = byId('histograms-body');
    var measure = h('select', { id: 'hist-measure', 'aria-label': 'Bar height' }, h('option', { value: 'count' }, 'allocations'), h('option', { value: 'bytes' }, 'bytes'));
    add(body, h('div', { class: 'toolbar' }, h('label', null, 'Bar height', measure)));
    var grid = h('div', { class: 'hist-grid' });
    add(body, grid);
    var defs = [
      { key: 'size_histogram', title: 'Allocation sizes', unit: 'bytes', what: 'allocations of', emptyText: 'No allocation in this recording.' },
      { key: 'lifetime_histogram', title: 'Lifetimes of freed allocations', unit: 'ns', what: 'freed allocations that lived', emptyText: 'No allocation was freed in this recording.' }
    ];
    function fmt(unit, v) { return unit === 'bytes' ? bytes(v) : dur(v); }
    function fmtExact(unit, v) { return unit === 'bytes' ? exactBytes(v) : exactNs(v); }
    function draw() {
      clear(grid);
      defs.forEach(function (d) {
        var buckets = arr(data[d.key]);
        var box = h('div', { id: d.key.replace('_', '-') }, h('h3', null, d.title + ' (log2 buckets)'));
        grid.appendChild(box);
        if (!buckets.length) { add(box, empty(onlyTracked ? 'Not in an --only-tracked report.' : d.emptyText)); return; }
        var m = measure.value;
        var max = Math.max.apply(null, buckets.map(function (b) { return num(b[m]); })) || 1;
        var chart = h('div', { class: 'hist', role: 'list' });
        buckets.forEach(function (b) {
          var fill = h('div', { class: 'fill' });
          fill.style.height = (num(b[m]) / max * 100).toFixed(2) + '%';
          if (!num(b[m])) fill.style.minHeight = '0';
          var range = b.lower === b.upper ? fmt(d.unit, b.lower) : fmt(d.unit, b.lower) + ' – ' + fmt(d.unit, b.upper);
          var title = d.what + ' ' + fmtExact(d.unit, num(b.lower)) + ' to ' + fmtExact(d.unit, num(b.upper)) + ': ' + int(num(b.count)) + ' allocations, ' + exactBytes(num(b.bytes));
          add(chart, h('div', { class: 'col', role: 'listitem', tabindex: '0', title: title, 'aria-label': range + ': ' + int(num(b.count)) + ' allocations, ' + bytes(num(b.bytes)) }, fill));
        });
        add(box, [chart, h('div', { class: 'hist-axis' }, h('span', null, fmt(d.unit, num(buckets[0].lower))), h('span', null, fmt(d.unit, num(buckets[buckets.length - 1].upper))))]);
      });
    }
    measure.addEventListener('change', draw);
    draw();
  }

  // ------------------------------------------------------------------ start

  function renderFooter() {
    var pid = has(rec.pid) ? ' · process ' + rec.pid : '';
    byId('subtitle').textContent = 'report' + pid;
    document.title = 'memscope report' + pid;
    add(byId('footer'), 'Made by memscope from a recording of ' + bytes(num(rec.file_bytes)) + '. Every figure comes from the replay (the same document as `memscope json`, format_version ' +
      String(data.format_version) + (data.mode ? ', mode ' + String(data.mode) : '') + '). Times are since the recording started.');
  }

  var steps = [renderAlerts, renderOverview, renderTimeline, renderVariables, renderSuggestions, renderScopes, renderMemoryMap, renderHistograms, renderFooter];
  steps.forEach(function (step) {
    try {
      step();
    } catch (err) {
      add(byId('alerts'), h('p', { class: 'alert danger', role: 'alert' }, 'Part of this report could not be drawn (' + step.name + '): ' + String(err && err.message)));
      console.error(err);
    }
  });
  window.memscopeReady = true;
  document.documentElement.dataset.ready = 'true';
  if (window.performance && performance.mark) performance.mark('memscope-ready');
})();
