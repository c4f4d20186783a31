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
        add(out, h('p', { class: 'muted small' }, 'Allocations of tracked variables still live at the end' + (LEAKS ? (AT_EXIT ? ' of a recording that ended at process exit (leaked)' : ' (leaks, as the program asked)') : ' (held when the recording was finished; not leaks)') + ', grouped by type, one bar each.'));
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
    add(body, h('h3', null, LEAKS ? (AT_EXIT ? 'Largest allocations live at process exit (leaks)' : 'Largest allocations live at the end (leaks, as the program asked)') : 'Largest allocations live at the end (held when the recording was finished)'));
    if (!leaks.length) add(body, empty(onlyTracked ? 'Not in an --only-tracked report.' : 'None: every allocation was freed.'));
    else {
      var t = sortableTable([
        { key: 'ptr_hex', label: 'address', cls: 'name' },
        { key: 'size', label: 'size', num: true, cell: function (l) { return qty('bytes', l.size); } },
        { key: 'allocated_at_ns', label: 'allocated at', num: true, cell: function (l) { return qty('ns', l.allocated_at_ns); } },
        { key: 'thread', label: 'thread', cell: function (l) { return threadLabel(l.thread); } }
      ].concat(SAMPLING ? [
        { key: 'stands_for', label: 'stands for (estimate)', num: true, value: function (l) { return l.stands_for ? num(l.stands_for.bytes) : 0; },
          cell: function (l) { return l.stands_for ? ['≈ ', qty('bytes', l.stands_for.bytes), ' in ', int(num(l.stands_for.count)), ' allocations'] : '—'; } }
      ] : []), leaks, { noun: 'allocation', nouns: 'allocations', countSuffix: function () {
        return SAMPLING ? ' listed (the ' + int(leaks.length) + ' largest sampled allocations live at the end, of ' + int(num(S.live_count)) + ' allocations live)'
          : ' listed (the ' + int(leaks.length) + ' largest of ' + int(num(S.live_count)) + ' live at the end)';
      } });
      add(body, t.element);
    }
    if (foreign.length) add(body, [h('h3', null, 'Foreign memory regions'), foreignTable(foreign)]);
    if (handoffs.length) {
      var ht = sortableTable([
        { key: 'label', label: 'label', cls: 'name' },
        { key: 'ptr_hex', label: 'address', cls: 'mono' },
        { key: 'size', label: 'size', num: true, cell: function (x) { return qty('bytes', x.size); } },
        { key: 'at_ns', label: 'handed over at', num: true, cell: function (x) { return qty('ns', x.at_ns); } },
        { key: 'state', label: 'state', cell: function (x) { return x.state === 'live' ? LIVE_WORD : String(x.state); } },
        { key: 'thread', label: 'thread', cell: function (x) { return threadLabel(x.thread); } }
      ], handoffs, { noun: 'handoff', nouns: 'handoffs' });
      add(body, [h('h3', { id: 'handoffs' }, 'Allocations handed to foreign code'), ht.element]);
    }
  }

  // ------------------------------------------------------------- histograms

  function renderHistograms() {
    var body = byId('histograms-body');
    var measure = h('select', { id: 'hist-measure', 'aria-label': 'Bar height' }, h('option', { value: 'count' }, 'allocations'), h('option', { value: 'bytes' }, 'bytes'));
    add(body, h('div', { class: 'toolbar' }, h('label', null, 'Bar height', measure)));
    var grid = h('div', { class: 'hist-grid' });
    add(body, grid);
    var defs = [
      { key: 'size_histogram', title: 'Allocation sizes (reallocations at their new size)', unit: 'bytes', what: 'allocations and reallocations of', emptyText: 'No allocation in this recording.' },
      { key: 'lifetime_histogram', title: 'Lifetimes of freed allocations', unit: 'ns', what: 'freed allocations that lived', emptyText: 'No allocation was freed in this recording.' }
    ];
    function fmt(unit, v) { return unit === 'bytes' ? bytes(v) : dur(v); }
    function fmtExact(unit, v) { return unit === 'bytes' ? exactBytes(v) : exactNs(v); }
    function draw() {
      clear(grid);
      defs.forEach(function (d) {
        var buckets = arr(data[d.key]);
        var box = h('div', { id: d.key.replace('_', '-') }, h('h3', null, d.title + ' (log2 buckets)' + ESTIMATE));
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
