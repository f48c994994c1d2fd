#!/usr/bin/env python3
"""Variants of one method against its baseline, seed by seed.

    python3 experiments/ablation_table.py BASE_DIR METHOD VARIANT_DIR[:METHOD]... > table.md

Each directory is a `meltr compare` output on the same seeds and backbone;
BASE_DIR's row METHOD is the baseline, each VARIANT_DIR's row METHOD a
variant (its label says what its recipe changed), or its row of the method
named after a colon (a variant that is another method, e.g. `mix`). Prints each variant's
test metric (mean ± 95 % t interval), mean validation metric, paired
difference against the baseline (mean ± 95 % CI, wins/losses), the
primary task's median share of the last epoch's weight, and the runs with
a negative task weight or a vanished total weight (weight health).
"""
import json
import os
import sys

from ci_stats import last_primary_share, mean_ci, show


def row(folder, method):
    """A method's row of a compare folder's compare.json; for a folder of
    `meltr train` runs (METHOD-seedN/summary.json, no compare.json) the same
    fields from the summaries, labelled by the folder's label.txt."""
    if os.path.exists(f"{folder}/compare.json"):
        return next(r for r in json.load(open(f"{folder}/compare.json")) if r["method"] == method)
    runs = [json.load(open(f"{folder}/{method}-seed{s}/summary.json")) for s in seeds_of(folder, method)]
    key = "r1" if "r1" in runs[0]["final_test"] else "accuracy"
    val = [r["epochs"][-1]["val"][key] for r in runs]
    return {
        "label": open(f"{folder}/label.txt").read().strip(),
        "metric": "R@1" if key == "r1" else "accuracy",
        "test": [r["final_test"][key] for r in runs],
        "val_mean": sum(val) / len(val),
    }


def health(folder, method, seeds):
    """(median primary share of the last epoch's weight, runs with a
    negative weight, runs with a vanished total)."""
    shares, negative, vanished = [], 0, 0
    for s in seeds:
        share, r = last_primary_share(f"{folder}/{method}-seed{s}")
        shares.append(share)
        negative += r["weight_health"]["negative"] > 0
        vanished += r["weight_health"]["vanished"] > 0
    shares.sort()
    n = len(shares)
    med = shares[n // 2] if n % 2 else (shares[n // 2 - 1] + shares[n // 2]) / 2
    return med, negative, vanished


def seeds_of(folder, method):
    return sorted(int(d.rsplit("seed", 1)[1]) for d in os.listdir(folder)
                  if d.startswith(f"{method}-seed") and os.path.exists(f"{folder}/{d}/summary.json"))


def main(base, method, variants):
    b = row(base, method)
    seeds = seeds_of(base, method)
    metric = b["metric"]
    out = [
        f"| {method} variant | test {metric} (mean ± 95 % CI, {len(b['test'])} seeds) | val {metric} "
        f"| − baseline (wins/losses) | primary's share of the weight, last epoch | runs with a negative weight / a vanished total |",
        "|---|---|---|---|---|---|",
    ]
    share, neg, van = health(base, method, seeds)
    out.append(f"| baseline: {b['label']} | {show(*mean_ci(b['test']))} | {b['val_mean']:.1f} | — "
               f"| {share:.2f} | {neg} / {van} |")
    for v in variants:
        v, _, m = v.partition(":")
        v, m = v.rstrip("/"), m or method
        r = row(v, m)
        assert len(r["test"]) == len(b["test"]), f"{v}: seed counts differ"
        assert seeds_of(v, m) == seeds, f"{v}: seeds differ"
        d = [x - y for x, y in zip(r["test"], b["test"])]
        wins, losses = sum(x > 0 for x in d), sum(x < 0 for x in d)
        share, neg, van = health(v, m, seeds_of(v, m))
        out.append(f"| {r['label']} | {show(*mean_ci(r['test']))} | {r['val_mean']:.1f} "
                   f"| {show(*mean_ci(d), sign=True)} ({wins}/{losses}) | {share:.2f} | {neg} / {van} |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
