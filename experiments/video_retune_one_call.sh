#!/usr/bin/env bash
# The video protocol's learning-rate choice redone for the plain sum and
# AID-FP-Lite on the backbone of experiments/video_report_one_call.sh (run
# that first): validation R@1 of the tuning seeds 0-4 at 2.5e-5, 5e-5 and
# 1e-4, under the few preset's BertAdam recipe. Choose from val R@1 only.
#
#   MELTR=target/debug/meltr OUT=runs/table8-video experiments/video_retune_one_call.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/table8-video}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT/retune"
for lr in 2.5e-5 5e-5 1e-4; do
  printf '[optimizer]\nlr = %s\n' "$lr" > "$OUT/retune/lr-$lr.toml"
  for m in sum meltr; do
    "$M" compare --preset few --methods "$m" --seeds 0,1,2,3,4 --backbone "$OUT/backbone.safetensors" \
      --extra "$OUT/retune/lr-$lr.toml" --out "$OUT/retune/$m-$lr" > "$OUT/retune/$m-$lr.md"
  done
done
for f in "$OUT"/retune/*.md; do
  echo "$(basename "$f" .md): mean validation R@1 $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))[0]['val_mean'], 2))" "${f%.md}/compare.json")"
done
