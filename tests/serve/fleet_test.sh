#!/usr/bin/env bash
# A detection service and two sensors that follow it, inside a private network namespace:
# `metaids serve` on the namespace's loopback, two `metaids detect --interface --model-url
# --refresh 2` on one end of a veth pair, a capture of C2 beaconing (a family the built-in model
# does not know) replayed on the other end about once a second.
#  1. An adaptation at the service (five labelled flows) reaches both sensors within one
#     refresh interval, and both then alert on the new class with the new version.
#  2. The service stops and comes back: the sensors keep detecting, say so once each way.
#  3. A server that sends a damaged model file: refused once, the last good model kept.
# Background processes are started with `ip netns exec` itself (not a shell function), so that
# $! is the process and a signal reaches it. Exit 77 (ctest: skipped) without root, ip, tcpreplay, curl or python3. Bounded: every loop
# has a count, the replay loop stops with the test, the namespace is always removed.
set -euo pipefail
metaids="${1:?usage: fleet_test.sh METAIDS_BINARY}"
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace and raw capture)"
for tool in ip tcpreplay curl python3 jq; do command -v "$tool" >/dev/null || skip "$tool not installed"; done

ns="metaids-fleet-$$"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do echo "--- $f"; tail -n 6 "$f"; done
  exit 1
}
ip netns add "$ns" || skip "cannot create a network namespace here"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
in_ns ip link add mcap type veth peer name mreplay
in_ns ip link set mcap up
in_ns ip link set mreplay up

"$metaids" synth --out "$work/beacon.pcap" --families beacon --sessions 30 --duration 0.5 --seed 8 --quiet
"$metaids" flows --pcap "$work/beacon.pcap" --out "$work/beacon.csv" --quiet
head -n 6 "$work/beacon.csv" > "$work/five.csv"
port=18181
url="http://127.0.0.1:$port"
refresh=2

start_server() {
  ip netns exec "$ns" "$metaids" serve --state "$work/state" --listen "127.0.0.1:$port" 2>> "$work/server.log" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 50); do
    in_ns curl -sf -o /dev/null "$url/healthz" && return 0
    sleep 0.1
  done
  fail "the server did not start"
}
start_server
token=$(cat "$work/state/token")
first=$(in_ns curl -sf "$url/v1/model" | jq -r .version)

for s in 1 2; do
  ip netns exec "$ns" "$metaids" detect --interface mcap --immediate --flow-timeout 1 --model-url "$url" --refresh "$refresh" \
    --out "$work/eve$s.json" 2> "$work/sensor$s.log" &
  pids+=("$!")
  eval "sensor${s}_pid=$!"
done
# The capture, replayed about once a second for the rest of the test (at most 120 times).
( for _ in $(seq 120); do in_ns tcpreplay --intf1=mreplay --topspeed "$work/beacon.pcap" >/dev/null 2>&1; sleep 1; done ) &
replay_pid=$!
pids+=("$replay_pid")
sleep 4
for s in 1 2; do
  grep -q "version $first" "$work/sensor$s.log" || fail "sensor $s did not start with the service's model $first"
  [ -s "$work/eve$s.json" ] || fail "sensor $s wrote nothing"
  [ "$(grep -c '"signature":"C2 beacon"' "$work/eve$s.json" || true)" -eq 0 ] || fail "sensor $s knows C2 beacon already"
done
echo "two sensors detect with version $first"

# 1. Adapt at the service; both sensors must switch within one refresh interval.
adapted=$(in_ns curl -sf -X POST -H "Authorization: Bearer $token" -H "Content-Type: text/csv" \
  --data-binary @"$work/five.csv" "$url/v1/adapt?label=C2%20beacon" | jq -r .version)
[ -n "$adapted" ] && [ "$adapted" != null ] || fail "the adaptation failed"
t0=$(date +%s.%N)
for s in 1 2; do
  for _ in $(seq 100); do
    grep -q "now detecting with model version $adapted" "$work/sensor$s.log" && break
    sleep 0.05
  done
  grep -q "now detecting with model version $adapted" "$work/sensor$s.log" || fail "sensor $s did not take $adapted"
done
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "both sensors detect with $adapted ${took} s after the adaptation (refresh ${refresh} s)"
awk -v t="$took" -v r="$refresh" 'BEGIN { exit !(t <= r + 0.5) }' || fail "the new version took ${took} s to reach both sensors"
for s in 1 2; do
  for _ in $(seq 80); do
    grep -q "\"signature\":\"C2 beacon\".*\"model_version\":\[\"$adapted\"\]" "$work/eve$s.json" && break
    sleep 0.1
  done
  grep -q "\"signature\":\"C2 beacon\".*\"model_version\":\[\"$adapted\"\]" "$work/eve$s.json" ||
    fail "sensor $s has no C2 beacon alert from $adapted"
  echo "sensor $s: $(grep -c '"signature":"C2 beacon"' "$work/eve$s.json") C2 beacon alerts"
done

# 2. The service goes away and comes back.
kill -TERM "$server_pid"
wait "$server_pid" || true
sleep $((3 * refresh))
for s in 1 2; do
  eval "kill -0 \$sensor${s}_pid" || fail "sensor $s died while the service was down"
  [ "$(grep -c 'cannot be reached' "$work/sensor$s.log")" -eq 1 ] || fail "sensor $s did not say once that the service is away"
done
lines_before=$(wc -l < "$work/eve1.json")
start_server
sleep $((2 * refresh))
for s in 1 2; do
  [ "$(grep -c 'answers again' "$work/sensor$s.log")" -eq 1 ] || fail "sensor $s did not say once that the service is back"
  [ "$(grep -c 'now detecting with model version' "$work/sensor$s.log")" -eq 1 ] || fail "sensor $s changed models again"
done
[ "$(in_ns curl -sf "$url/v1/model" | jq -r .version)" = "$adapted" ] || fail "the service did not resume $adapted"
[ "$(wc -l < "$work/eve1.json")" -gt "$lines_before" ] || fail "sensor 1 stopped alerting"
echo "the service restarted; both sensors kept detecting"

# 3. A server that sends a damaged model file.
kill -TERM "$server_pid"
wait "$server_pid" || true
cp "$work/state/versions/"*"-$adapted.mids" "$work/bad.mids"
printf 'X' | dd of="$work/bad.mids" bs=1 seek=5000 conv=notrunc status=none
ip netns exec "$ns" python3 "$(dirname "$0")/bad_model_server.py" "$port" "$work/bad.mids" 2> "$work/bad-server.log" &
pids+=("$!")
sleep $((3 * refresh))
lines_before=$(wc -l < "$work/eve2.json")
sleep 2
for s in 1 2; do
  eval "kill -0 \$sensor${s}_pid" || fail "sensor $s died on a bad model file"
  [ "$(grep -c 'refused the model file' "$work/sensor$s.log")" -eq 1 ] || fail "sensor $s did not refuse the bad file once"
  grep 'refused the model file' "$work/sensor$s.log" | grep -q "keeping version $adapted" || fail "sensor $s did not keep $adapted"
done
[ "$(wc -l < "$work/eve2.json")" -gt "$lines_before" ] || fail "sensor 2 stopped alerting"
tail -n 1 "$work/eve2.json" | grep -q "\"model_version\":\[\"$adapted\"\]" || fail "sensor 2 alerts with another version"
echo "a damaged model file was refused; both sensors kept $adapted"

for s in 1 2; do
  eval "pid=\$sensor${s}_pid"
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 143 ] || fail "sensor $s exited $rc on SIGTERM"
done
grep -h "" "$work/sensor1.log" | grep -E "model|service" || true
echo "PASS"
