#!/usr/bin/env bash
# SIGTERM never loses what was read:
#  - `flows --pcap -` reading a pipe that stalls: stopped, every flow read so far written, the
#    file ends with a whole line, a summary is printed, exit status 143;
#  - `detect --pcap -` the same, with EVE lines;
#  - `train`: a checkpoint is written (beside --out), no model, status 143, and --resume
#    continues from it;
#  - `experiment`: the methods that finished are written, the one training is not, promptly
#    (these two need ../shared/data; that part is skipped without it).
set -euo pipefail
metaids="${1:?usage: signals_test.sh METAIDS_BINARY [DATA_DIR]}"
data="${2:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$metaids" synth --out "$work/trace.pcap" --sessions 200 --duration 5 --seed 4 --quiet
expected=$("$metaids" flows --pcap "$work/trace.pcap" --quiet | tail -n +2 | wc -l)

stop_after() {  # stop_after SECONDS PID: SIGTERM; the exit status in $rc
  sleep "$1"
  kill -TERM "$2"
  rc=0
  wait "$2" || rc=$?
}

# flows: the whole capture arrives through a FIFO whose writer stays open: the read stalls.
mkfifo "$work/pipe"
"$metaids" flows --pcap - --out "$work/flows.csv" < "$work/pipe" 2> "$work/flows.log" &
pid=$!
exec 3> "$work/pipe"
cat "$work/trace.pcap" >&3
stop_after 2 $pid
exec 3>&-
[ "$rc" -eq 143 ] || { echo "FAIL: flows exited $rc after SIGTERM, expected 143"; cat "$work/flows.log"; exit 1; }
got=$(tail -n +2 "$work/flows.csv" | wc -l)
[ "$got" -eq "$expected" ] || { echo "FAIL: flows wrote $got flows of $expected after SIGTERM"; exit 1; }
[ "$(tail -c 1 "$work/flows.csv" | od -An -c | tr -d ' ')" = '\n' ] || { echo "FAIL: torn last line"; exit 1; }
grep -q "^summary: " "$work/flows.log" || { echo "FAIL: no summary after SIGTERM"; cat "$work/flows.log"; exit 1; }
echo "flows: SIGTERM → 143, $got of $expected flows written, summary printed"

# detect: every flow alerts (threshold far below any margin), so the EVE lines count the flows.
"$metaids" detect --pcap - --threshold -1e30 --out "$work/eve.json" < "$work/pipe" 2> "$work/detect.log" &
pid=$!
exec 3> "$work/pipe"
cat "$work/trace.pcap" >&3
stop_after 2 $pid
exec 3>&-
[ "$rc" -eq 143 ] || { echo "FAIL: detect exited $rc after SIGTERM, expected 143"; cat "$work/detect.log"; exit 1; }
got=$(wc -l < "$work/eve.json")
[ "$got" -eq "$expected" ] || { echo "FAIL: detect wrote $got alerts of $expected flows after SIGTERM"; exit 1; }
grep -q "^detect: flows=$expected " "$work/detect.log" || { echo "FAIL: no detect summary"; cat "$work/detect.log"; exit 1; }
echo "detect: SIGTERM → 143, $got alerts of $expected flows written, summary printed"

if [ -n "$data" ] && [ -d "$data/cicids2017-improved-sample" ]; then
  config="$(dirname "$0")/../../configs/cicids2017.json"
  "$metaids" train --config "$config" --data "$data" --algorithm maml --task detection --iterations 1000000 \
    --out "$work/m.mids" --quiet 2> "$work/train.log" &
  stop_after 4 $!
  [ "$rc" -eq 143 ] || { echo "FAIL: train exited $rc after SIGTERM, expected 143"; cat "$work/train.log"; exit 1; }
  [ -s "$work/m.mids.checkpoint" ] || { echo "FAIL: no checkpoint after SIGTERM"; cat "$work/train.log"; exit 1; }
  [ ! -e "$work/m.mids" ] || { echo "FAIL: a model was written by an interrupted training"; exit 1; }
  "$metaids" train --config "$config" --data "$data" --algorithm maml --task detection --iterations 20 \
    --checkpoint "$work/m.mids.checkpoint" --resume --out "$work/m.mids" --quiet > "$work/resume.log"
  grep -q "iterations" "$work/resume.log" && [ -s "$work/m.mids" ] || { echo "FAIL: --resume"; exit 1; }
  echo "train: SIGTERM → 143, checkpoint written, --resume continued"
  # experiment_stops NAME METHOD PATTERN LIMIT [options...]: runs `experiment --methods
  # nearest_centroid,METHOD`, sends SIGTERM once its log matches PATTERN, and checks that it
  # exits 143 within LIMIT seconds with the finished method written, METHOD not, and the signal
  # said.
  experiment_stops() {
    local name="$1" method="$2" pattern="$3" limit="$4"
    shift 4
    "$metaids" experiment --config "$config" --data "$data" --out "$work/$name" --methods "nearest_centroid,$method" \
      --seeds 0 --threads 1 "$@" 2> "$work/$name.log" &
    pid=$!
    for _ in $(seq 600); do
      grep -q "$pattern" "$work/$name.log" && break
      sleep 0.2
    done
    stopped=$(date +%s)
    stop_after 0 $pid
    took=$(($(date +%s) - stopped))
    [ "$rc" -eq 143 ] || { echo "FAIL: $name exited $rc after SIGTERM, expected 143"; cat "$work/$name.log"; exit 1; }
    [ "$took" -le "$limit" ] || { echo "FAIL: $name took $took s to stop"; exit 1; }
    grep -q '"nearest_centroid"' "$work/$name/results.json" || { echo "FAIL: $name: the finished method was not written"; exit 1; }
    ! grep -q "\"$method\"" "$work/$name/results.json" || { echo "FAIL: $name: $method, cut short, was written"; exit 1; }
    grep -q "stopped by a signal" "$work/$name.log" || { echo "FAIL: $name: no word of the signal"; cat "$work/$name.log"; exit 1; }
    echo "$name: SIGTERM → 143 in ${took} s, the finished method written, $method (interrupted) not"
  }
  # While a meta-learner trains: it stops without evaluating what it would have trained.
  experiment_stops experiment-training protonet "protonet seed 0 .* train K=.*iteration" 30 --episodes 50 \
    --iterations 1000000
  # While a tree baseline is evaluated (a random forest takes minutes over 1000 episodes).
  experiment_stops experiment-baseline random_forest "random_forest .* settings chosen" 15 --episodes 1000
else
  echo "train part skipped: shared data absent"
fi
echo PASS
