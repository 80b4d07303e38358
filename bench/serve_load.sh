#!/usr/bin/env bash
# A load run of `metaids serve` on loopback with wrk (Debian's): requests/s and latency
# percentiles for scoring batches of 1 and 1000 flows (CSV) and for adaptation, on this
# machine's cores, the load generator included. Prints wrk's reports and one summary line per
# case, with the server's CPU time per request (from /proc: what other load on the machine does
# not change). docs/performance.md ("The detection service") has the numbers and how they were made.
#
#   bench/serve_load.sh [BUILD_DIR] [SECONDS] [all|score|adapt]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
seconds="${2:-10}"
cases="${3:-all}"
case "$cases" in all|score|adapt) ;; *) echo "cases: all, score or adapt"; exit 2 ;; esac
metaids="$build/metaids"
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)"; exit 1; }
# shellcheck source=../tests/serve/serve_lib.sh
. tests/serve/serve_lib.sh
serve_scratch

"$metaids" synth --out "$work/mixed.pcap" --sessions 1500 --seed 7 --quiet
"$metaids" flows --pcap "$work/mixed.pcap" --out "$work/mixed.csv" --quiet
head -n 1001 "$work/mixed.csv" > "$work/batch1000.csv"
head -n 2 "$work/mixed.csv" > "$work/batch1.csv"
# Flows of a family the built-in model does not know, enough that every adaptation of the run
# labels five it has not seen (bench/serve/post.lua with SHOTS=5).
"$metaids" synth --out "$work/beacon.pcap" --families beacon --sessions "$((seconds * 2000))" --seed 8 --quiet
"$metaids" flows --pcap "$work/beacon.pcap" --out "$work/beacon.csv" --quiet
[ "$(tail -n +2 "$work/batch1000.csv" | wc -l)" -eq 1000 ] || { echo "fewer than 1000 flows"; exit 1; }

start() {
  serve_start "$metaids" "$work/serve-$1.log" "$work/state-$1"
  export TOKEN
  TOKEN=$(cat "$work/state-$1/token")
}
stop() { kill "$server_pid"; wait "$server_pid" || true; server_pid=""; }
run() {  # run NAME CONNECTIONS PATH BODY [SHOTS: flows of BODY per request, 0: all of it]
  local name="$1" connections="$2" path="$3" body="$4" shots="${5:-0}"
  echo "== $name: wrk -t1 -c$connections -d${seconds}s"
  local ticks_before ticks_after
  ticks_before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  BODY_FILE="$body" SHOTS="$shots" CONTENT_TYPE=text/csv wrk -t1 -c"$connections" -d"${seconds}s" --latency \
    -s bench/serve/post.lua "http://127.0.0.1:$port$path" | tee "$work/$name.txt"
  ticks_after=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  local rps p50 p99 requests cpu
  requests=$(awk '/requests in/ {print $1}' "$work/$name.txt")
  # The server's CPU time per request (user + system): what the machine's load does not change.
  cpu=$(awk -v t=$((ticks_after - ticks_before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.3f", t * 1000 / hz / n }')
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$name.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name.txt")
  local refused
  refused=$(awk '/Non-2xx or 3xx responses/ {print $NF}' "$work/$name.txt")
  echo "summary: $name connections=$connections requests/s=$rps p50=$p50 p99=$p99 server_cpu_ms_per_request=$cpu non_2xx=${refused:-0}"
}

if [ "$cases" != adapt ]; then
start score
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' \
  --data-binary @"$work/batch1000.csv" "http://127.0.0.1:$port/v1/score"
run score1-c1 1 /v1/score "$work/batch1.csv"
run score1-c4 4 /v1/score "$work/batch1.csv"
run score1000-c2 2 /v1/score "$work/batch1000.csv"
run score1000-c4 4 /v1/score "$work/batch1000.csv"
stop
fi
[ "$cases" != score ] || exit 0
start adapt
run adapt-c1 1 "/v1/adapt?label=C2%20beacon" "$work/beacon.csv" 5
versions=$(curl -sf "http://127.0.0.1:$port/v1/model" | jq '.versions[0].seq')
size=$(curl -sf "http://127.0.0.1:$port/v1/model/file" | wc -c)
echo "summary: adapt made $versions versions; the last model file is $size bytes"
stop
