#!/usr/bin/env bash
# Issue 25, item 4, on video-text (few): what MELTR's effect is made of.
# The `meltr` method (AID-FP-Lite, free weights: the few preset's head) at
# the recipe the protocol chose for it (experiments/recipes/few/meltr.toml)
# against two variants, on the report seeds and one freshly pretrained
# quick backbone:
#   - holdout-32: the outer (primary) loss on 32 of the 128 training
#     examples held out of the backbone's updates, instead of on the ring
#     of recent training batches (a [schedule] recipe over the chosen one);
#   - mix: the head's weights normalised to a fixed total, K · softmax
#     (the `mix` method, output = "mix"), at meltr's chosen recipe;
#   - one [meta] setting at a time: gamma 0, the regulariser's direct term
#     off (reference_compat), the head's learning rate 1e-4 and 1e-2, no
#     weight decay.
# The plain sum at its chosen recipe rides along in the baseline call, and
# the plain sum on the 96 examples holdout-32 trains the backbone on is a
# control for it. Last, the head's weights epoch by epoch.
# Nothing is chosen here: every variant is reported. Finished runs are
# reused (experiments/video_harmful_task.sh shares the baseline folder).
#
#   MELTR=target/debug/meltr OUT=runs/video-item4 experiments/video_ablations.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/video-item4}
SEEDS=${SEEDS:-100,101,102,103,104,105,106,107,108,109}
HERE=$(cd "$(dirname "$0")" && pwd)
RECIPES="$HERE/recipes/few"
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT/ablations"
"$M" compare --preset few --methods sum,meltr --seeds "$SEEDS" \
  --recipe-dir "$RECIPES" --out "$OUT/without" > "$OUT/baseline.md"
B="$OUT/without/backbone.safetensors"
# The chosen recipe with the outer loss on held-out examples.
{ cat "$RECIPES/meltr.toml"; printf '\n[schedule]\nholdout = 32\n'; } > "$OUT/ablations/holdout-32.toml"
"$M" compare --preset few --methods meltr --seeds "$SEEDS" --backbone "$B" \
  --recipe "meltr=$OUT/ablations/holdout-32.toml" --out "$OUT/ablations/holdout-32" \
  > "$OUT/ablations/holdout-32.md"
"$M" compare --preset few --methods mix --seeds "$SEEDS" --backbone "$B" \
  --recipe "mix=$RECIPES/meltr.toml" --out "$OUT/ablations/mix" > "$OUT/ablations/mix.md"
# One [meta] setting of the head changed at a time, over the chosen recipe.
meta_variant() { # name, a [meta] line
  { cat "$RECIPES/meltr.toml"; printf '\n[meta]\n%s\n' "$2"; } > "$OUT/ablations/$1.toml"
  "$M" compare --preset few --methods meltr --seeds "$SEEDS" --backbone "$B" \
    --recipe "meltr=$OUT/ablations/$1.toml" --out "$OUT/ablations/$1" > "$OUT/ablations/$1.md"
}
meta_variant gamma-0 "gamma = 0.0"
meta_variant no-direct-term "reference_compat = true"
meta_variant meta-lr-1e-4 "lr = 1e-4"
meta_variant meta-lr-1e-2 "lr = 1e-2"
meta_variant no-weight-decay "weight_decay = 0.0"
# A control for holdout-32: the plain sum trained on the same 96 examples
# (the first 96; 3 backbone steps an epoch, 96 in all, the linear decay
# over them), with no held-out loss: its run file with train_limit = 96.
mkdir -p "$OUT/ablations/sum-train-96"
echo "plain multi-task sum [lr 5e-5] on the first 96 examples (train_limit = 96)" \
  > "$OUT/ablations/sum-train-96/label.txt"
for s in ${SEEDS//,/ }; do
  d="$OUT/ablations/sum-train-96/sum-seed$s"
  mkdir -p "$d"
  sed '1a train_limit = 96' "$OUT/without/sum-seed$s/run.toml" > "$d/next.toml"
  if cmp -s "$d/next.toml" "$d/run.toml" && [ -e "$d/summary.json" ]; then
    rm "$d/next.toml"
  else
    mv "$d/next.toml" "$d/run.toml"
    echo "plain sum on 96 examples (seed $s) ..." >&2
    "$M" train --quiet --config "$d/run.toml" --out "$d" > /dev/null
  fi
done
{
  python3 "$HERE/ablation_table.py" "$OUT/without" meltr \
    "$OUT/ablations/holdout-32" "$OUT/ablations/mix:mix"
  echo
  python3 "$HERE/ablation_table.py" "$OUT/without" sum \
    "$OUT/ablations/sum-train-96" "$OUT/ablations/holdout-32:meltr"
  echo
  python3 "$HERE/ablation_table.py" "$OUT/ablations/sum-train-96" sum \
    "$OUT/ablations/holdout-32:meltr"
  echo
  python3 "$HERE/weight_trajectory.py" "$OUT/without:meltr" \
    "$OUT/ablations/holdout-32:meltr" "$OUT/ablations/mix:mix"
  echo
  python3 "$HERE/ablation_table.py" "$OUT/without" meltr "$OUT/ablations/gamma-0" \
    "$OUT/ablations/no-direct-term" "$OUT/ablations/meta-lr-1e-4" \
    "$OUT/ablations/meta-lr-1e-2" "$OUT/ablations/no-weight-decay"
} > "$OUT/ablations.md"
cat "$OUT/ablations.md"
