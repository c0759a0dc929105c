#!/bin/sh
# Side-by-side speed: `./prophy bench` against the PyTorch peer (bench/bench_torch.py),
# run alternately ROUNDS times per shape on the same thread count. Prints a markdown
# table of the medians and the C/PyTorch ratios.
#
#   bench/run.sh                 # shapes A and B, 2 threads, 3 rounds
#   SHAPES=A ROUNDS=5 bench/run.sh
#
# Environment:
#   SHAPES   which shapes to run (default "A B"; P = the shipped physics model's shape,
#            L = the shipped latent model's: a [16, 9, 16, 16] latent plus its
#            conditioning channels, 576 tokens)
#   ROUNDS   alternating rounds per shape (default 3)
#   THREADS  thread count for both (default 2)
#   ITERS    timed iterations per PyTorch run (default 5)
#   PYTHON   an interpreter with torch (default /usr/bin/python3, Debian's torch 1.13)
#   PROPHY   the C binary (default ./prophy)
#   BRANCH   none|seb|reb|full: time the whole ProPhy model (text encoder + backbone +
#            physical branch, four losses) on both sides instead of the backbone alone
# Each result line is kept in $KEEP (default: a fresh temp directory), printed at the end.
set -u
cd "$(dirname "$0")/.." || exit 1

SHAPES=${SHAPES:-"A B"}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
ITERS=${ITERS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}
PROPHY=${PROPHY:-./prophy}
KEEP=${KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/prophy-bench.XXXXXX")}
# prophy defaults to OMP_WAIT_POLICY=PASSIVE (sleeping, not spinning, OpenMP barriers);
# give the PyTorch peer the same policy so that a busy machine hurts both alike.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_WAIT_POLICY
mkdir -p "$KEEP"

shape_flags() {
    case "$1" in
    A) echo "--dim 128 --layers 4 --heads 4 --ffn 512 --frames 16 --size 32 --patch 2,4,4 --batch 16" ;;
    B) echo "--dim 256 --layers 6 --heads 4 --ffn 1024 --frames 16 --size 64 --patch 2,8,8 --batch 8" ;;
    L) echo "--dim 128 --layers 6 --heads 4 --ffn 512 --frames 9 --size 16 --patch 1,2,2 --batch 16 --in-dim 36 --out-dim 16 --text-len 48 --text-dim 64 --freq-dim 64" ;;
    P) echo "--dim 96 --layers 4 --heads 4 --ffn 384 --frames 16 --size 32 --patch 2,4,4 --batch 16 --in-dim 7 --text-len 48 --text-dim 64 --freq-dim 64" ;;
    *) echo "unknown shape $1" >&2; return 1 ;;
    esac
}

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "note: $PYTHON has no torch; the PyTorch peer is skipped" >&2
    have_torch=0
else
    have_torch=1
fi

have_c=1
if [ ! -x "$PROPHY" ]; then
    echo "note: $PROPHY not found (run make); only the PyTorch peer is measured" >&2
    have_c=0
fi

# keep the last JSON line a command printed, or nothing
last_json() { grep '^{' | tail -n 1; }

for s in $SHAPES; do
    flags=$(shape_flags "$s") || exit 2
    flags="$flags${BRANCH:+ --branch $BRANCH}"
    : >"$KEEP/c_$s.jsonl"
    : >"$KEEP/torch_$s.jsonl"
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        if [ "$have_c" = 1 ]; then
            # shellcheck disable=SC2086
            line=$("$PROPHY" bench $flags --threads "$THREADS" 2>"$KEEP/c_$s.err" | last_json)
            if [ -n "$line" ]; then
                echo "$line" >>"$KEEP/c_$s.jsonl"
                echo "[$s round $r] prophy:  $line" >&2
            else
                echo "note: '$PROPHY bench' gave no JSON line (not implemented yet?); see $KEEP/c_$s.err" >&2
                have_c=0
            fi
        fi
        if [ "$have_torch" = 1 ]; then
            # shellcheck disable=SC2086
            line=$("$PYTHON" bench/bench_torch.py $flags --threads "$THREADS" --iters "$ITERS" 2>"$KEEP/torch_$s.err" | last_json)
            if [ -n "$line" ]; then
                echo "$line" >>"$KEEP/torch_$s.jsonl"
                echo "[$s round $r] pytorch: $line" >&2
            else
                echo "note: the PyTorch peer failed; see $KEEP/torch_$s.err" >&2
            fi
        fi
        r=$((r + 1))
    done
done

# shellcheck disable=SC2086
"$PYTHON" - "$KEEP" $SHAPES <<'EOF'
import json, os, statistics, sys

keep, shapes = sys.argv[1], sys.argv[2:]
desc = {'A': 'dim 128, 4 layers, 4 heads, ffn 512, 16x32x32, patch 2,4,4, batch 16',
        'B': 'dim 256, 6 layers, 4 heads, ffn 1024, 16x64x64, patch 2,8,8, batch 8',
        'P': 'the shipped physics model: dim 96, 4 layers, 4 heads, ffn 384, 16x32x32, patch 2,4,4, in 7, text 64 x 48, batch 16',
        'L': 'the shipped latent model: dim 128, 6 layers, 4 heads, ffn 512, latent 9x16x16, patch 1,2,2, in 36, out 16, text 64 x 48, batch 16'}


def load(path):
    rows = []
    if os.path.exists(path):
        for ln in open(path):
            try:
                rows.append(json.loads(ln))
            except ValueError:
                pass
    return rows


def med(rows, key):
    v = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(v) if v else None


def fmt(v, nd=2):
    return '-' if v is None else f'{v:.{nd}f}'


threads = None
for s in shapes:
    c, t = load(f'{keep}/c_{s}.jsonl'), load(f'{keep}/torch_{s}.jsonl')
    threads = (c or t or [{}])[0].get('threads', threads)
    # both sides must have run the same model shape
    for k in ('dim', 'layers', 'heads', 'ffn', 'frames', 'size', 'batch',
              'in_dim', 'out_dim', 'text_len', 'text_dim', 'freq_dim'):
        if c and t and k in c[0] and k in t[0] and c[0][k] != t[0][k]:
            print(f'WARNING: shape {s}: {k} differs (prophy {c[0][k]}, pytorch {t[0][k]})')
    peak = med(c, 'sgemm_peak_gflops')
    print(f'\n### Shape {s}: {desc.get(s, "")} ({threads} threads; medians of '
          f'{len(c)} prophy / {len(t)} pytorch runs)\n')
    print('| impl | train samples/s | forward samples/s | train GFLOP/s | % of sgemm peak | peak RSS (MB) |')
    print('|---|---|---|---|---|---|')
    for name, rows in (('prophy (C)', c), ('PyTorch ' + (t[0].get('torch', '') if t else ''), t)):
        if not rows:
            print(f'| {name} | not run | | | | |')
            continue
        g = med(rows, 'gflops_train')
        pct = None if (g is None or not peak) else 100.0 * g / peak
        print(f'| {name} | {fmt(med(rows, "train_samples_per_s"))} | '
              f'{fmt(med(rows, "forward_samples_per_s"))} | {fmt(g, 1)} | {fmt(pct, 1)} | '
              f'{fmt(med(rows, "peak_rss_mb"), 0)} |')
    if c and t:
        def ratio(k):
            a, b = med(c, k), med(t, k)
            return None if a is None or not b else a / b
        print(f'| **C / PyTorch** | **{fmt(ratio("train_samples_per_s"))}x** | '
              f'**{fmt(ratio("forward_samples_per_s"))}x** | {fmt(ratio("gflops_train"))}x | | '
              f'{fmt(ratio("peak_rss_mb"))}x |')
    loads = [v for r in c + t for v in (r.get('loadavg_1m') or [])]
    if loads:
        print(f'\n1-minute load average around the PyTorch runs: {min(loads):.1f} to {max(loads):.1f} '
              f'(on a shared machine, a load above the core count makes both sides noisy)')
    if peak:
        print(f'\nsgemm peak (OpenBLAS, measured by prophy bench): {peak:.1f} GFLOP/s')
print(f'\nraw JSON lines: {keep}')
EOF
