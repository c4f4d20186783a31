  // --------------------------------------------------------------- timeline


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
    if (SAMPLING) add(body, h('p', { class: 'muted small', id: 'timeline-estimate' }, 'Estimated: the live bytes of the samples, each weighted by 1/p (the exact live bytes are known at the end of each drain round only).'));
    var width = num(timeline[0].width_ns) || 1;
    var ts = timeline.map(function (p) { return num(p.ts_ns); });
    var series = [{ key: 'total', label: 'all threads', values: timeline.map(function (p) { return num(p.live_bytes); }), visible: true, total: true }];
    threadTimelines.forEach(function (tt, i) {
      var values = arr(tt.live_bytes);
      if (values.length !== ts.length) return;
      series.push({ key: 't' + tt.thread, label: threadLabel(tt.thread), values: values, visible: threadTimelines.length <= 8, colorIndex: i + 1, thread: tt.thread });
    });
    // the top sites by peak bytes, stacked as areas: their live bytes at the end of each interval
    var siteTop = hasStacks ? topSites(5).map(function (r, i) {
      return { r: r, values: siteSeries(r, ts.length), label: siteName(r) + ' (#' + r.id + ')', color: '--site' + i };
    }) : [];
    var showSites = siteTop.length > 0;
    var picking = hasStacks;             // a range can be picked (there are sites to list)
    var rangeMode = false;               // drag picks a range instead of panning
    var picked = null;                   // the picked range, snapped to points: {from, to, t0, t1, tA, tB}
    var sweep = null;                    // a range being dragged: {a, b} in ns
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
        '. Wheel or + and − zoom, drag or arrow keys pan, double-click or 0 resets.' + (hasStacks ? ' Shift+drag picks a time range: the sites that allocated in it are listed below the chart.' : ''),
      'aria-describedby': SL.count ? 'timeline-scopes' : null });
    var chart = h('div', { class: 'chart' }, canvas);
    var legend = h('div', { class: 'legend' });
    var scopeKey = SL.count ? h('div', { class: 'legend scope-key', id: 'timeline-scope-key', role: 'list', 'aria-label': 'Scope colors' }) : null;
    var scopeInfo = SL.count ? h('p', { class: 'muted small', id: 'timeline-scopes',
      dataset: { intervals: SL.count, listed: SL.listed, total: scopeTotal, visible: SL.count, marks: 0 } }) : null;
    var note = h('p', { class: 'muted small' });
    var siteKey = siteTop.length ? h('div', { class: 'legend scope-key', id: 'timeline-site-key', role: 'list', 'aria-label': 'Sites stacked on the timeline' }) : null;
    var rangePanel = picking ? renderRangePanel() : null;
    add(body, [controls, chart, legend, siteKey, scopeKey, scopeInfo, note, rangePanel]);
    add(controls, [
      h('button', { type: 'button', class: 'btn', onclick: function () { zoom(0.5, 0.5); }, title: 'Zoom in (+)' }, 'Zoom in'),
      h('button', { type: 'button', class: 'btn', onclick: function () { zoom(2, 0.5); }, title: 'Zoom out (−)' }, 'Zoom out'),
      h('button', { type: 'button', class: 'btn', onclick: function () { view.t0 = full.t0; view.t1 = full.t1; draw(); }, title: 'Show everything (0)' }, 'Reset')
    ]);
    if (picking) {
      var modeBtn = h('button', { type: 'button', class: 'btn', id: 'timeline-range-mode', 'aria-pressed': 'false',
        title: 'While on, dragging picks a time range instead of panning (shift+drag always picks one)' }, 'Pick a range');
      modeBtn.addEventListener('click', function () {
        rangeMode = !rangeMode;
        modeBtn.setAttribute('aria-pressed', rangeMode ? 'true' : 'false');
        canvas.classList.toggle('picking', rangeMode);
      });
      add(controls, [modeBtn,
        h('button', { type: 'button', class: 'btn', id: 'timeline-range-view', title: 'Pick the time now shown as the range (zoom and pan with the keyboard first)',
          onclick: function () { pick(view.t0, view.t1); } }, 'Pick the shown time'),
        h('span', { class: 'muted small', id: 'timeline-range-hint' }, 'Shift+drag on the chart (or “Pick a range”, then drag) to list the sites that allocated in a time range.')]);
      rangeView.onClear = function () { picked = null; rangeView.show(null); draw(); };
    }
    add(controls, h('span', { class: 'muted small', id: 'timeline-range' }));
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
    if (siteTop.length) {
      var stcb = h('input', { type: 'checkbox', id: 'timeline-sites-toggle' });
      stcb.checked = showSites;
      stcb.addEventListener('change', function () { showSites = stcb.checked; draw(); });
      add(legend, h('label', { title: 'Live bytes of the sites with the most bytes live at the peak, at the end of each interval, stacked' }, stcb,
        'top ' + plural(siteTop.length, 'call site', 'call sites') + ' by peak bytes (stacked areas)'));
      siteTop.forEach(function (st) {
        st.swatch = h('span', { class: 'swatch block' });
        add(siteKey, h('span', { class: 'key-item', role: 'listitem', title: st.label + ': ' + bytes(num(st.r.s.peak_bytes)) + ' at the peak' }, st.swatch, h('span', { class: 'key-name' }, st.label)));
      });
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
      (threadTimelines.length ? '' : ' No per-thread timeline in this recording.') + scopeNote +
      (siteTop.length ? ' The stacked areas are the live bytes of the top call sites at the end of each interval (the line is the most within it).' : ''));

    var LANES = Math.min(overlayVars.length, 6);
    var BASE_H = 300, H = BASE_H, padL = 64, padR = 12, padT = 14, padB = 28, strip = LANES ? LANES * 3 + 5 : 0;
    var dpr = 1, W = 600, hoverX = null, drag = null, yOf = function (v) { return v; };
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
      if (showSites) {
        for (var si0 = range[0]; si0 < range[1]; si0++) {
          var stacked = 0;
          for (var sk = 0; sk < siteTop.length; sk++) stacked += siteTop[sk].values[si0];
          if (stacked > yMax) yMax = stacked;
        }
      }
      yMax *= 1.08;
      var plotB = BASE_H - padB - strip;
      var gridB = showScopes ? laneTop + scopeH : plotB + strip;
      var Y = function (v) { return plotB - v / yMax * (plotB - padT); };
      yOf = Y;
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
      // the top sites, stacked: each site's value holds from the end of its interval to the end of the next point
      if (showSites) drawSites(ctx, range);
      // the picked range, or the one being dragged
      var band = sweep ? { t0: Math.min(sweep.a, sweep.b), t1: Math.max(sweep.a, sweep.b) } : picked;
      if (band) {
        var bx0 = X(band.t0), bx1 = X(band.t1);
        ctx.fillStyle = cssVar('--select');
        ctx.fillRect(bx0, padT, Math.max(1, bx1 - bx0), plotB - padT);
        ctx.strokeStyle = cssVar('--warn'); ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(Math.round(bx0) + 0.5, padT); ctx.lineTo(Math.round(bx0) + 0.5, plotB);
        ctx.moveTo(Math.round(bx1) + 0.5, padT); ctx.lineTo(Math.round(bx1) + 0.5, plotB); ctx.stroke();
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
     * The top sites as stacked areas. A site's value at point i is its live
     * bytes at the end of that interval, so it holds from there to the end
     * of the next point; the areas step at the ends of intervals.
     */
    function drawSites(ctx, range) {
      var n = ts.length, a = Math.max(0, range[0] - 1), b = range[1];
      var base = new Float64Array(n);
      var end = function (i) { return i < 0 ? 0 : i < n ? ts[i] + width : full.t1; };
      var Y = function (v) { return yOf(v); };
      siteTop.forEach(function (st) {
        var v = st.values, at = function (arr2, i) { return i < 0 ? 0 : arr2[i]; };
        var top = function (i) { return at(base, i) + at(v, i); };
        var color = cssVar(st.color), i;
        st.swatch.style.background = color;
        ctx.beginPath();
        ctx.moveTo(X(end(a - 1)), Y(top(a - 1)));
        for (i = a; i < b; i++) { ctx.lineTo(X(end(i)), Y(top(i - 1))); ctx.lineTo(X(end(i)), Y(top(i))); }
        ctx.lineTo(X(end(b)), Y(top(b - 1)));
        ctx.lineTo(X(end(b)), Y(at(base, b - 1)));
        for (i = b - 1; i >= a; i--) { ctx.lineTo(X(end(i)), Y(at(base, i))); ctx.lineTo(X(end(i)), Y(at(base, i - 1))); }
        ctx.lineTo(X(end(a - 1)), Y(at(base, a - 1)));
        ctx.closePath();
        ctx.globalAlpha = 0.55;
        ctx.fillStyle = color;
        ctx.fill();
        ctx.globalAlpha = 1;
        for (i = Math.max(0, a - 1); i < b; i++) base[i] += v[i];
      });
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
      if (picking && (ev.shiftKey || rangeMode) && ev.button === 0) {
        var t = Math.max(full.t0, Math.min(full.t1, T(localX(ev))));
        sweep = { a: t, b: t };
        canvas.setPointerCapture(ev.pointerId);
        ev.preventDefault();
        return;
      }
      drag = { x: localX(ev), t0: view.t0, t1: view.t1 };
      canvas.setPointerCapture(ev.pointerId);
      canvas.classList.add('dragging');
    });
    canvas.addEventListener('pointerup', function (ev) {
      if (sweep) {
        var s = sweep;
        sweep = null;
        if (canvas.hasPointerCapture(ev.pointerId)) canvas.releasePointerCapture(ev.pointerId);
        if (Math.abs(X(s.b) - X(s.a)) >= 3) pick(s.a, s.b); else draw();
        return;
      }
      drag = null;
      canvas.classList.remove('dragging');
      if (canvas.hasPointerCapture(ev.pointerId)) canvas.releasePointerCapture(ev.pointerId);
    });
    canvas.addEventListener('pointermove', function (ev) {
      var x = localX(ev);
      if (sweep) {
        sweep.b = Math.max(full.t0, Math.min(full.t1, T(x)));
        hideTip(); hoverX = null; draw();
        return;
      }
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
        if (showSites) {
          lines.push('at the end of the interval, top sites:');
          siteTop.forEach(function (st) { lines.push('  ' + st.label + ': ' + bytes(st.values[i])); });
        }
      }
      if (has(S.peak_at_ns) && Math.abs(X(S.peak_at_ns) - x) < 4) lines.push('peak: ' + bytes(S.peak_live_bytes) + ' (' + exactBytes(S.peak_live_bytes) + ')');
      showTip(lines.join('\n'), cx, cy);
      draw();
    }
    /** Picks the range [a, b] (ns), snapped to timeline points, and lists its sites under the chart. */
    function pick(a, b) {
      picked = snapRange(a, b);
      draw();
      rangeView.show(picked);
    }
    timelineApi.pick = pick;
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
  var timelineApi = { select: function () {}, pick: function () {} };
