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
  # experiment: SIGTERM while a meta-learner trains: the methods that finished are written, the
  # one cut short is not, and it stops without evaluating what it would have trained.
  "$metaids" experiment --config "$config" --data "$data" --out "$work/exp" --methods nearest_centroid,protonet \
    --seeds 0 --episodes 50 --iterations 1000000 --threads 1 2> "$work/exp.log" &
  pid=$!
  for _ in $(seq 600); do
    grep -q "protonet seed 0 .* train K=.*iteration" "$work/exp.log" && break
    sleep 0.2
  done
  stopped=$(date +%s)
  stop_after 0 $pid
  took=$(($(date +%s) - stopped))
  [ "$rc" -eq 143 ] || { echo "FAIL: experiment exited $rc after SIGTERM, expected 143"; cat "$work/exp.log"; exit 1; }
  [ "$took" -le 30 ] || { echo "FAIL: experiment took $took s to stop"; exit 1; }
  grep -q '"nearest_centroid"' "$work/exp/results.json" || { echo "FAIL: the finished method was not written"; exit 1; }
  ! grep -q '"protonet"' "$work/exp/results.json" || { echo "FAIL: a method cut short was written as a result"; exit 1; }
  grep -q "stopped by a signal" "$work/exp.log" || { echo "FAIL: no word of the signal"; cat "$work/exp.log"; exit 1; }
  echo "experiment: SIGTERM → 143 in ${took} s, the finished method written, the interrupted one not"
  # experiment: SIGTERM while a tree baseline is evaluated (a random forest takes minutes over
  # 1000 episodes): it stops within seconds and the baseline cut short is not written.
  "$metaids" experiment --config "$config" --data "$data" --out "$work/exp-rf" --methods nearest_centroid,random_forest \
    --seeds 0 --episodes 1000 --threads 1 2> "$work/exp-rf.log" &
  pid=$!
  for _ in $(seq 600); do
    grep -q "random_forest .* settings chosen" "$work/exp-rf.log" && break
    sleep 0.2
  done
  stopped=$(date +%s)
  stop_after 0 $pid
  took=$(($(date +%s) - stopped))
  [ "$rc" -eq 143 ] || { echo "FAIL: experiment exited $rc after SIGTERM, expected 143"; cat "$work/exp-rf.log"; exit 1; }
  [ "$took" -le 15 ] || { echo "FAIL: experiment took $took s to stop in a tree baseline"; exit 1; }
  grep -q '"nearest_centroid"' "$work/exp-rf/results.json" || { echo "FAIL: the finished method was not written"; exit 1; }
  ! grep -q '"random_forest"' "$work/exp-rf/results.json" || { echo "FAIL: a baseline cut short was written"; exit 1; }
  echo "experiment: SIGTERM in a tree baseline → 143 in ${took} s, the baseline not written"
else
  echo "train part skipped: shared data absent"
fi
echo PASS
