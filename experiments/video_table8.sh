#!/usr/bin/env bash
# Issue 25, item 5: the paper's Table 8 on video-text (few) in one call, on
# the ten report seeds: the plain sum and every hypergradient strategy, each
# at the learning rate the protocol chose for it (experiments/recipes/few;
# conjugate gradient and Neumann were not tuned and train at the preset's,
# the sum's). One freshly pretrained quick backbone for every run.
#
#   MELTR=target/debug/meltr OUT=runs/table8-video experiments/video_table8.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/table8-video}
HERE=$(cd "$(dirname "$0")" && pwd)
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
"$M" compare --preset few --methods sum,meltr,unrolled,cg,neumann \
  --seeds 100,101,102,103,104,105,106,107,108,109 \
  --recipe-dir "$HERE/recipes/few" --out "$OUT" > "$OUT/table8.md"
cat "$OUT/table8.md"
