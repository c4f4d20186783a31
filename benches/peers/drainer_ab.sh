#!/usr/bin/env bash
# Issue 10 (scaling): peers memscope binaries built at different revisions,
# alternating run by run next to plain System, at T = 1 and 2 threads with
# PER pairs *per thread* (default 5,000,000), call stacks on (STACKS=0: off),
# OnFull::Block. Prints, per variant and T, the median per-thread ns per
# event (loop_s / (2 * PER)), the 2-thread / 1-thread ratio, and the
# drainer's CPU ns per event as the recording reports it
# (`Summary::drainer_cpu_ns_per_event`, printed by src/bin/memscope.rs).
#
#   benches/peers/drainer_ab.sh REPS BINARY...
#
# A BINARY is a copy of target/release/memscope built at some revision
# (`cargo build --release --bin memscope`, then copy it), or `system` for
# target/release/system. Older binaries that do not print the drainer's CPU
# show "-".
set -euo pipefail
cd "$(dirname "$0")"
REPS=${1:?usage: drainer_ab.sh REPS BINARY...}
shift
PER=${PER:-5000000}
SYSTEM=${SYSTEM:-$PWD/target/release/system}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for rep in $(seq "$REPS"); do
  for t in 1 2; do
    n=$((PER * t))
    for v in "$@"; do
      if [ "$v" = system ]; then
        line=$("$SYSTEM" "$n" "$t" | tr '\n' ' ')
      else
        line=$(MEMSCOPE_PEERS_STACKS=${STACKS:-1} MEMSCOPE_PEERS_OUT="$WORK/run.memscope" "$v" "$n" "$t" | tr '\n' ' ')
        rm -f "$WORK/run.memscope"
      fi
      echo "$(basename "$v") $t $line" >>"$WORK/runs"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/runs" "$PER" <<'PY'
import collections, re, statistics as st, sys
runs, per = sys.argv[1], int(sys.argv[2])
d = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(runs):
    v, t = line.split()[:2]
    if v not in order:
        order.append(v)
    for k in ("loop_s", "drainer_cpu_ns_per_event", "bytes_per_event", "events_lost"):
        m = re.search(k + r"=([0-9.]+)", line)
        if m:
            d[v, t][k].append(float(m.group(1)))
print("variant  T  per-thread ns/event: median [runs]  2T/1T  drainer CPU ns/event  bytes/event  max lost")
for v in order:
    r = {}
    for t in "12":
        ns = [s / (2 * per) * 1e9 for s in d[v, t]["loop_s"]]
        r[t] = st.median(ns)
        ratio = "" if t == "1" else "%.2f" % (r[t] / r["1"])
        med = lambda k: "%.2f" % st.median(d[v, t][k]) if d[v, t][k] else "-"
        lost = "%d" % max(d[v, t]["events_lost"]) if d[v, t]["events_lost"] else "-"
        print(f"{v} {t} {r[t]:.1f} [{' '.join(f'{a:.1f}' for a in ns)}] {ratio} {med('drainer_cpu_ns_per_event')} {med('bytes_per_event')} {lost}")
PY
