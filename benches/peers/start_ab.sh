#!/usr/bin/env bash
# The sampled recording's fixed cost (start, the drainer's start, finish), side by side: a run of N (1000) pairs,
# whose own work is well under a millisecond, timed whole (process start to exit), plain System against a
# recording sampled every INTERVAL bytes, alternating, medians of REPS (21). BASE=DIR adds sampled_base
# (DIR/memscope, a peers target/release of another build), as in sampling_ab.sh.
#
#   benches/peers/start_ab.sh        # knobs: N (1000), REPS (21), INTERVAL (524288), BASE
set -euo pipefail
cd "$(dirname "$0")"
N=${N:-1000}; REPS=${REPS:-21}; INTERVAL=${INTERVAL:-524288}; BASE=${BASE:-}
OUT=out/start_ab; mkdir -p "$OUT"; : > "$OUT/runs.tsv"
cargo build --release --locked --bin system --bin memscope >&2
B=target/release
VARIANTS="system sampled${BASE:+ sampled_base}"
echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do for v in $VARIANTS; do
  t0=$EPOCHREALTIME
  case $v in
    system) $B/system "$N" 1 > /dev/null ;;
    sampled) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope $B/memscope "$N" 1 > /dev/null ;;
    sampled_base) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope "$BASE"/memscope "$N" 1 > /dev/null ;;
  esac
  t1=$EPOCHREALTIME
  printf '%s\t%s\n' "$v" "$(python3 -c "print(${t1/,/.} - ${t0/,/.})")" >> "$OUT/runs.tsv"
done; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$OUT/r.memscope"
python3 - "$OUT/runs.tsv" "$VARIANTS" <<'PY'
import statistics as st, sys
by = {}
for line in open(sys.argv[1]):
    v, w = line.split()
    by.setdefault(v, []).append(float(w) * 1e3)
print("| variant | whole run ms (median) | min | max | over System ms |")
print("|---|---|---|---|---|")
s = st.median(by["system"])
for v in sys.argv[2].split():
    m = st.median(by[v])
    print(f"| {v} | {m:.2f} | {min(by[v]):.2f} | {max(by[v]):.2f} | {m - s:+.2f} |")
PY
