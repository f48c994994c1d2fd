#!/usr/bin/env bash
# Issue 25, item 4, on digits: what MELTR's effect is made of. The preset's
# MELTR (AID-FP-Lite, `output = "mix"`) with one [meta] setting changed at a
# time, through `compare --recipe mix=...`, on the report seeds and the same
# freshly initialised backbone as experiments/harmful_task.sh's runs without
# the harmful task (its `without` folder is the baseline; run that first);
# then the outer loss on held-out examples, with the plain sum on the same
# training examples as its control.
# Nothing is chosen here: every variant is reported.
#
#   MELTR=target/debug/meltr OUT=runs/harmful-digits experiments/digits_ablations.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/harmful-digits}
SEEDS=${SEEDS:-100,101,102,103,104,105,106,107,108,109}
HERE=$(cd "$(dirname "$0")" && pwd)
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT/ablations"
variant() { # name [meta] lines
  local name=$1; shift
  printf '[meta]\n%s\n' "$@" > "$OUT/ablations/$name.toml"
  "$M" compare --preset digits --methods mix --seeds "$SEEDS" \
    --tasks classify,rotation,mixup,masked_pixels \
    --backbone "$OUT/without/backbone.safetensors" \
    --recipe "mix=$OUT/ablations/$name.toml" --out "$OUT/ablations/$name" > "$OUT/ablations/$name.md"
}
variant gamma-0 "gamma = 0.0"
variant no-direct-term "reference_compat = true"
variant meta-lr-1e-4 "lr = 1e-4"
variant meta-lr-1e-2 "lr = 1e-2"
variant no-weight-decay "weight_decay = 0.0"
# The outer loss on 20 held-out examples (the last 20 of the 100; a
# [schedule] recipe) instead of the ring of recent training batches, and
# its control: the plain sum on the same first 80 examples, no meta step.
printf '[schedule]\nholdout = 20\n' > "$OUT/ablations/holdout-20.toml"
"$M" compare --preset digits --methods mix --seeds "$SEEDS" \
  --tasks classify,rotation,mixup,masked_pixels \
  --backbone "$OUT/without/backbone.safetensors" \
  --recipe "mix=$OUT/ablations/holdout-20.toml" --out "$OUT/ablations/holdout-20" > "$OUT/ablations/holdout-20.md"
mkdir -p "$OUT/sum-train-80"
echo "plain multi-task sum on the first 80 examples (train_limit = 80)" > "$OUT/sum-train-80/label.txt"
for s in ${SEEDS//,/ }; do
  d="$OUT/sum-train-80/sum-seed$s"
  [ -e "$d/summary.json" ] && continue
  mkdir -p "$d"
  sed '1a train_limit = 80' "$OUT/without/sum-seed$s/run.toml" > "$d/run.toml"
  "$M" train --quiet --config "$d/run.toml" --out "$d" > /dev/null
done
{
  python3 "$HERE/ablation_table.py" "$OUT/without" mix "$OUT"/ablations/*/
  echo
  python3 "$HERE/ablation_table.py" "$OUT/without" sum "$OUT/sum-train-80" "$OUT/ablations/holdout-20:mix"
  echo
  python3 "$HERE/ablation_table.py" "$OUT/sum-train-80" sum "$OUT/ablations/holdout-20:mix"
} > "$OUT/ablations.md"
cat "$OUT/ablations.md"
