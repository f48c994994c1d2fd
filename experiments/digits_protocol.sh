#!/usr/bin/env bash
# The digits protocol (issue 25): settings are chosen on the validation
# split of seeds 0-4 only; the report uses seeds 100-109, never used for
# choosing; test scores are not read while choosing.
#
#   MELTR=target/debug/meltr OUT=runs/protocol-digits experiments/digits_protocol.sh
#
# Every step is a `meltr compare` whose finished runs are reused, so the
# script continues where an interrupted one stopped.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/protocol-digits}
mkdir -p "$OUT/recipes"
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}

# 1. The recipe, tuned for the plain sum: learning rate x schedule.
recipes=()
for lr in 5e-3 1e-2; do
  printf '[optimizer]\nlr = %s\n' "$lr" > "$OUT/recipes/constant-$lr.toml"
  printf '[optimizer]\nlr = %s\neps = 1e-6\nschedule = "linear"\nclip = "per_tensor"\nmax_grad_norm = 1.0\n' \
    "$lr" > "$OUT/recipes/bertadam-$lr.toml"
  recipes+=("constant-$lr" "bertadam-$lr")
done
for r in "${recipes[@]}"; do
  "$M" compare --preset digits --methods sum --seeds 0,1,2,3,4 \
    --extra "$OUT/recipes/$r.toml" --out "$OUT/tune-$r" > "$OUT/tune-$r.md"
done
best=$(python3 - "$OUT" "${recipes[@]}" <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
val = {n: json.load(open(f"{out}/tune-{n}/compare.json"))[0]["val_mean"] for n in names}
for n, v in val.items():
    print(f"{n}: mean validation {v:.2f}", file=sys.stderr)
print(max(val, key=val.get))
PY
)
echo "recipe chosen on validation: $best" | tee "$OUT/chosen.txt"

# 2. MELTR's output (free weights, or a mix without scale) under that
#    recipe, on validation.
"$M" compare --preset digits --methods meltr,mix --seeds 0,1,2,3,4 \
  --extra "$OUT/recipes/$best.toml" --out "$OUT/tune-$best" > "$OUT/tune-meltr.md"
pick=$(python3 - "$OUT/tune-$best/compare.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    print(f"{r['method']}: mean validation {r['val_mean']:.2f}", file=sys.stderr)
print(max(rows, key=lambda r: r["val_mean"])["method"])
PY
)
other=$([ "$pick" = meltr ] && echo mix || echo meltr)
echo "MELTR output chosen on validation: $pick" | tee -a "$OUT/chosen.txt"

# 3. The report: seeds 100-109, every method with the chosen recipe (the
#    other MELTR output last, as an ablation).
seeds=100,101,102,103,104,105,106,107,108,109
done_methods=""
for m in sum $pick uw dwa gradnorm primary $other; do
  "$M" compare --preset digits --methods $m --seeds $seeds \
    --extra "$OUT/recipes/$best.toml" --out "$OUT/report" > /dev/null
  done_methods="$done_methods${done_methods:+,}$m"
  "$M" compare --preset digits --methods "$done_methods" --seeds $seeds \
    --extra "$OUT/recipes/$best.toml" --out "$OUT/report" > "$OUT/report.md"
done
