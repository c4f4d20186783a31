#!/usr/bin/env bash
# Replay A/B: times examples/replay_time.rs builds (replay_file: stacks and
# per-site tables included) on the same recordings, alternating A B A B …,
# and prints per binary and file the median wall time, CPU time (user+sys,
# all threads), events/s on the wall clock, and peak RSS.
#
#   benches/replay_ab.sh REPS FILE... -- BIN...
#
# Make the recordings with examples/replay_load.rs (see benches/README.md,
# "Issue 10: replay").
set -euo pipefail
reps=$1
shift
files=()
while [ "$1" != "--" ]; do files+=("$1"); shift; done
shift
bins=("$@")
out=$(mktemp -d)
for ((r = 0; r < reps; r++)); do
  for f in "${files[@]}"; do
    for b in "${bins[@]}"; do
      line=$(/usr/bin/time -f "cpu_s=%U+%S" "$b" "$f" 2>&1)
      ev=$(sed -n 's/.* events=\([0-9]*\) .*/\1/p' <<<"$line")
      s=$(sed -n 's/.* s=\([0-9.]*\) .*/\1/p' <<<"$line")
      rss=$(sed -n 's/.*maxrss_kb=\([0-9]*\).*/\1/p' <<<"$line")
      cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\)+\([0-9.]*\).*/\1 \2/p' <<<"$line" | awk '{print $1 + $2}')
      echo "$s $cpu $rss $ev" >>"$out/$(basename "$b").$(basename "$f")"
    done
  done
done
med() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
printf '%-14s %-26s %10s %10s %12s %10s\n' binary file wall_s cpu_s Mevents/s rss_MB
for f in "${files[@]}"; do
  for b in "${bins[@]}"; do
    d="$out/$(basename "$b").$(basename "$f")"
    w=$(cut -d' ' -f1 "$d" | med); c=$(cut -d' ' -f2 "$d" | med); m=$(cut -d' ' -f3 "$d" | med); e=$(head -1 "$d" | cut -d' ' -f4)
    printf '%-14s %-26s %10.3f %10.3f %12.2f %10.1f\n' "$(basename "$b")" "$(basename "$f")" "$w" "$c" "$(awk -v e="$e" -v w="$w" 'BEGIN{print e/w/1e6}')" "$(awk -v m="$m" 'BEGIN{print m/1024}')"
  done
done
rm -r "$out"
