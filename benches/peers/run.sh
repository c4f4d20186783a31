#!/usr/bin/env bash
# The peer comparison of benches/README.md, in one sitting:
#
#   benches/peers/run.sh [N] [THREADS...]      # defaults: 5000000 pairs, threads 1 2
#
# 1. Wall time, max RSS and bytes on disk of the peer workload (N pairs split
#    across T threads) built as: plain System, memscope (OnFull::Block,
#    default config: call stacks on), memscope without call stacks
#    (MEMSCOPE_PEERS_STACKS=0), dhat-rs 0.3.3, memscope-rs 0.2.5 (if it builds), and the
#    System binary under heaptrack. Variants alternate run by run; each figure
#    is the median of REPS (3) runs under `/usr/bin/time -f` (wall time taken
#    around it with µs resolution, max RSS from its %M).
# 2. Instructions per event from `valgrind --tool=callgrind` (System vs
#    memscope, 1 thread, CALLGRIND_N pairs): repeatable where wall time is not.
# 3. Recorder memory against run length: max RSS of memscope at each of FLAT_N.
#
# Needs only crates.io and Debian packages (heaptrack, time, valgrind are
# installed with apt-get when missing). Environment knobs: REPS (3),
# CALLGRIND_N (200000), FLAT_N ("1000000 20000000"), SKIP (any of "peers
# callgrind flat" to skip sections), OUT (benches/peers/out).
set -euo pipefail
cd "$(dirname "$0")"

N=${1:-5000000}
shift || true
THREADS=("$@")
[ ${#THREADS[@]} -eq 0 ] && THREADS=(1 2)
REPS=${REPS:-3}
CALLGRIND_N=${CALLGRIND_N:-200000}
FLAT_N=${FLAT_N:-"1000000 20000000"}
SKIP=${SKIP:-}
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"

need() { # need COMMAND DEBIAN-PACKAGE
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    echo "installing $2 (for $1)" >&2
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
  fi
}
need /usr/bin/time time
need heaptrack heaptrack
need valgrind valgrind

echo "building the variants (cargo build --release)" >&2
VARIANTS=(system memscope memscope-nostacks memscope-sampled dhat)
# Only the binaries measured here (src/bin/codec_alternatives.rs is a separate study; CI checks
# that every binary here compiles).
if cargo build --release --quiet --features memscope-rs --bin system --bin memscope --bin dhat --bin memscope-rs >&2; then
  VARIANTS+=(memscope-rs)
  MEMSCOPE_RS_NOTE=""
else
  echo "memscope-rs 0.2.5 does not build here; going on without it" >&2
  cargo build --release --quiet --bin system --bin memscope --bin dhat >&2
  MEMSCOPE_RS_NOTE="memscope-rs 0.2.5 did not build here (see the cargo error above)."
fi
VARIANTS+=(heaptrack)
BIN=$PWD/target/release

# run VARIANT PAIRS THREADS: appends "wall_s maxrss_kb disk_bytes loop_s lost cpu_s loop_cpu_s"
# to $OUT/VARIANT.T.PAIRS. wall_s is measured around `/usr/bin/time` with bash's EPOCHREALTIME
# (µs), as %e has only 10 ms resolution; maxrss_kb is its %M and cpu_s its %U + %S (the
# process and the children it waited for); loop_s and loop_cpu_s are the binary's own timing
# of the workload: wall time, and the CPU time of the workload threads (src/lib.rs).
run() {
  local v=$1 n=$2 t=$3 tfile="$OUT/time.txt" disk=0 lost=0 t0 t1
  rm -f "$OUT"/run.* "$OUT"/heaptrack.run.*
  t0=$EPOCHREALTIME
  case $v in
    system | memscope-rs) /usr/bin/time -f "%e %M %U %S" -o "$tfile" "$BIN/$v" "$n" "$t" >"$OUT/stdout.txt" ;;
    memscope) MEMSCOPE_PEERS_OUT="$OUT/run.memscope" /usr/bin/time -f "%e %M %U %S" -o "$tfile" "$BIN/memscope" "$n" "$t" >"$OUT/stdout.txt" ;;
    memscope-nostacks) MEMSCOPE_PEERS_STACKS=0 MEMSCOPE_PEERS_OUT="$OUT/run.memscope" /usr/bin/time -f "%e %M %U %S" -o "$tfile" "$BIN/memscope" "$n" "$t" >"$OUT/stdout.txt" ;;
    memscope-sampled) MEMSCOPE_PEERS_SAMPLING=524288 MEMSCOPE_PEERS_OUT="$OUT/run.memscope" /usr/bin/time -f "%e %M %U %S" -o "$tfile" "$BIN/memscope" "$n" "$t" >"$OUT/stdout.txt" ;;
    dhat) DHAT_PEERS_OUT="$OUT/run.dhat.json" /usr/bin/time -f "%e %M %U %S" -o "$tfile" "$BIN/dhat" "$n" "$t" >"$OUT/stdout.txt" 2>/dev/null ;;
    heaptrack) /usr/bin/time -f "%e %M %U %S" -o "$tfile" heaptrack -o "$OUT/heaptrack.run" "$BIN/system" "$n" "$t" >"$OUT/stdout.txt" 2>&1 ;;
  esac
  t1=$EPOCHREALTIME
  case $v in
    memscope | memscope-nostacks | memscope-sampled)
      disk=$(stat -c %s "$OUT/run.memscope")
      lost=$(sed -n 's/.*events_lost=\([0-9]*\).*/\1/p' "$OUT/stdout.txt")
      ;;
    dhat) disk=$(stat -c %s "$OUT/run.dhat.json") ;;
    heaptrack) disk=$(stat -c %s "$OUT"/heaptrack.run.*) ;;
  esac
  local loop loop_cpu wall
  loop=$(sed -n 's/^loop_s=\([0-9.]*\).*/\1/p' "$OUT/stdout.txt")
  loop_cpu=$(sed -n 's/^loop_s=.* loop_cpu_s=\([0-9.]*\).*/\1/p' "$OUT/stdout.txt")
  wall=$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.6f", b - a }')
  tail -n 1 "$tfile" | awk -v w="$wall" -v d="$disk" -v l="${loop:-0}" -v lost="${lost:-0}" -v lc="${loop_cpu:-0}" \
    '{ printf "%s %s %s %s %s %.2f %s\n", w, $2, d, l, lost, $3 + $4, lc }' >>"$OUT/$v.$t.$n"
  rm -f "$OUT"/run.* "$OUT"/heaptrack.run.*
}

# median FILE COLUMN
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [[ " $SKIP " != *" peers "* ]]; then
rm -f "$OUT"/*.*.[0-9]*
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r), $(rustc --version)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

for rep in $(seq "$REPS"); do
  for t in "${THREADS[@]}"; do
    for v in "${VARIANTS[@]}"; do
      echo "rep $rep/$REPS: $v, $N pairs, $t threads" >&2
      run "$v" "$N" "$t"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "### Peer workload: $N pairs ($((2 * N)) events) split across T threads; medians of $REPS runs"
echo
echo "| tool | T | wall s | × System | ns added per event (wall) | loop s | CPU s | ns added per event (allocating thread CPU) | bytes/event on disk | max RSS MiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for t in "${THREADS[@]}"; do
  base=$(median "$OUT/system.$t.$N" 1)
  base_lc=$(median "$OUT/system.$t.$N" 7)
  for v in "${VARIANTS[@]}"; do
    f="$OUT/$v.$t.$N"
    awk -v v="$v" -v t="$t" -v w="$(median "$f" 1)" -v b="$base" -v r="$(median "$f" 2)" -v d="$(median "$f" 3)" \
      -v l="$(median "$f" 4)" -v c="$(median "$f" 6)" -v lc="$(median "$f" 7)" -v blc="$base_lc" -v n="$N" 'BEGIN {
      name = v; if (v == "heaptrack") name = "heaptrack (System binary)"
      added = (v == "system") ? "–" : sprintf("%.1f", (w - b) * 1e9 / (2 * n / t))
      added_cpu = (v == "system") ? "–" : sprintf("%.1f", (lc - blc) * 1e9 / (2 * n))
      bpe = (d > 0) ? sprintf("%.3f", d / (2 * n)) : "–"
      printf "| %s | %d | %.3f | %.1f | %s | %.3f | %.2f | %s | %s | %.1f |\n", name, t, w, w / b, added, l, c, added_cpu, bpe, r / 1024 }'
  done
done
echo
# The whole-run targets of issue 10 (item 5), from the medians above.
for t in "${THREADS[@]}"; do
  awk -v t="$t" -v s="$(median "$OUT/system.$t.$N" 1)" -v ns="$(median "$OUT/memscope-nostacks.$t.$N" 1)" \
    -v st="$(median "$OUT/memscope.$t.$N" 1)" -v ht="$(median "$OUT/heaptrack.$t.$N" 1)" 'BEGIN {
    if (t == 1) printf "target: memscope without stacks, 1 thread: %.2f× System (≤ 3.4×: %s)\n", ns / s, (ns / s <= 3.4) ? "met" : "MISSED"
    printf "target: memscope with stacks, %d thread(s): %.2f× System against heaptrack'"'"'s %.2f×, %.2f of heaptrack'"'"'s ratio (≤ 0.5: %s)\n", t, st / s, ht / s, st / ht, (st / ht <= 0.5) ? "met" : "MISSED" }'
  # Issue 11: sampling at 512 KiB, the whole run ≤ 1.3× System.
  awk -v t="$t" -v s="$(median "$OUT/system.$t.$N" 1)" -v sm="$(median "$OUT/memscope-sampled.$t.$N" 1)" 'BEGIN {
    printf "target: memscope sampling at 512 KiB, %d thread(s): %.2f× System (≤ 1.3×: %s)\n", t, sm / s, (sm / s <= 1.3) ? "met" : "MISSED" }'
done
echo
lost=$(cat "$OUT"/memscope.*."$N" | awk '{s += $5} END {print s}')
echo "memscope events lost, summed over its $((REPS * ${#THREADS[@]})) runs above: $lost."
echo "wall: the whole process (start, workload, the tool's finish, exit), timed around /usr/bin/time."
echo "ns added per event (wall) = (wall − System wall) / (2N/T): per event per thread."
echo "loop: the workload alone, timed in the process. CPU: user + sys of the process (%U + %S; heaptrack's"
echo "includes its interpreter). ns added per event (allocating thread CPU) = (CPU time of the workload threads"
echo "over their loops − System's) / 2N: the tool's cost on the threads that allocate, without its other threads."
echo "max RSS: /usr/bin/time's %M (for heaptrack, its largest process). bytes/event: the tool's file / 2N."
if [ -n "$MEMSCOPE_RS_NOTE" ]; then echo "$MEMSCOPE_RS_NOTE"; fi
fi

if [[ " $SKIP " != *" callgrind "* ]]; then
  echo
  echo "### Instructions (valgrind --tool=callgrind --separate-threads=yes), $CALLGRIND_N pairs, 1 thread"
  echo
  rm -f "$OUT"/cg.*
  cg() { # cg NAME BINARY [ENV...]
    env "${@:3}" MEMSCOPE_PEERS_OUT="$OUT/cg.memscope" valgrind --tool=callgrind --separate-threads=yes \
      --callgrind-out-file="$OUT/cg.$1.out" "$BIN/$2" "$CALLGRIND_N" 1 >/dev/null 2>&1
  }
  cg system system
  cg idle memscope MEMSCOPE_PEERS_RECORD=0
  cg memscope memscope
  # thread_ir NAME PATTERN: the Ir of the thread whose profile mentions PATTERN
  thread_ir() {
    for f in "$OUT"/cg."$1".out-*; do
      if grep -q "$2" "$f"; then sed -n 's/^totals: //p' "$f"; return; fi
    done
    echo 0
  }
  all_ir() { cat "$OUT"/cg."$1".out-* | awk '/^totals: / {s += $2} END {print s}'; }
  ev=$((2 * CALLGRIND_N))
  echo "| Ir (instructions) | System | memscope, no recording | memscope, recording | added per event, no recording | added per event, recording |"
  echo "| --- | --- | --- | --- | --- | --- |"
  awk -v a="$(thread_ir system run_global)" -v i="$(thread_ir idle run_global)" -v b="$(thread_ir memscope run_global)" -v e="$ev" \
    'BEGIN { printf "| allocating thread | %d | %d | %d | %.1f | %.1f |\n", a, i, b, (i - a) / e, (b - a) / e }'
  awk -v b="$(thread_ir memscope 'drain::Drainer')" -v e="$ev" \
    'BEGIN { printf "| memscope-drain thread | – | – | %d | – | %.1f |\n", b, b / e }'
  awk -v a="$(all_ir system)" -v i="$(all_ir idle)" -v b="$(all_ir memscope)" -v e="$ev" \
    'BEGIN { printf "| whole process | %d | %d | %d | %.1f | %.1f |\n", a, i, b, (i - a) / e, (b - a) / e }'
  echo
  echo "Valgrind runs clock_gettime as a real syscall instead of the vDSO, and counts no kernel instructions:"
  echo "the clock read costs 10 Ir here, far less than on hardware (see parts/clock_gettime_monotonic in benches/overhead.rs)."
  rm -f "$OUT"/cg.memscope
fi

if [[ " $SKIP " != *" flat "* ]]; then
  echo
  echo "### memscope's memory against run length (1 thread; medians of $REPS runs)"
  echo
  echo "| pairs | wall s | max RSS KiB | bytes/event on disk | events lost |"
  echo "| --- | --- | --- | --- | --- |"
  for n in $FLAT_N; do rm -f "$OUT/memscope.1.$n"; done
  for rep in $(seq "$REPS"); do
    for n in $FLAT_N; do
      echo "flat rep $rep/$REPS: memscope, $n pairs" >&2
      run memscope "$n" 1
    done
  done
  for n in $FLAT_N; do
    f="$OUT/memscope.1.$n"
    awk -v n="$n" -v w="$(median "$f" 1)" -v r="$(median "$f" 2)" -v d="$(median "$f" 3)" -v lost="$(awk '{s += $5} END {print s}' "$f")" \
      'BEGIN { printf "| %d | %.3f | %d | %.3f | %d |\n", n, w, r, d / (2 * n), lost }'
  done
fi
