#!/usr/bin/python3
"""PyTorch peer of `metaids bench meta`: the standard meta-learning workload, one JSON line each.

Workload (the same as the C++ benchmark): MLP 78 -> 64 -> 64 -> 5 (ReLU hidden, linear
output, softmax cross-entropy), 5-way 5-shot support, 15 query per class, 5 inner SGD steps
(alpha = 0.01), meta-batch 16 tasks, Adam (lr 1e-3) outer update, float32, synthetic
Gaussian-cluster tasks generated before the clock starts. Tasks of a meta-batch are run one
after another (as learn2learn / higher do); the intra-op thread count is --threads (default 1).

Algorithms: maml (exact second order), fomaml, reptile (inner steps on support+query,
outer epsilon interpolation), anil (inner loop adapts the last layer only, second order),
metasgd (second order, learned per-parameter alpha), protonet (embedding = the same
78-64-64-5 MLP, squared Euclidean distance to class means).

Extra lines: adapt_latency (5-shot binary task, 78-64-64-2, 10 inner SGD steps) and
score_throughput (flows/s through 78-64-64-2, batch 4096, softmax scores).

Run:  /usr/bin/python3 bench/peers/meta_bench_torch.py [--seconds 5] [--threads 1] [--repeat 1]
          [--clock wall|cpu]
          [--algorithms maml,fomaml,reptile,anil,metasgd,protonet,adapt_latency,score_throughput]
The FLOP model behind "gflops" is `flops_per_task` below; docs/peers.md explains it.
Debian's torch calls the system libblas.so.3, the slow netlib reference BLAS unless OpenBLAS
is installed or preloaded (docs/peers.md shows how); each line says which one ran ("blas").
"""

import argparse
import json
import os
import statistics
import sys
import time


def _threads_from_argv(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


# A pthreads OpenBLAS (when one is loaded, see docs/peers.md) reads its thread count when
# torch loads it, so set it before the import; torch.set_num_threads handles OpenMP.
os.environ.setdefault("OPENBLAS_NUM_THREADS", _threads_from_argv(sys.argv[1:]))

import torch  # noqa: E402
import torch.nn.functional as F

SIZES = [78, 64, 64, 5]
SCORE_SIZES = [78, 64, 64, 2]
WAYS = 5
SHOTS = 5
QUERY_PER_CLASS = 15
INNER_STEPS = 5
INNER_ALPHA = 0.01
META_BATCH = 16
OUTER_LR = 1e-3
REPTILE_EPSILON = 0.1
TASK_POOL = 256
ADAPT_SHOTS = 5
ADAPT_STEPS = 10
SCORE_BATCH = 4096

ALL_ALGORITHMS = ["maml", "fomaml", "reptile", "anil", "metasgd", "protonet"]
EXTRAS = ["adapt_latency", "score_throughput"]


# ----------------------------------------------------------------------------- FLOP model

def matmul_macs(sizes):
    """P = sum over layers of in*out: multiply-adds of one sample's forward pass."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def flops_per_task(algorithm, sizes=SIZES, support=WAYS * SHOTS,
                   query=WAYS * QUERY_PER_CLASS, steps=INNER_STEPS):
    """Matmul FLOPs of one task (element-wise work, losses and the optimiser are not counted).

    Per sample and layer (in -> out): forward 2*in*out, backward 4*in*out (input and weight
    gradients, counted for every layer), so one gradient = 6*P per sample, with P = sum in*out.
    Back-propagating through one inner step (a Hessian-vector product on top of a stored
    forward/backward) = 12*P per sample: the R-forward (two products per layer) plus the
    R-backward (four products per layer), i.e. twice a gradient.
    """
    p = matmul_macs(sizes)
    head = sizes[-2] * sizes[-1]
    body = p - head
    if algorithm in ("maml", "metasgd"):
        # S gradients on the support, one on the query, S HVPs on the support.
        return (6 * steps * support + 6 * query + 12 * steps * support) * p
    if algorithm == "fomaml":
        return (6 * steps * support + 6 * query) * p
    if algorithm == "reptile":
        return 6 * steps * (support + query) * p
    if algorithm == "anil":
        # Body: one forward and one backward over support+query; head: as MAML.
        return (6 * (support + query) * body
                + (6 * steps * support + 6 * query + 12 * steps * support) * head)
    if algorithm == "protonet":
        return 6 * (support + query) * p
    raise ValueError(algorithm)


# ----------------------------------------------------------------------------- model

def init_params(sizes, generator):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = (6.0 / fan_in) ** 0.5 / 2 ** 0.5          # Kaiming-uniform-like scale
        w = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        b = torch.zeros(fan_out)
        params += [w.requires_grad_(True), b.requires_grad_(True)]
    return params


def forward(params, x):
    last = len(params) // 2 - 1
    for layer in range(last + 1):
        x = F.linear(x, params[2 * layer], params[2 * layer + 1])
        if layer < last:
            x = torch.relu(x)
    return x


# ----------------------------------------------------------------------------- tasks

class Task:
    __slots__ = ("x_support", "y_support", "x_query", "y_query", "x_all", "y_all")


def make_tasks(count, generator, dim=SIZES[0], ways=WAYS, shots=SHOTS, query=QUERY_PER_CLASS):
    """Gaussian clusters: class means ~ N(0, 1) per task, samples = mean + N(0, 1).
    Rows are grouped by class (labels 0..ways-1, `shots` each) so ProtoNet reshapes."""
    tasks = []
    y_support = torch.arange(ways).repeat_interleave(shots)
    y_query = torch.arange(ways).repeat_interleave(query)
    for _ in range(count):
        means = torch.randn(ways, dim, generator=generator)
        t = Task()
        t.x_support = means[y_support] + torch.randn(y_support.numel(), dim, generator=generator)
        t.x_query = means[y_query] + torch.randn(y_query.numel(), dim, generator=generator)
        t.y_support, t.y_query = y_support, y_query
        t.x_all = torch.cat([t.x_support, t.x_query])
        t.y_all = torch.cat([y_support, y_query])
        tasks.append(t)
    return tasks


# ----------------------------------------------------------------------------- meta-steps
# Each returns the mean query loss of the meta-batch (a float, for a sanity check).

def inner_sgd(params, x, y, alphas, steps, create_graph):
    fast = list(params)
    for _ in range(steps):
        loss = F.cross_entropy(forward(fast, x), y)
        grads = torch.autograd.grad(loss, fast, create_graph=create_graph)
        fast = [p - a * g for p, a, g in zip(fast, alphas, grads)]
    return fast


def step_maml(state, batch):
    params, opt = state["params"], state["opt"]
    alphas = state.get("alphas") or [INNER_ALPHA] * len(params)
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for t in batch:
        fast = inner_sgd(params, t.x_support, t.y_support, alphas, INNER_STEPS, True)
        loss = F.cross_entropy(forward(fast, t.x_query), t.y_query) / len(batch)
        loss.backward()                      # exact second order, graph freed per task
        total += loss.item()
    opt.step()
    return total


def step_fomaml(state, batch):
    params, opt = state["params"], state["opt"]
    opt.zero_grad(set_to_none=True)
    accum = [torch.zeros_like(p) for p in params]
    total = 0.0
    for t in batch:
        fast = [p.detach().requires_grad_(True) for p in params]
        for _ in range(INNER_STEPS):
            loss = F.cross_entropy(forward(fast, t.x_support), t.y_support)
            grads = torch.autograd.grad(loss, fast)
            with torch.no_grad():
                fast = [p - INNER_ALPHA * g for p, g in zip(fast, grads)]
            for p in fast:
                p.requires_grad_(True)
        loss = F.cross_entropy(forward(fast, t.x_query), t.y_query)
        grads = torch.autograd.grad(loss, fast)
        for a, g in zip(accum, grads):
            a.add_(g, alpha=1.0 / len(batch))
        total += loss.item() / len(batch)
    for p, a in zip(params, accum):
        p.grad = a
    opt.step()
    return total


def step_reptile(state, batch):
    params = state["params"]
    delta = [torch.zeros_like(p) for p in params]
    total = 0.0
    for t in batch:
        fast = [p.detach().clone().requires_grad_(True) for p in params]
        for _ in range(INNER_STEPS):
            loss = F.cross_entropy(forward(fast, t.x_all), t.y_all)
            grads = torch.autograd.grad(loss, fast)
            with torch.no_grad():
                for p, g in zip(fast, grads):
                    p.sub_(g, alpha=INNER_ALPHA)
        with torch.no_grad():
            for d, f, p in zip(delta, fast, params):
                d.add_(f - p)
        total += loss.item() / len(batch)
    with torch.no_grad():                    # theta += epsilon * mean(theta' - theta)
        for p, d in zip(params, delta):
            p.add_(d, alpha=REPTILE_EPSILON / len(batch))
    return total


def step_anil(state, batch):
    params, opt = state["params"], state["opt"]
    body, head = params[:-2], params[-2:]
    n_support = WAYS * SHOTS
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for t in batch:
        features = torch.relu(forward(body, t.x_all))  # body ends with a hidden layer
        f_support, f_query = features[:n_support], features[n_support:]
        fast = list(head)
        for _ in range(INNER_STEPS):
            loss = F.cross_entropy(F.linear(f_support, fast[0], fast[1]), t.y_support)
            grads = torch.autograd.grad(loss, fast, create_graph=True)
            fast = [p - INNER_ALPHA * g for p, g in zip(fast, grads)]
        loss = F.cross_entropy(F.linear(f_query, fast[0], fast[1]), t.y_query) / len(batch)
        loss.backward()
        total += loss.item()
    opt.step()
    return total


def step_protonet(state, batch):
    params, opt = state["params"], state["opt"]
    n_support = WAYS * SHOTS
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for t in batch:
        embedding = forward(params, t.x_all)
        prototypes = embedding[:n_support].reshape(WAYS, SHOTS, -1).mean(dim=1)
        query = embedding[n_support:]
        squared_distance = ((query[:, None, :] - prototypes[None, :, :]) ** 2).sum(dim=2)
        loss = F.cross_entropy(-squared_distance, t.y_query) / len(batch)
        loss.backward()
        total += loss.item()
    opt.step()
    return total


STEPS = {"maml": step_maml, "fomaml": step_fomaml, "reptile": step_reptile,
         "anil": step_anil, "metasgd": step_maml, "protonet": step_protonet}


def make_state(algorithm, generator):
    params = init_params(SIZES, generator)
    state = {"params": params}
    trainable = list(params)
    if algorithm == "metasgd":
        state["alphas"] = [torch.full_like(p, INNER_ALPHA).requires_grad_(True) for p in params]
        trainable += state["alphas"]
    if algorithm != "reptile":
        state["opt"] = torch.optim.Adam(trainable, lr=OUTER_LR)
    return state


# ----------------------------------------------------------------------------- runners

# The clock the rates are computed with: wall time (default), or with --clock cpu this
# process's CPU time, which on a shared, busy machine approximates the unloaded wall time of
# a one-thread run.
CLOCK = {"name": "wall", "now": time.perf_counter}


def timed_loop(seconds, body, warmup=2):
    """Runs body() until `seconds` of CLOCK have passed; (count, clock s, {wall, cpu s})."""
    for _ in range(warmup):
        body()
    now = CLOCK["now"]
    count, start = 0, now()
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        body()
        count += 1
        elapsed = now() - start
        if elapsed >= seconds:
            return count, elapsed, {
                "clock": CLOCK["name"],
                "wall_seconds": round(time.perf_counter() - wall_start, 3),
                "cpu_seconds": round(time.process_time() - cpu_start, 3)}


def bench_algorithm(algorithm, seconds, threads, impl, tasks):
    generator = torch.Generator().manual_seed(1)
    state = make_state(algorithm, generator)
    step = STEPS[algorithm]
    cursor = [0]
    losses = []

    def one_meta_step():
        start = cursor[0]
        cursor[0] = (start + META_BATCH) % len(tasks)
        batch = [tasks[(start + i) % len(tasks)] for i in range(META_BATCH)]
        losses.append(step(state, batch))

    meta_steps, elapsed, clocks = timed_loop(seconds, one_meta_step)
    tasks_per_s = meta_steps * META_BATCH / elapsed
    return clocks | {"impl": impl, "algorithm": algorithm, "threads": threads,
            "tasks_per_s": round(tasks_per_s, 1), "meta_steps": meta_steps,
            "seconds": round(elapsed, 3),
            "gflops": round(tasks_per_s * flops_per_task(algorithm) / 1e9, 3),
            "meta_batch": META_BATCH, "inner_steps": INNER_STEPS,
            "first_meta_loss": round(losses[0], 4), "last_meta_loss": round(losses[-1], 4)}


def bench_adapt_latency(seconds, threads, impl):
    generator = torch.Generator().manual_seed(2)
    params = init_params(SCORE_SIZES, generator)
    tasks = make_tasks(64, generator, ways=2, shots=ADAPT_SHOTS, query=1)
    times = []
    cursor = [0]

    def adapt():
        t = tasks[cursor[0] % len(tasks)]
        cursor[0] += 1
        start = CLOCK["now"]()
        fast = [p.detach().requires_grad_(True) for p in params]
        for _ in range(ADAPT_STEPS):
            loss = F.cross_entropy(forward(fast, t.x_support), t.y_support)
            grads = torch.autograd.grad(loss, fast)
            with torch.no_grad():
                fast = [p - INNER_ALPHA * g for p, g in zip(fast, grads)]
            for p in fast:
                p.requires_grad_(True)
        times.append(CLOCK["now"]() - start)

    count, elapsed, clocks = timed_loop(seconds, adapt, warmup=5)
    times = times[5:]
    mean_us = 1e6 * sum(times) / len(times)
    flops = ADAPT_STEPS * 6 * 2 * ADAPT_SHOTS * matmul_macs(SCORE_SIZES)
    return clocks | {"impl": impl, "algorithm": "adapt_latency", "threads": threads,
            "latency_us": round(mean_us, 1),
            "latency_us_median": round(1e6 * statistics.median(times), 1),
            "adaptations": count, "seconds": round(elapsed, 3),
            "gflops": round(flops / (mean_us * 1e-6) / 1e9, 3),
            "network": "78-64-64-2", "shots": ADAPT_SHOTS, "inner_steps": ADAPT_STEPS}


def bench_score_throughput(seconds, threads, impl):
    generator = torch.Generator().manual_seed(3)
    params = [p.detach() for p in init_params(SCORE_SIZES, generator)]
    x = torch.randn(SCORE_BATCH, SCORE_SIZES[0], generator=generator)
    sink = [0.0]

    def score():
        with torch.inference_mode():
            probability = torch.softmax(forward(params, x), dim=1)[:, 1]
            sink[0] += float(probability[0])

    batches, elapsed, clocks = timed_loop(seconds, score)
    flows_per_s = batches * SCORE_BATCH / elapsed
    return clocks | {"impl": impl, "algorithm": "score_throughput", "threads": threads,
            "flows_per_s": round(flows_per_s), "batches": batches, "batch": SCORE_BATCH,
            "seconds": round(elapsed, 3),
            "gflops": round(flows_per_s * 2 * matmul_macs(SCORE_SIZES) / 1e9, 3),
            "network": "78-64-64-2"}


def loaded_blas():
    """Which BLAS library torch's matrix products go through (Debian's torch has no MKL)."""
    torch.randn(4, 4) @ torch.randn(4, 4)
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line or "mkl" in line}
    except OSError:
        return "unknown"
    for name in ("openblas", "blis", "mkl", "atlas"):
        if any(name in os.path.basename(p) or f"/{name}" in p for p in paths):
            return name
    if any("/blas/libblas" in p for p in paths):
        return "netlib"
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="time per algorithm (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed windows per algorithm; the fastest is printed (1)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="rates from wall time (default) or this process's CPU time")
    parser.add_argument("--algorithms", default=",".join(ALL_ALGORITHMS + EXTRAS),
                        help="comma-separated subset of "
                             + ",".join(ALL_ALGORITHMS + EXTRAS) + " (default: all)")
    args = parser.parse_args()
    algorithms = [a for a in args.algorithms.split(",") if a]
    unknown = [a for a in algorithms if a not in ALL_ALGORITHMS + EXTRAS]
    if unknown or not algorithms:
        sys.exit(f"meta_bench_torch: error: unknown algorithm {','.join(unknown) or '(none)'}; "
                 f"choose from {','.join(ALL_ALGORITHMS + EXTRAS)}")
    if args.threads < 1 or not args.seconds > 0 or args.repeat < 1:
        sys.exit("meta_bench_torch: error: --threads and --repeat must be >= 1, --seconds > 0")

    if args.clock == "cpu":
        CLOCK.update(name="cpu", now=time.process_time)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.set_default_dtype(torch.float32)
    impl = "pytorch-" + ".".join(torch.__version__.split(".")[:2])
    blas = loaded_blas()
    tasks = make_tasks(TASK_POOL, torch.Generator().manual_seed(0))

    def run_once(algorithm):
        if algorithm == "adapt_latency":
            return bench_adapt_latency(args.seconds, args.threads, impl)
        if algorithm == "score_throughput":
            return bench_score_throughput(args.seconds, args.threads, impl)
        return bench_algorithm(algorithm, args.seconds, args.threads, impl, tasks)

    def speed(line):
        if "latency_us" in line:
            return -line["latency_us"]
        return line.get("tasks_per_s", line.get("flows_per_s"))

    for algorithm in algorithms:
        line = max((run_once(algorithm) for _ in range(args.repeat)), key=speed)
        first = ("impl", "algorithm", "threads")
        line = {k: line[k] for k in first} | {k: v for k, v in line.items() if k not in first}
        line["repeat"] = args.repeat
        line["blas"] = blas
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
