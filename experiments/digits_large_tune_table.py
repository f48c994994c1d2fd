#!/usr/bin/env python3
# The tuning table of the digits-large protocol (README): every learning rate
# tried per method and its mean validation accuracy over seeds 0-4, from
# docs/protocol-digits-large/chosen.txt (written by digits_large_protocol.sh).
#   python3 experiments/digits_large_tune_table.py docs/protocol-digits-large/chosen.txt
import re, sys
rows = []
for line in open(sys.argv[1]):
    m = re.match(r"(\w+): mean validation accuracy, seeds 0-4 \((.*)\); chosen lr (\S+)", line)
    if not m: continue
    vals = dict(x.split(": ") for x in m.group(2).split(", "))
    rows.append((m.group(1), vals, m.group(3)))
lrs = list(rows[0][1])
print("| method | " + " | ".join(f"lr {l}" for l in lrs) + " | chosen |")
print("|---|" + "---|" * (len(lrs) + 1))
for name, vals, best in rows:
    print(f"| {name} | " + " | ".join(f"**{float(v):.1f}**" if l == best else f"{float(v):.1f}" for l, v in vals.items()) + f" | {best} |")
