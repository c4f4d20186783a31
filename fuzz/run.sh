#!/usr/bin/env bash
# Runs every fuzz target for a short time (default 30 s each), from seeds:
# the golden recordings for replay_bytes, their payloads for payload_bytes.
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Usage: bash fuzz/run.sh [SECONDS]
set -euo pipefail
secs=${1:-30}
cd "$(dirname "$0")/.."
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds/replay_bytes" "$seeds/payload_bytes" "$seeds/payload_round_trip"
cp tests/golden/*.memscope "$seeds/replay_bytes/"
for t in replay_bytes payload_bytes payload_round_trip; do
    # Persistent corpora live in fuzz/corpus/<target> (not committed).
    mkdir -p "fuzz/corpus/$t"
    echo "== fuzz $t for ${secs}s"
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "$seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
