#!/usr/bin/env python3
"""A method's task weights epoch by epoch, median over seeds.

    python3 experiments/weight_trajectory.py DIR:METHOD... > weights.md

Each DIR is a `meltr compare` output (or a folder of METHOD-seedN runs);
METHOD its method. From each run's summary.json (the epoch's mean weight
∂f/∂l_k per task, as the log records it) it prints, at a few epochs, the
median over seeds of the total weight Σ_k w_k (the plain sum's is the
number of tasks; under Adam a falling total is a falling step size while
its second-moment estimate remembers the larger gradients) and of the
primary task's share of it.
"""
import json
import os
import sys


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def runs(folder, method):
    out = []
    for d in sorted(os.listdir(folder)):
        f = f"{folder}/{d}/summary.json"
        if d.startswith(f"{method}-seed") and os.path.exists(f):
            r = json.load(open(f))
            with open(f"{folder}/{d}/log.jsonl") as log:
                primary = r["tasks"].index(json.loads(log.readline())["primary"])
            out.append((r, primary))
    return out


def main(pairs):
    rows = []
    for pair in pairs:
        folder, _, method = pair.partition(":")
        folder = folder.rstrip("/")
        rs = runs(folder, method)
        label = method
        if os.path.exists(f"{folder}/compare.json"):
            label = next(r["label"] for r in json.load(open(f"{folder}/compare.json"))
                         if r["method"] == method)
        totals = [[sum(e["mean_weights"]) for e in r["epochs"]] for r, _ in rs]
        shares = [[e["mean_weights"][p] / sum(e["mean_weights"]) for e in r["epochs"]] for r, p in rs]
        rows.append((label, len(rs), totals, shares))
    last = max(len(t) for _, _, totals, _ in rows for t in totals)
    at = [e for e in [1, 5, 10, 15, 20, 25, 30] if e < last] + [last]
    head = " | ".join(f"epoch {e}" for e in at)
    for title, which in [("total weight Σ_k w_k", 2), ("primary task's share of the total", 3)]:
        print(f"The {title}, median over seeds:\n")
        print(f"| run | seeds | {head} |")
        print("|---|---|" + "---|" * len(at))
        for row in rows:
            cells = [f"{median([t[e - 1] for t in row[which] if len(t) >= e]):.2f}" for e in at]
            print(f"| {row[0]} | {row[1]} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
