// Time until a memscope report is interactive in headless Chromium: from
// navigation start to the `memscope-ready` performance mark, which the
// report sets once every section is drawn and its handlers are attached.
//
//   node tests/browser/measure.js REPORT.html [LOADS]
//
// Loads the report LOADS times (default 5), each in a new page, and prints
// each time and the median in ms. Exits 1 if the page logs an error or
// makes a request.
'use strict';

const { launch, openReport } = require('./lib');

async function main() {
  const [file, loadsArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node measure.js REPORT.html [LOADS]');
    process.exit(2);
  }
  const loads = Number(loadsArg || 5);
  const browser = await launch();
  const times = [];
  try {
    for (let i = 0; i < loads; i++) {
      const { page, problems } = await openReport(browser.context, file, { timeout: 60000 });
      const ms = await page.evaluate(() => performance.getEntriesByName('memscope-ready')[0].startTime);
      const bad = [...problems.console, ...problems.pageErrors, ...problems.requests];
      if (bad.length) throw new Error(`the report misbehaved: ${bad.join('; ')}`);
      times.push(ms);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`interactive after (ms): ${times.map((t) => t.toFixed(0)).join(', ')}`);
  console.log(`median: ${median.toFixed(0)} ms over ${loads} loads`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
