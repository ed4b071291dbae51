#!/usr/bin/env bash
# Hoist beside its peers, in one run, on the board workload (one board, 10 columns, N items):
#
#   - the transport ceiling: `hoist-ceiling`, actix-web with no storage, same page shape;
#   - Redis 7 + Lua (AOF everysec, so not durable per reply): a sorted set per column, a hash
#     per item; page = ZREVRANGE 50 + the titles, bump = a new top score;
#   - Hoist: page = GET /v1/boards/1/columns/{random}/items?limit=50, bump = a comment by a
#     user who is not the item's responsible (a durable focus to the top).
#
#   loadtest/compare.sh            # N=1000000 CONNS=32 SECS=10
#
# Needs wrk, redis-server and redis-benchmark (apt-get install wrk redis-server). Clients
# share the machine with the servers: wrk -t1, redis-benchmark. Loopback only; every run is
# bounded. Prints a table and the ratios the targets are stated in.
set -euo pipefail
N=${N:-1000000}; C=${CONNS:-32}; SECS=${SECS:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
for t in wrk redis-server redis-benchmark redis-cli; do
    command -v $t >/dev/null || { echo "needs $t (apt-get install wrk redis-server)" >&2; exit 1; }
done
(cd "$here" && cargo build --release -q -p hoist-server -p hoist-loadtest)
bin=$here/target/release
work=$(mktemp -d)
pids=()
# The servers are waited for before their directories go: a server still closing (its
# last checkpoint) would write into a directory being removed.
cleanup() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]:-}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

wrk_run() { # script url -> "rps p99"
    wrk -t1 -c"$C" -d"${SECS}s" --latency -s "$1" "$2" \
        | awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} END {printf "%.0f %s\n", r, p}'
}
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

# 1. The ceiling.
PORT=18090 "$bin/hoist-ceiling" >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf http://127.0.0.1:18090/p/1 >/dev/null && break; sleep 0.1; done
read -r ceil_page ceil_page_p99 < <(wrk_run "$here/loadtest/scripts/ceiling-page.lua" http://127.0.0.1:18090)
read -r ceil_bump ceil_bump_p99 < <(wrk_run "$here/loadtest/scripts/ceiling-bump.lua" http://127.0.0.1:18090)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# 2. Redis 7 + Lua.
rport=6399
redis-server --port $rport --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync everysec \
    --save '' --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
for _ in $(seq 50); do redis-cli -p $rport ping >/dev/null 2>&1 && break; sleep 0.1; done
R="redis-cli -p $rport"
$R EVAL "for i=0,tonumber(ARGV[1])-1 do redis.call('ZADD','col:'..(i%10),i,i); redis.call('HSET','item:'..i,'title','Item '..i,'col',i%10) end; redis.call('SET','seq',ARGV[1]); return 1" 0 "$N" >/dev/null
BUMP=$($R SCRIPT LOAD "local id=tonumber(ARGV[1])%$N; local s=redis.call('INCR','seq'); redis.call('ZADD','col:'..(id%10),s,id); return s")
PAGE=$($R SCRIPT LOAD "local c=tonumber(ARGV[1])%10; local ids=redis.call('ZREVRANGE','col:'..c,0,49); local out={}; for i,id in ipairs(ids) do out[#out+1]=id; out[#out+1]=redis.call('HGET','item:'..id,'title') end; return out")
redis_run() { # sha -> "rps p99ms"
    redis-benchmark -p $rport -c "$C" -n $((C * 10000)) -r 1000000000 --csv EVALSHA "$1" 0 __rand_int__ 2>/dev/null \
        | tail -1 | awk -F'","' '{gsub(/"/, "", $2); gsub(/"/, "", $7); printf "%.0f %sms\n", $2, $7}'
}
read -r redis_page redis_page_p99 < <(redis_run "$PAGE")
read -r redis_bump redis_bump_p99 < <(redis_run "$BUMP")
kill "$(cat "$work/redis.pid")"

# 3. Hoist, durable.
admin=compare-admin-token-0123456789
HOIST_ADMIN_TOKEN=$admin HOIST_LOG=warn "$bin/hoist" --listen 127.0.0.1:18191 --data "$work/hoist" >/dev/null 2>&1 & pids+=($!)
hpid=${pids[-1]}
wait_http http://127.0.0.1:18191/healthz
bob=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"name":"bob"}' http://127.0.0.1:18191/v1/users | sed 's/.*"token":"\([^"]*\)".*/\1/')
"$bin/hoist-loadtest" --url http://127.0.0.1:18191 --token $admin --scenario page --items "$N" \
    --seconds 1 --connections 1 >/dev/null 2>&1
rss_loaded=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$hpid/status)
read -r hoist_page hoist_page_p99 < <(TOKEN=$admin wrk_run "$here/loadtest/scripts/page.lua" http://127.0.0.1:18191)
cpu0=$(awk '{print $14+$15}' /proc/$hpid/stat)
t0=$(date +%s.%N)
read -r hoist_bump hoist_bump_p99 < <(ITEMS=$N TOKEN=$bob wrk_run "$here/loadtest/scripts/bump.lua" http://127.0.0.1:18191)
t1=$(date +%s.%N)
cpu1=$(awk '{print $14+$15}' /proc/$hpid/stat)
tck=$(getconf CLK_TCK)
cpu_us=$(echo "($cpu1 - $cpu0) / $tck * 1000000 / ($hoist_bump * ($t1 - $t0))" | bc -l)
rss_peak=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$hpid/status)

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo "Same run, $(date -u +%Y-%m-%d), N=$N items, $C connections, ${SECS}s per load (wrk -t1 / redis-benchmark)"
echo
echo "| | page /s (p99) | bump /s (p99) |"
echo "|---|---|---|"
echo "| ceiling (actix, no storage) | $ceil_page ($ceil_page_p99) | $ceil_bump ($ceil_bump_p99) |"
echo "| Redis 7 + Lua (AOF everysec) | $redis_page ($redis_page_p99) | $redis_bump ($redis_bump_p99) |"
echo "| Hoist, durable | $hoist_page ($hoist_page_p99) | $hoist_bump ($hoist_bump_p99) |"
echo
echo "page: Hoist / Redis $(ratio "$hoist_page" "$redis_page"), Hoist / ceiling $(ratio "$hoist_page" "$ceil_page")"
echo "bump: Hoist / Redis $(ratio "$hoist_bump" "$redis_bump"), Hoist / ceiling $(ratio "$hoist_bump" "$ceil_bump")"
printf "Hoist: server CPU per durable bump %.0f µs; RSS %s MB after the load, %s MB peak\n" "$cpu_us" "$rss_loaded" "$rss_peak"
