/* spm_impl.h - internals of the SentencePiece tokenizer (spm.c, spm_text.c):
 * growable byte strings, UTF-8, Unicode properties, grapheme clusters, the
 * precompiled character map and a small backtracking regex. */
#ifndef PP_SPM_IMPL_H
#define PP_SPM_IMPL_H
#include <stddef.h>
#include <stdint.h>

/* ---- growable byte string */
typedef struct {
    char *s;
    size_t n, cap;
} spm_buf;
void pp_spm_buf_put(spm_buf *b, const char *s, size_t n);
void pp_spm_buf_putc(spm_buf *b, uint32_t cp); /* UTF-8 encoded */
void pp_spm_buf_free(spm_buf *b);

/* ---- UTF-8 (input already validated: pp_spm_utf8_valid) */
int pp_spm_utf8_valid(const char *s, size_t n);                       /* 1 if valid UTF-8 */
uint32_t pp_spm_utf8_dec(const char *s, size_t n, size_t i, int *len); /* code point at byte i */
static inline int spm_utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* ---- Unicode properties */
int pp_spm_is_white_space(uint32_t cp);  /* Unicode White_Space (Rust's char::is_whitespace) */
int pp_spm_is_py_space(uint32_t cp);     /* Python's str.isspace */
/* byte length of the extended grapheme cluster starting at byte i of s[0..n) */
size_t pp_spm_grapheme_len(const char *s, size_t n, size_t i);

/* ---- SentencePiece's precompiled character map (double-array trie + strings) */
typedef struct {
    uint32_t *unit;
    size_t nunit;
    char *norm; /* the normalized strings, each ended by NUL */
    size_t nnorm;
} spm_charsmap;
/* Parses the decoded precompiled_charsmap blob; -1 (error set, naming what) if malformed. */
int pp_spm_charsmap_parse(spm_charsmap *m, const unsigned char *blob, size_t n, const char *what);
void pp_spm_charsmap_free(spm_charsmap *m);
/* The replacement of the shortest rule key that prefixes s[0..n): 1 and (*out,
 * *outn), or 0 when no rule applies. */
int pp_spm_charsmap_lookup(const spm_charsmap *m, const char *s, size_t n, const char **out, size_t *outn);
/* tokenizers' Precompiled normalizer over s[0..n), appended to dst. Returns
 * how many of the appended bytes stand for the first character of s. */
size_t pp_spm_charsmap_normalize(const spm_charsmap *m, const char *s, size_t n, spm_buf *dst);

/* ---- base64 (standard alphabet, '=' padding); -1 on a bad character */
int pp_spm_base64_decode(const char *s, size_t n, unsigned char **out, size_t *outn);

/* ---- regex (the subset described in spm.h) */
typedef struct spm_re spm_re;
/* Compiles pattern; NULL and an error naming `what` when unsupported or malformed. */
spm_re *pp_spm_re_compile(const char *pattern, size_t n, const char *what);
void pp_spm_re_free(spm_re *r);
/* Leftmost-first match at or after byte `from` (a character boundary):
 * 1 and [*ms, *me), 0 when none, -1 when the match ran over its step budget
 * (error set). */
int pp_spm_re_search(const spm_re *r, const char *s, size_t n, size_t from, size_t *ms, size_t *me);
#endif
