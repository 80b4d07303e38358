#!/usr/bin/env bash
# Runs `metaids bench meta` (1 and 2 threads) and its PyTorch peer one after the other, in one
# run, and prints a table of the ratios. Usage: bench/compare_meta.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
build=${2:-build}
out=$(mktemp -d)
"$build/metaids" bench meta --threads 1 --seconds "$seconds" > "$out/metaids1.jsonl"
"$build/metaids" bench meta --threads 2 --seconds "$seconds" --no-extras > "$out/metaids2.jsonl"
/usr/bin/python3 bench/peers/meta_bench_torch.py --seconds "$seconds" > "$out/torch.jsonl"
# On a virtual machine the vCPUs need not run at one speed, and their speeds change within
# minutes, so the 2 / 1 column above moves between runs; --scaling measures the speed-up in
# alternating ~10 ms bursts inside one process (one thread pinned to each CPU, then two).
if [ "$(nproc)" -ge 2 ]; then
  "$build/metaids" bench meta --scaling --seconds "$seconds" > "$out/scaling.jsonl"
fi
/usr/bin/python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
def load(name):
    rows = {}
    for line in open(os.path.join(d, name)):
        line = line.strip()
        if line.startswith("{"):
            j = json.loads(line); rows[j["algorithm"]] = j
    return rows
m1, m2, t = load("metaids1.jsonl"), load("metaids2.jsonl"), load("torch.jsonl")
blas = next(iter(t.values())).get("blas", "?")
print(f"PyTorch BLAS: {blas}\n")
print("| algorithm | PyTorch 1 thread, tasks/s | metaids 1 thread, tasks/s (GFLOP/s) | ratio | metaids 2 threads | 2 / 1 threads |")
print("|---|---|---|---|---|---|")
for a in ["maml", "fomaml", "reptile", "anil", "metasgd", "protonet"]:
    if a in m1 and a in t:
        r1 = m1[a]["tasks_per_s"]; rt = t[a]["tasks_per_s"]; r2 = m2.get(a, {}).get("tasks_per_s", float("nan"))
        print(f"| {a} | {rt:.0f} | {r1:.0f} ({m1[a]['gflops']:.1f}) | {r1/rt:.1f}x | {r2:.0f} | {r2/r1:.2f}x |")
if "adapt_latency" in m1 and "adapt_latency" in t:
    a, b = m1["adapt_latency"], t["adapt_latency"]
    print(f"| adapt latency (5-shot binary, 10 steps), µs mean / median | {b['latency_us']:.0f} / {b['latency_us_median']:.0f} | {a['latency_us']:.0f} / {a['latency_us_median']:.0f} | {b['latency_us']/a['latency_us']:.1f}x | | |")
if "score_throughput" in m1 and "score_throughput" in t:
    a, b = m1["score_throughput"], t["score_throughput"]
    print(f"| scoring 78-64-64-2, flows/s | {b['flows_per_s']:.0f} | {a['flows_per_s']:.0f} | {a['flows_per_s']/b['flows_per_s']:.1f}x | | |")
path = os.path.join(d, "scaling.jsonl")
if os.path.exists(path):
    print("\n| algorithm | 1 thread on CPU a, tasks/s | on CPU b | 2 threads | 2 threads / mean of the two, median (quartiles) | at the median step |")
    print("|---|---|---|---|---|---|")
    for line in open(path):
        j = json.loads(line)
        (a, b), q, qs = j["tasks_per_s_one_thread"], j["speedup_quartiles"], j["speedup_median_step_quartiles"]
        print(f"| {j['algorithm']} | {a:.0f} | {b:.0f} | {j['tasks_per_s_two_threads']:.0f} | {j['speedup']:.2f}x ({q[0]:.2f}-{q[1]:.2f}) | {j['speedup_median_step']:.2f}x ({qs[0]:.2f}-{qs[1]:.2f}) |")
    print("(metaids bench meta --scaling: alternating bursts, CPUs", json.loads(open(path).readline())["cpus"], ")")
PY
rm -rf "$out"
