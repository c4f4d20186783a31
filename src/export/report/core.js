// memscope report: draws the embedded JSON document (docs/JSON.md).
// Hand-written, no dependencies, no network. Every text that comes from the
// recording goes into the page as a text node or an attribute value, never
// as markup; every number shown is one the replay computed.
//
// The script is this file and the others of src/export/report/*.js joined in
// the order html.rs lists them, into one function: this file opens it (the
// helpers, the data, the shared table and inspector), each view adds its
// render function, and main.js calls them in turn and closes it.
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
  var handoffs = arr(data.handoffs);
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
  /**
   * What is live at the end is a leak only when the recording ended at
   * process exit with nothing lost (recording.live_at_end_is_leak); memory
   * the program still held when it called finish() is "live at end".
   */
  var LEAKS = rec.live_at_end_is_leak === true;
  // A sampling recording (format version 6): per-site figures and the peak are estimates.
  var SAMPLING = data.sampling && data.sampling.mode === 'sampled' ? data.sampling : null;
  var ESTIMATE = SAMPLING ? ' (estimated)' : '';
  // Sampling: the standard error of each site figure (sites[].estimate).
  var SE_OF = { peak_bytes: 'peak_bytes_se', live_bytes_end: 'live_bytes_end_se', live_count_end: 'live_count_end_se',
    allocated_bytes: 'allocated_bytes_se', allocations: 'allocations_se', reallocations: 'reallocations_se' };
  /** Fewer samples than this make a site's estimate rough (its ± is no 95% interval), unless its se is under 5%. */
  var FEW_SAMPLES = 20;
  /**
   * A site figure `s[key]`: its quantity, and in a sampling recording
   * "≈ 12.3 MB ± 8%" (one standard error), muted when the site has fewer
   * than FEW_SAMPLES samples.
   */
  function siteQty(unit, s, key, field) {
    var q = qty(unit, s[key], field), e = s.estimate;
    if (!e || !SE_OF[key] || !has(s[key]) || !has(e[SE_OF[key]])) return q;
    var v = num(s[key]), se = num(e[SE_OF[key]]), n = num(e.samples), few = n < FEW_SAMPLES && !(v > 0 && se / v <= 0.05);
    var pct = v > 0 ? ' ± ' + (se / v < 0.095 ? (100 * se / v).toFixed(1) : Math.round(100 * se / v)) + '%' : '';
    return h('span', { class: 'est' + (few ? ' muted' : ''),
      title: 'estimate from ' + int(n) + ' samples' + (few ? ' (few: rough)' : '') + '; ± is one standard error, ' +
        (unit === 'bytes' ? exactBytes(se) : int(se)) + ': the exact figure is within ±1.96 of it in about 95% of recordings' },
    '≈ ', q, pct);
  }
  var AT_EXIT = !!(rec.end && rec.end.ended_at_exit);
  var LIVE_WORD = LEAKS ? 'leaked' : 'live at end';
  /** The state words a variable shows: the replay's state ("live" shows as LIVE_WORD) plus "shared". */
  function stateWords(v) {
    var st = v.state === 'live' ? LIVE_WORD : v.state === 'no_heap' ? 'no heap' : String(v.state || 'unknown');
    return isShared(v) ? [st, 'shared'] : [st];
  }
  var STATE_TITLES = {
    leaked: 'live when the process exited: the recording ended at exit (state "live")',
    'live at end': 'still live when the recording ended: the program held it when finish() was called (state "live"); not a leak',
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


  // ------------------------------------------------------------ drawing aids

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
  function isDark() { return !!(window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches); }

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

  function kv(pairs) {
    var dl = h('dl', { class: 'kv' });
    pairs.forEach(function (p) { if (p) add(dl, [h('dt', null, p[0]), h('dd', null, p[1])]); });
    return dl;
  }

  // -------------------------------------------------------------- inspector

  // One side panel for whatever is inspected (a variable, a call site): a
  // title, a subtitle, and tabs whose panels are filled when it opens.
  var inspector = byId('inspector');
  var returnFocus = null;
  var inspectorClosed = null;

  /**
   * Opens the inspector. `o`: kind and id (set as data-kind and data-<kind>),
   * title (text), sub (nodes), tabs ([id, label, fill() → nodes]), fromRow
   * (the table row to mark and to give focus back to), onClose.
   */
  function showInspector(o) {
    if (inspectorClosed) { var was = inspectorClosed; inspectorClosed = null; was(); }
    if (o.fromRow) {
      returnFocus = o.fromRow;
      document.querySelectorAll('tr.row.selected').forEach(function (r) { r.classList.remove('selected'); });
      o.fromRow.classList.add('selected');
    }
    delete inspector.dataset.variable;
    delete inspector.dataset.site;
    inspector.dataset.kind = o.kind;
    inspector.dataset[o.kind] = String(o.id);
    byId('inspector-title').textContent = o.title;
    add(clear(byId('inspector-sub')), o.sub);
    var tabs = clear(byId('inspector-tabs')), panels = clear(byId('inspector-panels'));
    tabs.setAttribute('aria-label', o.kind === 'site' ? 'Call site details' : 'Variable details');
    var buttons = o.tabs.map(function (t, i) {
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
        byId('panel-' + o.tabs[j][0]).hidden = i !== j;
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
    inspector.hidden = false;
    o.tabs.forEach(function (t) { add(byId('panel-' + t[0]), t[2]()); });
    inspectorClosed = o.onClose || null;
    byId('inspector-close').focus();
  }
  function closeInspector() {
    if (inspector.hidden) return;
    inspector.hidden = true;
    if (inspectorClosed) { var was = inspectorClosed; inspectorClosed = null; was(); }
    if (returnFocus && document.body.contains(returnFocus)) returnFocus.focus();
  }
  byId('inspector-close').addEventListener('click', closeInspector);
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') closeInspector(); });
