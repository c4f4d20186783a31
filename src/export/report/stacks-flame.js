  // ------------------------------------------------ call stacks: flame graph

  /**
   * An icicle flame graph of a call tree (buildTree): the root on top, each
   * function a bar as wide as its share of its parent, callees below. DOM
   * bars placed in percent of the width, so a resize costs nothing. Bars
   * narrower than a pixel are merged into one hatched bar per parent; at most
   * FLAME_CAP bars are drawn, the shallowest first.
   *
   * `o`: id, metrics ([{label, unit}] matching the tree's value arrays),
   * label (what the whole is called), onPick(node) (optional, a double-click
   * or Enter+Shift: e.g. show the function elsewhere).
   * Returns { element, setTree(tree), setMetric(i), search(text), zoom(node),
   * zoomToPath(nodes) }.
   */
  var FLAME_CAP = 3000, FLAME_ROW = 18;
  function flameGraph(o) {
    var tree = null, focus = null, metric = 0, query = '', focusEl = null;
    var crumbs = h('div', { class: 'flame-crumbs', id: o.id + '-crumbs', 'aria-label': 'Zoomed into' });
    var reset = h('button', { type: 'button', class: 'btn', id: o.id + '-reset', disabled: true, onclick: function () { zoom(null); } }, 'Reset zoom');
    var status = h('span', { class: 'muted small', id: o.id + '-status', 'aria-live': 'polite' });
    var box = h('div', { class: 'flame', id: o.id, role: 'tree', 'aria-label': o.label + ': a flame graph (icicle), callers above callees. Arrow keys move, Enter zooms in, Escape zooms out.' });
    var note = h('p', { class: 'muted small', id: o.id + '-note' });
    var element = h('div', { class: 'flame-wrap' }, h('div', { class: 'toolbar' }, reset, crumbs, status), h('div', { class: 'flame-scroll' }, box), note);

    function unit() { return o.metrics[metric].unit; }
    function fmt(v) { return unit() === 'bytes' ? bytes(v) : int(v); }
    function exact(v) { return unit() === 'bytes' ? exactBytes(v) : int(v); }
    function share(v, of) { return of > 0 ? (v / of * 100).toFixed(v / of >= 0.1 ? 1 : 2) + '%' : '—'; }
    function colorOf(name) {
      if (isStandIn(name)) return isDark() ? 'hsl(220, 8%, 38%)' : 'hsl(220, 10%, 78%)';
      if (isUnresolved(name)) return isDark() ? 'hsl(220, 12%, 46%)' : 'hsl(220, 14%, 68%)';
      // warm hues by crate (the first path segment), lightness by function
      var m = /^<?([A-Za-z_][A-Za-z0-9_]*)/.exec(name), crate = m ? m[1] : name, hc = 0, hf = 0, i;
      for (i = 0; i < crate.length; i++) hc = (hc * 31 + crate.charCodeAt(i)) >>> 0;
      for (i = 0; i < name.length; i++) hf = (hf * 33 + name.charCodeAt(i)) >>> 0;
      var plumbing = isPlumbing(name);
      var hue = plumbing ? 35 + hc % 20 : (hc % 55) + (hc % 2 ? 0 : 330) % 360;
      var light = (isDark() ? 38 : 62) + (hf % 12);
      return 'hsl(' + (hue % 360) + ', ' + (plumbing ? 45 : 78) + '%, ' + light + '%)';
    }

    function draw() {
      clear(box);
      focusEl = null;
      box.dataset.total = String(tree ? tree.v[metric] : 0);
      box.dataset.view = box.dataset.total;
      if (!tree || !(tree.v[metric] > 0)) {
        add(box, empty(tree ? 'Nothing to show: no site has any ' + o.metrics[metric].label + '.' : ''));
        box.style.height = '';
        status.textContent = '';
        return;
      }
      var top = focus || tree, total = tree.v[metric], whole = top.v[metric];
      var W = Math.max(320, box.clientWidth || 960);
      drawnW = box.clientWidth;
      var frag = document.createDocumentFragment(), drawn = 0, merged = 0, hidden = 0, maxDepth = 0;
      // the path to the zoomed node: full-width bars above it
      var chain = [];
      for (var a = top; a; a = a.parent) chain.unshift(a);
      chain.forEach(function (n, row) {
        frag.appendChild(bar(n, 0, 100, row, n !== top));
      });
      var base = chain.length - 1;
      var queue = [[top, 0, whole]];
      for (var qi = 0; qi < queue.length; qi++) {
        var item = queue[qi], node = item[0], left = item[1];
        var kids = node.children.filter(function (c) { return c.v[metric] > 0; }).sort(function (x, y) { return y.v[metric] - x.v[metric] || (x.name < y.name ? -1 : 1); });
        var x = left, rest = 0, restCount = 0, restAt = -1;
        for (var i = 0; i < kids.length; i++) {
          var c = kids[i], wPct = c.v[metric] / whole * 100;
          if (wPct / 100 * W < 1 || drawn >= FLAME_CAP) {
            if (restAt < 0) restAt = x;
            rest += c.v[metric];
            restCount++;
            if (drawn >= FLAME_CAP) hidden += countNodes(c); else merged += countNodes(c);
          } else {
            var depth = c.depth - top.depth + base;
            frag.appendChild(bar(c, x, wPct, depth, false));
            drawn++;
            maxDepth = Math.max(maxDepth, depth);
            queue.push([c, x, whole]);
          }
          x += wPct;
        }
        if (restCount && rest / whole * W >= 1) {
          var d = node.depth - top.depth + base + 1;
          var other = h('div', { class: 'fnode other', role: 'none', dataset: { depth: d, value: rest, count: restCount } });
          other.style.left = restAt + '%';
          other.style.width = (rest / whole * 100) + '%';
          other.style.top = (d * FLAME_ROW) + 'px';
          other._other = { count: restCount, value: rest, parent: node };
          frag.appendChild(other);
          maxDepth = Math.max(maxDepth, d);
        }
      }
      box.appendChild(frag);
      box.style.height = ((maxDepth + 1) * FLAME_ROW + 2) + 'px';
      box.dataset.total = String(total);
      box.dataset.view = String(whole);
      box.dataset.metric = o.metrics[metric].key || String(metric);
      box.dataset.drawn = String(drawn);
      var words = [fmt(whole) + ' ' + o.metrics[metric].label + (focus ? ' in ' + focus.name + ' (' + share(whole, total) + ' of ' + fmt(total) + ')' : ' in all')];
      status.textContent = words.join('');
      var notes = [];
      if (merged) notes.push(plural(merged, 'function call narrower than a pixel is', 'function calls narrower than a pixel are') + ' merged into hatched bars');
      if (hidden) notes.push(plural(hidden, 'more call is', 'more calls are') + ' not drawn (the first ' + int(FLAME_CAP) + ' are): click a bar to zoom in');
      note.textContent = notes.length ? notes.join('; ') + '.' : 'Hover a bar for its figures, click it to zoom in; the bars above a zoomed bar (or Reset zoom, or Escape) zoom back out.';
      drawCrumbs();
      applySearch();
      var first = box.querySelector('.fnode:not(.other):not(.ancestor)') || box.querySelector('.fnode:not(.other)');
      if (first) first.tabIndex = 0;
    }
    function countNodes(n) { var c = 1; n.children.forEach(function (k) { c += countNodes(k); }); return c; }
    function bar(n, left, width, row, ancestor) {
      var e = h('div', { class: 'fnode' + (ancestor ? ' ancestor' : '') + (n.parent ? '' : ' root'), role: 'treeitem', tabindex: '-1',
        'aria-level': String(n.depth + 1), dataset: { depth: row, value: n.v[metric] } }, n.parent ? n.name : o.label);
      e.style.left = left + '%';
      e.style.width = width + '%';
      e.style.top = (row * FLAME_ROW) + 'px';
      if (n.parent) e.style.background = colorOf(n.name);
      e.setAttribute('aria-label', (n.parent ? n.name : o.label) + ': ' + fmt(n.v[metric]));
      e._node = n;
      return e;
    }
    function drawCrumbs() {
      clear(crumbs);
      reset.disabled = !focus;
      if (!focus) return;
      var chain = [];
      for (var a = focus; a; a = a.parent) chain.unshift(a);
      chain.forEach(function (n, i) {
        if (i) add(crumbs, h('span', { class: 'muted' }, ' › '));
        add(crumbs, i === chain.length - 1 ? h('span', { class: 'crumb-here' }, n.name)
          : h('button', { type: 'button', class: 'link', onclick: function () { zoom(n.parent ? n : null); } }, n.parent ? n.name : o.label));
      });
    }
    function tipText(n) {
      var total = tree.v[metric], lines = [n.parent ? n.name : o.label];
      n.at.slice(0, 3).forEach(function (f) { var l = frameLoc(f, false); if (l) lines.push('  at ' + l + (f.inlined ? ' (inlined)' : '')); });
      if (n.at.length > 3) lines.push('  and ' + plural(n.at.length - 3, 'more place', 'more places'));
      lines.push(o.metrics[metric].label + ': ' + fmt(n.v[metric]) + (unit() === 'bytes' ? ' (' + exact(n.v[metric]) + ')' : ''));
      lines.push(share(n.v[metric], total) + ' of all' + (focus && focus !== n ? ', ' + share(n.v[metric], focus.v[metric]) + ' of ' + focus.name : ''));
      if (n.self[metric] > 0) lines.push('allocated here (self): ' + fmt(n.self[metric]));
      lines.push(plural(n.sites, 'site', 'sites'));
      return lines.join('\n');
    }
    function zoom(n) {
      focus = n && n.parent ? n : null;
      draw();
      var target = box.querySelector('.fnode:not(.ancestor):not(.other)');
      if (target && box.contains(document.activeElement)) target.focus();
    }
    function applySearch() {
      var q = query.trim().toLowerCase();
      box.classList.toggle('searching', !!q);
      var matched = 0;
      box.querySelectorAll('.fnode').forEach(function (e) {
        var hit = !!(q && e._node && e._node.parent && e._node.name.toLowerCase().indexOf(q) >= 0);
        e.classList.toggle('match', hit);
      });
      if (!q || !tree) { delete box.dataset.matched; return; }
      // the value under matching functions, each counted once (not again under a matching caller)
      var top = focus || tree;
      (function walk(n) {
        if (n.parent && n.name.toLowerCase().indexOf(q) >= 0) { matched += n.v[metric]; return; }
        n.children.forEach(walk);
      })(top);
      box.dataset.matched = String(matched);
      status.textContent += ' · matching “' + query.trim() + '”: ' + fmt(matched) + ' (' + share(matched, top.v[metric]) + ')';
    }

    box.addEventListener('mousemove', function (ev) {
      var e = ev.target.closest('.fnode');
      if (!e) { hideTip(); return; }
      if (e._other) showTip(plural(e._other.count, 'call', 'calls') + ' of ' + (e._other.parent.parent ? e._other.parent.name : o.label) + ' narrower than a pixel\n' +
        o.metrics[metric].label + ': ' + fmt(e._other.value) + '\nzoom into ' + (e._other.parent.parent ? e._other.parent.name : 'a caller') + ' to see them', ev.clientX, ev.clientY);
      else showTip(tipText(e._node), ev.clientX, ev.clientY);
    });
    box.addEventListener('mouseleave', hideTip);
    box.addEventListener('click', function (ev) {
      var e = ev.target.closest('.fnode');
      if (!e || !e._node) return;
      zoom(e._node === (focus || tree) ? e._node.parent : e._node);
    });
    box.addEventListener('dblclick', function (ev) {
      var e = ev.target.closest('.fnode');
      if (e && e._node && e._node.parent && o.onPick) o.onPick(e._node);
    });
    box.addEventListener('focusin', function (ev) {
      var e = ev.target.closest('.fnode');
      if (!e || !e._node) return;
      if (focusEl && focusEl !== e) focusEl.tabIndex = -1;
      focusEl = e;
      e.tabIndex = 0;
      var r = e.getBoundingClientRect();
      showTip(tipText(e._node), r.left + Math.min(r.width, 40), r.bottom);
    });
    box.addEventListener('focusout', hideTip);
    box.addEventListener('keydown', function (ev) {
      var e = ev.target.closest('.fnode');
      if (!e || !e._node) return;
      var n = e._node, target = null, handled = true;
      var els = Array.from(box.querySelectorAll('.fnode')).filter(function (x) { return x._node; });
      var find = function (node) { return els.find(function (x) { return x._node === node; }) || null; };
      var row = function (d) { return els.filter(function (x) { return Number(x.dataset.depth) === d; }); };
      switch (ev.key) {
        case 'ArrowUp': target = n.parent ? find(n.parent) : null; break;
        case 'ArrowDown': target = row(Number(e.dataset.depth) + 1).filter(function (x) { return x._node.parent === n; })[0] || null; break;
        case 'ArrowLeft': case 'ArrowRight': {
          var same = row(Number(e.dataset.depth)), i = same.indexOf(e);
          target = same[i + (ev.key === 'ArrowLeft' ? -1 : 1)] || null;
          break;
        }
        case 'Enter': case ' ':
          if (ev.shiftKey && o.onPick && n.parent) o.onPick(n);
          else zoom(n === (focus || tree) ? n.parent : n);
          break;
        case 'Escape':
          if (focus) { zoom(focus.parent); ev.stopPropagation(); } else handled = false;
          break;
        default: handled = false;
      }
      if (target) target.focus();
      if (handled) ev.preventDefault();
    });
    // Bars are placed in percent; only which bars are wide enough to draw
    // depends on the width, so redraw when it changes by more than a little.
    var drawnW = 0;
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(function () { var w = box.clientWidth; if (tree && w && Math.abs(w - drawnW) > 40) draw(); }).observe(box);
    }

    return {
      element: element,
      setTree: function (t) { tree = t; focus = null; draw(); },
      setMetric: function (i) { metric = i; if (focus && !(focus.v[metric] > 0)) focus = null; draw(); },
      search: function (text) { query = text; draw(); },
      zoom: zoom,
      /** Zooms to the deepest node of `path` (outermost first) that is drawn at its current metric. */
      zoomToPath: function (path) {
        var n = null;
        for (var i = 0; i < path.length && path[i].v[metric] > 0; i++) n = path[i];
        zoom(n);
        element.scrollIntoView({ block: 'nearest' });
      },
      tree: function () { return tree; }
    };
  }
