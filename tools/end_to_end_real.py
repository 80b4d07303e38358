#!/usr/bin/env python3
"""The analyst's loop on the real captures of ../shared/data/pcaps (LABELS.tsv), with the
metaids binary: the tables of docs/end-to-end.md.

  1. The shipped model on every capture: share of flows alerted on.
  2. Calibrate on half of the benign captures (every other one in LABELS.tsv order); benign
     false positives on the other half, before and after.
  3. Per attack capture: recall as shipped, after calibration, and after 5-shot adaptation from
     that capture (the first 5 flows of the attacker's address where LABELS.tsv gives one, else
     of the capture), on the calibrated model; benign false positives of each adapted model on
     the held-out benign half.

Attack flows of a capture are the flows involving the attacker's address when LABELS.tsv gives
one, else all its flows. Usage: tools/end_to_end_real.py [--binary build/metaids] [--data DIR]
"""
import argparse
import collections
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

ATTACK_LABELS = {"attack"}

# Where the attacker's first flows are not the attack (an IoT bot's DNS, NTP and DHCP before
# its telnet scan), the analyst's selection names the attack: it picks the support flows and
# defines the attack flows recall is measured on. Everywhere else: every flow of the attacker's
# address (or of the whole capture when LABELS.tsv names none).
SELECTIONS = {
    "slips-dataset/test7-malicious.pcap": "host 192.168.2.16 and tcp and (port 23 or port 2323 or port 8080)",
}


def run(binary, args, log):
    result = subprocess.run([binary] + args, capture_output=True, text=True)
    log.write(" ".join(["metaids"] + args) + "\n" + result.stderr + result.stdout)
    if result.returncode != 0:
        raise SystemExit(f"metaids {' '.join(args)} failed:\n{result.stderr}")
    return result


def detect(binary, model, capture, out, log, bpf=None):
    args = ["detect", "--pcap", capture, "--all-flows", "--no-features", "--out", out, "--quiet"]
    if bpf:
        args += ["--bpf", bpf]
    if model:
        args[1:1] = ["--model", model]
    if os.path.exists(out):
        os.remove(out)
    run(binary, args, log)
    flows = []
    with open(out) as f:
        for line in f:
            flows.append(json.loads(line))
    return flows


def attacker_of(field):
    # "172.16.0.8 -> 64.13.134.52", "10.234.2.116 <-> ...", "192.168.1.109", "-", "spoofed ..."
    m = re.match(r"\s*(\d+\.\d+\.\d+\.\d+)", field)
    return m.group(1) if m else None


def is_attack_flow(flow, attacker):
    return attacker is None or flow.get("src_ip") == attacker or flow.get("dest_ip") == attacker


def share(part, whole):
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="build/metaids")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--model", default="", help="model file (default: the built-in one)")
    parser.add_argument("--fpr", default="0.01")
    parser.add_argument("--shots", default="5")
    args = parser.parse_args()
    pcaps = os.path.join(args.data, "pcaps")
    rows = []
    with open(os.path.join(pcaps, "LABELS.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            rows.append({"file": fields[0], "label": fields[1], "family": fields[2],
                         "attacker": attacker_of(fields[3]) if len(fields) > 3 else None})
    benign = [r for r in rows if r["label"] == "benign"]
    calibration_set, held_out = benign[0::2], benign[1::2]
    attacks = [r for r in rows if r["label"] in ATTACK_LABELS]
    work = tempfile.mkdtemp(prefix="metaids-e2e-")
    log = open(os.path.join(work, "commands.log"), "w")
    eve = os.path.join(work, "eve.json")
    model = args.model

    print(f"# metaids end to end on ../shared/data/pcaps ({len(rows)} captures; work in {work})\n")
    # 1 + 2: the shipped model, then calibrated.
    calibrated = os.path.join(work, "calibrated.mids")
    cal_args = ["calibrate", "--fpr", args.fpr, "--out", calibrated, "--pcap"] + [
        os.path.join(pcaps, r["file"]) for r in calibration_set]
    if model:
        cal_args[1:1] = ["--model", model]
    result = run(args.binary, cal_args, log)
    print("Calibration: `metaids calibrate --fpr %s --pcap <%d benign captures>`: %s\n" % (
        args.fpr, len(calibration_set), result.stdout.strip()))

    def alerted(model_path, r, attacker=None):
        flows = detect(args.binary, model_path, os.path.join(pcaps, r["file"]), eve, log,
                       SELECTIONS.get(r["file"]) if attacker else None)
        selected = [x for x in flows if is_attack_flow(x, attacker)]
        alerts = [x for x in selected if x["event_type"] == "alert"]
        classes = collections.Counter(x["metaids"]["class"] for x in alerts)
        return len(selected), len(alerts), classes

    print("## Benign captures: flows alerted on (false positives)\n")
    print("| capture | role | flows | shipped | calibrated |")
    print("|---|---|---|---|---|")
    totals = collections.Counter()
    for r in benign:
        role = "calibration" if r in calibration_set else "held out"
        n, shipped, _ = alerted(model, r)
        _, cal, classes = alerted(calibrated, r)
        print(f"| {r['file']} | {role} | {n} | {share(shipped, n)} | {share(cal, n)} |")
        if role == "held out":
            totals["flows"] += n
            totals["shipped"] += shipped
            totals["calibrated"] += cal
    print(f"| **held-out benign, all flows** | | {totals['flows']} | {share(totals['shipped'], totals['flows'])} | "
          f"{share(totals['calibrated'], totals['flows'])} |\n")

    print("## Attack captures: recall (attack flows alerted on)\n")
    print(f"| capture | family | attack flows | shipped | calibrated | + {args.shots} flows of it | named | "
          "held-out benign FP after it |")
    # (named: alerted as the class adapted from the capture's flows)
    print("|---|---|---|---|---|---|---|---|")
    for r in attacks:
        capture = os.path.join(pcaps, r["file"])
        n, shipped, _ = alerted(model, r, r["attacker"])
        _, cal, _ = alerted(calibrated, r, r["attacker"])
        if n < int(args.shots) + 1:
            print(f"| {r['file']} | {r['family']} | {n} | {share(shipped, n)} | {share(cal, n)} | "
                  f"too few flows to adapt from {args.shots} | | |")
            continue
        adapted = os.path.join(work, "adapted.mids")
        select = SELECTIONS.get(r["file"], f"host {r['attacker']}" if r["attacker"] else "ip or ip6")
        label = "analyst: " + r["family"]
        run(args.binary, ["adapt", "--model", calibrated, "--pcap", capture, "--select", select, "--shots", args.shots,
                          "--label", label, "--out", adapted], log)
        _, adapted_alerts, classes = alerted(adapted, r, r["attacker"])
        named = classes.get(label, 0)
        fp_flows = fp = 0
        for b in held_out:
            bn, balerts, _ = alerted(adapted, b)
            fp_flows += bn
            fp += balerts
        print(f"| {r['file']} | {r['family']} | {n} | {share(shipped, n)} | {share(cal, n)} | "
              f"{share(adapted_alerts, n)} | {share(named, n)} | {share(fp, fp_flows)} |")
    log.close()
    print(f"\n(commands and their output: {os.path.join(work, 'commands.log')})")


if __name__ == "__main__":
    main()
