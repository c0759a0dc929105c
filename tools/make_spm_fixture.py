#!/usr/bin/env python3
"""Write the tokenizer fixtures that tests/test_spm.c matches:

  tests/fixtures/spm_tokenizer.json  a tokenizer.json (Hugging Face tokenizers)
  tests/fixtures/spm_cases.json      test strings and the reference ids

    python3 tools/make_spm_fixture.py [OUTDIR]

Needs sentencepiece, tokenizers and transformers (pip). Steps:
 1. generate a varied corpus (English, numbers, punctuation, accents, Greek,
    Cyrillic, Arabic, Hindi, CJK, Hangul, emoji, full-width forms, whitespace
    runs) and train a SentencePiece unigram model on it (vocab 1200,
    byte_fallback, nmt_nfkc normalisation, character_coverage 0.98 so that
    rare characters are left to the byte pieces);
 2. convert it with transformers' T5Tokenizer (what google/umt5-xxl's
    AutoTokenizer is), with 10 <extra_id_N> sentinels, then set the Unigram
    model's byte_fallback to true: that is spm_tokenizer.json ("t5_bytes");
 3. the variants, applied by the C test to the same file:
      "t5"     byte_fallback false (as transformers 5 writes T5 tokenizers);
      "spm"    the normalizer / pre-tokenizer transformers derives from the
               SentencePiece model's own settings (Replace rules, Metaspace
               without split), with byte fallback: meant to encode like
               SentencePiece itself;
      "first"  t5_bytes with Metaspace prepend_scheme "first";
 4. >= 1000 test strings and, per variant, the ids of
    tokenizers.Tokenizer.encode(s) (special tokens added); a variant's entry is
    null where it equals t5_bytes. Also truncation cases (max_length), Wan's
    whitespace_clean of some strings, and how SentencePiece itself (encode +
    EOS) compares with each variant (printed and stored under "spm_agreement").
"""
import json
import os
import random
import re
import sys
import tempfile

import sentencepiece as spm
from tokenizers import Tokenizer

SEED = 20260302
VOCAB = 1200
EXTRA_IDS = 10

WORDS = ("the a an of to in is was for on with as by at from it that this be are or not have has had "
         "ball falls bounces rolls slides collides floor wall water flows pours glass cup red blue green "
         "white background camera slowly quickly gravity friction elastic collision velocity momentum "
         "physics video frame scene light shadow smoke fire wind cloth drops splash wave sand rock metal "
         "wooden table car road tree bird dog cat person walking running jumping spinning melting").split()
ACCENT = ("café naïve résumé façade über straße Übermäßig señor niño jalapeño Ångström smörgåsbord "
          "crème brûlée déjà vu coöperate Tiếng Việt được không Łódź Kraków Dvořák Škoda").split()
GREEK = "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο".split()
CYRILLIC = "Съешь же ещё этих мягких французских булок да выпей чаю мяч падает на пол".split()
ARABIC = "الكرة تسقط على الأرض ببطء في الماء".split()
HINDI = "गेंद धीरे धीरे ज़मीन पर गिरती है क्षत्रिय".split()
CJK = ["球从桌子上掉下来", "水从杯子里流出来", "一个红色的球", "物理视频", "東京タワー", "ボールが落ちる",
       "カメラ", "ひらがな", "한국어 문장입니다", "공이 떨어진다", "漢字かな交じり文"]
EMOJI = ["😀", "🎉", "🔥", "💧", "⚽", "👍🏽", "👨‍👩‍👧", "🇫🇷", "🇯🇵", "❤️", "☃", "✨"]
FULLWIDTH = ["Ａｂｃ", "１２３", "ＡＢＣ！", "（括弧）", "ｶﾀｶﾅ", "ﬁne", "x²", "Ⅻ", "①②", "㎏", "™", "…"]
PUNCT = list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") + ["...", "--", "—", "–", "«", "»", "“", "”", "‘", "’"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\r\n", " \t ", "\u3000", "\u00a0", "\u2003", "\u200b", "\n\n"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0303", "\u030a", "\u0323", "\u0302\u0301"]


def sentence(rng):
    parts = []
    for _ in range(rng.randint(3, 14)):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(WORDS)
            if rng.random() < 0.1:
                w = w.capitalize()
            parts.append(w)
        elif r < 0.65:
            parts.append(str(rng.choice([rng.randint(0, 9), rng.randint(10, 999), rng.randint(1000, 10 ** 7)])))
        elif r < 0.72:
            parts.append(rng.choice(ACCENT))
        elif r < 0.76:
            parts.append(rng.choice(GREEK + CYRILLIC))
        elif r < 0.79:
            parts.append(rng.choice(ARABIC + HINDI))
        elif r < 0.86:
            parts.append(rng.choice(CJK))
        elif r < 0.9:
            parts.append(rng.choice(EMOJI))
        elif r < 0.93:
            parts.append(rng.choice(FULLWIDTH))
        else:
            parts.append(rng.choice(PUNCT))
    s = " ".join(parts)
    if rng.random() < 0.7:
        s += rng.choice([".", "!", "?", ","])
    return s[0].upper() + s[1:] if s[0].isalpha() else s


def random_mix(rng, n):
    pools = [
        lambda: chr(rng.randint(0x20, 0x7e)),
        lambda: rng.choice(SPACES),
        lambda: chr(rng.randint(0xc0, 0x17f)),
        lambda: rng.choice("aeiouAEIOUnc") + rng.choice(COMBINING),
        lambda: rng.choice(["Ａ", "ｅ", "Ｏ", "１"]) + rng.choice(COMBINING),
        lambda: chr(rng.randint(0xff01, 0xff5e)),
        lambda: chr(rng.randint(0x4e00, 0x9fff)),
        lambda: chr(rng.randint(0xac00, 0xd7a3)),
        lambda: chr(rng.randint(0x1100, 0x1112)) + chr(rng.randint(0x1161, 0x1175)),
        lambda: chr(rng.randint(0x3040, 0x30ff)),
        lambda: rng.choice(EMOJI),
        lambda: chr(rng.randint(0x1f300, 0x1f6ff)),
        lambda: chr(rng.randint(0x0900, 0x097f)),
        lambda: chr(rng.randint(0x0600, 0x06ff)),
        lambda: chr(rng.randint(0x0e00, 0x0e7f)),
        lambda: chr(rng.randint(0x0370, 0x03ff)),
        lambda: chr(rng.randint(0x0400, 0x04ff)),
        lambda: rng.choice(["\u200d", "\ufeff", "\u00ad", "\u2060", "\u0600a", "\u0605x", "\r", "\x07", "\x1f"]),
        lambda: chr(rng.randint(0x2000, 0x2bff)),
        lambda: chr(rng.randint(0xf900, 0xfaff)),
        lambda: chr(rng.choice([rng.randint(0x10000, 0x1ffff), rng.randint(0x20000, 0x2a6df), rng.randint(0xe000, 0xf8ff)])),
        lambda: rng.choice(WORDS) + " ",
        lambda: rng.choice(["</s>", "<pad>", "<unk>", "<extra_id_3>", "<extra_id_0>", "<0x41>", "<s>", "▁", "▁▁"]),
    ]
    out = []
    for _ in range(n):
        out.append(rng.choice(pools)())
    return "".join(out)


def corpus(rng):
    lines = [sentence(rng) for _ in range(6000)]
    lines += ["   ".join(sentence(rng).split(" ")) for _ in range(200)]
    lines += [random_mix(rng, rng.randint(5, 20)).replace("\n", " ").replace("\r", " ") for _ in range(40)]
    return lines


def test_strings(rng):
    s = ["", " ", "   ", "\t", "\n", "\r\n", " \t\n ", "\u3000", "a", "A", ".", "▁", "▁▁a", " ▁a", "a▁ b",
         "Hello world", "Hello  world", "  leading", "trailing  ", "  both  ", "tab\tseparated\tvalues",
         "new\nlines\n\nhere", "crlf\r\nline", "multiple     spaces   here", "12345", "3.14159", "1,000,000",
         "2026-03-01 12:34:56", "$19.99", "100%", "e=mc²", "x₁ + x₂", "Ａｂｃ１２３", "ＡＢＣ　ＤＥＦ", "ｶﾀｶﾅ",
         "ﬁ ﬂ ﬀ", "Ⅻ ⅻ", "①②③", "㎏㎞", "™ © ®", "…", "e\u0301", "E\u0301", "Ａ\u0301", "a\u0301\u0302",
         "a\u0301\u0302\u0303", "ñ", "n\u0303", "\u0301", " \u0301", "\u0301a", "한국어", "\u1100\u1161",
         "\u1100\u1161\u11a8", "👨‍👩‍👧", "👍🏽", "🇫🇷🇯🇵", "🇫", "❤️", "क्षत्रिय", "ष\u0301", "क्\u200dष",
         "\u0600a", "\u0605", "\u200b", "a\u200bb", "\ufeffbom", "soft\u00adhyphen", "</s>", "a</s>b",
         " </s> ", "<pad>", "<unk>", "x <unk> y", "<extra_id_0>", "<extra_id_3> fill <extra_id_9>",
         "<extra_id_10>", "<0x41>", "<s>", "<<>>", "ß", "İstanbul", "ǅ", "ﷺ", "\U0001f600" * 5,
         "A red ball falls onto a wooden floor and bounces twice, in slow motion.",
         "一个红色的球从桌子上掉下来，弹了两次。", "カメラはゆっくりと右に移動する。",
         "Ein roter Ball fällt auf den Holzboden.", "Une balle rouge tombe sur le sol.",
         ]
    while len(s) < 700:
        s.append(sentence(rng))
    while len(s) < 1150:
        s.append(random_mix(rng, rng.randint(1, 60)))
    for n in (600, 2000, 5000):
        s.append(" ".join(sentence(rng) for _ in range(n // 60)))
    s.append(random_mix(rng, 3000))
    s.append("a" * 3000)
    s.append("ab " * 1000)
    s.append(" " * 2000 + "x")
    s.append("\U0001f600" * 600)
    s.append("漢" * 1500)
    return s


def wan_clean(text):
    """Wan's whitespace_clean (without basic_clean's ftfy / html.unescape)"""
    return re.sub(r'\s+', ' ', text).strip()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'tests', 'fixtures')
    rng = random.Random(SEED)
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, 'corpus.txt'), 'w') as f:
        f.write("\n".join(corpus(rng)) + "\n")
    spm.SentencePieceTrainer.train(
        input=os.path.join(tmp, 'corpus.txt'), model_prefix=os.path.join(tmp, 'spiece'), vocab_size=VOCAB,
        model_type='unigram', byte_fallback=True, character_coverage=0.98, num_threads=1,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(tmp, 'spiece.model'))

    os.environ['HF_HUB_OFFLINE'] = '1'
    from transformers import T5Tokenizer
    from transformers.convert_slow_tokenizer import SpmConverter
    from sentencepiece import sentencepiece_model_pb2 as model_pb2
    from tokenizers import processors

    t5 = T5Tokenizer.from_pretrained(tmp, extra_ids=EXTRA_IDS)
    j = json.loads(t5.backend_tokenizer.to_str())
    assert j['normalizer']['type'] == 'Precompiled', j['normalizer']
    j['model']['byte_fallback'] = True
    primary = json.dumps(j, ensure_ascii=False)

    proto = model_pb2.ModelProto()
    with open(os.path.join(tmp, 'spiece.model'), 'rb') as f:
        proto.ParseFromString(f.read())
    spm_tok = SpmConverter.build_tokenizer_from_spm_proto(proto, [(p.piece, p.score) for p in proto.pieces])
    js = json.loads(spm_tok.to_str())

    def strip_charsmap(n):
        n = json.loads(json.dumps(n))
        for x in ([n] if n.get('type') != 'Sequence' else n['normalizers']):
            if x.get('type') == 'Precompiled':
                x['precompiled_charsmap'] = '@PRIMARY'
        return n

    variants = {
        "t5": {"byte_fallback": False},
        "spm": {"byte_fallback": True, "normalizer": strip_charsmap(js['normalizer']),
                "pre_tokenizer": js['pre_tokenizer']},
        "first": {"byte_fallback": True,
                  "pre_tokenizer": json.loads(json.dumps(j['pre_tokenizer']).replace('"always"', '"first"'))},
    }

    def build(v):
        jj = json.loads(primary)
        jj['model']['byte_fallback'] = v['byte_fallback']
        for k in ('normalizer', 'pre_tokenizer'):
            if k in v:
                x = json.loads(json.dumps(v[k]).replace('@PRIMARY', j['normalizer']['precompiled_charsmap']))
                jj[k] = x
        return Tokenizer.from_str(json.dumps(jj))

    toks = {"t5_bytes": Tokenizer.from_str(primary)}
    for name, v in variants.items():
        toks[name] = build(v)

    strings = test_strings(rng)
    ids = {name: [] for name in toks}
    for s in strings:
        ref = toks['t5_bytes'].encode(s).ids
        ids['t5_bytes'].append(ref)
        for name, tk in toks.items():
            if name != 't5_bytes':
                got = tk.encode(s).ids
                ids[name].append(None if got == ref else got)
    # SentencePiece itself, EOS appended
    eos = sp.piece_to_id('</s>')
    agree = {}
    for name in toks:
        same = 0
        for i, s in enumerate(strings):
            want = ids[name][i] if ids[name][i] is not None else ids['t5_bytes'][i]
            same += sp.encode(s) + [eos] == want
        agree[name] = same
    # truncation
    trunc = []
    for idx in [len(strings) - 9, len(strings) - 8, len(strings) - 4, 120]:
        for ml in (512, 16, 2):
            tk = Tokenizer.from_str(primary)
            tk.enable_truncation(ml)
            e = tk.encode(strings[idx])
            trunc.append({"string": idx, "max_length": ml, "ids": e.ids,
                          "truncated": len(toks['t5_bytes'].encode(strings[idx]).ids) > ml})
    clean = [{"string": i, "clean": wan_clean(strings[i])} for i in range(0, len(strings), 3)]

    with open(os.path.join(outdir, 'spm_tokenizer.json'), 'w') as f:
        f.write(primary)
    cases = {"generator": "tools/make_spm_fixture.py (sentencepiece %s, tokenizers %s)" % (
                 spm.__version__, __import__('tokenizers').__version__),
             "variants": variants, "strings": strings, "ids": ids, "truncation": trunc,
             "wan_clean": clean, "spm_agreement": agree, "eos_id": eos,
             "pad_id": sp.piece_to_id('<pad>')}
    with open(os.path.join(outdir, 'spm_cases.json'), 'w') as f:
        json.dump(cases, f, ensure_ascii=False, separators=(',', ':'))
    print("%d strings; SentencePiece (encode + EOS) agrees with: %s" % (
        len(strings), ", ".join("%s %d" % kv for kv in agree.items())))
    for name in toks:
        if name != 't5_bytes':
            print("variant %s differs from t5_bytes on %d strings" % (name, sum(x is not None for x in ids[name])))


if __name__ == '__main__':
    main()
