#!/usr/bin/env bash
# make_corpus.sh - regenerates the committed seed corpora (fuzz/corpus/NAME/) from
# the normal build (./build/prophy) and python3 with numpy: a few valid and
# near-valid inputs per reader, each tiny (the whole set stays well under 1 MB).
# Usage: make && fuzz/make_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PROPHY:-build/prophy}
C=fuzz/corpus
T=$(mktemp -d /tmp/ppcorpus.XXXXXX)
trap 'rm -rf "$T"' EXIT
rm -rf "$C"
mkdir -p "$C"/{safetensors,y4m,png,spec,maps,dataset,model_config,model_file,train_state,tokenizer,prompt_parse,parse_num}

# ---- videos, specs, prompts from the simulator (tiny sizes)
S="-W 8 -H 8 --video-frames 3"
for sc in parabola collision smoke melting_explosion bounce_smoke; do
    $P sim --scene $sc --seed 1 $S -o "$T/$sc.y4m" --spec "$C/spec/$sc.json"
done
$P sim --scene bounce --seed 2 -W 8 -H 8 --video-frames 2 -o "$C/y4m/bounce.y4m"
printf 'YUV4MPEG2 W2 H1 F25:1 Ip A1:1 C444p\nFRAME\n\x10\x20\x80\x80\x80\x80\nFRAME\n\xff\x00\x10\x20\x30\x40\n' > "$C/y4m/limited.y4m"
printf 'YUV4MPEG2 W2 H2 F10:1 C444 XCOLORRANGE=FULL\nFRAME\n123456789012' > "$C/y4m/full.y4m"
printf 'YUV4MPEG2 W2 H2 F10:1 C444\nFRAME\n1234' > "$C/y4m/truncated.y4m"
$P sim --scene smoke --seed 3 -W 8 -H 8 --video-frames 1 -o "$T/f_%d.png"
cp "$T/f_0.png" "$C/png/rgb8x8.png"
python3 - "$C/png" <<'PY'
import sys, struct, zlib
d = sys.argv[1]
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b) & 0xffffffff)
def png(name, w, h, depth, ctype, rows, extra=b''):
    raw = b''.join(b'\0' + r for r in rows)
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, 0)) + extra
    open(f'{d}/{name}', 'wb').write(data + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
png('gray16.png', 2, 2, 16, 0, [b'\x00\x10\xff\xff', b'\x80\x00\x00\x00'])
png('palette.png', 2, 1, 8, 3, [b'\x00\x01'], chunk(b'PLTE', b'\xff\x00\x00\x00\x00\xff') + chunk(b'tRNS', b'\x80'))
png('rgba.png', 1, 2, 8, 6, [b'\x10\x20\x30\x40', b'\xff\xff\xff\x00'])
png('gray_alpha.png', 1, 1, 8, 4, [b'\x7f\x7f'], chunk(b'gAMA', struct.pack('>I', 45455)))
PY

# ---- maps
python3 - "$C/maps" <<'PY'
import sys, struct
d = sys.argv[1]
def maps(name, c, f, h, w, vals=None, tail=b''):
    n = c * f * h * w
    vals = vals if vals is not None else [(i % 3) * 0.5 for i in range(n)]
    open(f'{d}/{name}', 'wb').write(f'prophy-maps {c} {f} {h} {w}\n'.encode() + struct.pack(f'<{len(vals)}f', *vals) + tail)
maps('one.maps', 1, 2, 2, 2)
maps('cats17.maps', 17, 1, 1, 1)
maps('cats18.maps', 18, 1, 1, 2)
maps('short.maps', 1, 2, 2, 2, [1.0] * 7)
maps('space_first.maps', 1, 1, 1, 2, [struct.unpack('<f', b' \t\n\x3f')[0], 1.0])
PY

# ---- dataset: a shard of 2 records and its manifest
$P dataset --out "$T/ds" --count 2 -W 8 -H 8 --video-frames 1 --scenes parabola,smoke -t 1 -q
cp "$T/ds/shard-00000.ppds" "$C/dataset/shard.ppds"
cp "$T/ds/manifest.json" "$C/dataset/manifest.json"
head -c 200 "$T/ds/shard-00000.ppds" > "$C/dataset/truncated.ppds"

# ---- models, configs, a checkpoint's training state, the vocabulary
TINY="--batch 1 --dim 12 --layers 1 --heads 2 --ffn 4 --text-dim 2 --text-len 2 --freq-dim 2 --video-frames 1 -W 8 -H 8 --patch 1,1,1 -q -t 1"
$P train $TINY --steps 1 -o "$T/s1.safetensors" > /dev/null
$P train --batch 1 --steps 1 -q -t 1 --init "$T/s1.safetensors" --branch full --pb 1 --semantic-experts 1 \
    --refine-experts 1 --top-k 1 -o "$T/full.safetensors" > /dev/null
python3 - "$T" "$C" <<'PY'
import sys, json, struct
import numpy as np
T, C = sys.argv[1:3]
def read(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', {})
    ts = {k: (v['dtype'], v['shape'], b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]) for k, v in h.items()}
    return meta, ts
def write(p, meta, ts, f16=True):
    hdr, blobs, off = {'__metadata__': meta} if meta else {}, [], 0
    for k, (dt, shape, raw) in ts.items():
        if f16 and dt == 'F32':
            raw, dt = np.frombuffer(raw, '<f4').astype('<f2').tobytes(), 'F16'
        hdr[k] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    open(p, 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
for name in ('s1', 'full'):
    meta, ts = read(f'{T}/{name}.safetensors')
    write(f'{C}/model_file/{name}.safetensors', meta, ts)
    open(f'{C}/model_config/{name}.json', 'w').write(meta['prophy.config'])
    if name == 's1':
        vocab = meta['prophy.vocab']
        open(f'{C}/tokenizer/vocab_prompt', 'wb').write(vocab.encode() + b'\0a red ball flies in a parabolic arc.')
        open(f'{C}/tokenizer/short_vocab', 'wb').write(b'<pad>\n<unk>\n<eos>\nball\nred\n\0Red BALL, red ball?')
    meta, ts = read(f'{T}/{name}.safetensors.ckpt')
    open(f'{C}/train_state/{name}.json', 'w').write(meta['prophy.train'])
for mode in ('none', 'seb', 'reb'):
    c = json.loads(open(f'{C}/model_config/full.json').read())
    c['branch']['mode'] = mode
    open(f'{C}/model_config/{mode}.json', 'w').write(json.dumps(c, separators=(',', ':')))
# safetensors: small hand-made files
def st(name, meta, ts): write(f'{C}/safetensors/{name}', meta, ts, f16=False)
st('f32.safetensors', {}, {'w': ('F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4))})
st('mixed.safetensors', {'k': 'v', 'prophy.config': '{}'},
   {'a': ('F16', [3], b'\x00\x3c\x00\xc0\x00\x7c'), 'b': ('BF16', [1], b'\x80\x3f'), 'c': ('F64', [], struct.pack('<d', 2.5)),
    'd': ('I64', [1, 1], struct.pack('<q', -1)), 'e': ('U8', [0, 4], b''), 'f': ('BOOL', [2], b'\x00\x01')})
st('empty.safetensors', {}, {})
open(f'{C}/safetensors/trailing.safetensors', 'wb').write(struct.pack('<Q', 2) + b'{}' + b'xx')
PY

# ---- prompts and numbers
$P sim --scene collision_flame --seed 4 -W 8 -H 8 --video-frames 1 -o "$T/c.y4m" --spec "$T/c.json"
python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt'], end='')" "$T/c.json" > "$C/prompt_parse/collision_flame"
printf 'a red ball bounces off the floor' > "$C/prompt_parse/bounce"
printf 'smoke rises from a burner while ice melts' > "$C/prompt_parse/mixed"
printf 'two balls, RED and blue, collide head on\x07' > "$C/prompt_parse/collide"
printf '\x015' > "$C/parse_num/int"
printf '\x02-2147483648' > "$C/parse_num/int_min"
printf '\x011e-3' > "$C/parse_num/float"
printf '\x039007199254740991' > "$C/parse_num/seed"
printf '\x00blur=1,noise=0.2,shift=2' > "$C/parse_num/noise"
printf '\x00 0x10' > "$C/parse_num/hex"
du -sh "$C"; find "$C" -type f | wc -l
