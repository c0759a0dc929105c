/* tokenizer.h - the word-level tokenizer of the small text encoder.
 *
 * Rules (docs/TEXT_ENCODER.md):
 * - ASCII letters are lowercased. A word is a maximal run of word bytes: ASCII
 *   letters, ASCII digits, and any byte >= 0x80 (so a non-ASCII word such as
 *   "café" stays one word and is reported as unknown, never silently dropped).
 * - Every other byte (space, punctuation, control) separates words and is dropped.
 * - Special ids: 0 <pad>, 1 <unk>, 2 <eos>. A sequence is the word ids, then
 *   <eos>, then <pad> up to the context length L. Words not in the vocabulary
 *   become <unk> and are listed in the encode report.
 * - The vocabulary serialises as one newline-joined string: "<pad>\n<unk>\n<eos>\n"
 *   then one word per line in id order (no trailing newline; one is tolerated
 *   when parsing). It is stored in the checkpoint. */
#ifndef PP_TOKENIZER_H
#define PP_TOKENIZER_H
#include <stddef.h>

enum { PP_TOK_PAD = 0, PP_TOK_UNK = 1, PP_TOK_EOS = 2, PP_TOK_NSPECIAL = 3 };
#define PP_TOK_WORD_MAX 64      /* longest vocabulary word in bytes */
#define PP_TOK_UNKNOWN_CAP 256  /* bytes of the unknown-words list in a report */

typedef struct {
    char **words;   /* [n] id -> NUL-terminated token (specials included) */
    int n;          /* vocabulary size, specials included */
    int *slots;     /* open-addressing hash: word -> id, -1 empty; [cap] */
    int cap;        /* power of two >= 2n */
} pp_vocab;

/* What encode saw in a prompt. */
typedef struct {
    int n_words;    /* words in the text (before any truncation) */
    int n_tokens;   /* non-pad tokens written: kept words + <eos> */
    int truncated;  /* 1: words + <eos> exceeded L; the first L-1 words were kept */
    int n_unknown;  /* occurrences of words not in the vocabulary (all words, kept or not) */
    /* the distinct unknown words in order of appearance, joined by ", "
     * (e.g. "purple, foo"); ends in "..." when the list did not fit */
    char unknown[PP_TOK_UNKNOWN_CAP];
} pp_tok_report;

/* Build a vocabulary from texts: each entry is split by the tokenizer's rules,
 * so a plain word list and a list of prompts (or prompt templates) both work.
 * Ids: the specials, then the distinct words sorted bytewise. Deterministic and
 * independent of the order of the texts. Returns -1 (error set) for a word
 * longer than PP_TOK_WORD_MAX bytes or a word spelling a special token. */
int pp_vocab_build(pp_vocab *v, const char *const *texts, int n);
void pp_vocab_free(pp_vocab *v);

/* Serialise: malloc'd NUL-terminated string, *len (may be NULL) its length without the NUL. */
char *pp_vocab_serialize(const pp_vocab *v, size_t *len);
/* Parse len bytes written by pp_vocab_serialize (ids = line order). Returns -1 with
 * one error line on a malformed string: wrong/missing special tokens, an empty
 * line, a duplicate, a word that is not a tokenizer word (e.g. upper case or
 * punctuation), a word too long, a NUL byte. v is left empty on error. */
int pp_vocab_parse(pp_vocab *v, const char *s, size_t len);

/* id of a normalised word, or -1. */
int pp_vocab_lookup(const pp_vocab *v, const char *word, size_t len);
/* token string of an id, or NULL when out of range */
const char *pp_vocab_word(const pp_vocab *v, int id);

/* Encode text into ids[L] (words, <eos>, <pad>...). Returns:
 *   0  ok; unknown words and truncation are flagged in *rep (rep may be NULL,
 *      but then the caller cannot report them);
 *  -1  error (set): no words at all ("empty prompt"), or L < 1. ids are still
 *      filled ([<eos>, <pad>, ...] for an empty prompt, usable as the
 *      unconditional context of classifier-free guidance). */
int pp_tok_encode(const pp_vocab *v, const char *text, int L, int *ids, pp_tok_report *rep);

/* Ids back to text (words joined by spaces, stopping at <eos> or the first
 * <pad>; <unk> shows as "<unk>"). Writes at most cap bytes, NUL included. */
void pp_tok_decode(const pp_vocab *v, const int *ids, int L, char *out, size_t cap);
#endif
