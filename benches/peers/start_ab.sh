#!/usr/bin/env bash
# The sampled recording's fixed cost (start, the drainer's start, finish), side by side: a run of N (1000) pairs,
# whose own work is well under a millisecond, timed whole (process start to exit), plain System against a
# recording sampled every INTERVAL bytes, alternating, medians of REPS (21); for the recordings also the time
# `start()` and `finish()` took, as the binary prints them (start_s, finish_s). BASE=DIR adds sampled_base
# (DIR/memscope, a peers target/release of another build that prints them too), as in sampling_ab.sh.
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
    system) $B/system "$N" 1 > "$OUT/o.txt" ;;
    sampled) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope $B/memscope "$N" 1 > "$OUT/o.txt" ;;
    sampled_base) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope "$BASE"/memscope "$N" 1 > "$OUT/o.txt" ;;
  esac
  t1=$EPOCHREALTIME
  st=$(grep -o 'start_s=[0-9.]*' "$OUT/o.txt" | cut -d= -f2 || true); fi=$(grep -o 'finish_s=[0-9.]*' "$OUT/o.txt" | cut -d= -f2 || true)
  printf '%s\t%s\t%s\t%s\n' "$v" "$(python3 -c "print(${t1/,/.} - ${t0/,/.})")" "${st:-0}" "${fi:-0}" >> "$OUT/runs.tsv"
done; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$OUT/r.memscope"
python3 - "$OUT/runs.tsv" "$VARIANTS" <<'PY'
import statistics as st, sys
by = {}
for line in open(sys.argv[1]):
    v, w, s0, f0 = line.split()
    by.setdefault(v, []).append((float(w) * 1e3, float(s0) * 1e3, float(f0) * 1e3))
print("| variant | whole run ms (median) | min | max | over System ms | start() ms (median) | finish() ms (median) |")
print("|---|---|---|---|---|---|---|")
s = st.median(x[0] for x in by["system"])
for v in sys.argv[2].split():
    w = [x[0] for x in by[v]]
    m = st.median(w)
    rec = "–" if v == "system" else None
    sm = rec or f"{st.median(x[1] for x in by[v]):.2f}"
    fm = rec or f"{st.median(x[2] for x in by[v]):.2f}"
    print(f"| {v} | {m:.2f} | {min(w):.2f} | {max(w):.2f} | {m - s:+.2f} | {sm} | {fm} |")
PY
