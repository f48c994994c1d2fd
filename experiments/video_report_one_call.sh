#!/usr/bin/env bash
# Issue 25 on video-text (few), in one `compare` call on the ten report
# seeds: the video protocol's report (every baseline) and the paper's Table
# 8 (every hypergradient strategy), each method at the learning rate the
# protocol chose for it (experiments/recipes/few; conjugate gradient and
# Neumann were not tuned and train at the preset's, the sum's). One freshly
# pretrained quick backbone for every run. Finished runs are reused.
#
#   MELTR=target/debug/meltr OUT=runs/table8-video experiments/video_report_one_call.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/table8-video}
HERE=$(cd "$(dirname "$0")" && pwd)
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
"$M" compare --preset few --methods sum,meltr,unrolled,cg,neumann,uw,dwa,gradnorm,grid,primary \
  --seeds 100,101,102,103,104,105,106,107,108,109 \
  --recipe-dir "$HERE/recipes/few" --out "$OUT" > "$OUT/report.md"
cat "$OUT/report.md"
