  // --------------------------------------------------------------- overview

  function renderAlerts() {
    var box = byId('alerts');
    if (SAMPLING) {
      add(box, h('div', { class: 'alert info loud', role: 'note', id: 'sampling-alert' },
        'ESTIMATED, sampling every ' + exactBytes(num(SAMPLING.interval_bytes)) + ' allocated (on average, per thread): ' +
        (SAMPLING.exact_totals ? 'the counts and bytes of calls and the live bytes are exact; ' : 'no Totals record, so even the totals are those of the samples; ') +
        'every per-site figure (call stacks, flame graph, functions) is an estimate, each sample weighted by 1/p, p = 1 − exp(−size / interval); the peak is the most bytes live at a drain round (a lower bound). ' +
        'Histograms and timelines are estimates too, from ' + int(num(SAMPLING.sampled && SAMPLING.sampled.total_allocations)) + ' sampled allocations; the leaks listed are samples, each with what it stands for. ' +
        'A site figure reads “≈ estimate ± one standard error”: the exact figure is within twice that in about 95% of recordings; sites with fewer than ' + FEW_SAMPLES + ' samples are greyed (rough).' +
        (num(SAMPLING.untracked_samples) > 0 ? ' ' + int(num(SAMPLING.untracked_samples)) + ' samples could not be tracked to their deallocation and count as live.' : '')));
    }
    if (num(S.lost_events) > 0) {
      add(box, h('div', { class: 'alert danger loud', role: 'alert', id: 'lost-events-alert' },
        '⚠ ' + int(S.lost_events) + ' EVENTS LOST: the recorder dropped them (full ring under on_full = "' + String(rec.on_full) +
        '"); counts of calls and bytes are lower bounds, and live bytes, the peak and what was live at the end are not known (a lost deallocation leaves its allocation counted live).'));
    }
    if (rec.end && rec.end.no_tracking_allocator) {
      add(box, h('div', { class: 'alert danger loud', role: 'alert', id: 'no-allocator-alert' },
        '⚠ NO ALLOCATION RECORDED: the global allocator was not memscope::TrackingAllocator when the recording started. Add ',
        h('code', null, '#[global_allocator] static A: memscope::TrackingAllocator = memscope::TrackingAllocator::system();'), '.'));
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
        h('b', null, 'Damaged file: '), int(rec.damage_count) + ' damaged stretch(es), ' + exactBytes(num(rec.damaged_bytes)) + ' skipped. Events in skipped bytes or in missing chunks are in no figure; a repeated chunk was replayed once, and a repaired header loses nothing. Each entry says what was found:', list));
    }
    var repairs = num(S.late_events) + num(S.address_conflicts) + num(S.size_mismatches);
    var what = int(num(S.late_events)) + ' late events, ' + int(num(S.address_conflicts)) + ' address conflicts, ' +
      int(num(S.size_mismatches)) + ' size mismatches';
    if (repairs > 0 && num(rec.version) >= 4) {
      // Version 4 orders events exactly (FORMAT.md, "Round record"): any repair means the file broke that guarantee.
      add(box, h('div', { class: 'alert warn', role: 'alert', id: 'ordering-alert' }, 'Ordering repairs: ' + what +
        '. A recording orders every event exactly, so these mean the file is damaged or was not written by memscope.'));
    } else if (repairs > 0) {
      // Before version 4 a reallocation had one stamp and watermarks were approximate: a healthy file can need repairs.
      add(box, h('div', { class: 'alert info', id: 'ordering-alert' }, 'Ordering repairs: ' + what +
        '. This file is format version ' + int(num(rec.version)) +
        ', whose event order is approximate (a reallocation racing another thread, a thread preempted between a stamp and its push); version 4 recordings need none.'));
    }
    if (onlyTracked) {
      add(box, h('div', { class: 'alert info' }, 'This report was made with --only-tracked: it holds the totals and the tracked variables and scopes, but no timeline, threads, largest live allocations or histograms.'));
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
      card(LEAKS ? (AT_EXIT ? 'Live at exit (leaks)' : 'Live at end (leaks, as asked)') : 'Live at end', f('bytes', 'live_bytes'), [sub('count', 'live_count', ''), ' allocations still live',
        num(S.lost_events) > 0 ? ' (not known: events lost)' : AT_EXIT ? ' when the process exited' : LEAKS ? ' when the recording ended' : ' when finish() was called; not leaks'], { danger: false }),
      card('Peak live' + (SAMPLING ? ' (at a drain round)' : ''), f('bytes', 'peak_live_bytes'), [sub('ns', 'peak_at_ns', 'first reached at ')]),
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
    fact('finished', rec.finished ? (rec.end && rec.end.ended_at_exit ? 'yes, at process exit' : 'yes') : 'NO');
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
