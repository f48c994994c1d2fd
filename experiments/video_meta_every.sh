#!/usr/bin/env bash
# Item 5 of issue 25 on video-text `few`: the default strategy's (AID-FP-Lite,
# the `meltr` method) test R@1 against meta_every on the report seeds, with
# the recipe chosen for it on validation (experiments/video_protocol.sh,
# which must have run first: this reuses its backbone, recipes and report).
# meta_every = 3 is the protocol's own report run.
#
#   MELTR=target/debug/meltr OUT=runs/protocol-video experiments/video_meta_every.sh
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/protocol-video}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
recipe=$(sed -n 's/^meltr: chosen on validation: //p' "$OUT/chosen.txt")
for k in ${EVERY:-30 10 1}; do
  d="$OUT/meta_every/$k"
  mkdir -p "$d"
  { cat "$OUT/recipes/$recipe.toml"; printf '[schedule]\nmeta_every = %s\n' "$k"; } > "$d.toml"
  "$M" compare --preset few --methods meltr --seeds 100,101,102,103,104,105,106,107,108,109 \
    --backbone "$OUT/backbone.safetensors" --extra "$d.toml" --out "$d" > "$d.md"
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
from scipy.stats import t
out = sys.argv[1]
def ci(v):
    n = len(v); m = sum(v) / n
    s = (sum((x - m) ** 2 for x in v) / (n - 1)) ** 0.5
    return m, t.ppf(0.975, n - 1) * s / n ** 0.5
s = json.load(open(f"{out}/report/sum/compare.json"))[0]
runs = {3: json.load(open(f"{out}/report/meltr/compare.json"))[0]}
for f in glob.glob(f"{out}/meta_every/*/compare.json"):
    runs[int(os.path.basename(os.path.dirname(f)))] = json.load(open(f))[0]
print("| meta_every | test R@1 (mean ± 95 % CI, 10 seeds) | val R@1 | − sum (wins/losses) | epoch time vs sum |")
print("|---|---|---|---|---|")
for k in sorted(runs):
    r = runs[k]
    d = [a - b for a, b in zip(r["test"], s["test"])]
    m, h = ci(r["test"]); dm, dh = ci(d)
    print(f"| {k} | {m:.1f} ± {h:.1f} | {r['val_mean']:.1f} | {dm:+.1f} ± {dh:.1f} "
          f"({sum(x > 0 for x in d)}/{sum(x < 0 for x in d)}) | {r['epoch_seconds'] / s['epoch_seconds']:.2f}× |")
PY
