#!/usr/bin/env python3
"""What each method does with a harmful auxiliary task (issue 25, item 4).

    python3 experiments/harmful_task.py OUT noise_labels [--val] > harmful.md

OUT holds two `meltr compare` folders on the same seeds and backbone:
OUT/without (the preset's tasks) and OUT/with (the same plus the harmful
task, named by the second argument). For every method of OUT/with it reads
each run's summary.json: the mean weight (∂f/∂l_k, as the log records it)
the method gave each task in each epoch, and the final test metric. It
prints

* the harmful task's weight relative to the mean weight of the other
  auxiliary tasks (1: treated like them; 0: ignored), at a few epochs,
  median over seeds (a ratio of weights that may near zero: the median
  is not carried off by one run); the first epoch at which it falls below
  one half (per seed; "—" where it never does); and, in the last epoch,
  its weight relative to the primary task's and its share of the total;
* the test metric with and without the harmful task, and the paired
  difference (mean ± 95 % t interval over seeds, wins/losses); and the
  primary task's share of the total weight in the last epoch, without and
  with (median over seeds): whether a method moves weight to the primary
  because of the harmful task or anyway;
* with --val, the same comparison of the last epoch's validation metric
  (what settings are chosen on), for a split that may not agree with test.
"""
import glob
import json
import os
import re
import sys

from ci_stats import last_primary_share, mean_ci


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def runs(folder):
    """{method: {seed: summary}} of a compare folder's finished runs."""
    out = {}
    for f in glob.glob(f"{folder}/*-seed*/summary.json"):
        m = re.match(r"(.+)-seed(\d+)$", os.path.basename(os.path.dirname(f)))
        out.setdefault(m.group(1), {})[int(m.group(2))] = json.load(open(f))
    return out


def primary_share(out, which, method, seeds):
    """Median over seeds of the primary's share of the last epoch's weight."""
    return median([last_primary_share(f"{out}/{which}/{method}-seed{s}")[0] for s in seeds])


def main(out, harmful, val=False):
    with_, without = runs(f"{out}/with"), runs(f"{out}/without")
    labels = {r["method"]: r["label"] for r in json.load(open(f"{out}/with/compare.json"))}
    order = list(labels)
    metric = json.load(open(f"{out}/with/compare.json"))[0]["metric"]
    # A few epochs, and the last (40 on digits, 32 on video-text few).
    last = max(len(r["epochs"]) for per in with_.values() for r in per.values())
    at = [e for e in [1, 5, 10, 20, 30, 40] if e < last] + [last]
    lines = [
        f"Weight of `{harmful}` relative to the mean weight of the other auxiliary tasks, "
        f"by epoch (median over seeds; 1 = treated like them, 0 = ignored), and in the "
        f"last epoch relative to the primary task's weight and as a share of the total (median):",
        "",
        "| method | seeds | " + " | ".join(f"epoch {e}" for e in at)
        + " | first epoch below ½ (per seed) | vs the primary, last epoch | share of the total, last epoch |",
        "|---|---|" + "---|" * len(at) + "---|---|---|",
    ]
    diffs = []
    for m in order:
        seeds = sorted(with_.get(m, {}))
        if not seeds:
            continue
        ratios, first, share, vs_primary = [], [], [], []
        for s in seeds:
            r = with_[m][s]
            k = r["tasks"].index(harmful)
            with open(f"{out}/with/{m}-seed{s}/log.jsonl") as log:
                primary = r["tasks"].index(json.loads(log.readline())["primary"])
            others = [i for i in range(len(r["tasks"])) if i not in (k, primary)]
            per = []
            for e in r["epochs"]:
                w = e["mean_weights"]
                base = sum(w[i] for i in others) / len(others)
                per.append(w[k] / base if base != 0 else float("nan"))
            ratios.append(per)
            below = [i + 1 for i, x in enumerate(per) if x < 0.5]
            first.append(str(below[0]) if below else "—")
            w = r["epochs"][-1]["mean_weights"]
            share.append(w[k] / sum(w) if sum(w) != 0 else float("nan"))
            vs_primary.append(w[k] / w[primary] if w[primary] != 0 else float("nan"))
        cells = []
        for e in at:
            v = [p[e - 1] for p in ratios if len(p) >= e]
            cells.append(f"{median(v):.2f}" if v else "")
        lines.append(
            f"| {labels[m]} | {len(seeds)} | " + " | ".join(cells)
            + f" | {', '.join(first)} | {median(vs_primary):.2f} | {median(share):.3f} |"
        )
        both = [s for s in seeds if s in without.get(m, {})]
        if both:
            a = [with_[m][s]["final_test"] for s in both]
            b = [without[m][s]["final_test"] for s in both]
            key = "accuracy" if "accuracy" in a[0] else "r1"
            a = [x[key] for x in a]
            b = [x[key] for x in b]
            va = [with_[m][s]["epochs"][-1]["val"][key] for s in both]
            vb = [without[m][s]["epochs"][-1]["val"][key] for s in both]
            diffs.append((m, both, a, b, va, vb))
    lines += [
        "",
        f"Test {metric} without and with `{harmful}` (mean ± 95 % CI over the same seeds), "
        "and the paired difference with − without (wins/losses):",
        "",
        "| method | seeds | without | with | with − without | primary's share of the weight, last epoch: without → with |",
        "|---|---|---|---|---|---|",
    ]
    show = lambda m, h, sign=False: (f"{m:+.1f}" if sign else f"{m:.1f}") + (
        f" ± {h:.1f}" if h is not None else "")
    for m, both, a, b, _, _ in diffs:
        d = [x - y for x, y in zip(a, b)]
        wins = sum(x > 0 for x in d)
        losses = sum(x < 0 for x in d)
        lines.append(
            f"| {labels[m]} | {len(both)} | {show(*mean_ci(b))} | {show(*mean_ci(a))} "
            f"| {show(*mean_ci(d), sign=True)} ({wins}/{losses}) "
            f"| {primary_share(out, 'without', m, both):.2f} → {primary_share(out, 'with', m, both):.2f} |"
        )
    if val:
        lines += [
            "",
            f"Validation {metric} (the last epoch's) without and with `{harmful}`, and the paired "
            "difference with − without (wins/losses):",
            "",
            "| method | seeds | without | with | with − without |",
            "|---|---|---|---|---|",
        ]
        for m, both, _, _, va, vb in diffs:
            d = [x - y for x, y in zip(va, vb)]
            lines.append(
                f"| {labels[m]} | {len(both)} | {show(*mean_ci(vb))} | {show(*mean_ci(va))} "
                f"| {show(*mean_ci(d), sign=True)} ({sum(x > 0 for x in d)}/{sum(x < 0 for x in d)}) |"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--val" in sys.argv[3:])
