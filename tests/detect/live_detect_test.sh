#!/usr/bin/env bash
# Live detection end to end: a veth pair inside a private network namespace, `metaids detect
# --interface` on one end, tcpreplay of a generated trace on the other.
#  1. Alerts as they happen on a quiet link: UDP flows end only by their timeout (1 s here);
#     after the replay the link is silent, and every flow must be in the EVE file within
#     about a second of its timeout, before the detector is stopped.
#  2. SIGHUP reopens the EVE file (log rotation): after `mv eve.json eve.json.1` and SIGHUP,
#     new alerts go to a new eve.json.
#  3. SIGTERM: the open flows are scored and written, the file ends with a whole line, a
#     summary is printed, and the exit status is 143.
# Exit 77 (ctest: skipped) without root, ip or tcpreplay. The namespace is always removed.
set -euo pipefail
metaids="${1:?usage: live_detect_test.sh METAIDS_BINARY}"
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace and raw capture)"
command -v ip >/dev/null || skip "ip (iproute2) not installed"
command -v tcpreplay >/dev/null || skip "tcpreplay not installed"

. "$(dirname "$0")/../common/netns.sh"
netns_up metaids-detect

# DNS only: UDP flows that end by the flow timeout alone. Every flow alerts (threshold below
# any margin), so the EVE file shows exactly which flows were scored.
"$metaids" synth --out "$work/dns.pcap" --families dns --sessions 40 --duration 1 --seed 3 --quiet
flows_expected=$("$metaids" flows --pcap "$work/dns.pcap" --quiet | tail -n +2 | wc -l)
eve="$work/eve.json"

ip netns exec "$ns" "$metaids" detect --interface mcap --immediate --flow-timeout 1 --threshold -1e30 \
  --out "$eve" --pidfile "$work/detect.pid" 2> "$work/detect.log" &
capture_pid=$!
sleep 1.5
[ -s "$work/detect.pid" ] || { echo "no pid file"; cat "$work/detect.log"; exit 1; }

# 1. Replay (about 1 s), then silence: the flows time out 1 s after their first packet and
#    must be written within about a second after that, with no packet to wake the capture.
in_ns tcpreplay --intf1=mreplay --topspeed "$work/dns.pcap" > "$work/replay.log" 2>&1
sleep 3
written=$(wc -l < "$eve")
echo "flows in the capture: $flows_expected; alerts written 3 s after the replay, on a silent link: $written"
[ "$written" -eq "$flows_expected" ] || { echo "FAIL: idle flows were not alerted while the link was quiet"; cat "$work/detect.log"; exit 1; }

# 2. Log rotation.
mv "$eve" "$eve.1"
kill -HUP "$capture_pid"
sleep 0.5
in_ns tcpreplay --intf1=mreplay --topspeed "$work/dns.pcap" > "$work/replay.log" 2>&1
sleep 3
[ -s "$eve" ] || { echo "FAIL: no new EVE file after SIGHUP"; cat "$work/detect.log"; exit 1; }
rotated=$(wc -l < "$eve.1")
[ "$rotated" -eq "$flows_expected" ] || { echo "FAIL: the rotated file changed after SIGHUP ($rotated lines)"; exit 1; }

# 3. SIGTERM with flows still open: they are written, the last line is whole, status 143.
in_ns tcpreplay --intf1=mreplay --topspeed "$work/dns.pcap" > "$work/replay.log" 2>&1
before_stop=$(wc -l < "$eve")
kill -TERM "$capture_pid"
rc=0
wait "$capture_pid" || rc=$?
capture_pid=""
cat "$work/detect.log"
[ "$rc" -eq 143 ] || { echo "FAIL: expected exit status 143 after SIGTERM, got $rc"; exit 1; }
after_stop=$(wc -l < "$eve")
echo "alerts in the new file: $before_stop before SIGTERM, $after_stop after"
[ "$after_stop" -eq $((2 * flows_expected)) ] || { echo "FAIL: open flows were lost at SIGTERM"; exit 1; }
[ "$(tail -c 1 "$eve" | od -An -c | tr -d ' ')" = '\n' ] || { echo "FAIL: the EVE file does not end with a whole line"; exit 1; }
grep -q "^detect: flows=" "$work/detect.log" || { echo "FAIL: no summary line"; exit 1; }
[ ! -e "$work/detect.pid" ] || { echo "FAIL: the pid file was left behind"; exit 1; }
echo "PASS"
