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
    [LIVE_WORD, 'freed', 'shared', 'no heap', 'unlinked'].forEach(function (s) { add(stateSel, h('option', { value: s, title: STATE_TITLES[s] }, s)); });
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

  // ----------------------------------------------------- variable inspector

  var VAR_TABS = [['overview', 'Overview'], ['lifetime', 'Lifetime'], ['sharing', 'Sharing'], ['foreign', 'Foreign memory'], ['suggestions', 'Suggestions']];

  function varButton(id) {
    var v = varById.get(id);
    if (!v) return h('span', { class: 'muted' }, 'variable #' + id + ' (not listed)');
    return h('button', { type: 'button', class: 'link', onclick: function () { openInspector(v, null); } }, varLabel(v));
  }

  function openInspector(v, fromRow) {
    var fill = [inspectOverview, inspectLifetime, inspectSharing, inspectForeign, inspectSuggestions];
    showInspector({
      kind: 'variable', id: v.id, fromRow: fromRow, title: String(v.name),
      sub: [h('span', { class: 'mono' }, String(v.type)), ' · ', stateBadges(v)],
      tabs: VAR_TABS.map(function (t, i) { return [t[0], t[1], function () { return fill[i](v); }]; }),
      onClose: function () { timelineApi.select(null); }
    });
    timelineApi.select(v);
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
        v.regions_truncated ? ['allocations past the bound', ['more than ' + int(arr(v.allocations).length) + ' heap allocations: only these are linked; ', qty('bytes', v.unlinked_bytes), ' in the others are counted in the size, not linked']] : null,
        !v.regions_truncated && num(v.unlinked_bytes) > 0 ? ['not linked', [qty('bytes', v.unlinked_bytes), ' reported without an address']] : null,
        ['state', stateBadges(v)],
        ['freed', has(v.freed_at_ns) ? qty('ns', v.freed_at_ns) : (v.state === 'live' ? (LEAKS ? (AT_EXIT ? 'never: live at process exit (leaked)' : 'never: live at the end (a leak, as the program asked)') : 'not before the recording ended (live at the end)') : '—')],
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
    var tracked = allocs.some(function (a) { return arr(a.history).some(function (e) { return e.kind === 'tracked'; }); });
    add(out, h('p', { class: 'muted small' }, key('allocation'), key('reallocation'), key('deallocation'), tracked ? key('tracked') : null));
    if (tracked) add(out, h('p', { class: 'muted small' }, '"tracked": the allocation was reallocated before this variable named it; its size then (the steps before were not followed).'));
    allocs.forEach(function (a, i) {
      var lane = h('div', { class: 'lane', role: 'group', 'aria-label': 'allocation ' + (i + 1) });
      var span = h('div', { class: 'span', title: 'allocation ' + String(a.ptr_hex) + ' from its allocation to ' + (has(a.freed_at_ns) ? 'its deallocation' : 'the end (live at the end)') + '; ' + exactBytes(num(a.size)) + (has(a.freed_at_ns) ? ' when deallocated' : ' at the end') + ' (the marks give each step\'s size)' });
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
