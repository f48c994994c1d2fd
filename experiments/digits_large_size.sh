#!/usr/bin/env bash
# Sizing the `digits-large` preset (issue 25, item 3: an image setting with
# power). The plain sum (the `digits` preset's recipe, lr 1e-2 constant)
# on larger train splits, on the TUNING seeds 0-4 only; the size is chosen
# from the validation spread (the projected 95 % CI half-width over ten
# seeds, t(0.975, 9) * sd / sqrt(10)) and the validation mean, never from
# test scores. Every run starts from the same freshly initialised backbone
# (the one `meltr compare` uses: the preset's seed 0), as a comparison does.
#
#   MELTR=target/debug/meltr OUT=runs/digits-large-size experiments/digits_large_size.sh
#
# SIZES holds "train_per_class:epochs:batch_size:schedule" settings
# (schedule: the optimiser's, `constant` as the preset's or `linear`, a
# linear decay to zero); a finished run is skipped.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/digits-large-size}
SIZES=${SIZES:-"25:16:20:constant 50:8:20:constant 25:40:20:constant 50:20:20:constant 50:40:20:constant 25:40:20:linear 50:20:20:linear 50:40:20:linear"}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
mkdir -p "$OUT"
B="$OUT/backbone.safetensors"
if [ ! -f "$B" ]; then
  "$M" compare --preset digits --methods primary --seeds 0 --out "$OUT/init" > /dev/null
  cp "$OUT/init/backbone.safetensors" "$B"
fi
for setting in $SIZES; do
  IFS=: read -r n epochs batch schedule <<< "$setting"
  for seed in 0 1 2 3 4; do
    d="$OUT/n$n-e$epochs-b$batch-$schedule/seed$seed"
    [ -f "$d/summary.json" ] && continue
    mkdir -p "$d"
    cat > "$d/run.toml" <<TOML
preset = "digits"
backbone = "$(cd "$OUT" && pwd)/backbone.safetensors"
seed = $seed
epochs = $epochs
batch_size = $batch
eval_every = $epochs
[data_settings]
train_per_class = $n
val_per_class = 15
[optimizer]
schedule = "$schedule"
[meta_loss]
type = "sum"
[strategy]
type = "none"
[schedule]
holdout = 0
TOML
    "$M" train --quiet --config "$d/run.toml" --out "$d" > /dev/null
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
from scipy.stats import t
out = sys.argv[1]
print("| train per class : epochs : batch : schedule | steps | val accuracy per seed (0-4) | mean | sd | projected 95 % CI half-width, 10 seeds | epoch time (s) |")
print("|---|---|---|---|---|---|---|")
def parts(p):
    n, e, b, sched = os.path.basename(p).split("-")
    return int(n[1:]), int(e[1:]), int(b[1:]), sched
for d in sorted(glob.glob(f"{out}/n*-e*-b*-*"), key=lambda p: (parts(p)[3], parts(p)[:3])):
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{d}/seed*/summary.json"))]
    if not runs:
        continue
    val = [r["epochs"][-1]["val"]["accuracy"] for r in runs]
    n = len(val); m = sum(val) / n
    sd = (sum((v - m) ** 2 for v in val) / (n - 1)) ** 0.5 if n > 1 else float("nan")
    half = t.ppf(0.975, 9) * sd / 10 ** 0.5
    secs = sum(e["seconds"] for r in runs for e in r["epochs"]) / sum(len(r["epochs"]) for r in runs)
    n_, e_, b_, sched = parts(d)
    steps = e_ * -(-10 * n_ // b_)
    name = f"{n_} : {e_} : {b_} : {sched}"
    print(f"| {name} | {steps} | {', '.join(f'{v:.1f}' for v in val)} | {m:.1f} | {sd:.2f} | ±{half:.2f} | {secs:.2f} |")
PY
