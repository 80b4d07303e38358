#!/usr/bin/env python3
"""How a model treats families it has never seen (docs/end-to-end.md, "Unseen families"):
flagged unknown, alerted under a known attack's name (misnamed), or let through as benign.

For each dataset, a ProtoNet classification model is meta-trained on the FSND-1 meta-train
families (configs/cicids2017.json, configs/nslkdd.json) with `metaids train`, and `metaids
predict` scores the rows of every family: the meta-test and rare families (never seen), the
meta-train families (seen) and benign.

Usage: tools/open_set_eval.py [--binary build/metaids] [--data ../shared/data] [--fpr 0.01]
"""
import argparse
import collections
import csv
import json
import os
import subprocess
import tempfile

CIC_DIR = "cicids2017-improved-sample/sampled_CICIDS2017_improved_rnd_5000"


def run(binary, args):
    result = subprocess.run([binary] + args, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"metaids {' '.join(args)} failed:\n{result.stderr}")
    return result


def tally(binary, model, inputs, work):
    """verdicts per label: Counter of unknown / benign / named(own) / misnamed."""
    counts = collections.defaultdict(collections.Counter)
    for path in inputs:
        out = os.path.join(work, "predict.csv")
        run(binary, ["predict", "--model", model, "--input", path, "--out", out, "--quiet"])
        with open(out) as f:
            for row in csv.DictReader(f):
                label = row["label"].rstrip(".")
                cls = row["class"]
                if cls == "unknown":
                    kind = "unknown"
                elif row["alert"] == "0":
                    kind = "benign"
                elif cls == label:
                    kind = "named"
                else:
                    kind = "misnamed"
                counts[label][kind] += 1
    return counts


def report(title, counts, config, benign):
    unseen = set(config["split"].get("meta_test_families", [])) | set(config["split"].get("rare_families", []))
    train = set(config["split"].get("meta_train_families", []))
    print(f"### {title}\n")
    print("| family | seen in training | flows | unknown | alerted, misnamed | alerted, named | let through |")
    print("|---|---|---|---|---|---|---|")
    totals = {True: collections.Counter(), False: collections.Counter()}
    for label in sorted(counts, key=lambda l: (l != benign, l in train, l)):
        c = counts[label]
        n = sum(c.values())
        seen = label in train or label == benign
        if not train and label != benign:
            seen = c["named"] + c["misnamed"] > 0 and label in config.get("_train_labels", set())
        pct = lambda k: f"{100.0 * c[k] / n:.1f}%"
        role = "benign" if label == benign else ("yes" if seen else "no")
        print(f"| {label} | {role} | {n} | {pct('unknown')} | {pct('misnamed')} | {pct('named')} | {pct('benign')} |")
        if label != benign:
            totals[seen].update(c)
    for seen, c in totals.items():
        n = sum(c.values())
        if n == 0:
            continue
        pct = lambda k: f"{100.0 * c[k] / n:.1f}%"
        print(f"| **all {'seen' if seen else 'unseen'} attack flows** | | {n} | {pct('unknown')} | {pct('misnamed')} | "
              f"{pct('named')} | {pct('benign')} |")
    print()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="build/metaids")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--fpr", default="0.01")
    parser.add_argument("--seed", default="0")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="metaids-openset-")
    print(f"Models: `metaids train --algorithm protonet --task classification --seed {args.seed} --fpr {args.fpr}` "
          f"(unknown rate = FPR on held-out known-class reference flows).\n")

    cic_config = json.load(open("configs/cicids2017.json"))
    model = os.path.join(work, "cic.mids")
    run(args.binary, ["train", "--config", "configs/cicids2017.json", "--data", args.data, "--algorithm", "protonet",
                      "--task", "classification", "--seed", args.seed, "--fpr", args.fpr, "--out", model, "--quiet"])
    files = [os.path.join(args.data, CIC_DIR, f) for f in sorted(os.listdir(os.path.join(args.data, CIC_DIR)))
             if f.endswith(".csv")]
    report("CIC-IDS2017 (FSND-1 split; 60 % of BENIGN was meta-train data)", tally(args.binary, model, files, work),
           cic_config, "BENIGN")

    nsl_config = json.load(open("configs/nslkdd.json"))
    model = os.path.join(work, "nsl.mids")
    run(args.binary, ["train", "--config", "configs/nslkdd.json", "--data", args.data, "--algorithm", "protonet",
                      "--task", "classification", "--seed", args.seed, "--fpr", args.fpr, "--out", model, "--quiet"])
    info = json.loads(run(args.binary, ["info", model, "--json"]).stdout)
    known = set(info["header"]["class_names"])
    nsl_config["split"]["meta_train_families"] = sorted(known - {"normal"})
    test_counts = tally(args.binary, model, [os.path.join(args.data, "nsl-kdd", "KDDTest+.txt")], work)
    report("NSL-KDD (KDDTest+; families of at least 20 rows)",
           {k: v for k, v in test_counts.items() if sum(v.values()) >= 20}, nsl_config, "normal")


if __name__ == "__main__":
    main()
