/* spm.c - SentencePiece unigram tokenizer from tokenizer.json: see spm.h */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "text/spm.h"
#include "text/spm_impl.h"

#define MAX_FILE ((size_t)512 << 20)
#define MAX_PIECES (1 << 24)
#define MAX_PIECE_BYTES (64 << 10)
#define MAX_ADDED (1 << 20)
#define MAX_OPS 64
#define MAX_TEMPLATE 64
#define UNK_PENALTY 10.0

enum { N_PRECOMPILED, N_REPLACE, N_STRIP, N_PREPEND };
typedef struct {
    int kind;
    char *str;        /* Replace: the string pattern (NULL for a regex); Prepend: the text */
    size_t strn;
    spm_re *re;       /* Replace with a regex */
    char *content;    /* Replace's replacement */
    size_t contentn;
    int left, right;  /* Strip */
} norm_op;

enum { P_WSPLIT, P_METASPACE };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct {
    int kind;
    char rep[5];      /* Metaspace replacement, UTF-8 */
    int repn, scheme, split;
} pre_op;

typedef struct {
    int id;
    char *content;     /* as matched: normalized content for normalized tokens */
    size_t n;
    int lstrip, rstrip, normalized;
} added_tok;

struct pp_spm {
    char *name;
    /* model */
    int npieces;
    char **piece;
    int *plen;
    double *score;
    double min_score;
    int unk_id, byte_fallback, byte_id[256];
    int *hash;         /* open addressing, -1 empty */
    size_t hmask;
    int maxlen;        /* longest piece in bytes */
    /* pipeline */
    norm_op norm[MAX_OPS];
    int nnorm;
    spm_charsmap cmap;
    int has_cmap;
    pre_op pre[MAX_OPS];
    int npre;
    added_tok *added;
    int nadded;
    int tpl_pre[MAX_TEMPLATE], ntpl_pre, tpl_post[MAX_TEMPLATE], ntpl_post;
    int pad_id, eos_id;
};

/* ---------------------------------------------------------------- piece hash */

static uint64_t fnv_step(uint64_t h, unsigned char c) { return (h ^ c) * 1099511628211ull; }
#define FNV0 1469598103934665603ull

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = FNV0;
    for (size_t i = 0; i < n; i++) h = fnv_step(h, (unsigned char)s[i]);
    return h;
}

/* id of the piece s[0..n) with hash h, or -1 */
static int hash_find(const pp_spm *t, const char *s, size_t n, uint64_t h) {
    for (size_t i = h & t->hmask;; i = (i + 1) & t->hmask) {
        int id = t->hash[i];
        if (id < 0) return -1;
        if ((size_t)t->plen[id] == n && !memcmp(t->piece[id], s, n)) return id;
    }
}

static void hash_build(pp_spm *t) {
    size_t cap = 16;
    while (cap < 2 * (size_t)t->npieces) cap *= 2;
    t->hash = pp_malloc(cap * sizeof *t->hash);
    memset(t->hash, 0xff, cap * sizeof *t->hash);
    t->hmask = cap - 1;
    for (int id = 0; id < t->npieces; id++) {
        size_t n = (size_t)t->plen[id];
        if (!n) continue;
        for (size_t i = fnv(t->piece[id], n) & t->hmask;; i = (i + 1) & t->hmask) {
            int o = t->hash[i];
            if (o < 0 || ((size_t)t->plen[o] == n && !memcmp(t->piece[o], t->piece[id], n))) {
                t->hash[i] = id; /* a duplicate piece maps to its last id, as in tokenizers */
                break;
            }
        }
    }
}

/* ---------------------------------------------------------------- loading */

void pp_spm_free(pp_spm *t) {
    if (!t) return;
    for (int i = 0; i < t->npieces; i++) free(t->piece[i]);
    free(t->piece), free(t->plen), free(t->score), free(t->hash);
    for (int i = 0; i < t->nnorm; i++) {
        free(t->norm[i].str), free(t->norm[i].content);
        pp_spm_re_free(t->norm[i].re);
    }
    pp_spm_charsmap_free(&t->cmap);
    for (int i = 0; i < t->nadded; i++) free(t->added[i].content);
    free(t->added);
    free(t->name);
    free(t);
}

static const cJSON *field(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static int is_true(const cJSON *o, const char *k) { return cJSON_IsTrue(field(o, k)); }
static const char *str_field(const cJSON *o, const char *k) {
    const cJSON *v = field(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A string the pipeline inserts into the text or matches against it must be
 * valid UTF-8: the encoder steps by characters, and an invalid one would split a
 * character (or run past the end of the text). what: the field, for the error. */
static int utf8_field(const pp_spm *t, const char *s, const char *what) {
    if (!pp_spm_utf8_valid(s, strlen(s))) PP_FAIL("%s: %s is not valid UTF-8", t->name, what);
    return 0;
}

static int load_normalizer(pp_spm *t, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = str_field(n, "type");
    if (!type) PP_FAIL("%s: normalizer without a \"type\"", t->name);
    if (!strcmp(type, "Sequence")) {
        const cJSON *a = field(n, "normalizers"), *e;
        if (!cJSON_IsArray(a) || depth > 4) PP_FAIL("%s: normalizer Sequence without a \"normalizers\" array", t->name);
        cJSON_ArrayForEach(e, a) if (load_normalizer(t, e, depth + 1)) return -1;
        return 0;
    }
    if (t->nnorm >= MAX_OPS) PP_FAIL("%s: more than %d normalizers", t->name, MAX_OPS);
    norm_op *op = &t->norm[t->nnorm];
    memset(op, 0, sizeof *op);
    if (!strcmp(type, "Precompiled")) {
        const char *b64 = str_field(n, "precompiled_charsmap");
        if (!b64) PP_FAIL("%s: Precompiled normalizer without a \"precompiled_charsmap\" string", t->name);
        if (t->has_cmap) PP_FAIL("%s: more than one Precompiled normalizer (unsupported)", t->name);
        unsigned char *blob;
        size_t nb;
        if (pp_spm_base64_decode(b64, strlen(b64), &blob, &nb))
            PP_FAIL("%s: precompiled_charsmap is not valid base64", t->name);
        int rc = pp_spm_charsmap_parse(&t->cmap, blob, nb, t->name);
        free(blob);
        if (rc) return -1;
        t->has_cmap = 1;
        op->kind = N_PRECOMPILED;
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = field(n, "pattern");
        const char *content = str_field(n, "content"), *s;
        if (!cJSON_IsObject(pat) || !content) PP_FAIL("%s: Replace normalizer without \"pattern\" and \"content\"", t->name);
        if (utf8_field(t, content, "a Replace normalizer's \"content\"")) return -1;
        op->kind = N_REPLACE;
        op->contentn = strlen(content);
        op->content = pp_strdup(content);
        if ((s = str_field(pat, "String"))) {
            if (!*s || !pp_spm_utf8_valid(s, strlen(s))) {
                free(op->content);
                PP_FAIL("%s: Replace normalizer with an empty or not UTF-8 String pattern", t->name);
            }
            op->str = pp_strdup(s), op->strn = strlen(s);
        } else if ((s = str_field(pat, "Regex"))) {
            char what[300];
            snprintf(what, sizeof what, "%s: Replace normalizer", t->name);
            if (!(op->re = pp_spm_re_compile(s, strlen(s), what))) {
                free(op->content);
                return -1;
            }
        } else {
            free(op->content);
            PP_FAIL("%s: Replace normalizer's pattern is neither String nor Regex", t->name);
        }
    } else if (!strcmp(type, "Strip")) {
        op->kind = N_STRIP;
        op->left = is_true(n, "strip_left"), op->right = is_true(n, "strip_right");
    } else if (!strcmp(type, "Prepend")) {
        const char *s = str_field(n, "prepend");
        if (!s) PP_FAIL("%s: Prepend normalizer without a \"prepend\" string", t->name);
        if (utf8_field(t, s, "a Prepend normalizer's \"prepend\"")) return -1;
        op->kind = N_PREPEND;
        op->str = pp_strdup(s), op->strn = strlen(s);
    } else {
        PP_FAIL("%s: normalizer type \"%s\" is not supported (supported: Precompiled, Replace, Strip, Prepend, Sequence)",
                t->name, type);
    }
    t->nnorm++;
    return 0;
}

static int load_pre(pp_spm *t, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = str_field(n, "type");
    if (!type) PP_FAIL("%s: pre_tokenizer without a \"type\"", t->name);
    if (!strcmp(type, "Sequence")) {
        const cJSON *a = field(n, "pretokenizers"), *e;
        if (!cJSON_IsArray(a) || depth > 4) PP_FAIL("%s: pre_tokenizer Sequence without a \"pretokenizers\" array", t->name);
        cJSON_ArrayForEach(e, a) if (load_pre(t, e, depth + 1)) return -1;
        return 0;
    }
    if (t->npre >= MAX_OPS) PP_FAIL("%s: more than %d pre_tokenizers", t->name, MAX_OPS);
    pre_op *op = &t->pre[t->npre];
    memset(op, 0, sizeof *op);
    if (!strcmp(type, "WhitespaceSplit")) {
        op->kind = P_WSPLIT;
    } else if (!strcmp(type, "Metaspace")) {
        const char *r = str_field(n, "replacement"), *ps = str_field(n, "prepend_scheme");
        size_t rn = r ? strlen(r) : 0;
        if (!r || !rn || rn > 4 || !pp_spm_utf8_valid(r, rn) || (size_t)spm_utf8_len((unsigned char)r[0]) != rn)
            PP_FAIL("%s: Metaspace \"replacement\" must be one character", t->name);
        op->kind = P_METASPACE;
        memcpy(op->rep, r, rn);
        op->repn = (int)rn;
        op->scheme = PREPEND_ALWAYS;
        if (ps) {
            if (!strcmp(ps, "always")) op->scheme = PREPEND_ALWAYS;
            else if (!strcmp(ps, "first")) op->scheme = PREPEND_FIRST;
            else if (!strcmp(ps, "never")) op->scheme = PREPEND_NEVER;
            else PP_FAIL("%s: Metaspace prepend_scheme \"%s\" unknown", t->name, ps);
        }
        const cJSON *aps = field(n, "add_prefix_space");
        if (cJSON_IsFalse(aps)) {
            if (op->scheme != PREPEND_NEVER && ps)
                PP_FAIL("%s: Metaspace add_prefix_space does not match prepend_scheme", t->name);
            op->scheme = PREPEND_NEVER;
        }
        const cJSON *sp = field(n, "split");
        op->split = sp ? cJSON_IsTrue(sp) : 1;
    } else {
        PP_FAIL("%s: pre_tokenizer type \"%s\" is not supported (supported: Metaspace, WhitespaceSplit, Sequence)",
                t->name, type);
    }
    t->npre++;
    return 0;
}

static int load_model(pp_spm *t, const cJSON *m) {
    if (!cJSON_IsObject(m)) PP_FAIL("%s: no \"model\" object", t->name);
    const char *type = str_field(m, "type");
    if (!type) PP_FAIL("%s: model without a \"type\"", t->name);
    if (strcmp(type, "Unigram")) PP_FAIL("%s: model type \"%s\" is not supported (only Unigram)", t->name, type);
    const cJSON *v = field(m, "vocab"), *e;
    if (!cJSON_IsArray(v)) PP_FAIL("%s: Unigram model without a \"vocab\" array", t->name);
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > MAX_PIECES) PP_FAIL("%s: vocab has %d pieces (allowed 1..%d)", t->name, n, MAX_PIECES);
    t->piece = pp_calloc((size_t)n, sizeof *t->piece);
    t->plen = pp_calloc((size_t)n, sizeof *t->plen);
    t->score = pp_calloc((size_t)n, sizeof *t->score);
    t->min_score = 1e300;
    int i = 0;
    cJSON_ArrayForEach(e, v) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || !cJSON_IsString(p) || !cJSON_IsNumber(s))
            PP_FAIL("%s: vocab entry %d is not [piece, score]", t->name, i);
        size_t len = strlen(p->valuestring);
        if (len > MAX_PIECE_BYTES) PP_FAIL("%s: vocab piece %d has %zu bytes (at most %d)", t->name, i, len, MAX_PIECE_BYTES);
        t->piece[i] = pp_strdup(p->valuestring);
        t->plen[i] = (int)len;
        t->score[i] = s->valuedouble;
        if (t->score[i] < t->min_score) t->min_score = t->score[i];
        if ((int)len > t->maxlen) t->maxlen = (int)len;
        t->npieces = ++i;
    }
    const cJSON *u = field(m, "unk_id");
    t->unk_id = -1;
    if (u && !cJSON_IsNull(u)) {
        if (!cJSON_IsNumber(u) || u->valuedouble < 0 || u->valuedouble >= n || u->valuedouble != (int)u->valuedouble)
            PP_FAIL("%s: unk_id is not a piece index in [0, %d)", t->name, n);
        t->unk_id = u->valueint;
    }
    t->byte_fallback = is_true(m, "byte_fallback");
    hash_build(t);
    for (int b = 0; b < 256; b++) {
        char bp[8];
        snprintf(bp, sizeof bp, "<0x%02X>", b);
        t->byte_id[b] = hash_find(t, bp, 6, fnv(bp, 6));
    }
    return 0;
}

static int normalize(const pp_spm *t, const char *s, size_t n, spm_buf *out, size_t *o0);

static int load_added(pp_spm *t, const cJSON *a) {
    if (!a || cJSON_IsNull(a)) return 0;
    if (!cJSON_IsArray(a)) PP_FAIL("%s: \"added_tokens\" is not an array", t->name);
    int n = cJSON_GetArraySize(a);
    if (n > MAX_ADDED) PP_FAIL("%s: %d added tokens (at most %d)", t->name, n, MAX_ADDED);
    t->added = pp_calloc((size_t)n + 1, sizeof *t->added);
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, a) {
        const cJSON *id = field(e, "id");
        const char *c = str_field(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 2147483647.0 || !c || !*c)
            PP_FAIL("%s: added token %d lacks an \"id\" or a non-empty \"content\"", t->name, i);
        if (!pp_spm_utf8_valid(c, strlen(c)))
            PP_FAIL("%s: added token %d's \"content\" is not valid UTF-8", t->name, i);
        if (is_true(e, "single_word"))
            PP_FAIL("%s: added token \"%s\" has single_word (unsupported)", t->name, c);
        added_tok *k = &t->added[t->nadded];
        k->id = id->valueint;
        k->lstrip = is_true(e, "lstrip"), k->rstrip = is_true(e, "rstrip");
        const cJSON *nz = field(e, "normalized");
        k->normalized = nz ? cJSON_IsTrue(nz) : !is_true(e, "special");
        size_t len = strlen(c);
        if (k->normalized) { /* matched in normalized text: its normalized form */
            spm_buf b = {0};
            size_t o0;
            if (normalize(t, c, len, &b, &o0)) return -1;
            k->content = b.s ? b.s : pp_strdup(""), k->n = b.n;
        } else {
            k->content = pp_strdup(c), k->n = len;
        }
        if (k->n) t->nadded++;
        else free(k->content);
        i++;
    }
    return 0;
}

static int special_ids(pp_spm *t, const cJSON *specials, const char *key, int *dst, int *nd) {
    const cJSON *s = field(specials, key), *ids = s ? field(s, "ids") : NULL, *e;
    if (!cJSON_IsArray(ids)) PP_FAIL("%s: template special token \"%s\" has no \"ids\"", t->name, key);
    cJSON_ArrayForEach(e, ids) {
        if (*nd >= MAX_TEMPLATE) PP_FAIL("%s: template adds more than %d tokens", t->name, MAX_TEMPLATE);
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 2147483647.0)
            PP_FAIL("%s: template special token \"%s\" has a bad id", t->name, key);
        dst[(*nd)++] = e->valueint;
    }
    return 0;
}

static int load_post(pp_spm *t, const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = str_field(p, "type");
    if (!type || strcmp(type, "TemplateProcessing"))
        PP_FAIL("%s: post_processor type \"%s\" is not supported (only TemplateProcessing)", t->name,
                type ? type : "?");
    const cJSON *single = field(p, "single"), *specials = field(p, "special_tokens"), *e;
    if (!cJSON_IsArray(single)) PP_FAIL("%s: TemplateProcessing without a \"single\" template", t->name);
    int seen = 0;
    cJSON_ArrayForEach(e, single) {
        const cJSON *sq = field(e, "Sequence"), *sp = field(e, "SpecialToken");
        if (sq) {
            if (seen) PP_FAIL("%s: the single template has $A twice", t->name);
            seen = 1;
        } else if (sp) {
            const char *id = str_field(sp, "id");
            if (!id) PP_FAIL("%s: template SpecialToken without an \"id\"", t->name);
            if (seen ? special_ids(t, specials, id, t->tpl_post, &t->ntpl_post)
                     : special_ids(t, specials, id, t->tpl_pre, &t->ntpl_pre))
                return -1;
        } else {
            PP_FAIL("%s: template item is neither Sequence nor SpecialToken", t->name);
        }
    }
    if (!seen) PP_FAIL("%s: the single template has no $A", t->name);
    return 0;
}

int pp_spm_load_json(pp_spm **out, const char *json, size_t len, const char *name) {
    *out = NULL;
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        PP_FAIL("%s: not a JSON object (tokenizer.json expected)", name);
    }
    pp_spm *t = pp_calloc(1, sizeof *t);
    t->name = pp_strdup(name);
    int rc = load_model(t, field(j, "model")) || load_normalizer(t, field(j, "normalizer"), 0) ||
             load_pre(t, field(j, "pre_tokenizer"), 0) || load_added(t, field(j, "added_tokens")) ||
             load_post(t, field(j, "post_processor"));
    if (!rc) {
        const cJSON *pad = field(j, "padding"), *pid = pad ? field(pad, "pad_id") : NULL;
        t->pad_id = cJSON_IsNumber(pid) ? pid->valueint : pp_spm_piece_id(t, "<pad>");
        if (t->pad_id < 0) t->pad_id = 0;
        t->eos_id = t->ntpl_post ? t->tpl_post[t->ntpl_post - 1] : pp_spm_piece_id(t, "</s>");
    }
    cJSON_Delete(j);
    if (rc) {
        pp_spm_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int pp_spm_load(pp_spm **out, const char *path) {
    char *data;
    size_t len;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) PP_FAIL("%s: cannot open the tokenizer file", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fclose(f);
    if (sz < 0 || (size_t)sz > MAX_FILE) PP_FAIL("%s: tokenizer file of %ld bytes (at most %zu)", path, sz, MAX_FILE);
    if (pp_read_file(path, &data, &len)) return -1;
    int rc = pp_spm_load_json(out, data, len, path);
    free(data);
    return rc;
}

int pp_spm_vocab_size(const pp_spm *t) { return t->npieces; }
const char *pp_spm_piece(const pp_spm *t, int id) { return id >= 0 && id < t->npieces ? t->piece[id] : NULL; }
int pp_spm_piece_id(const pp_spm *t, const char *piece) {
    size_t n = strlen(piece);
    return n ? hash_find(t, piece, n, fnv(piece, n)) : -1;
}
int pp_spm_pad_id(const pp_spm *t) { return t->pad_id; }
int pp_spm_eos_id(const pp_spm *t) { return t->eos_id; }

/* ---------------------------------------------------------------- normalization */

static int is_ws_at(const char *s, size_t n, size_t i, int *k) {
    return pp_spm_is_white_space(pp_spm_utf8_dec(s, n, i, k));
}

/* Runs the normalizers over s[0..n) into out. *o0: how many leading bytes of
 * the result stand for the first character of s, as tokenizers' alignments
 * see it (what Metaspace's "first" scheme tests: a split starting there is at
 * original offset 0). Replacements take the alignment of the first character
 * they replace, insertions that of the character before. */
static int normalize(const pp_spm *t, const char *s, size_t n, spm_buf *out, size_t *o0) {
    spm_buf cur = {0}, nxt = {0};
    pp_spm_buf_put(&cur, s, n);
    *o0 = n ? (size_t)spm_utf8_len((unsigned char)s[0]) : 0;
    int rc = 0;
    for (int o = 0; o < t->nnorm && !rc; o++) {
        const norm_op *op = &t->norm[o];
        nxt.n = 0;
        pp_spm_buf_put(&nxt, "", 0);
        switch (op->kind) {
        case N_PRECOMPILED:
            if (*o0) *o0 = pp_spm_charsmap_normalize(&t->cmap, cur.s, cur.n, &nxt);
            else pp_spm_charsmap_normalize(&t->cmap, cur.s, cur.n, &nxt);
            break;
        case N_PREPEND:
            if (cur.n) pp_spm_buf_put(&nxt, op->str, op->strn);
            if (cur.n && *o0) *o0 += op->strn;
            pp_spm_buf_put(&nxt, cur.s, cur.n);
            break;
        case N_STRIP: {
            size_t a = 0, b = cur.n;
            int k;
            if (op->left)
                while (a < b && is_ws_at(cur.s, cur.n, a, &k)) a += (size_t)k;
            if (op->right)
                while (b > a) {
                    size_t p = b - 1;
                    while (p > a && ((unsigned char)cur.s[p] & 0xC0) == 0x80) p--;
                    if (!is_ws_at(cur.s, cur.n, p, &k)) break;
                    b = p;
                }
            *o0 = a >= *o0 ? 0 : *o0 - a;
            if (*o0 > b - a) *o0 = b - a;
            pp_spm_buf_put(&nxt, cur.s + a, b - a);
            break;
        }
        case N_REPLACE: {
            size_t i = 0, prev_end = (size_t)-1, o0n = 0;
            int res = *o0 == 0; /* the first character's end in the output is known */
#define COPY(a_, b_)                                                                          \
    do {                                                                                      \
        if (!res && *o0 <= (b_)) o0n = nxt.n + (*o0 - (a_)), res = 1;                         \
        pp_spm_buf_put(&nxt, cur.s + (a_), (b_) - (a_));                                         \
    } while (0)
            while (i <= cur.n) {
                size_t ms, me;
                int found;
                if (op->re) {
                    found = pp_spm_re_search(op->re, cur.s, cur.n, i, &ms, &me);
                    if (found < 0) { rc = -1; break; }
                } else {
                    char *p = cur.n - i >= op->strn ? memmem(cur.s + i, cur.n - i, op->str, op->strn) : NULL;
                    found = p != NULL;
                    if (found) ms = (size_t)(p - cur.s), me = ms + op->strn;
                }
                if (!found) break;
                if (ms == me && ms == prev_end) { /* no empty match right after a match */
                    if (ms >= cur.n) break;
                    size_t k = (size_t)spm_utf8_len((unsigned char)cur.s[ms]);
                    COPY(i, ms + k);
                    i = ms + k;
                    continue;
                }
                COPY(i, ms);
                /* the content takes the alignment of the first character it replaces */
                if (!res && *o0 <= me) o0n = ms == 0 && !op->contentn ? 0 : nxt.n + op->contentn, res = 1;
                pp_spm_buf_put(&nxt, op->content, op->contentn);
                prev_end = me;
                if (me == ms) { /* an empty match: step over one character */
                    if (me >= cur.n) { i = cur.n + 1; break; }
                    size_t k = (size_t)spm_utf8_len((unsigned char)cur.s[me]);
                    COPY(me, me + k);
                    i = me + k;
                } else {
                    i = me;
                }
            }
            if (i <= cur.n) COPY(i, cur.n);
#undef COPY
            *o0 = res ? o0n : nxt.n;
            break;
        }
        }
        spm_buf t2 = cur;
        cur = nxt, nxt = t2;
    }
    pp_spm_buf_free(&nxt);
    if (rc) {
        pp_spm_buf_free(&cur);
        return -1;
    }
    *out = cur;
    return 0;
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    int32_t *v;
    size_t n, cap;
} idvec;

static void idv_push(idvec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->v = pp_realloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = id;
}

/* Unigram Viterbi over s[0..n) (as tokenizers' encode_optimized), ids appended */
static int unigram(const pp_spm *t, const char *s, size_t n, idvec *ids) {
    if (!n) return 0;
    double *best = pp_malloc((n + 1) * sizeof *best);
    int *from = pp_malloc((n + 1) * sizeof *from), *id = pp_malloc((n + 1) * sizeof *id);
    for (size_t i = 0; i <= n; i++) from[i] = -1, best[i] = 0, id[i] = -1;
    double unk_score = t->min_score - UNK_PENALTY;
    int rc = 0;
    for (size_t i = 0; i < n;) {
        size_t mb = (size_t)spm_utf8_len((unsigned char)s[i]);
        if (mb > n - i) mb = n - i; /* never past the text (the loader keeps it valid UTF-8) */
        int single = 0;
        uint64_t h = FNV0;
        size_t lim = n - i < (size_t)t->maxlen ? n - i : (size_t)t->maxlen;
        for (size_t L = 1; L <= lim; L++) {
            h = fnv_step(h, (unsigned char)s[i + L - 1]);
            int p = hash_find(t, s + i, L, h);
            if (p < 0) continue;
            double c = t->score[p] + best[i];
            if (from[i + L] < 0 || c > best[i + L]) best[i + L] = c, from[i + L] = (int)i, id[i + L] = p;
            if (L == mb) single = 1;
        }
        if (!single) {
            if (t->unk_id < 0) {
                pp_seterr("%s: an unknown character and no unk_id", t->name);
                rc = -1;
                break;
            }
            double c = unk_score + best[i];
            if (from[i + mb] < 0 || c > best[i + mb]) best[i + mb] = c, from[i + mb] = (int)i, id[i + mb] = t->unk_id;
        }
        i += mb;
    }
    if (!rc) {
        /* backtrack into (start, end, id) triples, fusing runs of unk */
        size_t cnt = 0, cap = 16;
        int *seg = pp_malloc(cap * 3 * sizeof *seg);
        for (size_t e = n; e > 0;) {
            size_t b = (size_t)from[e];
            int pid = id[e];
            if (pid == t->unk_id && cnt && seg[3 * (cnt - 1) + 2] == t->unk_id && seg[3 * (cnt - 1)] == (int)e) {
                seg[3 * (cnt - 1)] = (int)b; /* extend the fused unk run leftwards */
            } else {
                if (cnt == cap) cap *= 2, seg = pp_realloc(seg, cap * 3 * sizeof *seg);
                seg[3 * cnt] = (int)b, seg[3 * cnt + 1] = (int)e, seg[3 * cnt + 2] = pid;
                cnt++;
            }
            e = b;
        }
        for (size_t k = cnt; k-- > 0;) {
            int b = seg[3 * k], e = seg[3 * k + 1], pid = seg[3 * k + 2];
            if (pid == t->unk_id) {
                /* tokenizers looks the fused string up, then falls back to bytes */
                int f = hash_find(t, s + b, (size_t)(e - b), fnv(s + b, (size_t)(e - b)));
                if (f >= 0) {
                    idv_push(ids, f);
                    continue;
                }
                int ok = t->byte_fallback;
                for (int j = b; ok && j < e; j++) ok = t->byte_id[(unsigned char)s[j]] >= 0;
                if (ok)
                    for (int j = b; j < e; j++) idv_push(ids, t->byte_id[(unsigned char)s[j]]);
                else
                    idv_push(ids, t->unk_id);
            } else {
                idv_push(ids, pid);
            }
        }
        free(seg);
    }
    free(best), free(from), free(id);
    return rc;
}

/* Pre-tokenizes s[0..n) and runs the model on every split, the pre-tokenizers
 * applied in order as tokenizers does. o0: how many leading bytes of s stand
 * for the input's first character (0 when s does not start there), carried to
 * each split for Metaspace's "first" scheme. */
static int pretok_and_model(const pp_spm *t, const char *s, size_t n, size_t o0, idvec *ids) {
    /* splits are kept as owned strings: Metaspace rewrites them */
    spm_buf *sp = pp_malloc(sizeof *sp);
    size_t *so = pp_malloc(sizeof *so);
    int nsp = 1, rc = 0;
    memset(sp, 0, sizeof *sp);
    pp_spm_buf_put(&sp[0], s, n);
    so[0] = o0;
    for (int o = 0; o < t->npre; o++) {
        const pre_op *op = &t->pre[o];
        spm_buf *nsb = NULL;
        size_t *nso = NULL;
        int nn = 0, cap = 0;
#define PUSH_SPLIT(ptr, a_, b_, o0_)                                               \
    do {                                                                           \
        if ((b_) > (a_)) {                                                         \
            if (nn == cap) {                                                       \
                cap = cap ? 2 * cap : 16;                                          \
                nsb = pp_realloc(nsb, (size_t)cap * sizeof *nsb);                  \
                nso = pp_realloc(nso, (size_t)cap * sizeof *nso);                  \
            }                                                                      \
            memset(&nsb[nn], 0, sizeof *nsb);                                      \
            pp_spm_buf_put(&nsb[nn], (ptr) + (a_), (b_) - (a_));                      \
            nso[nn++] = (a_) < (o0_) ? (o0_) - (a_) : 0;                           \
        }                                                                          \
    } while (0)
        for (int i = 0; i < nsp; i++) {
            const char *x = sp[i].s;
            size_t xn = sp[i].n, xo = so[i] < sp[i].n ? so[i] : sp[i].n;
            if (op->kind == P_WSPLIT) {
                size_t a = 0;
                int k;
                for (size_t j = 0; j < xn; j += (size_t)k) {
                    if (is_ws_at(x, xn, j, &k)) {
                        PUSH_SPLIT(x, a, j, xo);
                        a = j + (size_t)k;
                    }
                }
                PUSH_SPLIT(x, a, xn, xo);
            } else { /* Metaspace */
                spm_buf m = {0};
                size_t mo = 0;
                for (size_t j = 0; j < xn; j++) {
                    if (x[j] == ' ') pp_spm_buf_put(&m, op->rep, (size_t)op->repn);
                    else pp_spm_buf_put(&m, x + j, 1);
                    if (j + 1 == xo) mo = m.n;
                }
                int starts = m.n >= (size_t)op->repn && !memcmp(m.s, op->rep, (size_t)op->repn);
                if (m.n && !starts && (op->scheme == PREPEND_ALWAYS || (op->scheme == PREPEND_FIRST && mo))) {
                    spm_buf p = {0};
                    pp_spm_buf_put(&p, op->rep, (size_t)op->repn);
                    pp_spm_buf_put(&p, m.s, m.n);
                    pp_spm_buf_free(&m);
                    m = p;
                    if (mo) mo += (size_t)op->repn;
                }
                if (!op->split) {
                    PUSH_SPLIT(m.s, 0, m.n, mo);
                } else { /* split before every replacement (MergedWithNext) */
                    size_t a = 0;
                    for (size_t j = 0; j + (size_t)op->repn <= m.n; j++)
                        if (j > a && !memcmp(m.s + j, op->rep, (size_t)op->repn)) {
                            PUSH_SPLIT(m.s, a, j, mo);
                            a = j;
                        }
                    PUSH_SPLIT(m.s, a, m.n, mo);
                }
                pp_spm_buf_free(&m);
            }
        }
#undef PUSH_SPLIT
        for (int i = 0; i < nsp; i++) pp_spm_buf_free(&sp[i]);
        free(sp), free(so);
        sp = nsb, so = nso, nsp = nn;
    }
    for (int i = 0; i < nsp && !rc; i++) rc = unigram(t, sp[i].s, sp[i].n, ids);
    for (int i = 0; i < nsp; i++) pp_spm_buf_free(&sp[i]);
    free(sp), free(so);
    return rc;
}

/* Leftmost-longest match of the added tokens of kind `normalized` in s from
 * byte i: 1 and [*ms, *me) (lstrip / rstrip applied, not before `floor`) and *id. */
static int added_find(const pp_spm *t, int normalized, const char *s, size_t n, size_t i, size_t floor,
                      size_t *ms, size_t *me, int *id) {
    for (; i < n; i++) {
        int best = -1;
        for (int k = 0; k < t->nadded; k++) {
            const added_tok *a = &t->added[k];
            if (a->normalized != normalized || a->n > n - i || (best >= 0 && a->n <= t->added[best].n)) continue;
            if (!memcmp(s + i, a->content, a->n)) best = k;
        }
        if (best < 0) continue;
        const added_tok *a = &t->added[best];
        size_t b = i, e = i + a->n;
        int k;
        if (a->lstrip)
            while (b > floor) {
                size_t p = b - 1;
                while (p > floor && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                if (!is_ws_at(s, n, p, &k)) break;
                b = p;
            }
        if (a->rstrip)
            while (e < n && is_ws_at(s, n, e, &k)) e += (size_t)k;
        *ms = b, *me = e, *id = a->id;
        return 1;
    }
    return 0;
}

/* Normalizes one raw segment, splits out normalized added tokens, encodes the rest. */
static int encode_segment(const pp_spm *t, const char *s, size_t n, int first, idvec *ids) {
    spm_buf nb;
    size_t o0;
    int rc = 0;
    if (normalize(t, s, n, &nb, &o0)) return -1;
    size_t i = 0, ms, me;
    int id;
    while (!rc && i < nb.n) {
        int found = added_find(t, 1, nb.s, nb.n, i, i, &ms, &me, &id);
        size_t end = found ? ms : nb.n;
        if (end > i) rc = pretok_and_model(t, nb.s + i, end - i, first && i == 0 ? o0 : 0, ids);
        if (!found) break;
        idv_push(ids, id);
        i = me;
    }
    pp_spm_buf_free(&nb);
    return rc;
}

int pp_spm_encode(const pp_spm *t, const char *text, size_t len, int max_len, int32_t *out, int *n,
                  int *truncated) {
    *n = 0, *truncated = 0;
    int nspecial = t->ntpl_pre + t->ntpl_post;
    if (max_len < nspecial || max_len < 1)
        PP_FAIL("%s: max_len %d is below the template's %d special tokens", t->name, max_len, nspecial);
    if (len > PP_SPM_MAX_TEXT) PP_FAIL("%s: text of %zu bytes (at most %d)", t->name, len, PP_SPM_MAX_TEXT);
    if (!pp_spm_utf8_valid(text, len)) PP_FAIL("%s: text is not valid UTF-8", t->name);
    idvec ids = {0};
    size_t i = 0, ms, me;
    int id, rc = 0;
    while (!rc && i < len) {
        int found = added_find(t, 0, text, len, i, i, &ms, &me, &id);
        size_t end = found ? ms : len;
        if (end > i) rc = encode_segment(t, text + i, end - i, i == 0, &ids);
        if (!found) break;
        idv_push(&ids, id);
        i = me;
    }
    if (rc) {
        free(ids.v);
        return -1;
    }
    size_t keep = ids.n;
    if (keep > (size_t)(max_len - nspecial)) keep = (size_t)(max_len - nspecial), *truncated = 1;
    int k = 0;
    for (int j = 0; j < t->ntpl_pre; j++) out[k++] = t->tpl_pre[j];
    for (size_t j = 0; j < keep; j++) out[k++] = ids.v[j];
    for (int j = 0; j < t->ntpl_post; j++) out[k++] = t->tpl_post[j];
    *n = k;
    free(ids.v);
    return 0;
}

int pp_spm_encode_wan(const pp_spm *t, const char *prompt, int text_len, int32_t *ids, int *len,
                      int *truncated) {
    if (pp_spm_encode(t, prompt, strlen(prompt), text_len, ids, len, truncated)) return -1;
    for (int i = *len; i < text_len; i++) ids[i] = t->pad_id;
    return 0;
}

size_t pp_spm_wan_clean(char *dst, const char *src, size_t len) {
    size_t k = 0;
    int pending = 0; /* a whitespace run seen since the last character */
    for (size_t i = 0; i < len;) {
        int c = spm_utf8_len((unsigned char)src[i]), w;
        if (i + (size_t)c > len) c = 1;
        uint32_t cp = pp_spm_utf8_dec(src, len, i, &w);
        if (pp_spm_is_py_space(cp)) {
            pending = 1;
        } else {
            if (pending && k) dst[k++] = ' ';
            pending = 0;
            memcpy(dst + k, src + i, (size_t)c);
            k += (size_t)c;
        }
        i += (size_t)c;
    }
    dst[k] = 0;
    return k;
}
