/* fuzz_tokenizer.c - the word tokenizer: the vocabulary reader (pp_vocab_parse,
 * as stored in a model file's "prophy.vocab") and pp_tok_encode on an arbitrary
 * prompt. Input: VOCAB '\0' PROMPT (no NUL: the whole input is both the vocabulary
 * candidate and the prompt, and the vocabulary is built from the prompt when it
 * does not parse). Checks: serialise/parse round trip, ids in range, <eos>. */
#include "fuzz_util.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const uint8_t *nul = memchr(data, 0, n);
    size_t vlen = nul ? (size_t)(nul - data) : n;
    char *prompt = nul ? fz_cstr(nul + 1, n - vlen - 1) : fz_cstr(data, n);
    pp_vocab v;
    fz_clear_err();
    if (pp_vocab_parse(&v, (const char *)data, vlen)) {
        fz_check_err("vocabulary");
        const char *texts[1] = {prompt};
        fz_clear_err();
        if (pp_vocab_build(&v, texts, 1)) {
            fz_check_err("vocabulary");
            const char *none[1] = {""};
            if (pp_vocab_build(&v, none, 1)) abort();
        }
    }
    /* round trip */
    size_t len;
    char *ser = pp_vocab_serialize(&v, &len);
    pp_vocab back;
    if (pp_vocab_parse(&back, ser, len) || back.n != v.n) abort();
    for (int i = 0; i < v.n; i++)
        if (strcmp(back.words[i], v.words[i]) || pp_vocab_lookup(&back, v.words[i], strlen(v.words[i])) != i)
            abort();
    pp_vocab_free(&back);
    free(ser);
    /* encode / decode */
    int L = 1 + (int)(n % 80);
    int *ids = malloc(sizeof(int) * (size_t)L);
    pp_tok_report rep;
    fz_clear_err();
    int rc = pp_tok_encode(&v, prompt, L, ids, &rep);
    if (rc) fz_check_err("prompt");
    if (rep.n_tokens < 1 || rep.n_tokens > L || ids[rep.n_tokens - 1] != PP_TOK_EOS) abort();
    for (int i = 0; i < L; i++)
        if (ids[i] < 0 || ids[i] >= v.n) abort();
    if (strlen(rep.unknown) >= sizeof rep.unknown) abort();
    char out[512];
    pp_tok_decode(&v, ids, L, out, sizeof out);
    free(ids);
    pp_vocab_free(&v);
    free(prompt);
    return 0;
}
