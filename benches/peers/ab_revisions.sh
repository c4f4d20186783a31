#!/usr/bin/env bash
# The peers workload (N allocation+deallocation pairs per thread, the whole
# loop timed) recorded by memscope at two git revisions, alternating, next to
# plain System, at 1 and 2 threads; prints the median of REPS runs of each:
#
#   benches/peers/ab_revisions.sh BASE_REV [HEAD_REV]     # HEAD_REV defaults to the working tree
#
# Each revision is checked out in a temporary worktree and its peers binary
# built there (release, frame pointers as in .cargo/config.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${1:?usage: ab_revisions.sh BASE_REV [HEAD_REV]}
HEAD_REV=${2:-}
N=${N:-5000000}
REPS=${REPS:-5}
WORK=$(mktemp -d)
trap 'git worktree remove --force "$WORK/base" >/dev/null 2>&1 || true; [ -n "$HEAD_REV" ] && git worktree remove --force "$WORK/head" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
git worktree add -q --detach "$WORK/base" "$BASE"
if [ -n "$HEAD_REV" ]; then git worktree add -q --detach "$WORK/head" "$HEAD_REV"; head_dir=$WORK/head; else head_dir=$PWD; fi
for v in base head; do
  dir=$WORK/base; [ "$v" = head ] && dir=$head_dir
  echo "building $v" >&2
  (cd "$dir/benches/peers" && CARGO_TARGET_DIR="$WORK/target-$v" cargo build --release --quiet --bin memscope --bin system >&2)
done
for rep in $(seq "$REPS"); do
  for t in 1 2; do
    for v in base head; do
      line=$(MEMSCOPE_PEERS_OUT="$WORK/run.memscope" "$WORK/target-$v/release/memscope" "$N" "$t" | tr '\n' ' ')
      echo "$v $t $line" >>"$WORK/runs"
      rm -f "$WORK/run.memscope"
    done
    echo "system $t $("$WORK/target-head/release/system" "$N" "$t" | tr '\n' ' ')" >>"$WORK/runs"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/runs" "$N" <<'PY'
import collections, re, statistics as st, sys
runs, n = sys.argv[1], int(sys.argv[2])
loop, bpe = collections.defaultdict(list), collections.defaultdict(list)
for line in open(runs):
    v, t = line.split()[:2]
    loop[v, t].append(float(re.search(r"loop_s=([0-9.]+)", line).group(1)))
    m = re.search(r"bytes_per_event=([0-9.]+)", line)
    if m:
        bpe[v, t].append(float(m.group(1)))
print("threads  revision  loop s (median)  × System  ns added per event  bytes/event")
for t in "12":
    system = st.median(loop["system", t])
    for v in ("base", "head"):
        m = st.median(loop[v, t])
        print(f"{t:>7}  {v:>8}  {m:15.3f}  {m / system:8.2f}  {(m - system) / (2 * n) * 1e9:18.1f}  {st.median(bpe[v, t]):11.2f}")
PY
