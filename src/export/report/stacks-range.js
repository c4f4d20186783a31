  // ------------------------------------------- call stacks: a range of time

  // memray's temporal flame graph, from exact figures: a site's timeline
  // gives its allocated bytes so far and its live bytes at the end of every
  // timeline point, so the difference between two points is exactly what it
  // allocated in between. The range picked on the timeline is widened to
  // whole intervals for that.

  var RANGE_METRICS = [
    { key: 'allocated', label: 'allocated in range', unit: 'bytes' },
    { key: 'allocations', label: 'allocations in range', unit: 'count' },
    { key: 'live', label: 'live at range end', unit: 'bytes' }
  ];
  var rangeView = { show: function () {} };

  /** The panel under the timeline that lists what happened in the picked range (empty until one is picked). */
  function renderRangePanel() {
    var panel = h('div', { id: 'range-panel', class: 'range-panel', 'aria-live': 'polite' });
    panel.hidden = true;
    var title = h('h3', { id: 'range-title' }, 'Selected range');
    var summary = h('p', { id: 'range-summary' });
    var clearBtn = h('button', { type: 'button', class: 'btn', id: 'range-clear', onclick: function () { rangeView.onClear(); } }, 'Clear the range');
    var metricSel = h('select', { id: 'range-metric', 'aria-label': 'Figure the range flame graph adds up' });
    RANGE_METRICS.forEach(function (m, i) { add(metricSel, h('option', { value: String(i) }, m.label)); });
    var tableBox = h('div', { id: 'range-table-box' });
    var flame = flameGraph({ id: 'range-flame', label: 'all sites in the range', metrics: RANGE_METRICS, onPick: function (n) { stackViews.showFunction(n.name); } });
    add(panel, [h('div', { class: 'toolbar' }, title, clearBtn), summary, tableBox,
      h('div', { class: 'toolbar' }, h('b', null, 'Flame graph of the range'), h('label', null, 'Figure', metricSel)), flame.element]);
    metricSel.addEventListener('change', function () { flame.setMetric(Number(metricSel.value)); });

    rangeView.onClear = function () {};
    rangeView.show = function (sel) {
      if (!sel) { panel.hidden = true; return; }
      var rows = rangeRows(sel.from, sel.to);
      var shown = rows.filter(function (x) { return x.allocated > 0 || x.live > 0; });
      var allocated = 0, allocating = 0, live = 0, living = 0;
      shown.forEach(function (x) {
        if (x.allocated > 0) { allocating++; allocated += x.allocated; }
        if (x.live > 0) { living++; live += x.live; }
      });
      panel.dataset.from = String(sel.from);
      panel.dataset.to = String(sel.to);
      panel.dataset.t0 = String(sel.t0);
      panel.dataset.t1 = String(sel.t1);
      panel.dataset.ta = String(sel.tA);
      panel.dataset.tb = String(sel.tB);
      panel.dataset.allocating = String(allocating);
      panel.dataset.living = String(living);
      title.textContent = 'Selected range: ' + dur(sel.t0) + ' – ' + dur(sel.t1);
      clear(summary);
      var untimed = siteRows.filter(function (r) { return !r.hasTimeline; }).length;
      add(summary, [
        'From ', h('b', { title: exactNs(sel.t0) }, dur(sel.t0)), ' to ', h('b', { title: exactNs(sel.t1) }, dur(sel.t1)),
        ' (the picked ' + dur(sel.tA) + ' – ' + dur(sel.tB) + ', widened to whole timeline intervals, where the figures are exact): ',
        h('b', null, plural(allocating, 'site', 'sites')), ' allocated ', h('b', null, bytes(allocated)), ' in it; ',
        h('b', null, plural(living, 'site', 'sites')), ' held ', h('b', null, bytes(live)), ' live at its end.',
        untimed ? ' ' + plural(untimed, 'listed site has', 'listed sites have') + ' no timeline in the JSON (only the first ' + int(SITE_TIMELINES) + ' do) and ' + (untimed === 1 ? 'is' : 'are') + ' left out.' : ''
      ]);
      var table = sortableTable(siteColumns([
        { key: 'allocated', label: 'allocated in range', num: true, value: function (x) { return x.allocated; }, cell: function (x) { return qty('bytes', x.allocated, 'range.allocated'); } },
        { key: 'allocations', label: 'allocations in range', num: true, value: function (x) { return x.allocations; }, cell: function (x) { return qty('count', x.allocations, 'range.allocations'); } },
        { key: 'live', label: 'live at range end', num: true, value: function (x) { return x.live; }, cell: function (x) { return qty('bytes', x.live, 'range.live'); } }
      ]), shown, { cap: SITE_CAP, noun: 'site', nouns: 'sites', sortKey: 'allocated', sortDir: -1, onOpen: function (x, tr) { openSite(x.r, tr); } });
      table.table.id = 'range-table';
      add(clear(tableBox), table.element);
      var byRow = new Map();
      shown.forEach(function (x) { byRow.set(x.r, [x.allocated, x.allocations, x.live]); });
      panel.hidden = false;
      flame.setTree(buildTree(shown.map(function (x) { return x.r; }), function (r) { return byRow.get(r); }, RANGE_METRICS.length));
    };
    return panel;
  }
