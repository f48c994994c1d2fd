#!/usr/bin/env bash
# Issue 25, item 6: a mix whose logits are bounded (mix_bound) against the
# unbounded mix, on the digits preset's tasks and with the harmful
# `noise_labels` task added, on the report seeds; primary-only and the
# plain sum beside them. The bound itself was chosen on validation of the
# tuning seeds (experiments/digits_bound_tune.sh, docs/protocol-digits/bound.md).
#
#   MELTR=target/debug/meltr OUT=runs/bound-digits experiments/digits_bound.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/bound-digits}
SEEDS=${SEEDS:-100,101,102,103,104,105,106,107,108,109}
HERE=$(cd "$(dirname "$0")" && pwd)
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
tasks=classify,rotation,mixup,masked_pixels
"$M" compare --preset digits --methods primary,sum,mix,bounded --seeds "$SEEDS" --tasks "$tasks" \
  --out "$OUT/without" > "$OUT/without.md"
"$M" compare --preset digits --methods sum,mix,bounded --seeds "$SEEDS" --tasks "$tasks,noise_labels" \
  --backbone "$OUT/without/backbone.safetensors" --out "$OUT/with" > "$OUT/with.md"
python3 "$HERE/harmful_task.py" "$OUT" noise_labels > "$OUT/harmful.md"
cat "$OUT/harmful.md"
# The bounded mix against the unbounded one, and each one's worst margin
# over primary-only (item 6's bound), on both task sets.
for set in without with; do
  python3 "$HERE/paired.py" "$OUT/$set" bounded mix --floor primary "$OUT/without" | tee "$OUT/paired-$set.txt"
  python3 "$HERE/paired.py" "$OUT/$set" mix sum --floor primary "$OUT/without" | tail -1 | tee -a "$OUT/paired-$set.txt"
done
