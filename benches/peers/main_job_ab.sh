#!/usr/bin/env bash
# The main job (examples/index_registry.rs) built at several revisions, run alternating run by run:
# for each rep and each BINARY, plain (MEMSCOPE_RECORD=0), stacks and nostacks (MEMSCOPE_STACKS=0), all
# with MEMSCOPE_REPLAY=0, each through benches/peers/threadcpu.py. Prints medians per binary and variant:
# wall, the process's CPU, the drainer's CPU (and per event), the job threads' CPU, the workers' system
# CPU and involuntary context switches (a producer yielding while it waits for room shows there).
#
#   benches/peers/main_job_ab.sh REPS BINARY...
#
# A BINARY is a copy of target/release/examples/index_registry built at some revision
# (`cargo build --release --example index_registry`, then copy it); its file name labels it.
# Knobs: SOURCE (the folder indexed; default $CARGO_HOME/registry/src).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${1:?usage: main_job_ab.sh REPS BINARY...}
shift
SOURCE=${SOURCE:-${CARGO_HOME:-$HOME/.cargo}/registry/src}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
  for b in "$@"; do
    for v in plain stacks nostacks; do
      case $v in
        plain) env=(MEMSCOPE_RECORD=0) ;;
        stacks) env=(MEMSCOPE_STACKS=1) ;;
        nostacks) env=(MEMSCOPE_STACKS=0) ;;
      esac
      rm -f "$WORK/index_registry.memscope"
      name=$(basename "$b").$v.$rep
      env "${env[@]}" MEMSCOPE_REPLAY=0 python3 "$HERE/threadcpu.py" --json "$WORK/$name.json" "$b" "$SOURCE" "$WORK" >"$WORK/$name.out" 2>&1
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK" <<'PY'
import collections, glob, json, re, statistics as st, sys
d = sys.argv[1]
rows = collections.defaultdict(list)
order = []
for f in sorted(glob.glob(d + "/*.json")):
    b, v, rep = f.split("/")[-1][:-5].rsplit(".", 2)
    if b not in order:
        order.append(b)
    th = json.load(open(f))["threads"]
    cpu = lambda pred: sum(t["user"] + t["sys"] for k, t in th.items() if pred(k))
    m = re.search(r"memscope: (\d+) events", open(f[:-5] + ".out").read())
    rows[b, v].append(dict(
        wall=json.load(open(f))["wall"], total=cpu(lambda k: True), drain=cpu(lambda k: k == "memscope-drain"),
        job=cpu(lambda k: not k.startswith("memscope-")), wsys=sum(t["sys"] for k, t in th.items() if k.startswith("worker")),
        invol=sum(t["involuntary"] for k, t in th.items() if k.startswith("worker")), ev=int(m.group(1)) if m else 0))
print("| binary | variant | runs | wall s | CPU s (process) | drainer CPU s | drainer ns/event | job threads' CPU s | workers' sys s | workers' involuntary switches |")
print("|---|---|---|---|---|---|---|---|---|---|")
for b in order:
    for v in ("plain", "nostacks", "stacks"):
        rs = rows[b, v]
        m = lambda k: st.median(r[k] for r in rs)
        ns = "%.1f" % st.median(r["drain"] / r["ev"] * 1e9 for r in rs) if rs[0]["ev"] else "–"
        print(f"| {b} | {v} | {len(rs)} | {m('wall'):.2f} | {m('total'):.2f} | {m('drain'):.2f} | {ns} | {m('job'):.2f} | {m('wsys'):.2f} | {m('invol'):.0f} |")
PY
