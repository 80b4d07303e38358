#!/usr/bin/env bash
# Flow meters on the same generated captures, in one run: `metaids bench flows` (JSON lines),
# then `metaids flows` (all features, CSV written), Argus (argus -r … -w …, Debian's
# argus-server) and tshark's conversation tables (-z conv, far less than the CIC features) on
# the mixed and SYN-flood traces, each timed by CPU seconds (user + system) and wall seconds.
# Peers that are not installed are skipped with a note.
# Usage: bench/compare_flows.sh [PACKETS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-1000000}
build=${2:-build}
[ -x /usr/bin/time ] || { echo "compare_flows: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/metaids" bench flows --packets "$packets" --keep-pcap "$dir"

measure() {  # name trace command...
  local name=$1 trace=$2
  shift 2
  local start end usage
  start=$(date +%s.%N)
  /usr/bin/time -o "$dir/usage" -f '%U %S' "$@" >/dev/null 2>&1 || echo "compare_flows: $name exited non-zero" >&2
  usage=$(tail -1 "$dir/usage")
  end=$(date +%s.%N)
  python3 - "$name" "$trace" "$packets" "$start" "$end" "$usage" <<'PY'
import json, sys
name, trace, packets, start, end, usage = sys.argv[1:]
user, system = (float(x) for x in usage.split()[-2:])
cpu, wall, n = user + system, float(end) - float(start), int(packets)
print(json.dumps({"bench": "flows_peer", "tool": name, "trace": trace, "packets": n, "cpu_seconds": round(cpu, 3),
                  "wall_seconds": round(wall, 3), "packets_per_cpu_s": round(n / cpu) if cpu > 0 else None,
                  "packets_per_s": round(n / wall)}))
PY
}

for trace in mixed syn_flood; do
  pcap="$dir/$trace.pcap"
  measure metaids "$trace" "$build/metaids" flows --pcap "$pcap" --out "$dir/$trace.csv" --quiet
  if command -v argus >/dev/null; then
    measure argus "$trace" argus -r "$pcap" -w "$dir/$trace.argus"
    rm -f "$dir/$trace.argus"
  else
    echo "compare_flows: argus not installed (apt-get install argus-server), skipped" >&2
  fi
  if command -v tshark >/dev/null; then
    measure tshark-conv "$trace" tshark -r "$pcap" -q -z conv,tcp -z conv,udp
  else
    echo "compare_flows: tshark not installed, skipped" >&2
  fi
done
