#!/usr/bin/env bash
# The analyst's console in a real browser: `metaids serve` with alerts from two scored
# captures, Debian's headless Chromium driven by playwright-core (tests/serve/browser): log in,
# load and filter alerts, open the flows behind one, label five flows, see the new version,
# reload, roll back; the screenshot goes to $CONSOLE_SCREENSHOT (default: the build tree;
# docs/console.png is one). Exit 77 (ctest: skipped) without chromium, node, curl or
# tests/serve/browser/node_modules (npm ci --prefix tests/serve/browser).
set -euo pipefail
metaids="${1:?usage: console_test.sh METAIDS_BINARY}"
here="$(cd "$(dirname "$0")" && pwd)"
skip() { echo "SKIP: $*"; exit 77; }
command -v node >/dev/null || skip "node not installed"
command -v curl >/dev/null || skip "curl not installed"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || skip "chromium not installed (apt-get install chromium)"
[ -d "$here/browser/node_modules/playwright-core" ] || skip "playwright-core not installed (npm ci --prefix tests/serve/browser)"
# shellcheck source=serve_lib.sh
. "$here/serve_lib.sh"
serve_scratch
screenshot="${CONSOLE_SCREENSHOT:-$(dirname "$metaids")/console.png}"

"$metaids" synth --out "$work/mixed.pcap" --families web,dns,ssh,portscan,bruteforce --sessions 300 --seed 7 --quiet
"$metaids" flows --pcap "$work/mixed.pcap" --out "$work/mixed.csv" --quiet
"$metaids" synth --out "$work/beacon.pcap" --families beacon --sessions 200 --seed 8 --quiet
"$metaids" flows --pcap "$work/beacon.pcap" --out "$work/beacon.csv" --quiet

serve_start "$metaids" "$work/serve.log" "$work/state" || { echo "FAIL: the server did not start"; exit 1; }
token=$(cat "$work/state/token")
score() { curl -sf -X POST -H "Authorization: Bearer $token" -H "Content-Type: text/csv" --data-binary @"$1" "$url/v1/score" >/dev/null; }
score "$work/mixed.csv"
score "$work/beacon.csv"
# The beacon capture's flows that the built-in model calls something else (DoS Slowloris):
# the analyst recognises them and labels five.
node "$here/browser/console_test.js" "$url/" "$token" "$screenshot" "DoS Slowloris" "$work/beacon.csv"
[ -s "$screenshot" ] || { echo "FAIL: no screenshot"; exit 1; }
