#!/usr/bin/env bash
# What the timestamp costs on the allocating thread, and what the drainer costs:
#
#   benches/peers/hot_path_ab.sh [N] [THREADS...]     # defaults: 5000000 pairs, threads 1 2
#
# Builds the peers `memscope` binary against three copies of memscope's src/,
# differing only in the body of `monotonic_ns` (src/record/thread/os.rs), the
# clock every event reads:
#   clock_gettime  the code as it is (CLOCK_MONOTONIC through the vDSO);
#   rdtsc          `_rdtsc()` (raw TSC ticks, not ns: a cost experiment only);
#   none           `0` (no clock at all: every timestamp is 0, which also
#                  makes the drainer's chunks compress better).
# Each runs with OnFull::Block (the default: the allocating threads wait for
# the drainer, nothing is lost) and OnFull::Drop (they never wait, so their CPU
# time is the hot path's own cost, and the events the drainer cannot keep up
# with are lost). Runs alternate; each figure is the median of REPS (5).
set -euo pipefail
cd "$(dirname "$0")"
N=${1:-5000000}
shift || true
THREADS=("$@")
[ ${#THREADS[@]} -eq 0 ] && THREADS=(1 2)
REPS=${REPS:-5}
ROOT=$(cd ../.. && pwd)
WORK=$(mktemp -d)
# Deps are built once into target/hot-path-ab and reused by later runs.
AB_TARGET=$PWD/target/hot-path-ab
trap 'rm -rf "$WORK"' EXIT

declare -A BODY=(
  [clock_gettime]=""
  [rdtsc]="    // SAFETY: rdtsc exists on every x86-64 CPU.\n    unsafe { core::arch::x86_64::_rdtsc() }"
  [none]="    0"
)
VARIANTS=(clock_gettime rdtsc none)
mkdir -p "$WORK/bin"
cargo build --release --quiet --bin system >&2
cp target/release/system "$WORK/bin/system"
for v in "${VARIANTS[@]}"; do
  src="$WORK/src-$v"
  mkdir -p "$src/benches"
  cp -r "$ROOT/src" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" "$src/"
  cp -r "$ROOT/benches/common" "$ROOT"/benches/*.rs "$src/benches/"
  sed -i -e 's/^members = .*/members = ["."]/' -e 's/^default-members = .*/default-members = ["."]/' "$src/Cargo.toml"
  if [ -n "${BODY[$v]}" ]; then
    awk -v body="${BODY[$v]}" '
      /^pub\(crate\) fn monotonic_ns\(\) -> u64 \{$/ { print; printf "%s\n", body; skip = 1; next }
      skip && /^\}$/ { skip = 0 }
      !skip { print }' "$ROOT/src/record/thread/os.rs" >"$src/src/record/thread/os.rs"
    grep -q "_rdtsc\|^    0$" "$src/src/record/thread/os.rs" || { echo "patching monotonic_ns failed" >&2; exit 1; }
  fi
  # The copy of this crate sits where it does in the repo, so `path = "../.."`
  # and the workload's `#[path]` resolve inside the patched copy.
  peers="$src/benches/peers"
  mkdir -p "$peers"
  cp -r Cargo.toml Cargo.lock src "$peers/"
  echo "building the $v variant" >&2
  (cd "$peers" && CARGO_TARGET_DIR="$AB_TARGET" cargo build --release --quiet --bin memscope >&2)
  cp "$AB_TARGET/release/memscope" "$WORK/bin/memscope-$v"
done

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
  for t in "${THREADS[@]}"; do
    "$WORK/bin/system" "$N" "$t" | sed -n 's/^loop_s=\([0-9.]*\) loop_cpu_s=\([0-9.]*\).*/\1 \2 0/p' >>"$WORK/system.$t"
    for v in "${VARIANTS[@]}"; do
      for m in block drop; do
        echo "rep $rep/$REPS: $v, $m, $t threads" >&2
        MEMSCOPE_PEERS_ON_FULL=$m MEMSCOPE_PEERS_OUT="$WORK/run.memscope" "$WORK/bin/memscope-$v" "$N" "$t" >"$WORK/out"
        loop=$(sed -n 's/^loop_s=\([0-9.]*\) loop_cpu_s=\([0-9.]*\).*/\1 \2/p' "$WORK/out")
        lost=$(sed -n 's/.*events_lost=\([0-9]*\).*/\1/p' "$WORK/out")
        echo "$loop $lost" >>"$WORK/$v.$m.$t"
        rm -f "$WORK/run.memscope"
      done
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "### Clock variants: $N pairs split across T threads, medians of $REPS runs"
echo
echo "| clock | OnFull | T | loop s | ns per pair per thread (wall) | workload-thread CPU ns added per event | events lost |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for t in "${THREADS[@]}"; do
  sl=$(median "$WORK/system.$t" 1)
  sc=$(median "$WORK/system.$t" 2)
  awk -v t="$t" -v l="$sl" -v n="$N" 'BEGIN { printf "| (System, no tool) | – | %d | %.4f | %.1f | – | – |\n", t, l, l * 1e9 / (n / t) }'
  for v in "${VARIANTS[@]}"; do
    for m in block drop; do
      f="$WORK/$v.$m.$t"
      awk -v v="$v" -v m="$m" -v t="$t" -v l="$(median "$f" 1)" -v c="$(median "$f" 2)" -v sc="$sc" -v lost="$(median "$f" 3)" -v n="$N" \
        'BEGIN { printf "| %s | %s | %d | %.4f | %.1f | %.1f | %d (%.1f%%) |\n", v, m, t, l, l * 1e9 / (n / t), (c - sc) * 1e9 / (2 * n), lost, 100 * lost / (2 * n) }'
    done
  done
done
echo
echo "workload-thread CPU ns added per event = (CPU time of the workload threads over their loops − System's) / 2N."
