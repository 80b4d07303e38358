#!/usr/bin/python3
"""Plot an experiment's results.json: accuracy against K, one panel per task, 95% CI bars.

Input shape:
    {method: {task: {K: {metric: {"mean": m, "ci95": c, "n": n, "seed_std": s}}}}}
with task "detection" and/or "classification", K keys strings ("1", "5", "10"), metrics
"accuracy", "f1", "roc_auc". Methods or K values missing for a task are skipped.

Usage: /usr/bin/python3 tools/plot_results.py results.json out.png [--metric accuracy]
"""

import argparse
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TASK_ORDER = ["detection", "classification"]


def fail(message):
    sys.exit(f"plot_results: error: {message}")


def load(path):
    try:
        with open(path) as f:
            results = json.load(f)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        fail(f"{path} is not valid JSON: {e}")
    if not isinstance(results, dict) or not results:
        fail(f"{path}: expected an object {{method: {{task: {{K: {{metric: ...}}}}}}}}")
    return results


def series(results, method, task, metric):
    """Sorted (K, mean, ci95) for one method and task; entries without the metric skipped."""
    by_k = results.get(method, {}).get(task)
    if not isinstance(by_k, dict):
        return []
    points = []
    for k, metrics in by_k.items():
        try:
            k_value = int(k)
        except ValueError:
            fail(f"{method}/{task}: K key {k!r} is not an integer")
        entry = metrics.get(metric) if isinstance(metrics, dict) else None
        if not isinstance(entry, dict) or "mean" not in entry:
            continue
        mean = entry["mean"]
        ci = entry.get("ci95") or 0.0
        if mean is None or not math.isfinite(mean):
            continue
        points.append((k_value, float(mean), float(ci) if math.isfinite(ci) else 0.0))
    return sorted(points)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", help="results.json of an experiment")
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("--metric", default="accuracy", choices=["accuracy", "f1", "roc_auc"])
    parser.add_argument("--title", default=None, help="figure title (default: the input path)")
    args = parser.parse_args()

    results = load(args.results)
    methods = sorted(results)
    tasks_present = {t for m in methods if isinstance(results[m], dict) for t in results[m]}
    tasks = [t for t in TASK_ORDER if t in tasks_present] + sorted(tasks_present - set(TASK_ORDER))
    if not tasks:
        fail(f"{args.results}: no tasks found")

    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    # One colour and marker per method, the same in every panel.
    # tab20 gives 20 distinguishable colours (the default cycle repeats after 10 methods).
    colours = [plt.get_cmap("tab20")(i) for i in range(20)]
    markers = "osD^vP*Xh<>"
    style = {m: (colours[(2 * i) % 20 + (2 * i) // 20 % 2], markers[i % len(markers)])
             for i, m in enumerate(methods)}
    plotted = 0
    for axis, task in zip(axes[0], tasks):
        all_k = set()
        for method in methods:
            points = series(results, method, task, args.metric)
            if not points:
                continue
            ks, means, cis = zip(*points)
            all_k.update(ks)
            colour, marker = style[method]
            axis.errorbar(ks, means, yerr=cis, color=colour, marker=marker, capsize=3,
                          label=method)
            plotted += 1
        axis.set_title(task)
        axis.set_xlabel("K (labelled examples per class)")
        axis.set_ylabel(args.metric.replace("_", " "))
        axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
        if all_k:
            ticks = sorted(all_k)
            axis.set_xticks(ticks)
            axis.set_xticklabels([str(k) for k in ticks])
            axis.minorticks_off()
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    if plotted == 0:
        fail(f"{args.results}: no {args.metric} values to plot")
    figure.suptitle(args.title if args.title is not None else
                    f"{args.metric.replace('_', ' ')} vs K (error bars: 95% CI) - {args.results}",
                    fontsize="medium")
    figure.tight_layout()
    try:
        figure.savefig(args.output, dpi=120)
    except OSError as e:
        fail(f"cannot write {args.output}: {e.strerror}")
    print(f"wrote {args.output} ({plotted} lines, {len(tasks)} panels)")


if __name__ == "__main__":
    main()
