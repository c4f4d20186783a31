#!/usr/bin/env bash
# Instructions per allocation + deallocation pair on the peers workload, for the allocator hot path (issue 11, "the
# unsampled call"): plain System, the TrackingAllocator installed but idle, a recording sampled every INTERVAL bytes,
# and a full recording, each counted by callgrind over the workload loop only (`--toggle-collect=*run_global*`: the
# drainer thread, start and finish are left out). Instruction counts repeat exactly run to run, so one run each is
# enough on a loaded machine.
#
#   benches/peers/callgrind_pair.sh        # knobs: N (200000 pairs), INTERVAL (524288), VARIANTS ("system idle sampled full")
#
# Prints one row per variant: the loop's instructions, per pair, and over System.
set -euo pipefail
cd "$(dirname "$0")"
N=${N:-200000}; INTERVAL=${INTERVAL:-524288}; VARIANTS=${VARIANTS:-"system idle sampled full"}
OUT=out/callgrind_pair; mkdir -p "$OUT"
cargo build --release --locked --bin system --bin memscope >&2
B=target/release
run() { # variant -> instructions in run_global
  local v=$1 f="$OUT/$1.out"
  case $v in
    system) valgrind --tool=callgrind --toggle-collect='*run_global*' --callgrind-out-file="$f" $B/system "$N" 1 ;;
    idle) MEMSCOPE_PEERS_RECORD=0 valgrind --tool=callgrind --toggle-collect='*run_global*' --callgrind-out-file="$f" $B/memscope "$N" 1 ;;
    sampled) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope valgrind --tool=callgrind --toggle-collect='*run_global*' --callgrind-out-file="$f" $B/memscope "$N" 1 ;;
    full) MEMSCOPE_PEERS_OUT=$OUT/r.memscope valgrind --tool=callgrind --toggle-collect='*run_global*' --callgrind-out-file="$f" $B/memscope "$N" 1 ;;
  esac > /dev/null 2>&1
  grep -h '^summary:' "$f"* | awk '{s += $2} END {print s}'
}
echo "| variant | instructions, workload loop | per pair (alloc + free) | over System |"
echo "| --- | --- | --- | --- |"
base=
for v in $VARIANTS; do
  ir=$(run "$v")
  [ "$v" = system ] && base=$ir
  python3 -c "import sys; ir=$ir; n=$N; b='${base}'; over = '–' if not b or '$v' == 'system' else f'{(ir-int(b))/n:+.0f}'; print(f'| $v | {ir:,} | {ir/n:.0f} | {over} |')"
done
rm -f "$OUT"/r.memscope
