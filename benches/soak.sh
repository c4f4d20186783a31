#!/usr/bin/env bash
# Continuous recording soak (issue 11; not in CI): records examples/soak.rs
# into a directory of segments for SECONDS (default 3600) and checks that
#   1. the recorder's resident memory stays flat: the last sample is at most
#      RSS_SLACK_KIB above the sample taken after the warm-up (a quarter of the
#      run: the workload's own heap fragments for its first ~20M replacements),
#   2. the directory's segments never exceed KEEP_BYTES plus one round's
#      overshoot (SLACK_BYTES, default 4 MiB) in any sample,
#   3. every segment left replays alone (`memscope info SEGMENT` exits 0), and
#      the directory replays (`memscope info DIR` exits 0: the deleted oldest
#      segments are not damage).
#
# Usage: benches/soak.sh [SECONDS [SEGMENT_BYTES [KEEP_BYTES [LIVE [OPS_PER_SEC]]]]]
# A short run: benches/soak.sh 30 1048576 8388608
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-3600}
SEGMENT_BYTES=${2:-8388608}
KEEP_BYTES=${3:-67108864}
LIVE=${4:-50000}
OPS=${5:-200000}
RSS_SLACK_KIB=${RSS_SLACK_KIB:-8192}
SLACK_BYTES=${SLACK_BYTES:-4194304}
DIR=${SOAK_DIR:-target/memscope/soak}
rm -rf "$DIR"
cargo build --release --example soak -p memscope --quiet
cargo build --release -p memscope-cli --quiet
LOG=$(mktemp)
target/release/examples/soak "$DIR" "$SECONDS_TO_RUN" "$SEGMENT_BYTES" "$KEEP_BYTES" "$LIVE" "$OPS" | tee "$LOG"
fail=0
# 1. RSS flat after the warm-up.
samples=$(grep -c '^t=' "$LOG" || true)
warm=$(( samples / 4 + 1 ))
first=$(grep '^t=' "$LOG" | sed -n "${warm}p" | sed 's/.*rss_kib=\([0-9]*\).*/\1/')
last=$(grep '^t=' "$LOG" | tail -1 | sed 's/.*rss_kib=\([0-9]*\).*/\1/')
if [ -n "$first" ] && [ "$last" -gt $(( first + RSS_SLACK_KIB )) ]; then
    echo "FAIL: resident memory grew from $first KiB (sample $warm) to $last KiB"; fail=1
else
    echo "ok: resident memory $first KiB after the warm-up, $last KiB at the end"
fi
# 2. Disk within the budget in every sample.
worst=$(sed -n 's/.*dir_bytes=\([0-9]*\).*/\1/p' "$LOG" | sort -n | tail -1)
if [ "$worst" -gt $(( KEEP_BYTES + SLACK_BYTES )) ]; then
    echo "FAIL: the directory held $worst bytes, more than keep_bytes $KEEP_BYTES + $SLACK_BYTES"; fail=1
else
    echo "ok: the directory held at most $worst bytes (keep_bytes $KEEP_BYTES)"
fi
# 3. Every segment replays alone, and the directory replays.
n=0
for seg in "$DIR"/[0-9]*.memscope; do
    n=$((n + 1))
    if ! target/release/memscope info "$seg" > /dev/null; then
        echo "FAIL: $seg does not replay alone"; fail=1
    fi
done
if target/release/memscope info "$DIR" > /dev/null; then
    echo "ok: $n segments replay alone, and the directory replays"
else
    echo "FAIL: the directory does not replay cleanly"; fail=1
fi
rm -f "$LOG"
exit $fail
