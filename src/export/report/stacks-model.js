  // ---------------------------------------------------- call stacks: the data

  // `stacks`, `frames` and `sites` (docs/JSON.md). A site's `frames` are
  // indices into `frames`, innermost first: frames[0] made the allocation.
  // Everything below reads the figures as the replay wrote them; the views
  // only add them up (a flame node is the sum of the sites under it).

  var stackInfo = data.stacks && typeof data.stacks === 'object' ? data.stacks : null;
  var frameList = arr(data.frames);
  var siteList = arr(data.sites);
  var hasStacks = !!(stackInfo && stackInfo.recorded && siteList.length);
  /** Sites after the first 500 listed carry no timeline (docs/JSON.md). */
  var SITE_TIMELINES = 500;

  /** The figures the flame graph and the bottom-up table add up, one at a time. */
  var METRICS = [
    { key: 'peak_bytes', label: 'peak bytes', unit: 'bytes', title: 'bytes live at the global peak (summary.peak_at_ns)' },
    { key: 'live_bytes_end', label: 'live at end', unit: 'bytes', title: 'bytes still live when the recording ended' },
    { key: 'allocated_bytes', label: 'allocated bytes', unit: 'bytes', title: 'bytes allocated, new sizes of reallocations included' },
    { key: 'allocations', label: 'allocations', unit: 'count', title: 'allocation calls' },
    { key: 'temporary', label: 'temporary allocations', unit: 'count', title: 'allocations freed before their thread’s next allocation' }
  ];

  var MISSING_FRAME = { function: '[missing frame]', file: null, line: 0, column: 0, inlined: false };
  function frameAt(i) { var f = frameList[i]; return f && typeof f === 'object' ? f : MISSING_FRAME; }
  function fnName(f) { return f.function === null || f.function === undefined ? '[unknown]' : String(f.function); }
  /** `file:line` (and `:column` when asked and known), or the module's file name, or ''. */
  function frameLoc(f, column) {
    if (f.file) return String(f.file) + (num(f.line) ? ':' + f.line + (column && num(f.column) ? ':' + f.column : '') : '');
    if (f.module) return String(f.module).split('/').pop();
    return '';
  }
  /** A frame memscope stands in for an unknown part: [truncated], [no stacks], [unknown], [stack table full]. */
  function isStandIn(name) { return name.charAt(0) === '[' && name.charAt(name.length - 1) === ']'; }
  /** An address symbolization could not resolve: `libfoo.so+0x1a2b` or `0x55d0c0a1b2c3`. */
  function isUnresolved(name) { return /^0x[0-9a-f]+$/i.test(name) || /\+0x[0-9a-f]+$/i.test(name); }
  /**
   * Allocation plumbing: the standard library's and hashbrown's collection
   * internals and the allocator entry points. A site is named by its
   * innermost frame that is not plumbing (heaptrack and memray do the same),
   * so `Vec::push` inside `parse` shows as `parse`.
   */
  var PLUMBING = /^<?(&(mut )?)?(dyn )?(alloc|core|std|hashbrown|memscope|__rustc)::|^(__rust_|__rdl_|__rg_|_?malloc$|_?calloc$|_?realloc$|_?free$|operator new)/;
  function isPlumbing(name) { return PLUMBING.test(name); }

  /** Each listed site with its frames resolved, named, and searchable. */
  var siteRows = siteList.map(function (s, i) {
    var idx = arr(s.frames);
    var fr = idx.map(frameAt);
    var names = fr.map(fnName);
    var main = 0;
    for (var k = 0; k < names.length; k++) {
      if (!isPlumbing(names[k]) && names[k] !== '[truncated]') { main = k; break; }
    }
    if (!names.length) { fr = [{ function: '[unknown]', file: null }]; names = ['[unknown]']; idx = [-1]; }
    return {
      s: s, index: i, id: s.id, frames: fr, frameIdx: idx, names: names, main: main,
      hay: names.join('\n').toLowerCase(),
      hasTimeline: i < SITE_TIMELINES || arr(s.timeline).length > 0
    };
  });
  var siteRowById = new Map();
  siteRows.forEach(function (r) { siteRowById.set(r.id, r); });
  function siteName(r) { return r.names[r.main]; }
  function siteLabel(r) { return siteName(r) + ' (site #' + r.id + ')'; }

  // ------------------------------------------------------ the call tree

  /**
   * Merges the stacks of `rows` outermost first into a tree of functions.
   * `values(row)` gives the row's figures (one per metric); a node holds the
   * sums over the sites under it (`v`), over those it allocated itself
   * (`self`), the sites (`sites`) and up to 8 frames it stands for (`at`,
   * for file:line).
   */
  function buildTree(rows, values, k) {
    var zero = function () { var a = new Array(k); for (var i = 0; i < k; i++) a[i] = 0; return a; };
    var root = { name: 'all', depth: 0, v: zero(), self: zero(), kids: new Map(), children: [], parent: null, sites: 0, at: [] };
    rows.forEach(function (r) {
      var val = values(r);
      var node = root;
      addTo(node, r, val, -1);
      for (var j = r.names.length - 1; j >= 0; j--) {
        var name = r.names[j];
        var next = node.kids.get(name);
        if (!next) {
          next = { name: name, depth: node.depth + 1, v: zero(), self: zero(), kids: new Map(), children: [], parent: node, sites: 0, at: [] };
          node.kids.set(name, next);
          node.children.push(next);
        }
        node = next;
        addTo(node, r, val, j);
      }
      for (var m = 0; m < k; m++) node.self[m] += val[m];
    });
    function addTo(node, r, val, j) {
      for (var m = 0; m < k; m++) node.v[m] += val[m];
      node.sites++;
      if (j >= 0 && node.at.length < 8 && node.at.indexOf(r.frames[j]) < 0) node.at.push(r.frames[j]);
    }
    return root;
  }
  /** The node path (root excluded) of a site's stack in a tree, outermost first, as far as it exists. */
  function pathOf(tree, r) {
    var out = [], node = tree;
    for (var j = r.names.length - 1; j >= 0 && node; j--) {
      node = node.kids.get(r.names[j]);
      if (node) out.push(node);
    }
    return out;
  }

  // ------------------------------------------------------ bottom-up by function

  /**
   * Per function: `self`, the figures of the sites where it is frames[0],
   * and `total`, of the sites where it appears anywhere (once per site
   * however often it recurses). `rows` as in buildTree.
   */
  function functionTotals(rows, values, k) {
    var byName = new Map();
    var zero = function () { var a = new Array(k); for (var i = 0; i < k; i++) a[i] = 0; return a; };
    rows.forEach(function (r) {
      var val = values(r), seen = new Set();
      r.names.forEach(function (name, j) {
        var f = byName.get(name);
        if (!f) { f = { name: name, self: zero(), total: zero(), sites: 0, frame: r.frames[j] }; byName.set(name, f); }
        if (j === 0) for (var m = 0; m < k; m++) f.self[m] += val[m];
        if (seen.has(name)) return;
        seen.add(name);
        f.sites++;
        for (var m2 = 0; m2 < k; m2++) f.total[m2] += val[m2];
      });
    });
    return Array.from(byName.values());
  }
  /**
   * The callers (the frame just outside) and callees (just inside) of
   * `name` over `rows`, each with the figures of the sites where that pair
   * appears, once per site.
   */
  function neighbours(rows, values, k, name) {
    var callers = new Map(), callees = new Map();
    var bump = function (map, other, val) {
      var e = map.get(other);
      if (!e) { var z = new Array(k); for (var i = 0; i < k; i++) z[i] = 0; e = { name: other, v: z, sites: 0 }; map.set(other, e); }
      for (var m = 0; m < k; m++) e.v[m] += val[m];
      e.sites++;
    };
    rows.forEach(function (r) {
      if (r.names.indexOf(name) < 0) return;
      var val = values(r), up = new Set(), down = new Set();
      for (var j = 0; j < r.names.length; j++) {
        if (r.names[j] !== name) continue;
        if (j + 1 < r.names.length) up.add(r.names[j + 1]);
        if (j > 0) down.add(r.names[j - 1]);
      }
      up.forEach(function (n) { bump(callers, n, val); });
      down.forEach(function (n) { bump(callees, n, val); });
    });
    return { callers: Array.from(callers.values()), callees: Array.from(callees.values()) };
  }

  // ------------------------------------------------------ sites over time

  /**
   * A site's value at the end of timeline point `i` (column 1: live bytes,
   * 2: allocated bytes so far, 3: allocations so far) from its sparse
   * timeline: the last entry at or before `i`, 0 before the first; i < 0 is
   * the start of the recording.
   */
  function siteAt(tl, i, col) {
    if (i < 0) return 0;
    var lo = 0, hi = tl.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (num(tl[m][0]) <= i) lo = m + 1; else hi = m; }
    return lo ? num(tl[lo - 1][col]) : 0;
  }
  /** A site's live bytes at the end of every timeline point. */
  function siteSeries(r, n) {
    var out = new Float64Array(n), tl = arr(r.s.timeline), j = 0, v = 0;
    for (var i = 0; i < n; i++) {
      while (j < tl.length && num(tl[j][0]) <= i) { v = num(tl[j][1]); j++; }
      out[i] = v;
    }
    return out;
  }
  /** The sites stacked on the timeline: the top 5 by peak bytes that have a timeline. */
  function topSites(n) {
    return siteRows.filter(function (r) { return r.hasTimeline && num(r.s.peak_bytes) > 0; })
      .sort(function (a, b) { return num(b.s.peak_bytes) - num(a.s.peak_bytes) || num(b.s.allocated_bytes) - num(a.s.allocated_bytes); })
      .slice(0, n);
  }
  /**
   * Snaps a time range [tA, tB] (ns) to timeline points: from the end of
   * point `from` (the last interval ending at or before tA; -1: the start)
   * to the end of point `to` (the last interval starting before tB). Returns
   * null when no interval is in between.
   */
  function snapRange(tA, tB) {
    var n = timeline.length;
    if (!n) return null;
    var w = num(timeline[0].width_ns), from = -1, to = -1;
    if (tB < tA) { var t = tA; tA = tB; tB = t; }
    for (var i = 0; i < n; i++) {
      var ts = num(timeline[i].ts_ns);
      if (ts + w <= tA) from = i;
      if (ts < tB) to = i;
    }
    if (to <= from) to = from + 1;
    if (to >= n) return null;
    return { from: from, to: to, t0: from < 0 ? 0 : num(timeline[from].ts_ns) + w, t1: num(timeline[to].ts_ns) + w, tA: tA, tB: tB };
  }
  /** What each site (with a timeline) did between the ends of points `from` and `to`. */
  function rangeRows(from, to) {
    var out = [];
    siteRows.forEach(function (r) {
      if (!r.hasTimeline) return;
      var tl = arr(r.s.timeline);
      out.push({
        r: r,
        allocated: siteAt(tl, to, 2) - siteAt(tl, from, 2),
        allocations: siteAt(tl, to, 3) - siteAt(tl, from, 3),
        live: siteAt(tl, to, 1)
      });
    });
    return out;
  }
