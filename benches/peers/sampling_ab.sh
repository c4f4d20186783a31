#!/usr/bin/env bash
# Issue 11's cost of sampling, side by side in one sitting: plain System, memscope installed but not recording
# (idle), a full recording, and a recording sampled every 512 KiB, alternating run by run, at 1 and 2 threads.
#
#   benches/peers/sampling_ab.sh          # knobs: N (2000000 pairs), REPS (5), INTERVAL (524288),
#                                         #   VARIANTS ("system idle full sampled"), BASE (below)
#
# BASE=DIR adds the variants idle_base and sampled_base: DIR/memscope (a peers target/release directory of another
# build, e.g. a checkout of the base revision), run in the same alternation, for a before/after in one sitting:
#   BASE=/tmp/base/benches/peers/target/release VARIANTS="system sampled_base sampled" benches/peers/sampling_ab.sh
#
# Prints one row per variant and thread count: medians of REPS of the whole run's wall time, the workload loop's
# wall time and the workload threads' CPU time (the peers binaries print loop_s and loop_cpu_s), and the events
# written. Raw runs go to benches/peers/out/sampling_ab/runs.tsv.
set -euo pipefail
cd "$(dirname "$0")"
N=${N:-2000000}; REPS=${REPS:-5}; INTERVAL=${INTERVAL:-524288}; VARIANTS=${VARIANTS:-"system idle full sampled"}; BASE=${BASE:-}
OUT=out/sampling_ab; mkdir -p "$OUT"; : > "$OUT/runs.tsv"
cargo build --release --locked --bin system --bin memscope >&2
B=target/release
echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do for t in 1 2; do for v in $VARIANTS; do
  t0=$EPOCHREALTIME
  case $v in
    system) $B/system "$N" "$t" > "$OUT/o.txt" ;;
    idle) MEMSCOPE_PEERS_RECORD=0 $B/memscope "$N" "$t" > "$OUT/o.txt" ;;
    full) MEMSCOPE_PEERS_OUT=$OUT/r.memscope $B/memscope "$N" "$t" > "$OUT/o.txt" ;;
    sampled) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope $B/memscope "$N" "$t" > "$OUT/o.txt" ;;
    idle_base) MEMSCOPE_PEERS_RECORD=0 "$BASE"/memscope "$N" "$t" > "$OUT/o.txt" ;;
    sampled_base) MEMSCOPE_PEERS_SAMPLING=$INTERVAL MEMSCOPE_PEERS_OUT=$OUT/r.memscope "$BASE"/memscope "$N" "$t" > "$OUT/o.txt" ;;
    *) echo "sampling_ab.sh: unknown variant $v" >&2; exit 2 ;;
  esac
  t1=$EPOCHREALTIME
  loop=$(grep -o 'loop_s=[0-9.]*' "$OUT/o.txt" | cut -d= -f2); cpu=$(grep -o 'loop_cpu_s=[0-9.]*' "$OUT/o.txt" | cut -d= -f2)
  ev=$(grep -o 'events_written=[0-9]*' "$OUT/o.txt" | cut -d= -f2 || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$t" "$rep" "$(python3 -c "print(${t1/,/.} - ${t0/,/.})")" "$loop" "$cpu" "${ev:-0}" >> "$OUT/runs.tsv"
done; done; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$OUT/r.memscope"
python3 - "$OUT/runs.tsv" "$VARIANTS" <<'PY'
import statistics as st, sys
by = {}
for line in open(sys.argv[1]):
    v, t, rep, w, l, c, ev = line.strip().split('\t')
    by.setdefault((v, t), []).append((float(w), float(l), float(c), int(ev)))
print("| variant | T | wall s | × System | loop s | × System (loop) | loop CPU s | × System (CPU) | events written |")
print("|---|---|---|---|---|---|---|---|---|")
for t in ("1", "2"):
    base = [st.median(x[i] for x in by[("system", t)]) for i in range(3)]
    for v in sys.argv[2].split():
        m = [st.median(x[i] for x in by[(v, t)]) for i in range(4)]
        print(f"| {v} | {t} | {m[0]:.3f} | {m[0]/base[0]:.2f} | {m[1]:.3f} | {m[1]/base[1]:.2f} | {m[2]:.3f} | {m[2]/base[2]:.2f} | {int(m[3]):,} |")
PY
