/* spm_text.c - text machinery of the SentencePiece tokenizer: see spm_impl.h */
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "text/spm_impl.h"
#include "text/spm_unicode_tables.h"

/* ---------------------------------------------------------------- strings */

void pp_spm_buf_put(spm_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        b->s = pp_realloc(b->s, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

void pp_spm_buf_putc(spm_buf *b, uint32_t cp) {
    char u[4];
    int k;
    if (cp < 0x80) u[0] = (char)cp, k = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), k = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)), u[2] = (char)(0x80 | (cp & 63)), k = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63)),
        u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63)), k = 4;
    pp_spm_buf_put(b, u, (size_t)k);
}

void pp_spm_buf_free(spm_buf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- UTF-8 */

int pp_spm_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int k = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!k || i + (size_t)k > n) return 0;
        for (int j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[i + 1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && s[i + 1] >= 0xA0) return 0; /* surrogates */
        if (c == 0xF0 && s[i + 1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && s[i + 1] >= 0x90) return 0; /* > U+10FFFF */
        i += (size_t)k;
    }
    return 1;
}

uint32_t pp_spm_utf8_dec(const char *str, size_t n, size_t i, int *len) {
    const unsigned char *s = (const unsigned char *)str + i;
    int k = spm_utf8_len(s[0]);
    if (i + (size_t)k > n) k = 1; /* not reached on validated input */
    *len = k;
    switch (k) {
    case 1: return s[0];
    case 2: return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3: return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default:
        return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
               (s[3] & 0x3F);
    }
}

/* ---------------------------------------------------------------- Unicode */

int pp_spm_is_white_space(uint32_t c) {
    return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

int pp_spm_is_py_space(uint32_t c) { return pp_spm_is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

enum { G_OTHER, G_CR, G_LF, G_CONTROL, G_EXTEND, G_ZWJ, G_RI, G_PREPEND, G_SPACING, G_L, G_V, G_T, G_LV, G_LVT };
enum { INCB_NONE, INCB_LINKER, INCB_CONSONANT, INCB_EXTEND };

static unsigned uni_props(uint32_t c) {
    int lo = 0, hi = SPM_UNI_NRANGES - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < spm_uni_ranges[mid].lo) hi = mid - 1;
        else if (c > spm_uni_ranges[mid].hi) lo = mid + 1;
        else return spm_uni_ranges[mid].p;
    }
    return 0;
}

/* UAX #29 extended grapheme cluster boundaries (rules GB3-GB13, GB9c included) */
size_t pp_spm_grapheme_len(const char *s, size_t n, size_t i) {
    int k;
    uint32_t c = pp_spm_utf8_dec(s, n, i, &k);
    unsigned p = uni_props(c), g = p & 15;
    size_t j = i + (size_t)k;
    int ep = (p & 16) ? 1 : 0;            /* 1: ExtPict Extend*, 2: ... ZWJ */
    int incb = ((p >> 5) & 3) == INCB_CONSONANT ? 1 : 0; /* 1: Consonant [Extend|Linker]*, 2: a Linker seen */
    int ri = g == G_RI;                   /* regional indicators in a row ending here */
    while (j < n) {
        uint32_t d = pp_spm_utf8_dec(s, n, j, &k);
        unsigned q = uni_props(d), h = q & 15, qi = (q >> 5) & 3;
        int join;
        if (g == G_CR && h == G_LF) join = 1;                                          /* GB3 */
        else if (g == G_CR || g == G_LF || g == G_CONTROL) join = 0;                   /* GB4 */
        else if (h == G_CR || h == G_LF || h == G_CONTROL) join = 0;                   /* GB5 */
        else if (g == G_L && (h == G_L || h == G_V || h == G_LV || h == G_LVT)) join = 1; /* GB6 */
        else if ((g == G_LV || g == G_V) && (h == G_V || h == G_T)) join = 1;          /* GB7 */
        else if ((g == G_LVT || g == G_T) && h == G_T) join = 1;                       /* GB8 */
        else if (h == G_EXTEND || h == G_ZWJ || h == G_SPACING) join = 1;              /* GB9, 9a */
        else if (g == G_PREPEND) join = 1;                                             /* GB9b */
        else if (incb == 2 && qi == INCB_CONSONANT) join = 1;                          /* GB9c */
        else if (ep == 2 && (q & 16)) join = 1;                                        /* GB11 */
        else if (g == G_RI && h == G_RI && ri % 2 == 1) join = 1;                      /* GB12, 13 */
        else join = 0;                                                                 /* GB999 */
        if (!join) break;
        /* the look-behind states, over the characters so far */
        if (q & 16) ep = 1;
        else if (ep == 1 && h == G_EXTEND) ep = 1;
        else if (ep == 1 && h == G_ZWJ) ep = 2;
        else ep = 0;
        if (qi == INCB_CONSONANT) incb = 1;
        else if (incb && qi == INCB_LINKER) incb = 2;
        else if (incb && qi == INCB_EXTEND) ;
        else incb = 0;
        ri = h == G_RI ? ri + 1 : 0;
        g = h;
        j += (size_t)k;
    }
    return j - i;
}

/* ---------------------------------------------------------------- base64 */

int pp_spm_base64_decode(const char *s, size_t n, unsigned char **out, size_t *outn) {
    unsigned char *o = pp_malloc(n / 4 * 3 + 4);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+') v = 62;
        else if (c == '/') v = 63;
        else if (c == '=') { pad++; continue; }
        else { free(o); return -1; }
        if (pad) { free(o); return -1; } /* data after padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    if (pad > 2 || (n - (size_t)pad) % 4 == 1) { free(o); return -1; }
    *out = o, *outn = k;
    return 0;
}

/* ---------------------------------------------------------------- precompiled charsmap */

int pp_spm_charsmap_parse(spm_charsmap *m, const unsigned char *blob, size_t n, const char *what) {
    memset(m, 0, sizeof *m);
    if (n < 4) PP_FAIL("%s: precompiled_charsmap has %zu bytes, fewer than its 4-byte header", what, n);
    uint32_t tsize = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    size_t nunit = tsize / 4;
    if (nunit > (n - 4) / 4)
        PP_FAIL("%s: precompiled_charsmap declares a %u-byte trie but has %zu bytes", what, tsize, n - 4);
    if (nunit == 0) PP_FAIL("%s: precompiled_charsmap has an empty trie", what);
    m->unit = pp_malloc(nunit * sizeof *m->unit);
    for (size_t i = 0; i < nunit; i++) {
        const unsigned char *b = blob + 4 + 4 * i;
        m->unit[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    m->nunit = nunit;
    size_t off = 4 + 4 * nunit;
    m->nnorm = n - off;
    m->norm = pp_malloc(m->nnorm + 1);
    memcpy(m->norm, blob + off, m->nnorm);
    m->norm[m->nnorm] = 0;
    if (!pp_spm_utf8_valid(m->norm, m->nnorm)) {
        pp_spm_charsmap_free(m);
        PP_FAIL("%s: precompiled_charsmap's normalized strings are not valid UTF-8", what);
    }
    return 0;
}

void pp_spm_charsmap_free(spm_charsmap *m) {
    free(m->unit), free(m->norm);
    memset(m, 0, sizeof *m);
}

/* Darts-clone's double-array unit fields (as sentencepiece stores them) */
static inline int u_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t u_value(uint32_t u) { return u & 0x7fffffffu; }
static inline uint32_t u_label(uint32_t u) { return u & 0x800000ffu; }
static inline size_t u_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6); }

int pp_spm_charsmap_lookup(const spm_charsmap *m, const char *s, size_t n, const char **out, size_t *outn) {
    size_t pos = 0;
    pos ^= u_offset(m->unit[0]);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!c) break;
        pos ^= c;
        if (pos >= m->nunit) return 0; /* out of the trie: no rule (tokenizers would panic) */
        uint32_t u = m->unit[pos];
        if (u_label(u) != c) return 0;
        pos ^= u_offset(u);
        if (u_has_leaf(u)) {
            if (pos >= m->nunit) return 0;
            size_t v = u_value(m->unit[pos]);
            /* a value inside a character would start the replacement mid-character
             * (invalid UTF-8 in the text): no rule, like one out of range */
            if (v > m->nnorm || (v < m->nnorm && ((unsigned char)m->norm[v] & 0xC0) == 0x80)) return 0;
            *out = m->norm + v;
            *outn = strlen(m->norm + v); /* norm is NUL-terminated past its end */
            return 1;
        }
    }
    return 0;
}

size_t pp_spm_charsmap_normalize(const spm_charsmap *m, const char *s, size_t n, spm_buf *dst) {
    const char *r;
    size_t rn, start = dst->n, o0 = 0;
    int unit = 0; /* units (a whole cluster or one character) written so far */
    for (size_t i = 0; i < n;) {
        size_t g = pp_spm_grapheme_len(s, n, i);
        if (g < 6 && pp_spm_charsmap_lookup(m, s + i, g, &r, &rn)) {
            pp_spm_buf_put(dst, r, rn);
            if (unit++ == 0) o0 = rn;
        } else {
            for (size_t j = i; j < i + g;) {
                size_t k = (size_t)spm_utf8_len((unsigned char)s[j]);
                if (pp_spm_charsmap_lookup(m, s + j, k, &r, &rn)) pp_spm_buf_put(dst, r, rn);
                else pp_spm_buf_put(dst, s + j, rn = k);
                if (unit++ == 0) o0 = rn;
                j += k;
            }
        }
        i += g;
    }
    /* a first unit normalized away: tokenizers then gives its alignment to the
     * next character */
    if (!o0 && dst->n > start) o0 = (size_t)spm_utf8_len((unsigned char)dst->s[start]);
    return o0;
}

/* ---------------------------------------------------------------- regex
 * Parsed to a tree, compiled to a backtracking program (Pike's instruction
 * set: CHAR, ANY, CLASS, SPLIT, JMP, assertions, MATCH). Counted repeats are
 * expanded; the program and the backtracking work are bounded. */

enum { R_CHAR, R_ANY, R_CLASS, R_BOL, R_EOL, R_BOS, R_EOS, R_EOSNL, R_CAT, R_ALT, R_REP };
typedef struct rnode {
    int type, min, max; /* max -1: unbounded */
    uint32_t cp;
    int cls;            /* class index */
    struct rnode **kid;
    int nkid;
} rnode;

typedef struct { uint32_t lo, hi; } rrange;
typedef struct { rrange *r; int n, neg; } rclass;

enum { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_BOL, I_EOL, I_BOS, I_EOS, I_EOSNL, I_MATCH };
typedef struct { int op, x, y; uint32_t cp; } rinst;

struct spm_re {
    rinst *prog;
    int n, cap;
    rclass *cls;
    int ncls;
};

#define RE_MAX_PATTERN 1024
#define RE_MAX_PROG 65536
#define RE_MAX_REPEAT 1000
#define RE_MAX_STEPS 400000000L /* with the memo, > states of any text within PP_SPM_MAX_TEXT */

typedef struct {
    const char *p;
    size_t n, i;
    const char *what;
    spm_re *re;
    int depth, err;
} rparser;

static rnode *rn_new(int type) {
    rnode *x = pp_calloc(1, sizeof *x);
    x->type = type;
    x->min = x->max = 1;
    return x;
}

static void rn_add(rnode *x, rnode *k) {
    x->kid = pp_realloc(x->kid, (size_t)(x->nkid + 1) * sizeof *x->kid);
    x->kid[x->nkid++] = k;
}

static void rn_free(rnode *x) {
    if (!x) return;
    for (int i = 0; i < x->nkid; i++) rn_free(x->kid[i]);
    free(x->kid);
    free(x);
}

static int rp_fail(rparser *p, const char *msg) {
    if (!p->err) pp_seterr("%s: regex '%.*s' %s (at byte %zu)", p->what, (int)p->n, p->p, msg, p->i);
    p->err = 1;
    return -1;
}

static int cls_new(spm_re *re) {
    re->cls = pp_realloc(re->cls, (size_t)(re->ncls + 1) * sizeof *re->cls);
    memset(&re->cls[re->ncls], 0, sizeof *re->cls);
    return re->ncls++;
}

static void cls_add(rclass *c, uint32_t lo, uint32_t hi) {
    c->r = pp_realloc(c->r, (size_t)(c->n + 1) * sizeof *c->r);
    c->r[c->n++] = (rrange){lo, hi};
}

static const uint32_t WS_RANGES[][2] = {{0x9, 0xD}, {0x20, 0x20}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680},
                                        {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                        {0x3000, 0x3000}};

/* \s \S \d \D as a class index */
static int shorthand_class(spm_re *re, char c) {
    int k = cls_new(re);
    rclass *cl = &re->cls[k];
    if (c == 's' || c == 'S')
        for (size_t i = 0; i < sizeof WS_RANGES / sizeof *WS_RANGES; i++) cls_add(cl, WS_RANGES[i][0], WS_RANGES[i][1]);
    else
        cls_add(cl, '0', '9');
    cl->neg = c == 'S' || c == 'D';
    return k;
}

/* one escaped literal after '\': returns the code point or -1 */
static long esc_literal(char c) {
    switch (c) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    case 'e': return 0x1b;
    case 'a': return 0x07;
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return -1;
        return (unsigned char)c;
    }
}

static uint32_t rp_char(rparser *p) {
    int k;
    uint32_t c = pp_spm_utf8_dec(p->p, p->n, p->i, &k);
    p->i += (size_t)k;
    return c;
}

static rnode *rp_alt(rparser *p);

static rnode *rp_class(rparser *p) {
    int k = cls_new(p->re);
    if (p->i < p->n && p->p[p->i] == '^') p->re->cls[k].neg = 1, p->i++;
    int first = 1;
    while (p->i < p->n && (p->p[p->i] != ']' || first)) {
        first = 0;
        uint32_t lo;
        if (p->p[p->i] == '[') return rp_fail(p, "has a nested class (unsupported)"), NULL;
        if (p->p[p->i] == '\\') {
            if (++p->i >= p->n) return rp_fail(p, "ends in a backslash"), NULL;
            char e = p->p[p->i++];
            if (e == 's' || e == 'S' || e == 'd' || e == 'D') {
                if (e == 'S' || e == 'D') return rp_fail(p, "has \\S or \\D inside a class (unsupported)"), NULL;
                int sk = shorthand_class(p->re, e);
                rclass *src = &p->re->cls[sk], *dst = &p->re->cls[k];
                for (int i = 0; i < src->n; i++) cls_add(dst, src->r[i].lo, src->r[i].hi);
                continue;
            }
            long v = esc_literal(e);
            if (v < 0) return rp_fail(p, "has an unsupported escape"), NULL;
            lo = (uint32_t)v;
        } else {
            lo = rp_char(p);
        }
        uint32_t hi = lo;
        if (p->i + 1 < p->n && p->p[p->i] == '-' && p->p[p->i + 1] != ']') {
            p->i++;
            if (p->p[p->i] == '\\') {
                if (++p->i >= p->n) return rp_fail(p, "ends in a backslash"), NULL;
                long v = esc_literal(p->p[p->i++]);
                if (v < 0) return rp_fail(p, "has an unsupported escape in a range"), NULL;
                hi = (uint32_t)v;
            } else {
                hi = rp_char(p);
            }
            if (hi < lo) return rp_fail(p, "has a reversed range"), NULL;
        }
        cls_add(&p->re->cls[k], lo, hi);
    }
    if (p->i >= p->n) return rp_fail(p, "has an unclosed class"), NULL;
    p->i++;
    rnode *x = rn_new(R_CLASS);
    x->cls = k;
    return x;
}

static rnode *rp_atom(rparser *p) {
    char c = p->p[p->i];
    rnode *x;
    if (c == '(') {
        p->i++;
        if (p->i + 1 < p->n && p->p[p->i] == '?') {
            if (p->p[p->i + 1] != ':') return rp_fail(p, "has a group kind other than (?:) (unsupported)"), NULL;
            p->i += 2;
        }
        if (++p->depth > 64) return rp_fail(p, "nests groups too deeply"), NULL;
        x = rp_alt(p);
        p->depth--;
        if (!x) return NULL;
        if (p->i >= p->n || p->p[p->i] != ')') return rn_free(x), rp_fail(p, "has an unclosed group"), NULL;
        p->i++;
        return x;
    }
    if (c == '[') {
        p->i++;
        return rp_class(p);
    }
    p->i++;
    switch (c) {
    case '.': return rn_new(R_ANY);
    case '^': return rn_new(R_BOL);
    case '$': return rn_new(R_EOL);
    case ')': case '*': case '+': case '?': case '{': case '|':
        p->i--;
        return rp_fail(p, "has a misplaced operator"), NULL;
    case '\\': {
        if (p->i >= p->n) return rp_fail(p, "ends in a backslash"), NULL;
        char e = p->p[p->i++];
        if (e == 'A') return rn_new(R_BOS);
        if (e == 'z') return rn_new(R_EOS);
        if (e == 'Z') return rn_new(R_EOSNL);
        if (e == 's' || e == 'S' || e == 'd' || e == 'D') {
            x = rn_new(R_CLASS);
            x->cls = shorthand_class(p->re, e);
            return x;
        }
        long v = esc_literal(e);
        if (v < 0) return rp_fail(p, "has an unsupported escape"), NULL;
        x = rn_new(R_CHAR);
        x->cp = (uint32_t)v;
        return x;
    }
    default:
        p->i--;
        x = rn_new(R_CHAR);
        x->cp = rp_char(p);
        return x;
    }
}

static int rp_num(rparser *p, int *v) {
    size_t s = p->i;
    long x = 0;
    while (p->i < p->n && p->p[p->i] >= '0' && p->p[p->i] <= '9' && x <= RE_MAX_REPEAT) x = x * 10 + (p->p[p->i++] - '0');
    if (p->i == s) return 0;
    if (x > RE_MAX_REPEAT) return rp_fail(p, "repeats more than 1000 times"), -1;
    *v = (int)x;
    return 1;
}

static rnode *rp_repeat(rparser *p) {
    rnode *a = rp_atom(p);
    while (a && p->i < p->n) {
        char c = p->p[p->i];
        int mn, mx;
        if (c == '*') mn = 0, mx = -1;
        else if (c == '+') mn = 1, mx = -1;
        else if (c == '?') mn = 0, mx = 1;
        else if (c == '{') {
            size_t save = p->i++;
            int r = rp_num(p, &mn);
            if (r < 0) return rn_free(a), NULL;
            if (r == 0) { p->i = save; break; } /* a literal '{' (as Oniguruma reads it) */
            mx = mn;
            if (p->i < p->n && p->p[p->i] == ',') {
                p->i++;
                r = rp_num(p, &mx);
                if (r < 0) return rn_free(a), NULL;
                if (r == 0) mx = -1;
            }
            if (p->i >= p->n || p->p[p->i] != '}') return rn_free(a), rp_fail(p, "has a malformed {n,m}"), NULL;
            if (mx >= 0 && mx < mn) return rn_free(a), rp_fail(p, "has {n,m} with m < n"), NULL;
        } else break;
        p->i++;
        if (p->i < p->n && (p->p[p->i] == '?' || p->p[p->i] == '+'))
            return rn_free(a), rp_fail(p, "has a lazy or possessive quantifier (unsupported)"), NULL;
        if (a->type >= R_BOL && a->type <= R_EOSNL) return rn_free(a), rp_fail(p, "repeats an anchor"), NULL;
        rnode *r = rn_new(R_REP);
        r->min = mn, r->max = mx;
        rn_add(r, a);
        a = r;
    }
    return a;
}

static rnode *rp_cat(rparser *p) {
    rnode *x = rn_new(R_CAT);
    while (p->i < p->n && p->p[p->i] != '|' && p->p[p->i] != ')') {
        rnode *k = rp_repeat(p);
        if (!k) return rn_free(x), NULL;
        rn_add(x, k);
    }
    return x;
}

static rnode *rp_alt(rparser *p) {
    rnode *x = rn_new(R_ALT);
    for (;;) {
        rnode *k = rp_cat(p);
        if (!k) return rn_free(x), NULL;
        rn_add(x, k);
        if (p->i < p->n && p->p[p->i] == '|') p->i++;
        else break;
    }
    return x;
}

static int emit(spm_re *re, int op, int x, int y, uint32_t cp) {
    if (re->n >= RE_MAX_PROG) return -1;
    if (re->n == re->cap) {
        re->cap = re->cap ? 2 * re->cap : 64;
        re->prog = pp_realloc(re->prog, (size_t)re->cap * sizeof *re->prog);
    }
    re->prog[re->n] = (rinst){op, x, y, cp};
    return re->n++;
}

static int compile(spm_re *re, const rnode *x) {
    switch (x->type) {
    case R_CHAR: return emit(re, I_CHAR, 0, 0, x->cp) < 0 ? -1 : 0;
    case R_ANY: return emit(re, I_ANY, 0, 0, 0) < 0 ? -1 : 0;
    case R_CLASS: return emit(re, I_CLASS, x->cls, 0, 0) < 0 ? -1 : 0;
    case R_BOL: return emit(re, I_BOL, 0, 0, 0) < 0 ? -1 : 0;
    case R_EOL: return emit(re, I_EOL, 0, 0, 0) < 0 ? -1 : 0;
    case R_BOS: return emit(re, I_BOS, 0, 0, 0) < 0 ? -1 : 0;
    case R_EOS: return emit(re, I_EOS, 0, 0, 0) < 0 ? -1 : 0;
    case R_EOSNL: return emit(re, I_EOSNL, 0, 0, 0) < 0 ? -1 : 0;
    case R_CAT:
        for (int i = 0; i < x->nkid; i++)
            if (compile(re, x->kid[i])) return -1;
        return 0;
    case R_ALT: {
        /* SPLIT L1, next; L1: a; JMP end; next: SPLIT L2, ... ; last alternative */
        int jmps[256], nj = 0;
        if (x->nkid > 256) return -1;
        for (int i = 0; i < x->nkid; i++) {
            int sp = -1;
            if (i + 1 < x->nkid && (sp = emit(re, I_SPLIT, 0, 0, 0)) < 0) return -1;
            if (sp >= 0) re->prog[sp].x = re->n;
            if (compile(re, x->kid[i])) return -1;
            if (i + 1 < x->nkid) {
                if ((jmps[nj++] = emit(re, I_JMP, 0, 0, 0)) < 0) return -1;
                re->prog[sp].y = re->n;
            }
        }
        for (int i = 0; i < nj; i++) re->prog[jmps[i]].x = re->n;
        return 0;
    }
    case R_REP: {
        const rnode *a = x->kid[0];
        for (int i = 0; i < x->min; i++)
            if (compile(re, a)) return -1;
        if (x->max < 0) { /* L: SPLIT body, out; body; JMP L */
            int l = emit(re, I_SPLIT, 0, 0, 0);
            if (l < 0) return -1;
            re->prog[l].x = re->n;
            if (compile(re, a)) return -1;
            if (emit(re, I_JMP, l, 0, 0) < 0) return -1;
            re->prog[l].y = re->n;
        } else { /* (max - min) nested optional copies */
            int splits[RE_MAX_REPEAT], ns = 0;
            for (int i = x->min; i < x->max; i++) {
                int l = emit(re, I_SPLIT, 0, 0, 0);
                if (l < 0) return -1;
                re->prog[l].x = re->n;
                splits[ns++] = l;
                if (compile(re, a)) return -1;
            }
            for (int i = 0; i < ns; i++) re->prog[splits[i]].y = re->n;
        }
        return 0;
    }
    }
    return -1;
}

void pp_spm_re_free(spm_re *r) {
    if (!r) return;
    for (int i = 0; i < r->ncls; i++) free(r->cls[i].r);
    free(r->cls), free(r->prog), free(r);
}

spm_re *pp_spm_re_compile(const char *pattern, size_t n, const char *what) {
    if (n > RE_MAX_PATTERN) {
        pp_seterr("%s: regex of %zu bytes is longer than %d", what, n, RE_MAX_PATTERN);
        return NULL;
    }
    if (!pp_spm_utf8_valid(pattern, n)) {
        pp_seterr("%s: regex is not valid UTF-8", what);
        return NULL;
    }
    spm_re *re = pp_calloc(1, sizeof *re);
    rparser p = {.p = pattern, .n = n, .what = what, .re = re};
    rnode *t = rp_alt(&p);
    if (t && p.i < p.n) rp_fail(&p, "has an unmatched ')'");
    if (!t || p.err) {
        rn_free(t);
        pp_spm_re_free(re);
        return NULL;
    }
    int rc = compile(re, t) || emit(re, I_MATCH, 0, 0, 0) < 0;
    rn_free(t);
    if (rc) {
        pp_seterr("%s: regex '%.*s' compiles to more than %d instructions", what, (int)n, pattern, RE_MAX_PROG);
        pp_spm_re_free(re);
        return NULL;
    }
    return re;
}

static int class_has(const rclass *c, uint32_t cp) {
    int in = 0;
    for (int i = 0; i < c->n && !in; i++) in = cp >= c->r[i].lo && cp <= c->r[i].hi;
    return in != c->neg;
}

typedef struct { int pc; size_t sp; } rthread;

/* States (pc, sp) already explored in this search, one bit each, for sp in
 * [base, base + width): a state that failed once fails again whatever the
 * start (no captures, no back-references), so with the memo a search visits
 * each state at most once (RE2's "bit state" backtracker). */
typedef struct {
    uint64_t *bits;
    size_t base, width;
} rmemo;

/* backtracking run from byte `at`: 1 and *end on a match, 0 none, -1 over budget */
#define RE_MEMO_AFTER 100000L /* steps of one search before it switches the memo on */
#define RE_MEMO_MAX_BITS 2147483648.0 /* 256 MiB */

static int re_run(const spm_re *re, const char *s, size_t n, size_t at, size_t *end, long *steps,
                  rmemo *memo) {
    rthread *st = NULL;
    size_t nst = 0, cap = 0;
    int pc = 0, result = 0;
    size_t sp = at;
    for (;;) {
        if (++*steps > RE_MAX_STEPS) { result = -1; break; }
        if (!memo->bits && *steps > RE_MEMO_AFTER && (double)re->n * (double)(n - at + 1) < RE_MEMO_MAX_BITS) {
            /* a hard search: from here on, bound it by its states */
            memo->base = at, memo->width = n - at + 1;
            memo->bits = pp_calloc(((size_t)re->n * memo->width + 63) / 64, sizeof *memo->bits);
        }
        const rinst *in = &re->prog[pc];
        int ok = 1, k = 0;
        uint32_t c = 0;
        if (memo->bits) {
            size_t bit = (size_t)pc * memo->width + (sp - memo->base);
            if (memo->bits[bit >> 6] >> (bit & 63) & 1) ok = 0;
            else memo->bits[bit >> 6] |= (uint64_t)1 << (bit & 63);
        }
        if (ok && in->op <= I_CLASS) {
            if (sp >= n) ok = 0;
            else c = pp_spm_utf8_dec(s, n, sp, &k);
        }
        if (ok) switch (in->op) {
            case I_CHAR: ok = c == in->cp; break;
            case I_ANY: ok = c != '\n'; break;
            case I_CLASS: ok = class_has(&re->cls[in->x], c); break;
            case I_BOL: ok = sp == 0 || s[sp - 1] == '\n'; break;
            case I_EOL: ok = sp == n || s[sp] == '\n'; break;
            case I_BOS: ok = sp == 0; break;
            case I_EOS: ok = sp == n; break;
            case I_EOSNL: ok = sp == n || (sp + 1 == n && s[sp] == '\n'); break;
            case I_MATCH: *end = sp; result = 1; break;
            case I_SPLIT:
                if (nst == cap) {
                    cap = cap ? 2 * cap : 64;
                    if (cap > ((size_t)1 << 26)) { result = -1; break; }
                    st = pp_realloc(st, cap * sizeof *st);
                }
                st[nst++] = (rthread){in->y, sp};
                pc = in->x;
                continue;
            case I_JMP: pc = in->x; continue;
            }
        if (result) break;
        if (ok) {
            if (in->op <= I_CLASS) sp += (size_t)k;
            pc++;
            continue;
        }
        if (!nst) break;
        nst--;
        pc = st[nst].pc, sp = st[nst].sp;
    }
    free(st);
    return result;
}

int pp_spm_re_search(const spm_re *r, const char *s, size_t n, size_t from, size_t *ms, size_t *me) {
    long steps = 0;
    rmemo memo = {0};
    int rc = 0;
    for (size_t i = from; i <= n;) {
        size_t e;
        rc = re_run(r, s, n, i, &e, &steps, &memo);
        if (rc < 0) {
            pp_seterr("regex: matching a %zu-byte text took more than %ld steps", n, RE_MAX_STEPS);
            break;
        }
        if (rc) {
            *ms = i, *me = e;
            break;
        }
        if (i == n) break;
        i += (size_t)spm_utf8_len((unsigned char)s[i]);
    }
    free(memo.bits);
    return rc;
}
