#!/usr/bin/env bash
# Two-thread scaling of `metaids bench meta`, measured so that unequal cores do not decide it.
# On a virtual machine the vCPUs need not run at one speed (here they differed by up to 25 %
# within minutes), so "one thread" depends on the core it lands on. Each round runs one thread
# pinned to core 0, one pinned to core 1, then two threads, back to back; the speed-up of a round
# is two-thread throughput over the mean of the two one-thread runs (2.0 = perfect, whatever the
# cores' speeds), and the raw ratios against each core are printed too. Prints the median and
# range over the rounds, for throughput over the whole run (tasks_per_s) and at the median
# meta-step (tasks_per_s_median_step: a vCPU taken away by the host for a moment stalls both
# threads of a synchronous step, which moves the mean, not the median).
# Usage: bench/scale_meta.sh [ROUNDS] [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-8}
seconds=${2:-0.5}
build=${3:-build}
command -v taskset >/dev/null || { echo "scale_meta.sh: needs taskset (util-linux)" >&2; exit 1; }
taskset -c 0,1 true 2>/dev/null || { echo "scale_meta.sh: needs cores 0 and 1" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq "$rounds"); do
  for mode in cpu0 cpu1 two; do
    case $mode in
      cpu0) taskset -c 0 "$build/metaids" bench meta --threads 1 --seconds "$seconds" --no-extras ;;
      cpu1) taskset -c 1 "$build/metaids" bench meta --threads 1 --seconds "$seconds" --no-extras ;;
      two) taskset -c 0,1 "$build/metaids" bench meta --threads 2 --seconds "$seconds" --no-extras ;;
    esac | sed "s/^/$round $mode /" >> "$out"
  done
done
python3 - "$out" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    round_, mode, text = line.split(" ", 2)
    j = json.loads(text)
    runs[(j["algorithm"], round_)][mode] = j["tasks_per_s"]
    runs[(j["algorithm"], round_)][mode + "_median"] = j["tasks_per_s_median_step"]
print("| algorithm | 1 thread on core 0 | on core 1 | 2 threads | 2 threads / mean of the two cores, median (range) | / faster core | / slower core | the same at the median step |")
print("|---|---|---|---|---|---|---|---|")
for algorithm in dict.fromkeys(a for a, _ in runs):
    rows = [v for (a, _), v in runs.items() if a == algorithm and len(v) == 6]
    med = lambda key: statistics.median(r[key] for r in rows)
    ratio = lambda r, s="": r["two" + s] / ((r["cpu0" + s] + r["cpu1" + s]) / 2)
    fair = [ratio(r) for r in rows]
    fair_step = [ratio(r, "_median") for r in rows]
    fast = [r["two"] / max(r["cpu0"], r["cpu1"]) for r in rows]
    slow = [r["two"] / min(r["cpu0"], r["cpu1"]) for r in rows]
    print(f"| {algorithm} | {med('cpu0'):.0f} | {med('cpu1'):.0f} | {med('two'):.0f} | "
          f"{statistics.median(fair):.2f}× ({min(fair):.2f}–{max(fair):.2f}) | "
          f"{statistics.median(fast):.2f}× | {statistics.median(slow):.2f}× | "
          f"{statistics.median(fair_step):.2f}× ({min(fair_step):.2f}–{max(fair_step):.2f}) |")
PY
