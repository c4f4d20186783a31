  // ------------------------------------------------------------------ start

  function renderFooter() {
    var pid = has(rec.pid) ? ' · process ' + rec.pid : '';
    byId('subtitle').textContent = 'report' + pid;
    document.title = 'memscope report' + pid;
    add(byId('footer'), 'Made by memscope from a recording of ' + bytes(num(rec.file_bytes)) + '. Every figure comes from the replay (the same document as `memscope json`, format_version ' +
      String(data.format_version) + (data.mode ? ', mode ' + String(data.mode) : '') + '). Times are since the recording started.');
  }

  var steps = [renderAlerts, renderOverview, renderTimeline, renderStacks, renderVariables, renderSuggestions, renderScopes, renderMemoryMap, renderHistograms, renderFooter];
  steps.forEach(function (step) {
    try {
      step();
    } catch (err) {
      add(byId('alerts'), h('p', { class: 'alert danger', role: 'alert' }, 'Part of this report could not be drawn (' + step.name + '): ' + String(err && err.message)));
      console.error(err);
    }
  });
  window.memscopeReady = true;
  document.documentElement.dataset.ready = 'true';
  if (window.performance && performance.mark) performance.mark('memscope-ready');
})();
