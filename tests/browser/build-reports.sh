#!/usr/bin/env bash
# Builds the reports the browser tests open, from real recordings of the
# examples: cargo runs each example with the recording's path as argument,
# then `memscope json` and `memscope html` export it.
#
#   tests/browser/build-reports.sh OUT_DIR
#
# OUT_DIR gets, for each NAME: NAME.memscope, NAME.json, NAME.html
#   demo      examples/report_demo.rs: every tracking feature
#   hostile   examples/hostile_names.rs: markup, quotes and non-ASCII in names
#   churn     examples/churn.rs, 5,000,000 events (over 2,000 tracked variables)
#   lost      examples/churn.rs --drop: events lost under OnFull::Drop
#   cut       demo.memscope cut to two thirds (no End record; exit status 3)
# and demo-tracked.html / demo-tracked.json (--only-tracked), and from
# stacks-fixture.js (a made-up document with call stacks, in demo.html's page):
#   stacks    30 sites on 3 threads: nested, truncated, inlined, unresolved, hostile
#   nostacks  a recording without call stacks
set -euo pipefail
out=${1:?usage: build-reports.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"

run_example() {
  local name=$1
  shift
  cargo run --release --locked --quiet --example "$name" -- "$@" >"$out/$name.log"
}
cargo build --release --locked --quiet --bin memscope --example report_demo --example hostile_names --example churn
memscope="${CARGO_TARGET_DIR:-$root/target}/release/memscope"

run_example report_demo "$out/demo.memscope"
run_example hostile_names "$out/hostile.memscope"
run_example churn 5000000 "$out/churn.memscope"
run_example churn --drop 400000 "$out/lost.memscope"
for name in demo hostile churn lost; do
  "$memscope" json "$out/$name.memscope" -o "$out/$name.json"
  "$memscope" html "$out/$name.memscope" -o "$out/$name.html"
done
"$memscope" json --only-tracked "$out/demo.memscope" -o "$out/demo-tracked.json"
"$memscope" html --only-tracked "$out/demo.memscope" -o "$out/demo-tracked.html"

node "$root/tests/browser/stacks-fixture.js" "$out/demo.html" "$out"

size=$(stat -c %s "$out/demo.memscope")
head -c $((size * 2 / 3)) "$out/demo.memscope" >"$out/cut.memscope"
for format in json html; do
  status=0
  "$memscope" "$format" "$out/cut.memscope" -o "$out/cut.$format" 2>"$out/cut.$format.stderr" || status=$?
  if [ "$status" -ne 3 ]; then
    echo "memscope $format on a cut recording exited with $status, expected 3" >&2
    exit 1
  fi
done
echo "reports in $out"
