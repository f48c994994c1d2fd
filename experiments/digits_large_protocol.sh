#!/usr/bin/env bash
# The protocol (issue 25) on the `digits-large` preset: every method gets
# the same learning-rate grid (constant schedule, the preset's), chosen on
# the validation split of seeds 0-4 only, by this script, from the mean
# final validation accuracy (`val_mean`); test scores are never read while
# choosing. The chosen recipes are written to
# experiments/recipes/digits-large/METHOD.toml; the report is one
# `meltr compare --recipe-dir` on seeds 100-109, never used for choosing.
#
#   MELTR=target/debug/meltr OUT=runs/protocol-digits-large experiments/digits_large_protocol.sh
#
# Every step is a `meltr compare` whose finished runs are reused, so the
# script continues where an interrupted one stopped; each method's report
# runs are made as soon as its recipe is chosen (the final comparison then
# reuses them). `mix` is MELTR as the preset has it: AID-FP-Lite with the
# head's output a mix without scale.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/protocol-digits-large}
METHODS=${METHODS:-"sum mix dwa gradnorm uw primary unrolled"}
LRS=${LRS:-"5e-3 1e-2 2e-2"}
HERE=$(cd "$(dirname "$0")" && pwd)
RECIPES="$HERE/recipes/digits-large"
DOCS=${DOCS:-$HERE/../docs/protocol-digits-large}
mkdir -p "$OUT/recipes" "$OUT/tune" "$RECIPES" "$DOCS"
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
tune_seeds=0,1,2,3,4
report_seeds=100,101,102,103,104,105,106,107,108,109

# One freshly initialised backbone (the preset's seed 0) for every run.
B="$OUT/backbone.safetensors"
if [ ! -f "$B" ]; then
  "$M" compare --preset digits-large --methods primary --seeds 0 --out "$OUT/init" > /dev/null
  cp "$OUT/init/backbone.safetensors" "$B"
fi

for m in $METHODS; do
  for lr in $LRS; do
    printf '[optimizer]\nlr = %s\n' "$lr" > "$OUT/recipes/lr-$lr.toml"
    d="$OUT/tune/$m/lr-$lr"
    mkdir -p "$d"
    "$M" compare --preset digits-large --methods "$m" --seeds $tune_seeds --backbone "$B" \
      --extra "$OUT/recipes/lr-$lr.toml" --out "$d" > "$d.md"
    cp "$d.md" "$DOCS/tune-$m-lr-$lr.md"
  done
  # The learning rate with the best mean validation accuracy; every value
  # tried is listed in chosen.txt and the recipe's comment.
  touch "$DOCS/chosen.txt"
  sed -i "/^$m: /d" "$DOCS/chosen.txt"
  python3 - "$OUT/tune/$m" "$m" "$RECIPES/$m.toml" "$LRS" >> "$DOCS/chosen.txt" <<'PY'
import json, sys
d, m, recipe, lrs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
val = {lr: json.load(open(f"{d}/lr-{lr}/compare.json"))[0]["val_mean"] for lr in lrs}
best = max(val, key=val.get)
tried = ", ".join(f"{lr}: {v:.2f}" for lr, v in val.items())
print(f"{m}: mean validation accuracy, seeds 0-4 ({tried}); chosen lr {best}")
open(recipe, "w").write(
    f"# `meltr compare --preset digits-large --recipe {m}=experiments/recipes/digits-large/{m}.toml`:\n"
    f"# the learning rate chosen for {m} on the validation split of seeds 0-4\n"
    f"# (experiments/digits_large_protocol.sh; mean validation accuracy {tried}),\n"
    f"# constant schedule (the preset's).\n[optimizer]\nlr = {best}\n")
PY
  "$M" compare --preset digits-large --methods "$m" --seeds $report_seeds --backbone "$B" \
    --recipe-dir "$RECIPES" --out "$OUT/report" > /dev/null
done

# The report: one comparison of every method with its own recipe.
methods=$(echo $METHODS | tr ' ' ',')
"$M" compare --preset digits-large --methods "$methods" --seeds $report_seeds --backbone "$B" \
  --recipe-dir "$RECIPES" --out "$OUT/report" > "$DOCS/report.md"
cp "$OUT/report/compare.json" "$DOCS/report.json"
