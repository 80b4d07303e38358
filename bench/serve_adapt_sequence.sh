#!/usr/bin/env bash
# Sequential adaptations through `metaids serve` with curl, one after another, each labelling
# five flows of a C2 beacon capture the built-in model has not seen (new flows every time):
# the handler's own time (the answer's elapsed_ms) and curl's whole request, p50/p90/p99.
# docs/performance.md ("The detection service") has the numbers and how they were made.
#
#   bench/serve_adapt_sequence.sh [BUILD_DIR] [ADAPTATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
count="${2:-200}"
metaids="$build/metaids"
for tool in curl jq; do command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 1; }; done
# shellcheck source=../tests/serve/serve_lib.sh
. tests/serve/serve_lib.sh
serve_scratch

"$metaids" synth --out "$work/beacon.pcap" --families beacon --sessions $((count * 10)) --seed 8 --quiet
"$metaids" flows --pcap "$work/beacon.pcap" --out "$work/beacon.csv" --quiet
[ "$(tail -n +2 "$work/beacon.csv" | wc -l)" -ge $((count * 5)) ] || { echo "fewer than $((count * 5)) flows"; exit 1; }

serve_start "$metaids" "$work/serve.log" "$work/state"
token=$(cat "$work/state/token")
for i in $(seq 0 $((count - 1))); do
  { head -n 1 "$work/beacon.csv"; tail -n +2 "$work/beacon.csv" | sed -n "$((i * 5 + 1)),$((i * 5 + 5))p"; } > "$work/body.csv"
  curl -sf -o "$work/answer.json" -w '%{time_total}\n' -X POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: text/csv' --data-binary @"$work/body.csv" "$url/v1/adapt?label=C2%20beacon" >> "$work/curl.txt"
  jq -r .elapsed_ms "$work/answer.json" >> "$work/handler.txt"
done
percentiles() {  # percentiles NAME FILE SCALE
  sort -g "$2" | awk -v name="$1" -v scale="$3" '{ v[NR] = $1 * scale }
    END { printf "%s p50=%.2fms p90=%.2fms p99=%.2fms\n", name, v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], v[int(NR * 0.99) + 1] }'
}
echo "summary: $count sequential adaptations, five new flows each"
percentiles "summary: handler" "$work/handler.txt" 1
percentiles "summary: curl" "$work/curl.txt" 1000
