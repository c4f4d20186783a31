#!/usr/bin/env bash
# The main job (examples/index_registry.rs) side by side: one build, three variants run
# alternating, medians of REPS runs, wall time of the whole process against the job run
# without recording:
#
#   benches/main_job.sh [TREE | REVISION]     # default: the tree this script is in
#
#   plain     MEMSCOPE_RECORD=0: the job alone (TrackingAllocator installed and idle, no recording)
#   nostacks  MEMSCOPE_STACKS=0 MEMSCOPE_REPLAY=0: recording without call stacks, no replay
#   stacks    MEMSCOPE_REPLAY=0: recording with call stacks (the default), no replay
#   sampled   MEMSCOPE_SAMPLING=524288 MEMSCOPE_REPLAY=0: sampling at 512 KiB with call stacks (issue 11)
#
# TREE is a memscope checkout (a directory); REVISION is anything `git rev-parse` takes in this
# repository, checked out in a temporary worktree and built into target/main_job-rev (so
# dependencies are compiled once across revisions). The example must know MEMSCOPE_RECORD and
# MEMSCOPE_REPLAY (from issue 10 on). Afterwards the last recording is checked with
# `memscope info` (the CLI built from the same tree): it must replay without damage.
#
# Knobs: VARIANTS ("plain nostacks stacks sampled"; plain must be one), BASE_BIN (an index_registry binary of
# another build, e.g. the base revision's: adds the variant sampled_base, its sampled run, in the same alternation),
# REPS (5), SOURCE (the folder indexed; default the example's, $CARGO_HOME/registry/src),
# OUT (target/main_job in the tree measured). Each run goes through benches/peers/threadcpu.py, which reads
# every thread's CPU from /proc every 10 ms: the table gives the drainer's CPU and the job threads' apart
# (the poller's own CPU, a few ms per second, is in the process CPU column of every variant alike).
# Prints one markdown table and a TSV of every run
# ($OUT/runs.tsv). Takes REPS × 3 runs of the job plus one warm-up: about 1 minute at REPS=5 on
# a quiet 2-core machine, up to 5 when it is busy.
set -euo pipefail
SCRIPT_REPO=$(cd "$(dirname "$0")/.." && pwd)
ARG=${1:-$SCRIPT_REPO}
REPS=${REPS:-5}
VARIANTS=${VARIANTS:-"plain nostacks stacks sampled"}
BASE_BIN=${BASE_BIN:-}
WORK=
cleanup() { if [ -n "$WORK" ]; then git -C "$SCRIPT_REPO" worktree remove --force "$WORK/tree" >/dev/null 2>&1 || true; rm -rf "$WORK"; fi; }
trap cleanup EXIT

if [ -d "$ARG" ]; then
  TREE=$(cd "$ARG" && pwd)
  TARGET=${CARGO_TARGET_DIR:-$TREE/target}
  DESC="tree $TREE ($(git -C "$TREE" describe --always --dirty 2>/dev/null || echo 'not a git tree'))"
else
  REV=$(git -C "$SCRIPT_REPO" rev-parse --verify "$ARG^{commit}") || { echo "main_job.sh: $ARG is neither a directory nor a revision of $SCRIPT_REPO" >&2; exit 2; }
  WORK=$(mktemp -d)
  git -C "$SCRIPT_REPO" worktree add -q --detach "$WORK/tree" "$REV"
  TREE=$WORK/tree
  TARGET=$SCRIPT_REPO/target/main_job-rev
  DESC="revision ${REV:0:10}"
fi
OUT=${OUT:-$TREE/target/main_job}
mkdir -p "$OUT"

echo "building the main job and the CLI in $TREE (cargo build --release)" >&2
(cd "$TREE" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --example index_registry -p memscope >&2)
(cd "$TREE" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p memscope-cli --bin memscope >&2)
BIN=$TARGET/release/examples/index_registry
CLI=$TARGET/release/memscope
if ! grep -q MEMSCOPE_RECORD "$BIN"; then
  echo "main_job.sh: $BIN does not know MEMSCOPE_RECORD=0 (examples/index_registry.rs before issue 10); cannot run it without recording" >&2
  exit 2
fi
SOURCE=${SOURCE:-${CARGO_HOME:-$HOME/.cargo}/registry/src}
THREADCPU=$SCRIPT_REPO/benches/peers/threadcpu.py

# run VARIANT REP: appends a TSV row to $OUT/runs.tsv
run() {
  local v=$1 rep=$2 t0 t1 env=() bin=$BIN
  case $v in
    plain) env=(MEMSCOPE_RECORD=0) ;;
    nostacks) env=(MEMSCOPE_STACKS=0 MEMSCOPE_REPLAY=0) ;;
    stacks) env=(MEMSCOPE_REPLAY=0) ;;
    sampled) env=(MEMSCOPE_SAMPLING=524288 MEMSCOPE_REPLAY=0) ;;
    sampled_base) env=(MEMSCOPE_SAMPLING=524288 MEMSCOPE_REPLAY=0); bin=$BASE_BIN ;;
    *) echo "main_job.sh: unknown variant $v" >&2; exit 2 ;;
  esac
  rm -f "$OUT/index_registry.memscope" "$OUT/threads.json"
  t0=$EPOCHREALTIME
  env "${env[@]}" /usr/bin/time -f "%M %U %S" -o "$OUT/time.txt" python3 "$THREADCPU" --json "$OUT/threads.json" "$bin" "$SOURCE" "$OUT" >"$OUT/stdout.$v.txt" 2>&1 || {
    echo "main_job.sh: $v failed:" >&2; cat "$OUT/stdout.$v.txt" >&2; exit 1
  }
  t1=$EPOCHREALTIME
  # CPU s of the drainer thread and of the job's threads (all but memscope's own), from /proc
  local threads
  threads=$(python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["threads"]; c = lambda k: t[k]["user"] + t[k]["sys"]; print("%.2f %.2f" % (sum(c(k) for k in t if k == "memscope-drain"), sum(c(k) for k in t if not k.startswith("memscope-"))))' "$OUT/threads.json")
  # "  with 4 workers and 1 aggregator in 3.21 s", "memscope: N events from T threads in S s, L lost; B bytes on disk"
  awk -v v="$v" -v rep="$rep" -v t0="${t0/,/.}" -v t1="${t1/,/.}" -v rss_cpu="$(tail -n 1 "$OUT/time.txt")" -v threads="$threads" '
    /aggregator in/ { for (i = 1; i <= NF; i++) if ($i == "in") job = $(i + 1) }
    /^memscope: indexed/ { files = $3 }
    /^memscope: [0-9]+ events/ { ev = $2; for (i = 1; i <= NF; i++) { if ($i == "lost;") lost = $(i - 1); if ($i == "bytes" && $(i + 1) == "on") bytes = $(i - 1) } }
    /^recorded in/ { rec = $3 }
    END { split(rss_cpu, t, " "); split(threads, c, " "); printf "%s\t%d\t%.6f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v, rep, t1 - t0, t[2] + t[3], job, (rec == "" ? "-" : rec), (ev == "" ? "-" : ev), (lost == "" ? "-" : lost), (bytes == "" ? "-" : bytes), t[1], files, c[1], c[2] }
  ' "$OUT/stdout.$v.txt" >>"$OUT/runs.tsv"
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r), $(rustc --version)"
echo "measured: $DESC; indexing $SOURCE ($(du -sh "$SOURCE" | cut -f1)); REPS=$REPS; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "variant\trep\twall_s\tcpu_s\tjob_s\trecorded_s\tevents\tlost\tbytes\tmaxrss_kb\tfiles\tdrainer_cpu_s\tjob_threads_cpu_s\n" >"$OUT/runs.tsv"
echo "warm-up run (fills the page cache; not counted)" >&2
run plain 0
sed -i '$d' "$OUT/runs.tsv"
for rep in $(seq "$REPS"); do
  for v in $VARIANTS; do
    echo "rep $rep/$REPS: $v" >&2
    run "$v" "$rep"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
info_status=0
"$CLI" info "$OUT/index_registry.memscope" >"$OUT/info.txt" 2>&1 || info_status=$?

python3 - "$OUT/runs.tsv" "$info_status" "$OUT/info.txt" "$VARIANTS" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
info_status, info = int(sys.argv[2]), sys.argv[3]
by = {}
for r in rows:
    by.setdefault(r["variant"], []).append(r)
med = lambda v, k: st.median(float(r[k]) for r in by[v])
files = rows[0]["files"]
print(f"\n### Main job side by side: {files} .rs files, medians of {len(by['plain'])} alternating runs\n")
print("| variant | wall s | × plain (wall) | CPU s | × plain (CPU) | job s | × plain (job) | start→finish s | events | lost (sum) | bytes/event | max RSS MiB | drainer CPU s | drainer ns/event | job threads' CPU s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
pw, pj, pc = med("plain", "wall_s"), med("plain", "job_s"), med("plain", "cpu_s")
for v in sys.argv[4].split():
    w, j, c = med(v, "wall_s"), med(v, "job_s"), med(v, "cpu_s")
    if v == "plain":
        rec = ev = bpe = dns = "–"
        lost = "–"
    else:
        rec = f"{med(v, 'recorded_s'):.3f}"
        ev = f"{int(med(v, 'events')):,}"
        lost = str(sum(int(r["lost"]) for r in by[v]))
        bpe = f"{st.median(float(r['bytes']) / float(r['events']) for r in by[v]):.3f}"
        dns = f"{st.median(float(r['drainer_cpu_s']) / float(r['events']) * 1e9 for r in by[v]):.1f}"
    print(f"| {v} | {w:.3f} | {w / pw:.3f} | {c:.2f} | {c / pc:.3f} | {j:.3f} | {j / pj:.3f} | {rec} | {ev} | {lost} | {bpe} | {med(v, 'maxrss_kb') / 1024:.1f} | {med(v, 'drainer_cpu_s'):.2f} | {dns} | {med(v, 'job_threads_cpu_s'):.2f} |")
print()
if "stacks" in by:
    ratio = med("stacks", "wall_s") / pw
    print(f"target (issue 10, 5): recording with stacks ≤ 1.15× plain wall time: {ratio:.3f}× → {'met' if ratio <= 1.15 else 'MISSED'}")
if "sampled" in by:
    ratio = med("sampled", "wall_s") / pw
    print(f"target (issue 11): sampling at 512 KiB ≤ 1.03× plain wall time: {ratio:.3f}× → {'met' if ratio <= 1.03 else 'MISSED'}")
print("plain: TrackingAllocator installed, no recording (MEMSCOPE_RECORD=0). wall: the whole process; CPU: its user + sys (%U + %S);")
print("job: the job alone, timed in the process; start→finish: from start() to finish() returning.")
print("drainer CPU: the memscope-drain thread's user + sys; job threads' CPU: every thread but memscope's own (workers, aggregator, main),")
print("including the allocator's recording work; both read from /proc/PID/task every 10 ms (benches/peers/threadcpu.py).")
print(f"`memscope info` on the last recording: exit {info_status} ({'replays, no damage' if info_status == 0 else 'SEE ' + info})")
PY
