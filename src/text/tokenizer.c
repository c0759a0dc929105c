/* tokenizer.c - see tokenizer.h */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "text/tokenizer.h"

static const char *const k_special[PP_TOK_NSPECIAL] = {"<pad>", "<unk>", "<eos>"};

/* ---- splitting ---------------------------------------------------------- */

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Next raw word at or after *p: sets *w, *len and advances *p; 0 at the end. */
static int next_word(const char **p, const char **w, size_t *len) {
    const unsigned char *s = (const unsigned char *)*p;
    while (*s && !is_word_byte(*s)) s++;
    if (!*s) {
        *p = (const char *)s;
        return 0;
    }
    const unsigned char *start = s;
    while (*s && is_word_byte(*s)) s++;
    *w = (const char *)start;
    *len = (size_t)(s - start);
    *p = (const char *)s;
    return 1;
}

/* Lowercase copy of w[len] into buf (NUL-terminated, at most cap-1 bytes). */
static size_t normalise(char *buf, size_t cap, const char *w, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[n] = 0;
    return n;
}

/* ---- hash table --------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int pp_vocab_lookup(const pp_vocab *v, const char *word, size_t len) {
    if (!v->cap) return -1;
    size_t mask = (size_t)v->cap - 1, i = (size_t)hash_bytes(word, len) & mask;
    for (; v->slots[i] >= 0; i = (i + 1) & mask) {
        const char *w = v->words[v->slots[i]];
        if (strlen(w) == len && !memcmp(w, word, len)) return v->slots[i];
    }
    return -1;
}

/* Append a word (caller checked it is new); grows the arrays and the table. */
static void vocab_push(pp_vocab *v, const char *word, size_t len) {
    if (2 * (v->n + 1) > v->cap) {
        int cap = v->cap ? 2 * v->cap : 64;
        while (cap < 2 * (v->n + 1)) cap *= 2;
        free(v->slots);
        v->slots = pp_malloc((size_t)cap * sizeof *v->slots);
        v->cap = cap;
        for (int i = 0; i < cap; i++) v->slots[i] = -1;
        for (int id = 0; id < v->n; id++) { /* rehash */
            size_t i = (size_t)hash_bytes(v->words[id], strlen(v->words[id])) & (size_t)(cap - 1);
            while (v->slots[i] >= 0) i = (i + 1) & (size_t)(cap - 1);
            v->slots[i] = id;
        }
    }
    v->words = pp_realloc(v->words, (size_t)(v->n + 1) * sizeof *v->words);
    char *copy = pp_malloc(len + 1);
    memcpy(copy, word, len);
    copy[len] = 0;
    v->words[v->n] = copy;
    size_t i = (size_t)hash_bytes(word, len) & (size_t)(v->cap - 1);
    while (v->slots[i] >= 0) i = (i + 1) & (size_t)(v->cap - 1);
    v->slots[i] = v->n++;
}

void pp_vocab_free(pp_vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

const char *pp_vocab_word(const pp_vocab *v, int id) {
    return (id >= 0 && id < v->n) ? v->words[id] : NULL;
}

static void vocab_init_specials(pp_vocab *v) {
    memset(v, 0, sizeof *v);
    for (int i = 0; i < PP_TOK_NSPECIAL; i++) vocab_push(v, k_special[i], strlen(k_special[i]));
}

/* ---- building ----------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int pp_vocab_build(pp_vocab *v, const char *const *texts, int n) {
    char **all = NULL, buf[PP_TOK_WORD_MAX + 2];
    size_t nall = 0, capall = 0;
    memset(v, 0, sizeof *v);
    for (int t = 0; t < n; t++) {
        const char *p = texts[t] ? texts[t] : "", *w;
        size_t len;
        while (next_word(&p, &w, &len)) {
            if (len > PP_TOK_WORD_MAX) {
                for (size_t i = 0; i < nall; i++) free(all[i]);
                free(all);
                PP_FAIL("vocabulary: word '%.*s...' is longer than %d bytes", 16, w, PP_TOK_WORD_MAX);
            }
            normalise(buf, sizeof buf, w, len);
            if (nall == capall) {
                capall = capall ? 2 * capall : 256;
                all = pp_realloc(all, capall * sizeof *all);
            }
            all[nall++] = pp_strdup(buf);
        }
    }
    if (nall) qsort(all, nall, sizeof *all, cmp_str);
    vocab_init_specials(v);
    for (size_t i = 0; i < nall; i++) {
        /* specials contain '<' '>' and cannot be words, so no clash is possible */
        if (i == 0 || strcmp(all[i], all[i - 1])) vocab_push(v, all[i], strlen(all[i]));
    }
    for (size_t i = 0; i < nall; i++) free(all[i]);
    free(all);
    return 0;
}

/* ---- serialisation ------------------------------------------------------ */

char *pp_vocab_serialize(const pp_vocab *v, size_t *len) {
    size_t total = 0;
    for (int i = 0; i < v->n; i++) total += strlen(v->words[i]) + 1;
    char *s = pp_malloc(total + 1), *q = s;
    for (int i = 0; i < v->n; i++) {
        size_t l = strlen(v->words[i]);
        memcpy(q, v->words[i], l);
        q += l;
        if (i + 1 < v->n) *q++ = '\n';
    }
    *q = 0;
    if (len) *len = (size_t)(q - s);
    return s;
}

/* Is line[len] (line number ln, 0-based) valid at its position? Sets the error. */
static int check_line(const char *line, size_t len, int ln) {
    if (ln < PP_TOK_NSPECIAL) {
        if (len != strlen(k_special[ln]) || memcmp(line, k_special[ln], len))
            PP_FAIL("malformed vocabulary: line %d must be '%s', got '%.*s'", ln + 1, k_special[ln],
                    (int)(len > 32 ? 32 : len), line);
        return 0;
    }
    if (len == 0) PP_FAIL("malformed vocabulary: empty line %d", ln + 1);
    if (len > PP_TOK_WORD_MAX)
        PP_FAIL("malformed vocabulary: line %d is longer than %d bytes", ln + 1, PP_TOK_WORD_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (!is_word_byte(c) || (c >= 'A' && c <= 'Z'))
            PP_FAIL("malformed vocabulary: line %d '%.*s' is not a lowercase word (byte 0x%02x)",
                    ln + 1, (int)(len > 32 ? 32 : len), line, c);
    }
    return 0;
}

int pp_vocab_parse(pp_vocab *v, const char *s, size_t len) {
    memset(v, 0, sizeof *v);
    if (len && s[len - 1] == '\n') len--; /* one trailing newline is tolerated */
    if (memchr(s, 0, len)) PP_FAIL("malformed vocabulary: contains a NUL byte");
    pp_vocab tmp = {0};
    size_t pos = 0;
    for (int ln = 0; pos <= len; ln++) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (s + pos)) : len - pos;
        int bad = check_line(s + pos, l, ln) < 0;
        if (!bad && ln >= PP_TOK_NSPECIAL && pp_vocab_lookup(&tmp, s + pos, l) >= 0) {
            pp_seterr("malformed vocabulary: duplicate word '%.*s' on line %d", (int)l, s + pos, ln + 1);
            bad = 1;
        }
        if (bad) {
            pp_vocab_free(&tmp);
            return -1;
        }
        vocab_push(&tmp, s + pos, l);
        pos += l + 1;
    }
    if (tmp.n < PP_TOK_NSPECIAL) {
        pp_vocab_free(&tmp);
        PP_FAIL("malformed vocabulary: %d lines, the 3 special tokens are missing", tmp.n);
    }
    *v = tmp;
    return 0;
}

/* ---- encode / decode ---------------------------------------------------- */

/* Append "word" to the report's unknown list unless already there. */
static void report_unknown(pp_tok_report *rep, const char *word) {
    rep->n_unknown++;
    char *u = rep->unknown;
    size_t ul = strlen(u), wl = strlen(word);
    if (ul >= 3 && !strcmp(u + ul - 3, "...")) return; /* list already full */
    for (const char *p = u; (p = strstr(p, word)) != NULL; p += wl) { /* seen? */
        int starts = p == u || (p >= u + 2 && p[-2] == ',' && p[-1] == ' ');
        int ends = p[wl] == 0 || p[wl] == ',';
        if (starts && ends) return;
    }
    size_t need = ul + (ul ? 2 : 0) + wl;
    if (need + 1 > sizeof rep->unknown - 4) {
        snprintf(u + ul, sizeof rep->unknown - ul, "%s...", ul ? ", " : "");
        return;
    }
    snprintf(u + ul, sizeof rep->unknown - ul, "%s%s", ul ? ", " : "", word);
}

int pp_tok_encode(const pp_vocab *v, const char *text, int L, int *ids, pp_tok_report *rep) {
    pp_tok_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    if (L < 1) PP_FAIL("tokenizer: context length %d < 1", L);
    for (int i = 0; i < L; i++) ids[i] = PP_TOK_PAD;
    const char *p = text ? text : "", *w;
    size_t len;
    char buf[PP_TOK_WORD_MAX + 2];
    int kept = 0;
    while (next_word(&p, &w, &len)) {
        size_t n = normalise(buf, sizeof buf, w, len);
        int id = len > PP_TOK_WORD_MAX ? -1 : pp_vocab_lookup(v, buf, n);
        if (id < 0) {
            report_unknown(rep, buf); /* an over-long word shows cut to PP_TOK_WORD_MAX+1 bytes */
            id = PP_TOK_UNK;
        }
        rep->n_words++;
        if (kept < L - 1) ids[kept++] = id;
        else rep->truncated = 1;
    }
    ids[kept] = PP_TOK_EOS;
    rep->n_tokens = kept + 1;
    if (rep->n_words == 0) PP_FAIL("empty prompt: it has no words");
    return 0;
}

void pp_tok_decode(const pp_vocab *v, const int *ids, int L, char *out, size_t cap) {
    if (!cap) return;
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < L && ids[i] != PP_TOK_EOS && ids[i] != PP_TOK_PAD; i++) {
        const char *w = pp_vocab_word(v, ids[i]);
        int k = snprintf(out + o, cap - o, "%s%s", o ? " " : "", w ? w : "<bad-id>");
        if (k < 0 || (size_t)k >= cap - o) break;
        o += (size_t)k;
    }
}
