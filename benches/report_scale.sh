#!/usr/bin/env bash
# The HTML report at scale: records about EVENTS events (default 10,000,000)
# with examples/churn.rs (two threads replacing random blocks; every 1024th
# block tracked), exports it with `memscope html`, and prints the report's
# size and the time until it is interactive in headless Chromium (navigation
# start to the report's `memscope-ready` mark; median of 5 loads).
#
#   benches/report_scale.sh [EVENTS]
#
# Targets (issue 4): at most 5 MB, interactive in under 2 s. Needs
# /usr/bin/chromium and `npm ci` in tests/browser. Exits 1 when a target is
# missed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
events=${1:-10000000}
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/memscope"
mkdir -p "$out"

cargo build --release --locked --quiet --bin memscope --example churn
[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund)

"$target/release/examples/churn" "$events" "$out/scale.memscope"
start=$(date +%s%N)
"$target/release/memscope" html "$out/scale.memscope" -o "$out/scale.html"
export_ms=$(( ($(date +%s%N) - start) / 1000000 ))
"$target/release/memscope" info "$out/scale.memscope" | grep -E '^  (file size|duration) |^  events '

bytes=$(stat -c %s "$out/scale.html")
echo "memscope html: ${export_ms} ms (replay and export)"
echo "report size: ${bytes} bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }') MiB) in $out/scale.html"
measure=$(node tests/browser/measure.js "$out/scale.html" 5)
echo "$measure"
median=$(sed -n 's/^median: \([0-9]*\) ms.*/\1/p' <<<"$measure")

status=0
if [ "$bytes" -gt 5000000 ]; then
  echo "MISSED: the report is larger than 5 MB" >&2
  status=1
fi
if [ "$median" -ge 2000 ]; then
  echo "MISSED: interactive after 2 s or more" >&2
  status=1
fi
exit $status
