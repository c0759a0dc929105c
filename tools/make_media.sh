#!/usr/bin/env bash
# make_media.sh [MODEL] [OUTDIR] - the README's pictures, made with a shipped model:
#   OUTDIR/<scene>.gif       text-to-video for each of the 14 scenes, from the prompt the
#                            simulator writes for a seed never used in training (900001),
#                            beside OUTDIR/<scene>_sim.gif, the simulator's video of it;
#   OUTDIR/<scene>_pred.gif  (PREDICT=1) the rest of that video predicted from its first
#                            3 simulated frames, as the held-out benchmark does;
#   OUTDIR/route.gif         one routing overlay (prophy route) and route.json.
# SIZE sets the simulator's video size (default: the pixel model's 16 frames of
# 32x32), GEN extra sampler flags, UPSCALE the GIFs' pixel enlargement (4).
#   tools/make_media.sh models/prophy.safetensors docs/media
#   SIZE="-W 128 -H 128 --video-frames 33" GEN="--cfg-scale 3" UPSCALE=1 PREDICT=1 \
#       tools/make_media.sh models/latent.safetensors docs/media128
set -euo pipefail
M=${1:-models/prophy.safetensors}
D=${2:-docs/media}
P=${PROPHY:-./prophy}
UP=${UPSCALE:-4}
T=(${THREADS:+-t $THREADS})
mkdir -p "$D"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prompt_of() { sed -n 's/^[[:space:]]*"prompt":[[:space:]]*"\(.*\)",$/\1/p' "$1" | head -1; }
gen() { # out flags...: one generate, its log shown only on failure
    $P generate -m "$M" -s 1 -o "$1" --upscale "$UP" ${GEN:-} "${T[@]}" "${@:2}" 2>"$tmp/gen.log" ||
        { cat "$tmp/gen.log"; exit 1; }
}
for s in $($P sim --list); do
    # shellcheck disable=SC2086
    $P sim --scene "$s" --seed 900001 ${SIZE:-} -o "$tmp/$s.y4m" --spec "$tmp/$s.json"
    # shellcheck disable=SC2086
    $P sim --scene "$s" --seed 900001 ${SIZE:-} -o "$D/${s}_sim.gif" --upscale "$UP"
    p=$(prompt_of "$tmp/$s.json")
    echo "$s: $p"
    gen "$D/$s.gif" -p "$p"
    row="| $s | $p | ![]($D/$s.gif) |"
    if [ "${PREDICT:-0}" = 1 ]; then
        gen "$D/${s}_pred.gif" -p "$p" --init "$tmp/$s.y4m" --cond-frames 3
        row="$row ![]($D/${s}_pred.gif) |"
    fi
    echo "$row ![]($D/${s}_sim.gif) |" >> "$tmp/table.md"
done
p=$(prompt_of "$tmp/bounce_smoke.json")
$P route -m "$M" -p "$p" -s 1 -o "$D/route.gif" --upscale "$UP" ${GEN:-} "${T[@]}" --json > "$D/route.json"
echo "route: $p"
cat "$tmp/table.md"
