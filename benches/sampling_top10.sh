#!/usr/bin/env bash
# Issue 11's estimate check on the main job: one full and one sampled (512 KiB) recording of
# examples/index_registry, each exported with `memscope json`; the full run's top 10 sites by
# allocated bytes against the sampled run's estimates (sites matched by their symbolized frames).
#
#   benches/sampling_top10.sh            # knobs: INTERVAL (524288), SOURCE (the folder indexed), OUT
set -euo pipefail
cd "$(dirname "$0")/.."
INTERVAL=${INTERVAL:-524288}
SOURCE=${SOURCE:-${CARGO_HOME:-$HOME/.cargo}/registry/src}
OUT=${OUT:-target/sampling_top10}
cargo build --release --locked --example index_registry -p memscope >&2
cargo build --release --locked -p memscope-cli >&2
B=target/release/examples/index_registry; CLI=target/release/memscope
mkdir -p "$OUT/full" "$OUT/sampled"
MEMSCOPE_REPLAY=0 $B "$SOURCE" "$OUT/full" > "$OUT/full/out.txt" 2>&1
MEMSCOPE_SAMPLING=$INTERVAL MEMSCOPE_REPLAY=0 $B "$SOURCE" "$OUT/sampled" > "$OUT/sampled/out.txt" 2>&1
$CLI json "$OUT/full/index_registry.memscope" -o "$OUT/full/r.json"
$CLI json "$OUT/sampled/index_registry.memscope" -o "$OUT/sampled/r.json"
python3 benches/sampling_top10.py "$OUT/full/r.json" "$OUT/sampled/r.json"
