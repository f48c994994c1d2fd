#!/usr/bin/env python3
"""One table from several `meltr compare` outputs run on the same seeds.

    python3 experiments/merge_compare.py REPORT_DIR > report.md

REPORT_DIR holds one folder per method (`REPORT_DIR/<method>/compare.json`),
each a comparison of that method alone with its own recipe (the video
protocol ran each method in a call of its own, before `meltr compare
--recipe` could give each method of one call its own recipe). The table is `meltr compare`'s (cli/src/compare/table.rs): mean test
metric with its 95 % t interval over seeds, and each method's paired
difference against the plain sum and against the best method that is not
MELTR by mean validation metric (never by test), with wins and losses.
The learning rate chosen for each method is read from REPORT_DIR/../chosen.txt.
"""
import glob
import json
import os
import re
import sys

from ci_stats import mean_ci, show

MELTR = {"meltr", "mix", "bounded", "neumann", "cg", "unrolled"}
ORDER = ["sum", "meltr", "mix", "bounded", "unrolled", "neumann", "cg", "dwa", "gradnorm", "uw", "grid", "weighted", "linear", "primary"]


def main(report):
    rows = {}
    for f in glob.glob(f"{report}/*/compare.json"):
        for r in json.load(open(f)):
            rows[r["method"]] = r
    chosen = {}
    path = os.path.join(report, "..", "chosen.txt")
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"(\w+): chosen on validation: (\S+)", line)
            if m:
                chosen[m.group(1)] = m.group(2)
    names = sorted(rows, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    if not names:
        sys.exit(f"no compare.json under {report}")
    seeds = len(rows[names[0]]["test"])
    metric = rows[names[0]]["metric"]
    label = lambda n: rows[n]["label"] + (f" [{chosen[n]}]" if n in chosen else "")
    sum_s = rows["sum"]["epoch_seconds"] if "sum" in rows else None
    out = [
        f"| method [recipe chosen on validation] | test {metric} (mean ± 95 % CI, {seeds} seeds) "
        f"| val {metric} | epoch time vs sum |",
        "|---|---|---|---|",
    ]
    for n in names:
        r = rows[n]
        ratio = f"{r['epoch_seconds'] / sum_s:.3f}×" if sum_s else "—"
        out.append(f"| {label(n)} | {show(*mean_ci(r['test']))} | {r['val_mean']:.1f} "
                   f"| {ratio} ({r['epoch_seconds']:.2f} s) |")
    baselines = [n for n in names if n not in MELTR]
    best = max(baselines, key=lambda n: rows[n]["val_mean"]) if baselines else None

    def cell(n, base):
        if base is None or base not in rows or base == n:
            return "—"
        a, b = rows[n]["test"], rows[base]["test"]
        if len(a) != len(b):
            return "— (seed counts differ)"
        d = [x - y for x, y in zip(a, b)]
        m, h = mean_ci(d)
        wins = sum(x > 0 for x in d)
        losses = sum(x < 0 for x in d)
        return f"{show(m, h, sign=True)} ({wins}/{losses})"

    out += [
        "",
        f"Paired differences in test {metric} (mean ± 95 % CI over seeds; wins/losses); "
        f"best baseline by validation: {best}",
        "",
        f"| method | − sum | − best baseline ({best}) |",
        "|---|---|---|",
    ]
    for n in names:
        out.append(f"| {label(n)} | {cell(n, 'sum')} | {cell(n, best)} |")
    out += ["", f"Per seed (test {metric}):", "",
            "| method |" + "".join(f" seed #{i + 1} |" for i in range(seeds)),
            "|---|" + "---|" * seeds]
    for n in names:
        out.append(f"| {n} |" + "".join(f" {x:.1f} |" for x in rows[n]["test"]))
    for n in names:
        if n != "sum" and "sum" in rows and len(rows[n]["test"]) == len(rows["sum"]["test"]):
            d = [x - y for x, y in zip(rows[n]["test"], rows["sum"]["test"])]
            out.append(f"| {n} − sum |" + "".join(f" {x:.1f} |" for x in d))
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
