#!/usr/bin/env bash
# What call stacks cost in instructions, per thread, on the main job (examples/index_registry.rs) run under
# callgrind on a small source folder: the job threads' instructions with and without stacks, per capture
# (allocations + reallocations, the events that carry a call stack), and the drainer's instructions per event.
# Instruction counts repeat run to run within a fraction of a percent, so one run of each is enough on a
# loaded machine (issue 10, "call stacks at lower cost" in benches/README.md).
#
#   benches/peers/callgrind_stacks.sh [BINARY...]   # default: target/release/examples/index_registry of this tree
#
# Knobs: SOURCE (the folder indexed; default regex-syntax-0.8.11 from $CARGO_HOME/registry/src), OUT (scratch
# folder, default target/callgrind_stacks), CLI (the memscope CLI, for the recording's totals).
# Prints one row per binary: the job threads' instructions without and with stacks, the difference per capture,
# the drainer's instructions per event without and with stacks, and the totals the recording holds.
# Each binary takes two callgrind runs of the job (about 1–2 minutes each on a busy 2-core machine).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
REGISTRY=${CARGO_HOME:-$HOME/.cargo}/registry/src
SOURCE=${SOURCE:-$(ls -d "$REGISTRY"/*/regex-syntax-0.8.11 2>/dev/null | head -n 1)}
[ -d "$SOURCE" ] || { echo "callgrind_stacks.sh: SOURCE ($SOURCE) is not a directory; set SOURCE" >&2; exit 2; }
OUT=${OUT:-$REPO/target/callgrind_stacks}
CLI=${CLI:-$REPO/target/release/memscope}
[ -x "$CLI" ] || (cd "$REPO" && cargo build --release --quiet -p memscope-cli --bin memscope)
if [ $# -eq 0 ]; then
  (cd "$REPO" && cargo build --release --quiet --example index_registry -p memscope)
  set -- "$REPO/target/release/examples/index_registry"
fi
mkdir -p "$OUT"

# run BINARY VARIANT -> "job_ir drainer_ir events allocations reallocations"
run() {
  local bin=$1 v=$2 env=() dir
  dir=$OUT/$v
  [ "$v" = nostacks ] && env=(MEMSCOPE_STACKS=0)
  rm -rf "$dir"; mkdir -p "$dir"
  env "${env[@]}" MEMSCOPE_REPLAY=0 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg" \
    "$bin" "$SOURCE" "$dir" >"$dir/stdout" 2>&1
  "$CLI" info "$dir/index_registry.memscope" >"$dir/info" 2>&1
  python3 - "$dir" <<'PY'
import glob, re, sys
d = sys.argv[1]
job = drainer = 0
for f in glob.glob(d + "/cg-*"):
    text = open(f, errors="replace").read()
    ir = int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))
    if "Drainer" in text and "drain" in text:
        drainer += ir
    elif "memscope::record::modules" in text and "count_identifiers" not in text and "run_job" not in text:
        pass  # the module watcher
    else:
        job += ir
info = open(d + "/info").read()
num = lambda pat: int(re.search(pat, info, re.M).group(1).replace(",", ""))
print(job, drainer, num(r"^  events\s+([\d,]+)"), num(r"^  allocations\s+([\d,]+)"), num(r"^  reallocations\s+([\d,]+)"))
PY
}

echo "source: $SOURCE; $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| binary | job threads' Ir, no stacks | with stacks | + per capture | drainer Ir/event, no stacks | with stacks | events (stacks) | captures |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for bin in "$@"; do
  read -r j0 d0 e0 _ _ < <(run "$bin" nostacks)
  read -r j1 d1 e1 a1 r1 < <(run "$bin" stacks)
  python3 -c "
j0, d0, e0, j1, d1, e1, a1, r1 = $j0, $d0, $e0, $j1, $d1, $e1, $a1, $r1
caps = a1 + r1
print(f'| $(basename "$bin") | {j0:,} | {j1:,} | {(j1 - j0) / caps:.1f} | {d0 / e0:.1f} | {d1 / e1:.1f} | {e1:,} | {caps:,} |')"
done
