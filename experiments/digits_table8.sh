#!/usr/bin/env bash
# Item 5 of issue 25 on the `digits` preset (10 labelled images per class,
# its recipe: lr 1e-2 constant), the paper's Table 8 on the report seeds
# 100-109: the plain sum against MELTR under each hypergradient strategy
# (one-step unrolled = ITD, conjugate gradient, Neumann, AID-FP-Lite; the
# free head as `compare` runs them, and AID-FP-Lite with the preset's mix
# head), then the preset's MELTR (AID-FP-Lite, mix) against meta_every in
# {1, 3, 10, 30}. Nothing here is chosen: every setting is the preset's.
#
#   MELTR=target/debug/meltr OUT=runs/table8-digits experiments/digits_table8.sh
#
# SEEDS (default 100-109) narrows the report seeds; finished runs are reused.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/table8-digits}
SEEDS=${SEEDS:-100,101,102,103,104,105,106,107,108,109}
METHODS=${METHODS:-sum,mix,meltr,unrolled,neumann,cg}
EVERY=${EVERY:-"1 10 30"}
HERE=$(cd "$(dirname "$0")" && pwd)
DOCS=${DOCS:-$HERE/../docs/protocol-digits}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT" "$DOCS"

# 1. The strategies: one comparison (the backbone: the preset's seed-0
#    initialisation, saved by compare in $OUT/strategies).
"$M" compare --preset digits --methods "$METHODS" --seeds "$SEEDS" \
  --out "$OUT/strategies" > "$DOCS/table8.md"
cp "$OUT/strategies/compare.json" "$DOCS/table8.json"

# 2. meta_every: compare's own `mix` run file for each seed with
#    [schedule] meta_every = k added (meta_every = 3 is the preset's, the
#    `mix` row above), trained with `meltr train`.
for k in $EVERY; do
  for seed in ${SEEDS//,/ }; do
    d="$OUT/meta_every/$k/mix-seed$seed"
    [ -f "$d/summary.json" ] && continue
    mkdir -p "$d"
    { cat "$OUT/strategies/mix-seed$seed/run.toml"; printf '[schedule]\nmeta_every = %s\n' "$k"; } > "$d/run.toml"
    "$M" train --quiet --config "$d/run.toml" --out "$d" > /dev/null
  done
done
python3 - "$OUT" "$SEEDS" "$EVERY" > "$DOCS/meta-every.md" <<'PY'
import json, sys
from scipy.stats import t
out, seeds, every = sys.argv[1], sys.argv[2].split(","), [int(k) for k in sys.argv[3].split()]
def ci(v):
    n = len(v); m = sum(v) / n
    s = (sum((x - m) ** 2 for x in v) / (n - 1)) ** 0.5
    return m, t.ppf(0.975, n - 1) * s / n ** 0.5
def runs(d, method):
    return [json.load(open(f"{out}/{d}/{method}-seed{s}/summary.json")) for s in seeds]
def test(r): return r["final_test"]["accuracy"]
def val(r): return r["epochs"][-1]["val"]["accuracy"]
def secs(rs): return sum(e["seconds"] for r in rs for e in r["epochs"]) / sum(len(r["epochs"]) for r in rs)
s = runs("strategies", "sum")
rows = {3: runs("strategies", "mix")}
for k in every:
    rows[k] = runs(f"meta_every/{k}", "mix")
print(f"| meta_every | test accuracy (mean ± 95 % CI, {len(seeds)} seeds) | val accuracy | − sum (wins/losses) | epoch time vs sum |")
print("|---|---|---|---|---|")
for k in sorted(rows):
    r = rows[k]
    a = [test(x) for x in r]
    d = [test(x) - test(y) for x, y in zip(r, s)]
    m, h = ci(a); dm, dh = ci(d)
    label = f"{k} (the preset's)" if k == 3 else str(k)
    print(f"| {label} | {m:.1f} ± {h:.1f} | {sum(map(val, r)) / len(r):.1f} | "
          f"{dm:+.1f} ± {dh:.1f} ({sum(x > 0 for x in d)}/{sum(x < 0 for x in d)}) | {secs(r) / secs(s):.2f}× |")
PY
cat "$DOCS/meta-every.md"
