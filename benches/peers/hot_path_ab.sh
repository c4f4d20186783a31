#!/usr/bin/env bash
# What the timestamp costs on the allocating thread, side by side with no
# recording, with and without call stacks (issue 10):
#
#   benches/peers/hot_path_ab.sh [N] [THREADS...]     # defaults: 5000000 pairs, threads 1 2
#
# Runs the peers workload (benches/common: N allocation+deallocation pairs
# split across T threads) through `examples/hot_path.rs`, built against
# copies of this tree that differ only in src/record/clock.rs:
#   tsc        the code as it is: the TSC, `lfence` before the stamps taken
#              after an allocator call (allocations, a moved reallocation's
#              return stamp), none before the others;
#   monotonic  the same binary run with MEMSCOPE_CLOCK=monotonic: the
#              fallback, CLOCK_MONOTONIC through the vDSO (the clock before
#              format version 5);
#   unfenced   plain `rdtsc` everywhere (no `lfence`): a cost experiment only,
#              it does not order a reuse after its deallocation
#              (tests/ordering_reuse_tsc.rs);
#   idle       the tsc binary with no recording (MEMSCOPE_HOT_RECORD=0): the
#              tracking allocator idle, one load and one branch per call on
#              top of System: the baseline.
# Each recorded variant runs with OnFull::Drop (the allocating threads never
# wait, so their CPU time is the hot path's own cost; events the drainer
# cannot keep up with are lost) and OnFull::Block (nothing lost), call stacks
# off and on. Runs alternate; each figure is the median of REPS (5).
# BIN_DIR=dir uses binaries built before (dir/hp-tsc, dir/hp-unfenced).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5000000}
shift || true
THREADS=("$@")
[ ${#THREADS[@]} -eq 0 ] && THREADS=(1 2)
REPS=${REPS:-5}
ROOT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BIN=${BIN_DIR:-$WORK/bin}
if [ -z "${BIN_DIR:-}" ]; then
  mkdir -p "$BIN"
  declare -A PATCH=([tsc]="" [unfenced]="s/order == Order::AfterCall \&\& !cfg!(memscope_unfenced)/false/")
  for v in tsc unfenced; do
    src="$WORK/src-$v"
    mkdir -p "$src"
    git ls-files -co --exclude-standard | grep -v '^target/' | tar -cf - -T - | tar -xf - -C "$src"
    if [ -n "${PATCH[$v]}" ]; then
      sed -i -e "${PATCH[$v]}" "$src/src/record/clock.rs"
      cmp -s "$ROOT/src/record/clock.rs" "$src/src/record/clock.rs" && { echo "patching clock.rs for $v failed" >&2; exit 1; }
    fi
    echo "building the $v variant" >&2
    # One target dir for both copies: the dependencies are built once.
    (cd "$src" && CARGO_TARGET_DIR="$ROOT/target/hot-path-ab" cargo build --release --quiet --example hot_path >&2)
    cp "$ROOT/target/hot-path-ab/release/examples/hot_path" "$BIN/hp-$v"
  done
fi
VARIANTS=(tsc monotonic unfenced)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
  for t in "${THREADS[@]}"; do
    MEMSCOPE_HOT_RECORD=0 "$BIN/hp-tsc" "$N" "$t" | sed -n 's/^loop_s=\([0-9.]*\) loop_cpu_s=\([0-9.]*\) events_lost=\([0-9]*\)/\1 \2 \3/p' >>"$WORK/idle.$t"
    for v in "${VARIANTS[@]}"; do
      clock=tsc; b=$v; [ "$v" = monotonic ] && { clock=monotonic; b=tsc; }
      for m in drop block; do
        for s in 0 1; do
          echo "rep $rep/$REPS: $v, $m, stacks $s, $t threads" >&2
          MEMSCOPE_CLOCK=$clock MEMSCOPE_HOT_STACKS=$s MEMSCOPE_HOT_ON_FULL=$m "$BIN/hp-$b" "$N" "$t" \
            | sed -n 's/^loop_s=\([0-9.]*\) loop_cpu_s=\([0-9.]*\) events_lost=\([0-9]*\)/\1 \2 \3/p' >>"$WORK/$v.$m.$s.$t"
        done
      done
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "### Clock variants: $N pairs split across T threads, medians of $REPS runs"
echo
echo "| clock | OnFull | stacks | T | loop s | ns per pair per thread (wall) | workload-thread CPU ns added per event | events lost |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for t in "${THREADS[@]}"; do
  sl=$(median "$WORK/idle.$t" 1)
  sc=$(median "$WORK/idle.$t" 2)
  awk -v t="$t" -v l="$sl" -v n="$N" 'BEGIN { printf "| (not recording) | – | – | %d | %.4f | %.1f | – | – |\n", t, l, l * 1e9 / (n / t) }'
  for v in "${VARIANTS[@]}"; do
    for m in drop block; do
      for s in 0 1; do
        f="$WORK/$v.$m.$s.$t"
        awk -v v="$v" -v m="$m" -v s="$s" -v t="$t" -v l="$(median "$f" 1)" -v c="$(median "$f" 2)" -v sc="$sc" -v lost="$(median "$f" 3)" -v n="$N" \
          'BEGIN { printf "| %s | %s | %s | %d | %.4f | %.1f | %.1f | %d (%.1f%%) |\n", v, m, (s ? "on" : "off"), t, l, l * 1e9 / (n / t), (c - sc) * 1e9 / (2 * n), lost, 100 * lost / (2 * n) }'
      done
    done
  done
done
echo
echo "workload-thread CPU ns added per event = (CPU time of the workload threads over their loops − not recording's) / 2N."
