#!/usr/bin/env bash
# A real program nobody here wrote, recorded: ripgrep from crates.io, built twice, run side by side.
#
#   benches/ripgrep/run.sh [MEMSCOPE_TREE]      # default: the memscope checkout this script is in
#
# 1. Gets ripgrep's crate (RG_VERSION, pinned with its SHA-256) with cargo itself, into a private
#    CARGO_HOME under benches/ripgrep/target/ (so nothing lands in ~/.cargo/registry/src, which the
#    main job indexes), and unpacks it twice.
# 2. Builds `plain`: ripgrep as published (System allocator). Builds `memscope`: the same source
#    with a path dependency on MEMSCOPE_TREE, `#[global_allocator] static _:
#    memscope::TrackingAllocator = TrackingAllocator::system()` and ripgrep's `main` wrapped in a
#    recording (patch below: MEMSCOPE_OUT names the file, no recording without it;
#    MEMSCOPE_STACKS=0 turns call stacks off; the Summary goes to stderr). Both builds use the same
#    flags: release profile (ripgrep's: debug = 1), RUSTFLAGS="-C force-frame-pointers=yes".
# 3. Runs, alternating, REPS times: (a) search `rg -n PATTERN SEARCH_TREE` and (b) list files
#    `rg --files SEARCH_TREE`, output to a file in $OUT, as plain / memscope without stacks /
#    memscope with stacks / heaptrack on the plain binary (its first HEAPTRACK_REPS reps only).
#    One warm-up run of each mode first fills the page cache.
# 4. Prints a markdown table per mode: median wall time and its ratio to plain, events, lost
#    events (summed: must be 0), bytes/event, max RSS, and checks that every variant wrote the
#    same output (byte count) and that the last recording of each mode replays (`memscope info`,
#    the CLI built from MEMSCOPE_TREE). Every run is in $OUT/runs.tsv.
#
# Knobs: RG_VERSION (15.2.0) with RG_SHA256, REPS (5), HEAPTRACK_REPS (3; 0 skips heaptrack),
# SEARCH_TREE (/usr), PATTERN ('fn '), OUT (benches/ripgrep/target/out), MODES ("search files").
# The first run downloads and builds (about 5 minutes on a busy 2-core machine); later runs rebuild
# only what changed in MEMSCOPE_TREE. The runs take REPS × (3 + heaptrack) × 2 modes of ripgrep.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MEMSCOPE_TREE=$(cd "${1:-$HERE/../..}" && pwd)
RG_VERSION=${RG_VERSION:-15.2.0}
RG_SHA256=${RG_SHA256:-a30750b6d0743bfdd2656ebbaf4555aa278c43144b84bc389bcbfa399485ec71}
REPS=${REPS:-5}
HEAPTRACK_REPS=${HEAPTRACK_REPS:-3}
SEARCH_TREE=${SEARCH_TREE:-/usr}
PATTERN=${PATTERN:-fn }
MODES=${MODES:-search files}
WORKDIR=$HERE/target
OUT=${OUT:-$WORKDIR/out}
mkdir -p "$WORKDIR" "$OUT"
[ -f "$MEMSCOPE_TREE/Cargo.toml" ] && grep -q '^name = "memscope"' "$MEMSCOPE_TREE/Cargo.toml" || {
  echo "run.sh: $MEMSCOPE_TREE is not a memscope checkout" >&2
  exit 2
}
[ -d "$SEARCH_TREE" ] || { echo "run.sh: SEARCH_TREE $SEARCH_TREE is not a directory" >&2; exit 2; }

# --- 1. the crate --------------------------------------------------------------------------
export CARGO_HOME_PRIVATE=$WORKDIR/cargo-home
CRATE=$WORKDIR/ripgrep-$RG_VERSION.crate
if [ ! -f "$CRATE" ] || [ "$(sha256sum "$CRATE" | cut -d' ' -f1)" != "$RG_SHA256" ]; then
  echo "fetching ripgrep $RG_VERSION with cargo (private CARGO_HOME $CARGO_HOME_PRIVATE)" >&2
  (cd "$WORKDIR" && CARGO_HOME=$CARGO_HOME_PRIVATE cargo info --quiet "ripgrep@$RG_VERSION" >/dev/null)
  cp "$(ls "$CARGO_HOME_PRIVATE"/registry/cache/*/ripgrep-"$RG_VERSION".crate | head -n 1)" "$CRATE"
fi
actual=$(sha256sum "$CRATE" | cut -d' ' -f1)
if [ "$actual" != "$RG_SHA256" ]; then
  echo "run.sh: ripgrep-$RG_VERSION.crate has SHA-256 $actual, expected $RG_SHA256" >&2
  exit 1
fi

# --- 2. two builds ---------------------------------------------------------------------------
# Each source tree is unpacked and patched in a staging folder, and only the files that differ are
# copied over the previous run's, so that cargo rebuilds only what changed.
SRC=ripgrep-$RG_VERSION
for v in plain memscope; do
  rm -rf "$WORKDIR/stage-$v" && mkdir -p "$WORKDIR/stage-$v"
  tar -xzf "$CRATE" -C "$WORKDIR/stage-$v"
  # Its own workspace root: this folder sits inside memscope's workspace.
  printf '\n[workspace]\n' >>"$WORKDIR/stage-$v/$SRC/Cargo.toml"
done
M=$WORKDIR/stage-memscope/$SRC
printf '\n[dependencies.memscope]\npath = "%s"\n' "$MEMSCOPE_TREE" >>"$M/Cargo.toml"
python3 - "$M/crates/core/main.rs" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
old = "fn main() -> ExitCode {"
if src.count(old) != 1:
    sys.exit(f"run.sh: ripgrep's {path} has {src.count(old)} copies of `{old}`; the patch needs one")
src = src.replace(old, "fn ripgrep_main() -> ExitCode {")
src += '''
// Added by memscope's benches/ripgrep/run.sh: record ripgrep's allocations.
#[global_allocator]
static MEMSCOPE: memscope::TrackingAllocator = memscope::TrackingAllocator::system();

/// ripgrep's `main` inside a memscope recording: MEMSCOPE_OUT names the file (no recording
/// without it), MEMSCOPE_STACKS=0 turns call stacks off.
fn main() -> ExitCode {
    let recording = std::env::var_os("MEMSCOPE_OUT").map(|path| {
        let stacks = match std::env::var("MEMSCOPE_STACKS").as_deref() {
            Ok("0") => memscope::CallStacks::Off,
            _ => memscope::CallStacks::FramePointers,
        };
        match memscope::Recorder::new(path).call_stacks(stacks).start() {
            Ok(recording) => recording,
            Err(err) => {
                eprintln!("memscope: {err}");
                std::process::exit(3);
            }
        }
    });
    let code = ripgrep_main();
    if let Some(recording) = recording {
        match recording.finish() {
            Ok(s) => eprintln!(
                "memscope_summary events_written={} events_lost={} bytes_written={} threads={} stacks={:?}",
                s.events_written, s.events_lost, s.bytes_written, s.threads, s.call_stacks
            ),
            Err(err) => {
                eprintln!("memscope: {err}");
                return ExitCode::from(3);
            }
        }
    }
    code
}
'''
open(path, "w").write(src)
PY
python3 - "$WORKDIR" <<'PY'
import filecmp, os, shutil, sys
work = sys.argv[1]
for v in ("plain", "memscope"):
    stage, dest = os.path.join(work, "stage-" + v), os.path.join(work, "src-" + v)
    for root, _, files in os.walk(stage):
        for name in files:
            src = os.path.join(root, name)
            dst = os.path.join(dest, os.path.relpath(src, stage))
            # The memscope build's Cargo.lock is cargo's: it adds memscope and its dependencies.
            if v == "memscope" and name == "Cargo.lock" and os.path.exists(dst):
                continue
            if not os.path.exists(dst) or not filecmp.cmp(src, dst, shallow=False):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst) if not os.path.exists(dst) else shutil.copyfile(src, dst)
    shutil.rmtree(stage)
PY
M=$WORKDIR/src-memscope/$SRC
export RUSTFLAGS="-C force-frame-pointers=yes"
echo "building ripgrep $RG_VERSION: plain, and with memscope from $MEMSCOPE_TREE (cargo build --release)" >&2
(cd "$WORKDIR/src-plain/$SRC" && CARGO_HOME=$CARGO_HOME_PRIVATE CARGO_TARGET_DIR=$WORKDIR/target-plain cargo build --release --locked --quiet >&2)
(cd "$M" && CARGO_HOME=$CARGO_HOME_PRIVATE CARGO_TARGET_DIR=$WORKDIR/target-memscope cargo build --release --quiet >&2)
unset RUSTFLAGS
echo "building memscope's CLI in $MEMSCOPE_TREE (for memscope info)" >&2
(cd "$MEMSCOPE_TREE" && cargo build --release --quiet -p memscope-cli --bin memscope >&2)
CLI=${CARGO_TARGET_DIR:-$MEMSCOPE_TREE/target}/release/memscope
RG_PLAIN=$WORKDIR/target-plain/release/rg
RG_MEMSCOPE=$WORKDIR/target-memscope/release/rg

# --- 3. the runs -----------------------------------------------------------------------------
command -v heaptrack >/dev/null || HEAPTRACK_REPS=0
# run MODE VARIANT REP: appends a TSV row to $OUT/runs.tsv
run() {
  local mode=$1 v=$2 rep=$3 t0 t1 status=0 args=() pre=() env=()
  case $mode in
    search) args=(-n "$PATTERN" "$SEARCH_TREE") ;;
    files) args=(--files "$SEARCH_TREE") ;;
  esac
  case $v in
    plain) pre=("$RG_PLAIN") ;;
    nostacks) pre=("$RG_MEMSCOPE"); env=(MEMSCOPE_OUT="$OUT/run.memscope" MEMSCOPE_STACKS=0) ;;
    stacks) pre=("$RG_MEMSCOPE"); env=(MEMSCOPE_OUT="$OUT/run.memscope") ;;
    heaptrack) pre=(heaptrack -o "$OUT/heaptrack.run" "$RG_PLAIN") ;;
  esac
  rm -f "$OUT/run.memscope" "$OUT"/heaptrack.run.*
  t0=$EPOCHREALTIME
  env "${env[@]}" /usr/bin/time -f "%M %U %S" -o "$OUT/time.txt" "${pre[@]}" "${args[@]}" >"$OUT/rg.out" 2>"$OUT/rg.err" || status=$?
  t1=$EPOCHREALTIME
  # ripgrep exits 1 when nothing matched and 2 on an error it went past (an unreadable file).
  if [ "$status" -gt 2 ]; then
    echo "run.sh: $v $mode exited with $status:" >&2; tail -n 20 "$OUT/rg.err" >&2; exit 1
  fi
  local events=- lost=- disk=- outbytes
  outbytes=$(stat -c %s "$OUT/rg.out")
  case $v in
    nostacks | stacks)
      events=$(sed -n 's/^memscope_summary events_written=\([0-9]*\).*/\1/p' "$OUT/rg.err")
      lost=$(sed -n 's/^memscope_summary .*events_lost=\([0-9]*\).*/\1/p' "$OUT/rg.err")
      disk=$(stat -c %s "$OUT/run.memscope")
      [ -n "$events" ] || { echo "run.sh: $v $mode printed no memscope_summary:" >&2; tail -n 20 "$OUT/rg.err" >&2; exit 1; }
      cp "$OUT/run.memscope" "$OUT/last.$mode.memscope"
      ;;
    heaptrack)
      disk=$(stat -c %s "$OUT"/heaptrack.run.*)
      outbytes=- # heaptrack prints its own lines on stdout
      ;;
  esac
  tail -n 1 "$OUT/time.txt" | awk -v OFS='\t' -v m="$mode" -v v="$v" -v rep="$rep" -v t0="${t0/,/.}" -v t1="${t1/,/.}" \
    -v st="$status" -v ev="$events" -v lost="$lost" -v disk="$disk" -v ob="$outbytes" \
    '{ print m, v, rep, sprintf("%.6f", t1 - t0), sprintf("%.2f", $2 + $3), $1, st, ev, lost, disk, ob }' >>"$OUT/runs.tsv"
  rm -f "$OUT/run.memscope" "$OUT"/heaptrack.run.* "$OUT/rg.out"
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r), $(rustc --version)"
echo "memscope: $MEMSCOPE_TREE ($(git -C "$MEMSCOPE_TREE" describe --always --dirty 2>/dev/null || echo 'not a git tree')); ripgrep $RG_VERSION; REPS=$REPS, HEAPTRACK_REPS=$HEAPTRACK_REPS"
listed=$("$RG_PLAIN" --files -0 "$SEARCH_TREE" | tr -cd '\0' | wc -c)
listed_bytes=$("$RG_PLAIN" --files -0 "$SEARCH_TREE" | xargs -0 stat -c %s -- | awk '{s += $1} END {printf "%.0f", s}')
echo "search tree: $SEARCH_TREE: ripgrep searches $listed files, $listed_bytes bytes ($(du -sh "$SEARCH_TREE" 2>/dev/null | cut -f1) in all, hidden and ignored files included)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "mode\tvariant\trep\twall_s\tcpu_s\tmaxrss_kb\texit\tevents\tlost\tdisk_bytes\toutput_bytes\n" >"$OUT/runs.tsv"
for mode in $MODES; do
  echo "warm-up: $mode" >&2
  run "$mode" plain 0
  sed -i '$d' "$OUT/runs.tsv"
done
for rep in $(seq "$REPS"); do
  for mode in $MODES; do
    variants=(plain nostacks stacks)
    [ "$rep" -le "$HEAPTRACK_REPS" ] && variants+=(heaptrack)
    for v in "${variants[@]}"; do
      echo "rep $rep/$REPS: $mode, $v" >&2
      run "$mode" "$v" "$rep"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$OUT/info.status"
for mode in $MODES; do
  s=0
  "$CLI" info "$OUT/last.$mode.memscope" >"$OUT/info.$mode.txt" 2>&1 || s=$?
  echo "$mode $s" >>"$OUT/info.status"
done

# --- 4. the tables ---------------------------------------------------------------------------
python3 - "$OUT/runs.tsv" "$OUT/info.status" "$PATTERN" "$SEARCH_TREE" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
info = dict(line.split() for line in open(sys.argv[2]))
pattern, tree = sys.argv[3], sys.argv[4]
names = {"plain": "plain (System)", "nostacks": "memscope, stacks off", "stacks": "memscope, stacks on",
         "heaptrack": "heaptrack (plain binary)"}
for mode in dict.fromkeys(r["mode"] for r in rows):
    by = {}
    for r in rows:
        if r["mode"] == mode:
            by.setdefault(r["variant"], []).append(r)
    med = lambda v, k: st.median(float(r[k]) for r in by[v])
    cmd = f"rg -n '{pattern}' {tree}" if mode == "search" else f"rg --files {tree}"
    print(f"\n### ripgrep, {mode}: `{cmd} > file`, medians of alternating runs\n")
    print("| variant | runs | wall s | × plain | CPU s | events | lost (sum) | bytes/event | max RSS MiB | output bytes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    pw = med("plain", "wall_s")
    events = med("stacks", "events") if "stacks" in by else 0
    for v in ("plain", "nostacks", "stacks", "heaptrack"):
        if v not in by:
            continue
        rs = by[v]
        w = med(v, "wall_s")
        outs = sorted(set(r["output_bytes"] for r in rs))
        if v in ("nostacks", "stacks"):
            ev = f"{int(med(v, 'events')):,}"
            lost = str(sum(int(r["lost"]) for r in rs))
            bpe = f"{st.median(float(r['disk_bytes']) / float(r['events']) for r in rs):.3f}"
        elif v == "heaptrack":
            ev, lost = "–", "–"
            bpe = f"≈ {med(v, 'disk_bytes') / events:.3f} (per memscope event)" if events else "–"
        else:
            ev = lost = bpe = "–"
        print(f"| {names[v]} | {len(rs)} | {w:.3f} | {w / pw:.3f} | {med(v, 'cpu_s'):.2f} | {ev} | {lost} | {bpe} | {med(v, 'maxrss_kb') / 1024:.1f} | {', '.join(outs)} |")
    plain_out = set(r["output_bytes"] for r in by["plain"])
    same = all(set(r["output_bytes"] for r in by[v]) == plain_out for v in ("nostacks", "stacks") if v in by)
    print()
    if "stacks" in by:
        ratio = med("stacks", "wall_s") / pw
        verdict = "met" if ratio <= 1.25 else "MISSED"
        print(f"{mode}: memscope with stacks {ratio:.3f}× plain wall time (target ≤ 1.25×: {verdict})", end="")
        if "heaptrack" in by:
            print(f"; heaptrack {med('heaptrack', 'wall_s') / pw:.3f}×", end="")
        print(".")
    print(f"{mode}: output of every memscope run the same size as plain's: {'yes' if same else 'NO'}; "
          f"`memscope info` on the last stacks recording: exit {info.get(mode, '?')} ({'replays, no damage' if info.get(mode) == '0' else 'SEE info.' + mode + '.txt'})")
PY
