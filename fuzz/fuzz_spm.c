/* fuzz_spm.c - the SentencePiece tokenizer (text/spm.c): pp_spm_load_json on a
 * Hugging Face tokenizer.json (model, normalizers with the precompiled charsmap
 * and the regex, pre-tokenizers, added tokens, template), and, one input in 8,
 * the same bytes through pp_spm_load (a file); then a prompt encoded as Wan does
 * (pp_spm_wan_clean, pp_spm_encode_wan) and by pp_spm_encode. Input: JSON '\0'
 * PROMPT (no NUL: the whole input is both). A prompt whose JSON does not load is
 * encoded with the test fixture's umT5 tokenizer (tests/fixtures/spm_tokenizer.json,
 * its real charsmap), so the encoder is fuzzed on every input. Checks: one error
 * line naming the file, ids non-negative, at most max_len of them, the padding,
 * and an encoding that was not cut is the same at any larger max_len. */
#include "fuzz_util.h"
#include "text/spm.h"

#define FULL_MAX 65536

static const pp_spm *fixture(void) {
    static pp_spm *t;
    static int tried;
    if (!tried) {
        tried = 1;
        if (pp_spm_load(&t, "tests/fixtures/spm_tokenizer.json")) t = NULL;
    }
    return t;
}

static void encode(const pp_spm *t, const char *name, const char *prompt, size_t plen, size_t n) {
    static int32_t full[FULL_MAX], ids[128];
    int nv = pp_spm_vocab_size(t), nf, tf, nt, tt;
    if (nv < 1 || !pp_spm_piece(t, 0) || !pp_spm_piece(t, nv - 1) || pp_spm_piece(t, nv) || pp_spm_piece(t, -1))
        abort();
    if (pp_spm_pad_id(t) < 0) abort();
    int id = pp_spm_piece_id(t, pp_spm_piece(t, nv - 1)); /* a duplicate piece maps to its last id */
    if (pp_spm_piece(t, nv - 1)[0] && (id < 0 || strcmp(pp_spm_piece(t, id), pp_spm_piece(t, nv - 1)))) abort();
    fz_clear_err();
    int rf = pp_spm_encode(t, prompt, plen, FULL_MAX, full, &nf, &tf);
    if (rf) fz_check_err(name);
    else if (nf < 0 || nf > FULL_MAX || (tf && nf != FULL_MAX)) abort();
    int L = 1 + (int)(n % 100);
    fz_clear_err();
    int rt = pp_spm_encode(t, prompt, plen, L, ids, &nt, &tt);
    if (rt) {
        fz_check_err(name);
    } else {
        if (nt < 0 || nt > L || (tt && nt != L)) abort();
        for (int i = 0; i < nt; i++)
            if (ids[i] < 0) abort();
        /* the same text, so the same outcome; not cut at L: what the long call gave */
        if (rf) abort();
        if (!tt && !tf && (nt != nf || memcmp(ids, full, sizeof *ids * (size_t)nt))) abort();
        if (tt && nf <= L && !tf) abort();
    }
    /* Wan's path: whitespace clean, then max_length padding */
    char *clean = malloc(plen + 1);
    if (!clean) abort();
    size_t cl = pp_spm_wan_clean(clean, prompt, strnlen(prompt, plen));
    if (cl > plen || strlen(clean) != cl) abort();
    int len, cut;
    fz_clear_err();
    if (pp_spm_encode_wan(t, clean, L, ids, &len, &cut)) {
        fz_check_err(name);
    } else {
        if (len < 0 || len > L) abort();
        for (int i = 0; i < L; i++)
            if (ids[i] < 0 || (i >= len && ids[i] != pp_spm_pad_id(t))) abort();
        if (cut && len != L) abort();
    }
    free(clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const uint8_t *nul = memchr(data, 0, n);
    size_t jlen = nul ? (size_t)(nul - data) : n;
    const char *prompt = nul ? (const char *)nul + 1 : (const char *)data;
    size_t plen = nul ? n - jlen - 1 : n;
    char *p = fz_cstr((const uint8_t *)prompt, plen); /* NUL-terminated for the Wan path */
    pp_spm *t = NULL;
    const char *name = "fuzz-tokenizer.json";
    fz_clear_err();
    if (pp_spm_load_json(&t, (const char *)data, jlen, name)) {
        fz_check_err(name);
        if (t) abort();
    }
    if (n % 8 == 0) {
        const char *path = fz_write("tokenizer.json", data, jlen);
        pp_spm *u = NULL;
        fz_clear_err();
        int rc = pp_spm_load(&u, path);
        if (rc) fz_check_err(path);
        if (!rc != !!t) abort(); /* the file and the memory reader agree */
        if (u && pp_spm_vocab_size(u) != pp_spm_vocab_size(t)) abort();
        pp_spm_free(u);
    }
    if (t) encode(t, name, p, plen, n);
    else if (fixture()) encode(fixture(), "tests/fixtures/spm_tokenizer.json", p, plen, n);
    pp_spm_free(t);
    free(p);
    return 0;
}
