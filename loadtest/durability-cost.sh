#!/usr/bin/env bash
# What durability costs through the server: bump (a foreign comment, a durable focus) with
# wrk and event ingest with hoist-loadtest, for two builds of `hoist` in turn (A B A B), each
# on a fresh data directory, in one run so the ratios compare. Loopback only; bounded.
#
#   loadtest/durability-cost.sh BEFORE_HOIST AFTER_HOIST [ITEMS] [SECONDS]
#
# Needs wrk (apt-get install wrk) and a release hoist-loadtest (cargo build --release -p
# hoist-loadtest). Prints one line per run.
set -euo pipefail
before=$1; after=$2; items=${3:-100000}; secs=${4:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
lt=${LOADTEST:-$here/target/release/hoist-loadtest}
admin=durability-cost-admin-token-0123
port=18181
url=http://127.0.0.1:$port

run() {
    local name=$1 bin=$2 dir
    dir=$(mktemp -d)
    HOIST_ADMIN_TOKEN=$admin HOIST_LOG=warn "$bin" --listen 127.0.0.1:$port --data "$dir/data" >"$dir/log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -sf $url/healthz >/dev/null && break; sleep 0.1; done
    local bob
    bob=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d '{"name":"bob"}' $url/v1/users | sed 's/.*"token":"\([^"]*\)".*/\1/')
    # The bump board: ITEMS items (ids 1..ITEMS) through the loadtest's own loader, 1 s run.
    "$lt" --url $url --token $admin --scenario page --items "$items" --seconds 1 --connections 1 >/dev/null 2>&1
    local bump
    bump=$(ITEMS=$items TOKEN=$bob wrk -t1 -c32 -d"${secs}s" --latency -s "$here/loadtest/scripts/bump.lua" $url \
        | awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} END {print r " /s, p99 " p}')
    local ingest
    ingest=$("$lt" --url $url --token $admin --scenario ingest --items "$items" --seconds "$secs" --connections 4 2>/dev/null \
        | awk '/units\/s/ {u=$4} /p99/ {p=$8} END {print u " events/s, p99 " p " us a batch"}')
    kill -0 $pid || { echo "the server (pid $pid) died; its log:"; cat "$dir/log"; }
    local rss
    rss=$(awk '/VmHWM/ {print $2/1024 " MB peak RSS"}' /proc/$pid/status)
    kill -TERM $pid; wait $pid || true
    rm -rf "$dir"
    echo "$name: bump $bump | ingest $ingest | $rss"
}

for round in 1 2; do
    run "before (round $round)" "$before"
    run "after  (round $round)" "$after"
done
