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
