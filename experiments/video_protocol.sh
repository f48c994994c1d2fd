#!/usr/bin/env bash
# The video-text protocol (issue 25) on the `few` preset: settings are
# chosen on the validation split of seeds 0-4 only; the report uses seeds
# 100-109, never used for choosing; test scores are not read while
# choosing (every choice below is made by this script from `val_mean`).
#
#   MELTR=target/debug/meltr OUT=runs/protocol-video experiments/video_protocol.sh
#
# Every step is a `meltr compare` whose finished runs are reused, so the
# script continues where an interrupted one stopped. METHODS (default
# below) sets which methods are tuned and reported, in that order.
set -euo pipefail
M=${MELTR:-meltr}
OUT=${OUT:-runs/protocol-video}
METHODS=${METHODS:-"sum meltr unrolled dwa gradnorm uw primary grid"}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/recipes" "$OUT/tune" "$OUT/report"
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
tune_seeds=0,1,2,3,4
report_seeds=100,101,102,103,104,105,106,107,108,109

# One pretrained backbone (the preset's `pretrain_preset`, quick) for every run.
B="$OUT/backbone.safetensors"
[ -f "$B" ] || "$M" pretrain --preset quick --quiet --out "$B"

# A recipe file: constant (Adam's defaults, no clipping), or BertAdam's as
# the reference trains (warm-up over 10 % of the steps, then linear decay
# to zero; each tensor's gradient clipped to norm 1; eps 1e-6). Each names
# every key it sets, since a run file's [optimizer] keeps the preset's others.
recipe() { # schedule lr
  local f="$OUT/recipes/$1-$2.toml"
  case $1 in
    constant) printf '[optimizer]\nlr = %s\neps = 1e-8\nschedule = "constant"\nwarmup = 0.0\nclip = "none"\n' "$2" > "$f" ;;
    bertadam) printf '[optimizer]\nlr = %s\neps = 1e-6\nschedule = "linear"\nwarmup = 0.1\nclip = "per_tensor"\nmax_grad_norm = 1.0\n' "$2" > "$f" ;;
  esac
}

# A method on the tuning seeds under one recipe; its table in tune/<method>/<recipe>.
tune() { # method schedule lr
  recipe "$2" "$3"
  local d="$OUT/tune/$1/$2-$3"
  mkdir -p "$d"
  "$M" compare --preset few --methods "$1" --seeds $tune_seeds --backbone "$B" \
    --extra "$OUT/recipes/$2-$3.toml" --out "$d" > "$d.md"
}

# The recipe with the best mean validation R@1 among tune/<method>/*.
best_of() { # method
  python3 - "$OUT/tune/$1" <<'PY'
import glob, json, os, sys
val = {}
for f in sorted(glob.glob(f"{sys.argv[1]}/*/compare.json")):
    val[os.path.basename(os.path.dirname(f))] = json.load(open(f))[0]["val_mean"]
for n, v in val.items():
    print(f"  {n}: mean validation {v:.2f}", file=sys.stderr)
print(max(val, key=val.get))
PY
}

# 1. The recipe, tuned for the plain sum: schedule x learning rate.
for s in constant bertadam; do
  for lr in 5e-5 1e-4 2.5e-4 5e-4; do tune sum "$s" "$lr"; done
done
echo "sum, every recipe (validation R@1, mean of seeds 0-4):" > "$OUT/chosen.txt"
best=$(best_of sum 2>>"$OUT/chosen.txt")
schedule=${best%%-*}
lr=${best#*-}
echo "sum: recipe chosen on validation: $best" | tee -a "$OUT/chosen.txt"

# 2. Every method gets the same budget under that schedule: three
#    learning rates, the sum's and its neighbours on this ladder.
ladder=(2.5e-5 5e-5 1e-4 2.5e-4 5e-4 1e-3)
for i in "${!ladder[@]}"; do [ "${ladder[$i]}" = "$lr" ] && at=$i; done
lo=$((at - 1))
[ $lo -lt 0 ] && lo=0
[ $lo -gt $((${#ladder[@]} - 3)) ] && lo=$((${#ladder[@]} - 3))
lrs=("${ladder[@]:$lo:3}")
echo "learning rates tried for every method ($schedule): ${lrs[*]}" | tee -a "$OUT/chosen.txt"

# 3. Per method: tune on seeds 0-4, then report on seeds 100-109 with the
#    learning rate chosen on validation.
# The grid's three settings are its auxiliary weights (0.1, 0.3, 1) at the
# sum's learning rate: the same budget of three, at a third of the cost.
for m in $METHODS; do
  if [ "$m" = grid ]; then mlrs=("$lr"); else mlrs=("${lrs[@]}"); fi
  for l in "${mlrs[@]}"; do tune "$m" "$schedule" "$l"; done
  # Every recipe tried for the method counts (for the sum, its whole
  # schedule x learning-rate grid).
  pick=$(best_of "$m" 2>>"$OUT/chosen.txt")
  echo "$m: chosen on validation: $pick" | tee -a "$OUT/chosen.txt"
  "$M" compare --preset few --methods "$m" --seeds $report_seeds --backbone "$B" \
    --extra "$OUT/recipes/$pick.toml" --out "$OUT/report/$m" > "$OUT/report/$m.md"
  python3 "$HERE/merge_compare.py" "$OUT/report" > "$OUT/report.md"
done
