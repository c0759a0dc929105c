#!/usr/bin/env bash
# install-deps.sh - installs what prophy needs on Debian 12, only what is missing.
# Build and run: gcc, make, OpenBLAS (OpenMP build), cJSON, libpng, giflib, and
# FFmpeg's libraries for .mp4 / .webm (Debian's libavcodec includes libx264 and libvpx);
# the tests also use strace (tests/cli_faults.sh slows a checkpoint's writes to kill it
# mid-write). With --torch also Debian's PyTorch 1.13 and NumPy (for tools/ and bench/
# only; the tests never need them). With --fuzz also clang and its runtime libraries
# (libFuzzer, ASan, UBSan) for `make fuzz` (docs/FUZZING.md; not needed for CI).
set -euo pipefail
pkgs=(build-essential libopenblas-openmp-dev libcjson-dev libpng-dev libgif-dev
      libavformat-dev libavcodec-dev libavutil-dev libswscale-dev strace)
for a in "$@"; do
    case $a in
    --torch) pkgs+=(python3-torch python3-numpy) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    esac
done
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
