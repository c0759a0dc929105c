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
mkdir -p "$C"/{spm,vae_config,wan_config,shard_index,umt5}

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
# ---- Wan2.1's files: tokenizer.json, VAE config, DiT config.json, shard index, umT5
python3 - "$C" tests/fixtures <<'PY'
import sys, json, struct, base64
C, F = sys.argv[1:3]
def js(o): return json.dumps(o, ensure_ascii=False, separators=(',', ':')).encode()
# -- a tiny precompiled_charsmap: darts-clone double array (as sentencepiece stores
# it) of a few rules, then the NUL-ended replacements
def charsmap(rules):
    norm, vals = b'', {}
    for k, v in rules.items():
        vals[k.encode()] = len(norm)
        norm += v.encode() + b'\0'
    trie = {}
    for k, off in vals.items():
        node = trie
        for c in k: node = node.setdefault(c, {})
        node[None] = off
    units, used = {}, {0}
    def place(node):  # a free base b: b (value) and b ^ c (children) unused
        cs = [c for c in node if c is not None]
        b = 1
        while b in used or any((b ^ c) in used for c in cs) or (None in node and b in used): b += 1
        used.add(b)
        for c in cs: used.add(b ^ c)
        return b
    def fill(node, b):
        if None in node: units[b] = 0x80000000 | node[None]
        for c, kid in node.items():
            if c is None: continue
            p = b ^ c
            kb = place(kid)
            units[p] = ((kb ^ p) << 10) | (0x100 if None in kid else 0) | c
            fill(kid, kb)
    b0 = place(trie)
    units[0] = b0 << 10
    fill(trie, b0)
    n = max(units) + 1
    blob = b''.join(struct.pack('<I', units.get(i, 0)) for i in range(n))
    return base64.b64encode(struct.pack('<I', len(blob)) + blob + norm).decode()
cmap = charsmap({'\uff21': 'A', '\uff52': 'r', '\u00a0': ' ', '\u2003': ' ', '\ufb01': 'fi', '\u2026': '...',
                 '\u200b': '', '\u2460': '1'})
words = ['a', 'red', 'ball', 'falls', 'onto', 'the', 'floor', 'smoke', 'rises', 'fi', 'e', 'l', 'o', 'r', 's']
def vocab(extra=()):
    v = [['<pad>', 0.0], ['</s>', 0.0], ['<unk>', 0.0], ['\u2581', -2.0]]
    v += [['\u2581' + w, -3.0 - i * 0.1] for i, w in enumerate(words)] + [[w, -5.0 - i * 0.1] for i, w in enumerate(words)]
    v += [[c, -8.0] for c in 'abcdefghijklmnopqrstuvwxyzA.,1']
    return v + list(extra)
added = [{'id': i, 'content': c, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False,
          'special': True} for i, c in enumerate(['<pad>', '</s>', '<unk>'])]
eos_tpl = {'type': 'TemplateProcessing', 'single': [{'Sequence': {'id': 'A', 'type_id': 0}},
           {'SpecialToken': {'id': '</s>', 'type_id': 0}}], 'special_tokens': {'</s>': {'id': '</s>', 'ids': [1], 'tokens': ['</s>']}}}
umt5 = {'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': added,
        'normalizer': {'type': 'Precompiled', 'precompiled_charsmap': cmap},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [{'type': 'WhitespaceSplit'},
                          {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'always', 'split': True}]},
        'post_processor': eos_tpl, 'decoder': None,
        'model': {'type': 'Unigram', 'unk_id': 2, 'vocab': vocab(), 'byte_fallback': False}}
def spm(name, tok, prompt):
    open(f'{C}/spm/{name}', 'wb').write(js(tok) + b'\0' + prompt.encode())
spm('umt5_like', umt5, 'A red ball falls onto the floor.')
spm('umt5_charsmap', umt5, '\uff21 \uff52ed\u00a0ball\u2026 \ufb01\u200b\u2460 \u00e9 e\u0301 \U0001f1eb\U0001f1f7 \u2603')
bytes_tok = dict(umt5, added_tokens=added + [{'id': 200, 'content': '[ball]', 'single_word': False, 'lstrip': True,
                 'rstrip': True, 'normalized': True, 'special': False}],
                 normalizer={'type': 'Sequence', 'normalizers': [
                     {'type': 'Precompiled', 'precompiled_charsmap': cmap},
                     {'type': 'Replace', 'pattern': {'Regex': ' {2,}'}, 'content': ' '},
                     {'type': 'Replace', 'pattern': {'String': 'flor'}, 'content': 'floor'},
                     {'type': 'Strip', 'strip_left': True, 'strip_right': True}]},
                 pre_tokenizer={'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'first', 'split': False},
                 model={'type': 'Unigram', 'unk_id': 2, 'byte_fallback': True,
                        'vocab': vocab([[f'<0x{b:02X}>', -10.0] for b in range(256)])})
spm('bytes_first', bytes_tok, '  Red  ball [ball]  falls\u2003on the flor \u00ff\u2603 ')
regex_tok = dict(umt5, padding={'pad_id': 0}, added_tokens=added + [{'id': 3, 'content': '<s>', 'special': True}],
                 normalizer={'type': 'Sequence', 'normalizers': [
                     {'type': 'Replace', 'pattern': {'Regex': '(?:\\s|\\d)+[^a-z]?|\\A.|[.,]$'}, 'content': ' '},
                     {'type': 'Prepend', 'prepend': '\u2581'}]},
                 pre_tokenizer={'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'never',
                                'add_prefix_space': False},
                 post_processor={'type': 'TemplateProcessing', 'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}},
                                 {'Sequence': {'id': 'A', 'type_id': 0}}, {'SpecialToken': {'id': '</s>', 'type_id': 0}}],
                                 'special_tokens': {'<s>': {'id': '<s>', 'ids': [3]}, '</s>': {'id': '</s>', 'ids': [1]}}})
spm('regex_template', regex_tok, 'smoke 12 rises, a ball falls.')
spm('minimal', {'model': {'type': 'Unigram', 'unk_id': 0, 'vocab': [['<unk>', 0], ['a', -1]]}}, 'aXa')
open(f'{C}/spm/prompt_only', 'wb').write('A cat\u00a0sits \uff46\uff55\uff4c\uff4c width \ufb01 e\u0301 \U0001f1eb\U0001f1f7'.encode())

# -- VAE configs: Wan2.1's (as pp_vae_save writes it), the physics world's, a tiny one
mean = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632,
        -0.1922, -0.9497, 0.2503, -0.2921]
std = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382,
       1.1253, 2.8251, 1.916]
def vae(name, dim, z, res, mult, td, m=None, s=None):
    open(f'{C}/vae_config/{name}', 'wb').write(js({'dim': dim, 'z_dim': z, 'num_res_blocks': res, 'dim_mult': mult,
        'temperal_downsample': td, 'latents_mean': m or [0] * z, 'latents_std': s or [1] * z}))
vae('wan21.json', 96, 16, 2, [1, 2, 4, 4], [False, True, True], mean, std)
vae('small.json', 16, 16, 2, [1, 2, 4, 4], [False, True, True])
vae('tiny.json', 2, 2, 1, [1, 2], [True], [0.5, -0.25], [2, 0.5])

# -- DiT config.json: the fixtures' (Wan's and diffusers' keys) and Wan2.1's two sizes
for src, dst in (('wan_tiny_wan/config.json', 'tiny_wan.json'), ('wan_tiny/transformer/config.json', 'tiny_diffusers.json')):
    open(f'{C}/wan_config/{dst}', 'wb').write(js(json.load(open(f'{F}/{src}'))))
open(f'{C}/wan_config/t2v_1.3b.json', 'wb').write(js({'_class_name': 'WanModel', '_diffusers_version': '0.30.0',
    'dim': 1536, 'eps': 1e-06, 'ffn_dim': 8960, 'freq_dim': 256, 'in_dim': 16, 'model_type': 't2v', 'num_heads': 12,
    'num_layers': 30, 'out_dim': 16, 'text_len': 512}))
open(f'{C}/wan_config/t2v_14b_diffusers.json', 'wb').write(js({'_class_name': 'WanTransformer3DModel',
    'added_kv_proj_dim': None, 'attention_head_dim': 128, 'cross_attn_norm': True, 'eps': 1e-06, 'ffn_dim': 13824,
    'freq_dim': 256, 'image_dim': None, 'in_channels': 16, 'num_attention_heads': 40, 'num_layers': 40,
    'out_channels': 16, 'patch_size': [1, 2, 2], 'qk_norm': 'rms_norm_across_heads', 'rope_max_seq_len': 1024,
    'text_dim': 4096}))

# -- shard indexes over the harness's shards a, b (valid), c (not safetensors), d (a second "x")
def index(name, wm): open(f'{C}/shard_index/{name}', 'wb').write(js({'metadata': {'total_size': 36}, 'weight_map': wm}))
index('two_shards.json', {'x': 'a.safetensors', 'y': 'a.safetensors', 'z': 'b.safetensors', 'w': 'b.safetensors'})
index('one_shard.json', {'x': 'a.safetensors'})
index('wrong_shard.json', {'x': 'a.safetensors', 'z': 'a.safetensors'})
index('duplicate.json', {'x': 'a.safetensors', 'y': 'd.safetensors'})
index('not_safetensors.json', {'x': 'c.safetensors'})

# -- umT5 encoder files: transformers' names (F16), Wan's under a prefix (BF16), 2 layers F32
def st(path, ts, meta=None):
    hdr, blobs, off = {'__metadata__': meta} if meta else {}, [], 0
    for k, (dt, shape) in ts.items():
        n = 1
        for s in shape: n *= s
        size = {'F32': 4, 'F16': 2, 'BF16': 2}[dt] * n
        raw = bytes((i * 7) % 61 for i in range(size)) if dt != 'F32' else struct.pack(f'<{n}f', *[0.01 * (i % 13) for i in range(n)])
        hdr[k] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + size]}
        blobs.append(raw); off += size
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
V, D, H, K, FF, B = 8, 4, 2, 2, 4, 4
def umt5_tensors(layers, dt, wan=False, prefix=''):
    if wan:
        names = ['token_embedding.weight', 'blocks.%d.norm1.weight', 'blocks.%d.attn.q.weight', 'blocks.%d.attn.k.weight',
                 'blocks.%d.attn.v.weight', 'blocks.%d.attn.o.weight', 'blocks.%d.pos_embedding.embedding.weight',
                 'blocks.%d.norm2.weight', 'blocks.%d.ffn.gate.0.weight', 'blocks.%d.ffn.fc1.weight',
                 'blocks.%d.ffn.fc2.weight', 'norm.weight']
    else:
        L = 'encoder.block.%d.layer.'
        names = ['shared.weight', L + '0.layer_norm.weight', L + '0.SelfAttention.q.weight', L + '0.SelfAttention.k.weight',
                 L + '0.SelfAttention.v.weight', L + '0.SelfAttention.o.weight',
                 L + '0.SelfAttention.relative_attention_bias.weight', L + '1.layer_norm.weight',
                 L + '1.DenseReluDense.wi_0.weight', L + '1.DenseReluDense.wi_1.weight', L + '1.DenseReluDense.wo.weight',
                 'encoder.final_layer_norm.weight']
    shapes = [[D], [H * K, D], [H * K, D], [H * K, D], [D, H * K], [B, H], [D], [FF, D], [FF, D], [D, FF]]
    ts = {prefix + names[0]: (dt, [V, D])}
    for i in range(layers):
        for nm, sh in zip(names[1:11], shapes): ts[prefix + nm % i] = ('F32' if len(sh) == 1 else dt, sh)
    ts[prefix + names[11]] = ('F32', [D])
    return ts
st(f'{C}/umt5/transformers_f16.safetensors', umt5_tensors(1, 'F16'), {'format': 'pt'})
st(f'{C}/umt5/wan_prefix_bf16.safetensors', umt5_tensors(1, 'BF16', True, 'text_encoder.'))
st(f'{C}/umt5/two_layers_f32.safetensors', umt5_tensors(2, 'F32'))
PY

du -sh "$C"; find "$C" -type f | wc -l
