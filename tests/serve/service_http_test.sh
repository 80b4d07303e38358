#!/usr/bin/env bash
# metaids serve through the binary, driven with curl (real HTTP clients, several at once):
#  1. bad and missing tokens (401), oversized (413), compressed (415), malformed (400) bodies:
#     JSON errors, and the server keeps answering;
#  2. score a capture's flows (CSV and JSON), adapt from five of them by flow id while four
#     clients keep scoring, see the new class; small requests on keep-alive connections are
#     answered in milliseconds (TCP_NODELAY);
#  3. rollback to the first version; SIGTERM (exit 143); a restart resumes the version in force;
#     a damaged version file is skipped for the newest good one.
# Exit 77 (ctest: skipped) without curl, jq or python3.
set -euo pipefail
metaids="${1:?usage: service_http_test.sh METAIDS_BINARY}"
for tool in curl jq python3; do command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }; done
# shellcheck source=serve_lib.sh
. "$(dirname "$0")/serve_lib.sh"
serve_scratch
fail() { echo "FAIL: $*"; [ -f "$work/serve.log" ] && tail -n 20 "$work/serve.log"; exit 1; }

start_server() { serve_start "$metaids" "$work/serve.log" "$work/state" --max-body 1 "$@" || fail "the server did not start"; }
stop_server() {
  kill -TERM "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  [ "$rc" -eq 143 ] || fail "expected exit status 143 after SIGTERM, got $rc"
}
# status BODY_FILE CURL_ARGS...: the HTTP status; the body goes to BODY_FILE.
status() { local out="$1"; shift; curl -s -o "$out" -w '%{http_code}' "$@"; }
expect() {  # expect CODE DESCRIPTION CURL_ARGS...
  local code="$1" what="$2"; shift 2
  local got
  got=$(status "$work/body" "$@")
  [ "$got" = "$code" ] || fail "$what: expected HTTP $code, got $got: $(head -c 300 "$work/body")"
  if [ "$code" -ge 400 ]; then
    jq -e '.error | type == "string"' "$work/body" >/dev/null || fail "$what: the $code is not a JSON error: $(head -c 300 "$work/body")"
  fi
}

"$metaids" synth --out "$work/mixed.pcap" --families web,dns,ssh,portscan --sessions 200 --seed 7 --quiet
"$metaids" flows --pcap "$work/mixed.pcap" --out "$work/mixed.csv" --quiet
"$metaids" synth --out "$work/beacon.pcap" --families beacon --sessions 200 --seed 8 --quiet
"$metaids" flows --pcap "$work/beacon.pcap" --out "$work/beacon.csv" --quiet
head -n 2 "$work/mixed.csv" > "$work/one.csv"

start_server
token=$(cat "$work/state/token")
[ "$(stat -c %a "$work/state/token")" = 600 ] || fail "the token file is not mode 600"
auth=(-H "Authorization: Bearer $token")
csv=(-H "Content-Type: text/csv")
json=(-H "Content-Type: application/json")

# 1. Refusals.
expect 401 "no token" -X POST "${csv[@]}" --data-binary @"$work/one.csv" "$url/v1/score"
expect 401 "a wrong token" -X POST "${csv[@]}" -H "Authorization: Bearer ${token}x" --data-binary @"$work/one.csv" "$url/v1/score"
expect 401 "a token for another scheme" -X POST "${json[@]}" -H "Authorization: Basic $token" -d '{}' "$url/v1/adapt"
expect 401 "alerts without a token" "$url/v1/alerts"
head -c 2000000 /dev/zero | tr '\0' 'x' > "$work/big"
expect 413 "a body over --max-body" -X POST "${auth[@]}" "${csv[@]}" --data-binary @"$work/big" "$url/v1/score"
expect 415 "a gzip body" -X POST "${auth[@]}" "${csv[@]}" -H "Content-Encoding: gzip" --data-binary @"$work/one.csv" "$url/v1/score"
expect 415 "a form" -X POST "${auth[@]}" --data-binary @"$work/one.csv" "$url/v1/score"
expect 400 "bad JSON" -X POST "${auth[@]}" "${json[@]}" -d '{"rows": [[1,2' "$url/v1/score"
expect 400 "JSON of another shape" -X POST "${auth[@]}" "${json[@]}" -d '[1,2,3]' "$url/v1/score"
expect 400 "a CSV with a quote left open" -X POST "${auth[@]}" "${csv[@]}" --data-binary $'Flow Duration\n"1' "$url/v1/score"
expect 400 "a CSV without the model's columns" -X POST "${auth[@]}" "${csv[@]}" --data-binary $'a,b\n1,2\n' "$url/v1/score"
head -c 100000 "$metaids" > "$work/garbage"
expect 400 "binary garbage" -X POST "${auth[@]}" "${json[@]}" --data-binary @"$work/garbage" "$url/v1/adapt"
expect 400 "an adaptation without a label" -X POST "${auth[@]}" "${json[@]}" -d '{"flow_ids":[1]}' "$url/v1/adapt"
expect 404 "flow ids never scored" -X POST "${auth[@]}" "${json[@]}" -d '{"label":"x","flow_ids":[1,2]}' "$url/v1/adapt"
expect 400 "a rollback to a path" -X POST "${auth[@]}" "${json[@]}" -d '{"version":"../../etc/passwd"}' "$url/v1/rollback"
expect 404 "a rollback to a version that never was" -X POST "${auth[@]}" "${json[@]}" -d '{"version":"0123456789ab"}' "$url/v1/rollback"
expect 404 "an unknown path" "$url/v2/anything"
expect 200 "still answering" "$url/healthz"
echo "refusals: ok"

# 2. Score, adapt while others score, see the new class.
first=$(curl -sf "$url/v1/model" | jq -r .version)
expect 200 "scoring a CSV" -X POST "${auth[@]}" "${csv[@]}" --data-binary @"$work/beacon.csv" "$url/v1/score"
cp "$work/body" "$work/before.json"
before=$(jq '[.results[] | select(.class == "C2 beacon")] | length' "$work/before.json")
[ "$before" -eq 0 ] || fail "C2 beacon alerts before any adaptation"
jq -c '{label: "C2 beacon", flow_ids: [.results[:5][].flow_id]}' "$work/before.json" > "$work/adapt.json"
# Four clients score the mixed capture over and over while the adaptation runs.
seq 40 | xargs -P 4 -I{} curl -sf -o /dev/null -X POST "${auth[@]}" "${csv[@]}" --data-binary @"$work/mixed.csv" "$url/v1/score" &
scorers=$!
expect 200 "adapting from five flow ids" -X POST "${auth[@]}" "${json[@]}" --data-binary @"$work/adapt.json" "$url/v1/adapt"
adapted=$(jq -r .version "$work/body")
[ "$(jq -r .previous "$work/body")" = "$first" ] || fail "the adaptation was not made from $first"
wait "$scorers" || fail "a scoring client failed while the model was adapted"
expect 200 "scoring again" -X POST "${auth[@]}" "${csv[@]}" --data-binary @"$work/beacon.csv" "$url/v1/score"
[ "$(jq -r .version "$work/body")" = "$adapted" ] || fail "scored with $(jq -r .version "$work/body"), not $adapted"
after=$(jq '[.results[] | select(.class == "C2 beacon")] | length' "$work/body")
total=$(jq '.results | length' "$work/body")
echo "C2 beacon flows: $before of $total before, $after after the adaptation"
[ "$after" -gt $((total / 2)) ] || fail "the adapted model finds too few of the new class"
# The same five flows labelled again: nothing new to learn, refused, no new version.
expect 422 "the same five flows labelled again" -X POST "${auth[@]}" "${json[@]}" --data-binary @"$work/adapt.json" "$url/v1/adapt"
grep -q "already in the support of class 'C2 beacon'" "$work/body" || fail "labelled twice: $(cat "$work/body")"
[ "$(curl -sf "$url/v1/model" | jq -r .version)" = "$adapted" ] || fail "a refused adaptation changed the version"
# JSON rows score the same as the CSV.
python3 - "$work/one.csv" > "$work/one.json" <<'PY'
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
def value(v):
    try: return float(v)
    except ValueError: return v
print(json.dumps({"columns": rows[0], "rows": [[value(v) for v in r] for r in rows[1:]]}))
PY
a=$(curl -sf -X POST "${auth[@]}" "${csv[@]}" --data-binary @"$work/one.csv" "$url/v1/score" | jq -c '.results[0] | del(.line)')
b=$(curl -sf -X POST "${auth[@]}" "${json[@]}" --data-binary @"$work/one.json" "$url/v1/score" | jq -c '.results[0] | del(.line)')
[ "$a" = "$b" ] || fail "JSON rows and CSV scored differently: $a against $b"
# Small requests on one keep-alive connection: milliseconds each (Nagle's algorithm is off).
urls=()
for _ in $(seq 20); do urls+=(-o /dev/null "$url/v1/score"); done
times=$(curl -s -w '%{time_total}\n' -X POST "${auth[@]}" "${csv[@]}" --data-binary @"$work/one.csv" "${urls[@]}")
slow=$(echo "$times" | awk '$1 > 0.02' | wc -l)
echo "20 single-flow requests on one connection: $(echo "$times" | sort -n | sed -n 10p) s median"
[ "$slow" -le 2 ] || fail "$slow of 20 small requests took over 20 ms (TCP_NODELAY?)"
curl -sf "$url/metrics" > "$work/metrics"
grep -q '^metaids_adaptations_total 1$' "$work/metrics" || fail "metrics: no adaptation counted"
grep -q "^metaids_model_info{version=\"$adapted\"} 1$" "$work/metrics" || fail "metrics: not the adapted version"
grep -q '^metaids_alerts_total{class="C2 beacon"}' "$work/metrics" || fail "metrics: no C2 beacon alerts"
grep -q '^metaids_http_requests_total{endpoint="adapt",code="2xx"} 1$' "$work/metrics" || fail "metrics: adapt requests"
grep -q '^metaids_http_request_duration_seconds_count{endpoint="adapt"} [1-9]' "$work/metrics" || fail "metrics: adapt latency"
echo "score and adapt: ok"

# 3. Rollback, restart, a damaged version.
expect 200 "rollback" -X POST "${auth[@]}" "${json[@]}" -d "{\"version\": \"$first\"}" "$url/v1/rollback"
[ "$(curl -sf "$url/v1/model" | jq -r .version)" = "$first" ] || fail "the rollback did not take"
[ "$(curl -sf "$url/v1/model/file" | sha256sum | cut -c1-12)" = "$first" ] || fail "the file served is not the version"
stop_server
start_server
[ "$(curl -sf "$url/v1/model" | jq -r .version)" = "$first" ] || fail "the restart did not resume $first"
[ "$(curl -sf "$url/v1/versions" | jq '.versions | length')" -eq 2 ] || fail "versions lost in the restart"
expect 200 "rollforward" -X POST "${auth[@]}" "${json[@]}" -d "{\"version\": \"$adapted\"}" "$url/v1/rollback"
stop_server
file=$(ls "$work/state/versions/"*"$adapted.mids")
printf 'X' | dd of="$file" bs=1 seek=1000 conv=notrunc status=none
start_server
[ "$(curl -sf "$url/v1/model" | jq -r .version)" = "$first" ] || fail "a damaged current version was not skipped"
grep -q "cannot be used" "$work/serve.log" || fail "the damaged version was not reported"
stop_server
echo "rollback and restart: ok"
echo "PASS"
