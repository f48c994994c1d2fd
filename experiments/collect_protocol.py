#!/usr/bin/env python3
"""Copies a protocol run's small text outputs into the docs.

    python3 experiments/collect_protocol.py runs/protocol-video docs/protocol-video

Writes chosen.txt (every setting tried, its mean validation score, and
what was chosen), tune-<method>-<recipe>.md (each tuning comparison),
report-<method>.md, report.md (the merged report), report.json (every
method's row) and weight-health.txt (each report run's weight_health
summary: steps with a vanished total weight or a negative weight).
"""
import glob
import json
import os
import shutil
import subprocess
import sys

out, docs = sys.argv[1], sys.argv[2]
os.makedirs(docs, exist_ok=True)
shutil.copy(f"{out}/chosen.txt", f"{docs}/chosen.txt")
for md in sorted(glob.glob(f"{out}/tune/*/*.md")):
    method = os.path.basename(os.path.dirname(md))
    shutil.copy(md, f"{docs}/tune-{method}-{os.path.basename(md)}")
rows, health = [], []
for md in sorted(glob.glob(f"{out}/report/*.md")):
    shutil.copy(md, f"{docs}/report-{os.path.basename(md)}")
for f in sorted(glob.glob(f"{out}/report/*/compare.json")):
    rows += json.load(open(f))
for s in sorted(glob.glob(f"{out}/report/*/*-seed*/summary.json")):
    run = json.load(open(s))
    h = run.get("weight_health") or {}
    test = run["final_test"]
    val = (run["epochs"][-1].get("val") or {}) if run["epochs"] else {}
    name = os.path.basename(os.path.dirname(s))
    health.append(
        f"{name} test R@1 {test.get('r1', test)} val R@1 {val.get('r1', '?')} "
        f"vanished {h.get('vanished')} negative {h.get('negative')} "
        f"min_total {h.get('min_total')} min_w {h.get('min_weight')}")
with open(f"{docs}/report.json", "w") as f:
    json.dump(rows, f, indent=1)
with open(f"{docs}/weight-health.txt", "w") as f:
    f.write("\n".join(health) + "\n")
here = os.path.dirname(os.path.abspath(__file__))
report = subprocess.run([sys.executable, f"{here}/merge_compare.py", f"{out}/report"],
                        capture_output=True, text=True, check=True).stdout
with open(f"{docs}/report.md", "w") as f:
    f.write(report)

# Every setting tried, by method: mean validation over the tuning seeds.
val = {}
for f in sorted(glob.glob(f"{out}/tune/*/*/compare.json")):
    method = os.path.basename(os.path.dirname(os.path.dirname(f)))
    recipe = os.path.basename(os.path.dirname(f))
    val.setdefault(method, {})[recipe] = json.load(open(f))[0]["val_mean"]
# The grid's own settings: each auxiliary weight, from its runs.
for d in sorted(glob.glob(f"{out}/tune/grid/*/")):
    recipe = os.path.basename(os.path.dirname(d))
    by_aux = {}
    for s in glob.glob(f"{d}/grid*-seed*/summary.json"):
        aux = os.path.basename(os.path.dirname(s))[4:].split("-seed")[0]
        by_aux.setdefault(aux, []).append(json.load(open(s))["epochs"][-1]["val"]["r1"])
    for aux, v in by_aux.items():
        val.setdefault(f"grid aux {aux}", {})[recipe] = sum(v) / len(v)
recipes = sorted({r for v in val.values() for r in v},
                 key=lambda r: (r.split("-")[0], float(r.split("-", 1)[1])))
val = dict(sorted(val.items()))
lines = ["| recipe | " + " | ".join(val) + " |", "|---|" + "---|" * len(val)]
for r in recipes:
    cells = []
    for m in val:
        v = val[m].get(r)
        best = v is not None and len(val[m]) > 1 and v == max(val[m].values())
        cells.append("" if v is None else (f"**{v:.2f}**" if best else f"{v:.2f}"))
    lines.append(f"| {r} | " + " | ".join(cells) + " |")
with open(f"{docs}/tune-table.md", "w") as f:
    f.write("\n".join(lines) + "\n")
