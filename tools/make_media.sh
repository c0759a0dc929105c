#!/usr/bin/env bash
# make_media.sh [MODEL] [OUTDIR] - the README's pictures, made with the shipped model:
#   OUTDIR/<scene>.gif   text-to-video for each of the 14 scenes, from the prompt the
#                        simulator writes for a seed never used in training (900001),
#                        beside OUTDIR/<scene>_sim.gif, the simulator's video of it;
#   OUTDIR/route.gif     one routing overlay (prophy route) and route.json.
# Usage: tools/make_media.sh models/prophy.safetensors docs/media
set -euo pipefail
M=${1:-models/prophy.safetensors}
D=${2:-docs/media}
P=${PROPHY:-./prophy}
mkdir -p "$D"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prompt_of() { sed -n 's/^[[:space:]]*"prompt":[[:space:]]*"\(.*\)",$/\1/p' "$1" | head -1; }
for s in $($P sim --list); do
    $P sim --scene "$s" --seed 900001 -o "$D/${s}_sim.gif" --spec "$tmp/$s.json" --upscale 4
    p=$(prompt_of "$tmp/$s.json")
    echo "$s: $p"
    $P generate -m "$M" -p "$p" -s 1 -o "$D/$s.gif" --upscale 4 ${THREADS:+-t $THREADS} 2>"$tmp/gen.log" || { cat "$tmp/gen.log"; exit 1; }
    echo "| $s | $p | ![]($D/$s.gif) | ![]($D/${s}_sim.gif) |" >> "$tmp/table.md"
done
p=$(prompt_of "$tmp/bounce_smoke.json")
$P route -m "$M" -p "$p" -s 1 -o "$D/route.gif" --upscale 4 ${THREADS:+-t $THREADS} --json > "$D/route.json"
echo "route: $p"
cat "$tmp/table.md"
