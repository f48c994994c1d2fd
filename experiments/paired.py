#!/usr/bin/env python3
"""The paired difference of two methods of a `meltr compare` folder.

    python3 experiments/paired.py OUT/with bounded mix

prints A − B in the final test metric, seed by seed over the seeds both
ran: mean ± 95 % t interval, wins/losses, and the per-seed differences;
and, with --floor METHOD [FOLDER], A's worst per-seed margin over METHOD
(read from FOLDER, default the same folder).
"""
import argparse
import glob
import json
import os
import re

from ci_stats import mean_ci, show


def scores(folder, method):
    out = {}
    for f in glob.glob(f"{folder}/{method}-seed*/summary.json"):
        seed = int(re.search(r"-seed(\d+)$", os.path.dirname(f)).group(1))
        test = json.load(open(f))["final_test"]
        out[seed] = next(v for k, v in test.items() if k != "metric")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--floor", nargs="+", metavar=("METHOD", "FOLDER"))
    args = p.parse_args()
    a, b = scores(args.folder, args.a), scores(args.folder, args.b)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise SystemExit(f"{args.folder}: no seed ran both {args.a} and {args.b}")
    d = [a[s] - b[s] for s in seeds]
    m, h = mean_ci(d)
    wins, losses = sum(x > 0 for x in d), sum(x < 0 for x in d)
    print(f"{args.a} − {args.b}: {show(m, h, sign=True)} ({wins}/{losses}) over seeds {seeds}")
    print("per seed: " + ", ".join(f"{x:+.1f}" for x in d))
    if args.floor:
        method = args.floor[0]
        folder = args.floor[1] if len(args.floor) > 1 else args.folder
        f = scores(folder, method)
        margins = {s: a[s] - f[s] for s in seeds if s in f}
        worst = min(margins, key=margins.get)
        print(f"{args.a} − {method}: worst {margins[worst]:+.1f} (seed {worst})")


if __name__ == "__main__":
    main()
