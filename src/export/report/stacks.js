  // ------------------------------------------------------ call stacks: views

  var stackViews = { flame: null, tree: null, metric: 0, showFunction: function () {} };

  /** Why there is nothing to show, or null when there are sites. */
  function noStacksText() {
    if (!stackInfo) return 'This document has no call stacks: an older memscope made it.';
    if (!stackInfo.recorded) return 'This recording has no call stacks: it was made without them (or by a memscope that did not record them), so every allocation is under one [no stacks] site.';
    if (!siteList.length) return 'No allocation was made with a call stack in this recording.';
    return null;
  }

  function renderStacks() {
    var body = byId('stacks-body');
    var why = noStacksText();
    if (why) { add(body, h('p', { class: 'empty', id: 'stacks-none' }, why)); return; }
    renderStackNotes(body);

    var metricSel = h('select', { id: 'stack-metric', 'aria-label': 'Figure the flame graph and the functions table add up' });
    METRICS.forEach(function (m, i) { add(metricSel, h('option', { value: String(i), title: m.title }, m.label)); });
    var search = h('input', { type: 'search', id: 'flame-search', placeholder: 'function contains…', 'aria-label': 'Highlight functions in the flame graph' });
    add(body, h('div', { class: 'toolbar' }, h('label', null, 'Figure', metricSel), h('label', null, 'Highlight', search),
      h('span', { class: 'muted small' }, plural(siteRows.length, 'site', 'sites') + ', ' + plural(frameList.length, 'distinct frame', 'distinct frames'))));

    var values = function (r) { return METRICS.map(function (m) { return num(r.s[m.key]); }); };
    var tree = buildTree(siteRows, values, METRICS.length);
    stackViews.tree = tree;
    var flame = flameGraph({ id: 'flame', label: 'all sites', metrics: METRICS, onPick: function (n) { stackViews.showFunction(n.name); } });
    stackViews.flame = flame;
    add(body, [h('h3', null, 'Flame graph'), flame.element]);
    flame.setTree(tree);

    add(body, h('h3', null, 'Sites' + ESTIMATE));
    renderSitesTable(body);
    add(body, h('h3', { id: 'functions-h' }, 'By function (bottom-up)'));
    var byFunction = renderFunctions(body, values);

    metricSel.addEventListener('change', function () {
      stackViews.metric = Number(metricSel.value);
      flame.setMetric(stackViews.metric);
      byFunction.setMetric(stackViews.metric);
    });
    var timer = null;
    search.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(function () { flame.search(search.value); }, 80); });
    search.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { clearTimeout(timer); flame.search(search.value); } });
  }

  function renderStackNotes(body) {
    var box = h('div', { id: 'stacks-notes' });
    var warnings = arr(stackInfo.warnings);
    if (warnings.length) {
      add(box, h('div', { class: 'alert warn', id: 'stacks-warnings' }, h('b', null, 'Symbolization: '),
        plural(warnings.length, 'warning', 'warnings') + '; frames it could not name read module+offset or an address.',
        h('ul', null, warnings.slice(0, 20).map(function (w) { return h('li', null, String(w)); })),
        warnings.length > 20 ? h('p', null, '… ' + int(warnings.length - 20) + ' more') : null));
    }
    if (stackInfo.symbolized === false) {
      add(box, h('div', { class: 'alert info' }, 'The frames were not symbolized: they read module+offset or an address, not a function.'));
    }
    var cut = siteRows.filter(function (r) { return r.s.truncated; });
    if (cut.length || num(stackInfo.truncated_sites) > 0) {
      var all = 0, mine = 0;
      siteRows.forEach(function (r) { all += num(r.s.allocated_bytes); });
      cut.forEach(function (r) { mine += num(r.s.allocated_bytes); });
      add(box, h('div', { class: 'alert info', id: 'stacks-truncated', dataset: { sites: cut.length, bytes: mine } },
        plural(cut.length, 'listed site has a truncated stack', 'listed sites have truncated stacks') +
        (num(stackInfo.truncated_sites) > cut.length ? ' (' + int(num(stackInfo.truncated_sites)) + ' in all)' : '') + ', ' +
        (all ? (mine / all * 100).toFixed(1) : '0') + '% of the allocated bytes (' + bytes(mine) +
        '): their outer frames are unknown, so they sit under [truncated] in the flame graph.'));
    }
    if (num(stackInfo.table_full_allocations) > 0) {
      add(box, h('div', { class: 'alert warn', id: 'stacks-table-full' }, plural(num(stackInfo.table_full_allocations), 'allocation', 'allocations') +
        ' had no call stack stored (a thread’s stack table was full); they are counted under [stack table full].'));
    }
    if (num(stackInfo.unknown_stack_allocations) > 0) {
      add(box, h('div', { class: 'alert info', id: 'stacks-unknown' }, plural(num(stackInfo.unknown_stack_allocations), 'allocation', 'allocations') +
        ' carried no call stack; they are counted under [unknown].'));
    }
    if (num(stackInfo.sites) > siteRows.length) {
      add(box, h('div', { class: 'alert info', id: 'stacks-listed' }, 'The recording has ' + int(num(stackInfo.sites)) + ' distinct call stacks; the JSON lists the ' +
        int(siteRows.length) + ' with the most peak bytes (then allocated bytes). Every view here adds up the listed ones only.'));
    }
    var modules = arr(stackInfo.modules);
    if (modules.length) {
      add(box, h('details', { class: 'modules', id: 'stacks-modules' }, h('summary', null, plural(modules.length, 'loaded object', 'loaded objects') + ' the frames were resolved against'),
        h('div', { class: 'table-wrap short' }, h('table', null,
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'path'), h('th', { scope: 'col' }, 'build id'), h('th', { scope: 'col' }, 'mapped at'))),
          h('tbody', null, modules.slice(0, 200).map(function (m) {
            return h('tr', null, h('td', { class: 'name' }, String(m.path)), h('td', { class: 'type' }, m.build_id ? String(m.build_id) : '—'),
              h('td', { class: 'type' }, m.start ? String(m.start) + (m.end ? ' – ' + String(m.end) : '') : '—'));
          }))))));
    }
    if (box.firstChild) add(body, box);
  }

  // ------------------------------------------------------------- sites table

  var SITE_CAP = 1000;
  /** The site columns: a name, where, then every figure. */
  function siteColumns(extra) {
    var fig = function (key, label, unit) {
      return { key: key, label: label, num: true, value: function (x) { return num((x.r || x).s[key]); }, cell: function (x) { return siteQty(unit, (x.r || x).s, key, key); } };
    };
    var samples = { key: 'samples', label: 'samples', num: true, value: function (x) { var e = (x.r || x).s.estimate; return e ? num(e.samples) : 0; },
      cell: function (x) { var e = (x.r || x).s.estimate; return h('span', { class: e && num(e.samples) < FEW_SAMPLES ? 'muted' : null }, int(e ? num(e.samples) : 0)); } };
    return [
      { key: 'id', label: 'site', num: true, value: function (x) { return (x.r || x).id; }, cell: function (x) { return '#' + (x.r || x).id; } },
      { key: 'function', label: 'function', cls: 'name', value: function (x) { return siteName(x.r || x); }, cell: siteNameCell },
      { key: 'location', label: 'file:line', cls: 'type', value: function (x) { var r = x.r || x; return frameLoc(r.frames[r.main], false); },
        cell: function (x) { var r = x.r || x; return frameLoc(r.frames[r.main], false) || h('span', { class: 'muted' }, '—'); } }
    ].concat(extra || [
      fig('peak_bytes', 'at peak', 'bytes'), fig('peak_count', 'allocs at peak', 'count'),
      fig('live_bytes_end', 'live at end', 'bytes'), fig('live_count_end', 'allocs live at end', 'count'),
      fig('allocated_bytes', 'allocated', 'bytes'), fig('allocations', 'allocations', 'count'),
      fig('reallocations', 'reallocations', 'count'), fig('deallocations', 'deallocations', 'count'),
      fig('deallocated_bytes', 'deallocated', 'bytes'), fig('temporary', 'temporary', 'count'),
      fig('max_live_bytes', 'own max live', 'bytes'), fig('max_live_at_ns', 'own max at', 'ns'),
      fig('total_lifetime_ns', 'total lifetime', 'ns')
    ].concat(SAMPLING ? [samples] : []));
  }
  function siteNameCell(x) {
    var r = x.r || x, out = [siteName(r)];
    if (r.s.truncated) out.push(' ', h('span', { class: 'badge', title: 'the stack was cut: its outer frames are unknown' }, 'truncated'));
    if (r.main > 0) out.push(h('div', { class: 'via muted' }, 'via ' + r.names[0]));
    return out;
  }

  function renderSitesTable(body) {
    var filter = h('input', { type: 'search', id: 'site-filter', placeholder: 'a function in the stack contains…', 'aria-label': 'Filter sites by a function in their stack' });
    add(body, [h('div', { class: 'toolbar' }, h('label', null, 'Filter', filter)),
      h('p', { class: 'muted small' }, 'One row per call stack, named by its innermost function that is not allocation plumbing (std, alloc, core, hashbrown), “via” the frame that allocated. Click a row, or press Enter on it, for its whole stack and its live bytes over time.')]);
    var table = sortableTable(siteColumns(), siteRows, {
      cap: SITE_CAP, noun: 'site', nouns: 'sites', sortKey: 'peak_bytes', sortDir: -1,
      onOpen: function (r, tr) { openSite(r, tr); },
      countSuffix: function (n) { return n < siteRows.length ? ' matching, of ' + int(siteRows.length) : ''; }
    });
    table.table.id = 'sites-table';
    add(body, table.element);
    var timer = null;
    var apply = function () {
      var q = filter.value.trim().toLowerCase();
      table.setRows(q ? siteRows.filter(function (r) { return r.hay.indexOf(q) >= 0; }) : siteRows);
    };
    filter.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 60); });
    filter.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { clearTimeout(timer); apply(); } });
  }

  // ------------------------------------------------------------ site inspector

  function siteButton(r) {
    return h('button', { type: 'button', class: 'link', onclick: function () { openSite(r, null); } }, siteLabel(r));
  }
  function openSite(r, fromRow) {
    showInspector({
      kind: 'site', id: r.id, fromRow: fromRow, title: siteName(r),
      sub: [h('span', null, 'site #' + r.id + ' · ' + plural(r.frames.length, 'frame', 'frames')), r.s.truncated ? [' · ', h('span', { class: 'badge' }, 'truncated')] : null],
      tabs: [['stack', 'Call stack', function () { return inspectStack(r); }], ['site-figures', 'Figures', function () { return inspectSiteFigures(r); }],
        ['site-live', 'Live over time', function () { return inspectSiteLive(r); }]]
    });
  }
  function inspectStack(r) {
    var tbody = h('tbody');
    r.frames.forEach(function (f, j) {
      var name = r.names[j], flags = [];
      if (j === 0) flags.push(h('span', { class: 'badge', title: 'this frame made the allocation' }, 'allocates'));
      if (f.inlined) flags.push(h('span', { class: 'badge inlined', title: 'inlined into the frame below it' }, 'inlined'));
      if (isPlumbing(name)) flags.push(h('span', { class: 'badge muted', title: 'allocation plumbing: std, alloc, core or hashbrown' }, 'plumbing'));
      if (isUnresolved(name)) flags.push(h('span', { class: 'badge muted', title: 'symbolization could not name it' }, 'unresolved'));
      if (j === r.main && r.main > 0) flags.push(h('span', { class: 'badge shared', title: 'the site is named after it' }, 'named'));
      var tr = h('tr', { dataset: { frame: j } },
        h('td', { class: 'num' }, String(j)),
        h('td', { class: 'name' }, name, flags.length ? [' ', flags] : null),
        h('td', { class: 'type' }, frameLoc(f, true) || '—'),
        h('td', { class: 'type' }, f.module ? String(f.module).split('/').pop() : '—', f.address ? h('div', null, String(f.address)) : null));
      if (f.module) tr.title = String(f.module);
      tbody.appendChild(tr);
    });
    var table = h('table', { id: 'site-stack' }, h('thead', null, h('tr', null,
      h('th', { class: 'num', scope: 'col' }, '#'), h('th', { scope: 'col' }, 'function'), h('th', { scope: 'col' }, 'file:line:column'), h('th', { scope: 'col' }, 'module, address'))), tbody);
    return [
      h('p', { class: 'muted small' }, 'Innermost first: frame 0 made the allocation, the last is where the thread started' + (r.s.truncated ? ' (here the stack was cut: the outer frames are unknown).' : '.')),
      stackViews.flame ? h('p', null, h('button', { type: 'button', class: 'btn', id: 'site-in-flame', onclick: function () {
        closeInspector();
        stackViews.flame.zoomToPath(pathOf(stackViews.tree, r));
      } }, 'Show in the flame graph')) : null,
      h('div', { class: 'table-wrap short' }, table)
    ];
  }
  function inspectSiteFigures(r) {
    var s = r.s, f = function (unit, key) { return siteQty(unit, s, key, 'sites.' + key); };
    var freed = num(s.deallocations);
    var e = s.estimate;
    return kv([
      ['site', '#' + r.id],
      e ? ['estimated from', [int(num(e.samples)) + ' samples (' + int(num(e.live_samples_end)) + ' live at the end)',
        num(e.samples) < FEW_SAMPLES ? ' — few: the figures below are rough' : '; ± is one standard error']] : null,
      ['live at the peak', [f('bytes', 'peak_bytes'), ' in ', f('count', 'peak_count'), ' allocations (at ', qty('ns', SAMPLING ? SAMPLING.estimated_peak_at_ns : S.peak_at_ns), SAMPLING ? ', the estimated peak' : '', ')']],
      ['live at the end', [f('bytes', 'live_bytes_end'), ' in ', f('count', 'live_count_end'), ' allocations']],
      ['its own maximum', [f('bytes', 'max_live_bytes'), ' at ', f('ns', 'max_live_at_ns')]],
      ['allocated', [f('bytes', 'allocated_bytes'), ' in ', f('count', 'allocations'), ' allocations']],
      ['reallocations', f('count', 'reallocations')],
      ['deallocated', [f('bytes', 'deallocated_bytes'), ' in ', f('count', 'deallocations'), ' deallocations']],
      ['temporary', [f('count', 'temporary'), ' allocations freed before their thread’s next allocation']],
      ['lifetimes', [f('ns', 'total_lifetime_ns'), ' in all', freed ? [', ', qty('ns', Math.round(num(s.total_lifetime_ns) / freed)), ' on average per deallocation'] : null]],
      ['stack', r.s.truncated ? 'truncated: the outer frames are unknown' : 'complete']
    ]);
  }
  function inspectSiteLive(r) {
    if (!timeline.length) return empty('No timeline in this report.');
    if (!r.hasTimeline) return empty('The JSON holds a timeline for the first ' + int(SITE_TIMELINES) + ' sites only; this one is #' + (r.index + 1) + '.');
    var values = siteSeries(r, timeline.length);
    var note = h('p', { class: 'muted small' }, 'Live bytes of this site at the end of each timeline interval; its own maximum was ' + bytes(num(r.s.max_live_bytes)) +
      ' at ' + dur(num(r.s.max_live_at_ns)) + '. The dashed line is the global peak.');
    return [stepChart(values, { id: 'site-live-chart', label: 'Live bytes of site #' + r.id + ' over time' }), note];
  }

  /** A small step chart of `values` (one per timeline point, as at the end of each interval) over the recording. */
  function stepChart(values, o) {
    var canvas = h('canvas', { id: o.id, role: 'img', 'aria-label': o.label, tabindex: '0' });
    var box = h('div', { class: 'chart small-chart' }, canvas);
    var n = values.length, w = num(timeline[0].width_ns), t1 = Math.max(endNs, num(timeline[n - 1].ts_ns) + w);
    var max = 1;
    for (var i = 0; i < n; i++) if (values[i] > max) max = values[i];
    var H = 160, padL = 64, padR = 10, padT = 10, padB = 24, W = 600;
    var X = function (t) { return padL + t / t1 * (W - padL - padR); };
    var Y = function (v) { return H - padB - v / (max * 1.08) * (H - padT - padB); };
    function draw() {
      var dpr = window.devicePixelRatio || 1;
      W = Math.max(280, Math.round(box.clientWidth || 600));
      canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); canvas.style.height = H + 'px';
      var ctx = canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      ctx.font = '11px ' + cssVar('--sans');
      ctx.strokeStyle = cssVar('--grid'); ctx.fillStyle = cssVar('--muted'); ctx.lineWidth = 1;
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ticks(0, max * 1.08, 3, true).forEach(function (v) {
        var y = Math.round(Y(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(W - padR, y); ctx.stroke();
        ctx.fillText(bytes(Math.round(v)), padL - 6, y);
      });
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ticks(0, t1, Math.max(2, Math.floor((W - padL) / 110)), false).forEach(function (t) { ctx.fillText(dur(t), X(t), H - padB + 6); });
      ctx.beginPath();
      var prev = 0;
      ctx.moveTo(X(0), Y(0));
      for (var i = 0; i < n; i++) {
        var x = X(num(timeline[i].ts_ns) + w);
        ctx.lineTo(x, Y(prev)); ctx.lineTo(x, Y(values[i]));
        prev = values[i];
      }
      ctx.lineTo(X(t1), Y(prev));
      ctx.strokeStyle = cssVar('--bar-2'); ctx.lineWidth = 1.5; ctx.stroke();
      ctx.lineTo(X(t1), Y(0)); ctx.lineTo(X(0), Y(0)); ctx.closePath();
      ctx.globalAlpha = 0.18; ctx.fillStyle = cssVar('--bar-2'); ctx.fill(); ctx.globalAlpha = 1;
      if (has(S.peak_at_ns)) {
        var px = Math.round(X(S.peak_at_ns)) + 0.5;
        ctx.strokeStyle = cssVar('--peak'); ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(px, padT); ctx.lineTo(px, H - padB); ctx.stroke(); ctx.setLineDash([]);
      }
    }
    canvas.addEventListener('mousemove', function (ev) {
      var x = ev.clientX - canvas.getBoundingClientRect().left, t = (x - padL) / (W - padL - padR) * t1;
      if (t < 0 || t > t1) { hideTip(); return; }
      var lo = 0, hi = n;
      while (lo < hi) { var m = (lo + hi) >> 1; if (num(timeline[m].ts_ns) + w <= t) lo = m + 1; else hi = m; }
      var v = lo ? values[lo - 1] : 0;
      showTip('at ' + dur(t) + '\nlive: ' + bytes(v) + ' (' + exactBytes(v) + ')', ev.clientX, ev.clientY);
    });
    canvas.addEventListener('mouseleave', hideTip);
    requestAnimationFrame(draw);
    if (typeof ResizeObserver === 'function') new ResizeObserver(function () { draw(); }).observe(box);
    return box;
  }

  // ------------------------------------------------------------ by function

  var FN_CAP = 1000;
  function renderFunctions(body, values) {
    var K = METRICS.length, metric = 0;
    var fns = functionTotals(siteRows, values, K);
    var filter = h('input', { type: 'search', id: 'fn-filter', placeholder: 'function contains…', 'aria-label': 'Filter functions' });
    add(body, [h('p', { class: 'muted small' }, '“Self”: the sites where the function made the allocation itself (it is frames[0]); “total”: the sites with the function anywhere in their stack, each counted once however often it recurses. Select a function for its callers and callees.'),
      h('div', { class: 'toolbar' }, h('label', null, 'Filter', filter))]);
    var wrap = h('div');
    var detail = h('div', { id: 'fn-detail' });
    add(body, [wrap, detail]);
    var table = null, current = null;
    function columns() {
      var m = METRICS[metric];
      return [
        { key: 'name', label: 'function', cls: 'name', value: function (f) { return f.name; }, cell: function (f) { return f.name; } },
        { key: 'where', label: 'file', cls: 'type', value: function (f) { return f.frame.file ? String(f.frame.file) : ''; }, cell: function (f) { return f.frame.file ? String(f.frame.file) : h('span', { class: 'muted' }, '—'); } },
        { key: 'self', label: 'self ' + m.label, num: true, value: function (f) { return f.self[metric]; }, cell: function (f) { return qty(m.unit, f.self[metric], 'self'); } },
        { key: 'total', label: 'total ' + m.label, num: true, value: function (f) { return f.total[metric]; }, cell: function (f) { return qty(m.unit, f.total[metric], 'total'); } },
        { key: 'sites', label: 'sites', num: true, value: function (f) { return f.sites; }, cell: function (f) { return int(f.sites); } }
      ];
    }
    function rows() {
      var q = filter.value.trim().toLowerCase();
      return q ? fns.filter(function (f) { return f.name.toLowerCase().indexOf(q) >= 0; }) : fns;
    }
    function build(sortKey, sortDir) {
      table = sortableTable(columns(), rows(), {
        cap: FN_CAP, noun: 'function', nouns: 'functions', sortKey: sortKey || 'total', sortDir: sortDir || -1,
        onOpen: function (f, tr) { select(f, tr); },
        countSuffix: function (n) { return n < fns.length ? ' matching, of ' + int(fns.length) : ''; }
      });
      table.table.id = 'functions-table';
      add(clear(wrap), table.element);
    }
    function select(f, tr) {
      current = f;
      wrap.querySelectorAll('tr.row.selected').forEach(function (x) { x.classList.remove('selected'); });
      if (tr) tr.classList.add('selected');
      var m = METRICS[metric], nb = neighbours(siteRows, values, K, f.name);
      clear(detail);
      detail.dataset.function = f.name;
      var list = function (title, id, items, empties) {
        if (!items.length) return [h('h4', null, title), empty(empties)];
        var t = sortableTable([
          { key: 'name', label: 'function', cls: 'name', value: function (e) { return e.name; }, cell: function (e) {
            return h('button', { type: 'button', class: 'link', onclick: function () { showFunction(e.name); } }, e.name);
          } },
          { key: 'v', label: m.label, num: true, value: function (e) { return e.v[metric]; }, cell: function (e) { return qty(m.unit, e.v[metric], 'value'); } },
          { key: 'sites', label: 'sites', num: true, value: function (e) { return e.sites; }, cell: function (e) { return int(e.sites); } }
        ], items, { short: true, cap: 200, noun: 'function', nouns: 'functions', sortKey: 'v', sortDir: -1 });
        t.table.id = id;
        return [h('h4', null, title), t.element];
      };
      add(detail, [
        h('h4', { class: 'fn-title' }, f.name),
        kv([['where', f.frame.file ? frameLoc(f.frame, false) : '—'], ['self ' + m.label, qty(m.unit, f.self[metric])], ['total ' + m.label, qty(m.unit, f.total[metric])],
          ['sites', int(f.sites)]]),
        h('div', { class: 'fn-neighbours' },
          h('div', null, list('Callers (the frame just outside it)', 'fn-callers', nb.callers, 'None: it is where every one of its stacks starts.')),
          h('div', null, list('Callees (the frame just inside it)', 'fn-callees', nb.callees, 'None: it made each of its allocations itself.')))
      ]);
    }
    function showFunction(name) {
      filter.value = '';
      build();
      var f = fns.find(function (x) { return x.name === name; });
      if (!f) return;
      var tr = Array.from(wrap.querySelectorAll('tbody tr')).find(function (x) { return x._row === f; }) || null;
      select(f, tr);
      if (tr) tr.scrollIntoView({ block: 'nearest' });
      byId('functions-h').scrollIntoView({ block: 'start' });
    }
    stackViews.showFunction = showFunction;
    var timer = null;
    filter.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(function () { table.setRows(rows()); }, 60); });
    filter.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { clearTimeout(timer); table.setRows(rows()); } });
    build();
    return {
      setMetric: function (i) {
        metric = i;
        build();
        if (current) {
          var tr = Array.from(wrap.querySelectorAll('tbody tr')).find(function (x) { return x._row === current; }) || null;
          select(current, tr);
        }
      }
    };
  }
