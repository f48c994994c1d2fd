#!/usr/bin/env bash
# Issue 25, item 4, on video-text (few): a deliberately harmful auxiliary
# task. The few preset's tasks, once as they are and once with
# `noise_align` added (align's InfoNCE with each caption matched to a clip
# drawn at random from the step seed; see plugins/noise_labels), each
# method at the recipe the protocol chose for it (experiments/recipes/few;
# `mix`, MELTR with its weights normalised to a fixed total, at meltr's),
# on the report seeds; then the weight each method gives the harmful task
# epoch by epoch, and each method's test R@1 with it against without it
# (experiments/harmful_task.py, as on digits).
#
#   MELTR=target/debug/meltr OUT=runs/video-item4 experiments/video_harmful_task.sh
#
# The runs without it share their folder (and backbone) with
# experiments/video_ablations.sh; finished runs are reused. Nothing here is
# chosen: no setting is tuned on these runs.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/video-item4}
SEEDS=${SEEDS:-100,101,102,103,104,105,106,107,108,109}
METHODS=${METHODS:-sum,meltr,mix,uw,dwa}
HERE=$(cd "$(dirname "$0")" && pwd)
RECIPES="$HERE/recipes/few"
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
tasks=align,cmlm,cmfm,mixup,rotation
"$M" compare --preset few --methods "$METHODS" --seeds "$SEEDS" --tasks "$tasks" \
  --recipe-dir "$RECIPES" --recipe "mix=$RECIPES/meltr.toml" --out "$OUT/without" > "$OUT/without.md"
# The same pretrained backbone for both.
"$M" compare --preset few --methods "$METHODS" --seeds "$SEEDS" --tasks "$tasks,noise_align" \
  --recipe-dir "$RECIPES" --recipe "mix=$RECIPES/meltr.toml" \
  --backbone "$OUT/without/backbone.safetensors" \
  --out "$OUT/with" > "$OUT/with.md"
python3 "$HERE/harmful_task.py" "$OUT" noise_align --val > "$OUT/harmful.md"
cat "$OUT/harmful.md"
