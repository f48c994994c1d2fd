#!/usr/bin/env bash
# Issue 25, item 4: a deliberately harmful auxiliary task. The digits
# preset's tasks, once as they are and once with `noise_labels` added (each
# example classified into a random class drawn from the step seed; see
# plugins/noise_labels), every method with the preset's recipe, on the
# report seeds; then the weight each method gives the harmful task epoch by
# epoch, and each method's test accuracy with it against without it.
#
#   MELTR=target/debug/meltr OUT=runs/harmful-digits experiments/harmful_task.sh
#
# Finished runs are reused, so a second call with more SEEDS runs only the
# new ones. Nothing here is chosen: no setting is tuned on these runs.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/harmful-digits}
SEEDS=${SEEDS:-100,101,102,103,104}
METHODS=${METHODS:-sum,mix,meltr,uw,dwa}
HERE=$(cd "$(dirname "$0")" && pwd)
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
tasks=classify,rotation,mixup,masked_pixels
"$M" compare --preset digits --methods "$METHODS" --seeds "$SEEDS" --tasks "$tasks" \
  --out "$OUT/without" > "$OUT/without.md"
# The same freshly initialised backbone for both.
"$M" compare --preset digits --methods "$METHODS" --seeds "$SEEDS" --tasks "$tasks,noise_labels" \
  --backbone "$OUT/without/backbone.safetensors" --out "$OUT/with" > "$OUT/with.md"
python3 "$HERE/harmful_task.py" "$OUT" noise_labels > "$OUT/harmful.md"
cat "$OUT/harmful.md"
