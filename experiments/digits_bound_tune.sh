#!/usr/bin/env bash
# Issue 25, item 6: choosing the digits mix's logit bound (mix_bound) on
# validation of the tuning seeds 0-4 only: the preset's MELTR head (AID-FP-Lite,
# output = "mix") with mix_bound in {none, 1, 2, 4}, on the preset's tasks and
# with the harmful `noise_labels` task added; the final validation accuracy of
# each run and the smallest weight of any step. No test score is read.
#
#   MELTR=target/debug/meltr OUT=runs/bound-tune experiments/digits_bound_tune.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/bound-tune}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
# The preset's freshly initialised backbone, as `compare` makes it.
[ -f "$OUT/init/backbone.safetensors" ] ||
  "$M" compare --preset digits --methods primary --seeds 0 --out "$OUT/init" > /dev/null
for set in without with; do
  tasks='"classify", "rotation", "mixup", "masked_pixels"'; k=4
  [ $set = with ] && { tasks="$tasks, \"noise_labels\""; k=5; }
  for b in none 1 2 4; do
    for seed in 0 1 2 3 4; do
      d="$OUT/$set-b$b-s$seed"
      [ -f "$d/summary.json" ] && continue
      bound=""; [ $b != none ] && bound="mix_bound = $b"
      mkdir -p "$d"
      cat > "$d.toml" <<EOT
preset = "digits"
tasks = [$tasks]
seed = $seed
backbone = "$OUT/init/backbone.safetensors"

[meta_loss]
type = "meltr"
preset = "allinone"
tasks = $k
output = "mix"
$bound
EOT
      "$M" train --config "$d.toml" --out "$d" --quiet > "$d.log" 2>&1
    done
  done
done
python3 - "$OUT" <<'EOP'
import json, statistics, sys
out = sys.argv[1]
print("| tasks | mix_bound | val accuracy, seeds 0-4 | mean | smallest weight of any step, per seed |")
print("|---|---|---|---|---|")
for s in ["without", "with"]:
    for b in ["none", "1", "2", "4"]:
        runs = [json.load(open(f"{out}/{s}-b{b}-s{i}/summary.json")) for i in range(5)]
        val = [r["epochs"][-1]["val"]["accuracy"] for r in runs]
        low = [r["weight_health"]["min_weight"] for r in runs]
        name = "the preset's" if s == "without" else "+ noise_labels"
        print(f"| {name} | {b} | {', '.join(f'{v:.1f}' for v in val)} | {statistics.mean(val):.2f} | "
              f"{', '.join(f'{w:.2g}' for w in low)} |")
EOP
