/* spm.h - SentencePiece unigram tokenizer from a Hugging Face tokenizer.json
 * (the format of google/umt5-xxl's tokenizer, which Wan2.1 loads with
 * transformers' AutoTokenizer). Encoding reproduces the tokenizers library:
 *
 *  1. added tokens whose "normalized" is false are split out of the raw text
 *     (leftmost-longest; lstrip / rstrip absorb neighbouring whitespace);
 *  2. each remaining segment is normalised by the "normalizer": Precompiled
 *     (SentencePiece's compiled character map, applied per extended grapheme
 *     cluster as tokenizers does: a cluster shorter than 6 bytes is replaced
 *     whole by the rule of the shortest rule key that prefixes it, else each
 *     character by its own rule), Replace (a string, or a regex: literals,
 *     . [] classes \s \d \A \z \Z ^ $ ( ) (?: ) | * + ? {n,m}), Strip, Prepend,
 *     Sequence; then added tokens whose "normalized" is true are split out;
 *  3. the "pre_tokenizer" splits the segment: WhitespaceSplit, Metaspace
 *     (spaces become the replacement "▁", which is prepended per prepend_scheme
 *     always / first / never, then split before each "▁" when split is true),
 *     Sequence;
 *  4. the "model" (Unigram) segments each split by Viterbi over the pieces'
 *     log-probability scores, an unknown character scoring min(score) - 10;
 *     runs of unknown characters fuse into one token, which becomes <0xXX>
 *     byte pieces when byte_fallback is set, else unk_id;
 *  5. the "post_processor" (TemplateProcessing, single sequence) adds its
 *     special tokens, e.g. "$A </s>" appends EOS. Truncation to max_len keeps
 *     the template's tokens (the content is cut to max_len minus their count),
 *     as transformers' truncation=True, max_length=max_len does.
 *
 * Not supported (refused at load with one error line): other models (BPE,
 * WordPiece), normalizers NFC/NFKC/NFD/NFKD/Lowercase/StripAccents/Bert,
 * other pre-tokenizers and post-processors, added tokens with single_word.
 * The loader bounds every size it reads (file <= 512 MiB, <= 2^24 pieces of
 * <= 64 KiB, regex patterns <= 1 KiB) and names the file and the field in each
 * error. The strings the encoder inserts into a text or matches against it
 * (Prepend, Replace's String pattern and content, added tokens' content) must be
 * valid UTF-8, so that a text stays valid UTF-8 through every step; a charsmap
 * rule whose replacement starts inside a character is no rule. Texts must be
 * valid UTF-8 of at most PP_SPM_MAX_TEXT bytes. */
#ifndef PP_SPM_H
#define PP_SPM_H
#include <stddef.h>
#include <stdint.h>

#define PP_SPM_MAX_TEXT (1 << 22) /* bytes of one text */

typedef struct pp_spm pp_spm;

/* Load tokenizer.json from a file or from memory (name is for messages). */
int pp_spm_load(pp_spm **out, const char *path);
int pp_spm_load_json(pp_spm **out, const char *json, size_t len, const char *name);
void pp_spm_free(pp_spm *t);

/* Encode text[0..len) into at most max_len ids (max_len >= the template's
 * special-token count): *n ids written, *truncated = 1 when content was cut. */
int pp_spm_encode(const pp_spm *t, const char *text, size_t len, int max_len, int32_t *ids, int *n,
                  int *truncated);

/* Wan's call (padding="max_length", truncation=True, max_length=text_len):
 * ids [text_len], the encoding (EOS included) then the pad id; *len = the true
 * length (the mask's sum), *truncated as above. prompt is NUL-terminated. */
int pp_spm_encode_wan(const pp_spm *t, const char *prompt, int text_len, int32_t *ids, int *len,
                      int *truncated);

/* Wan's whitespace_clean: every run of whitespace (Python's str.isspace) becomes
 * one space, then leading and trailing spaces go. dst has room for len + 1
 * bytes; returns the new length (dst is NUL-terminated). Wan also runs
 * ftfy.fix_text and html.unescape first: not done here. */
size_t pp_spm_wan_clean(char *dst, const char *src, size_t len);

int pp_spm_vocab_size(const pp_spm *t);
const char *pp_spm_piece(const pp_spm *t, int id); /* NULL when out of range */
int pp_spm_piece_id(const pp_spm *t, const char *piece); /* -1 when absent */
int pp_spm_pad_id(const pp_spm *t); /* "padding".pad_id, else <pad>'s id, else 0 */
int pp_spm_eos_id(const pp_spm *t); /* the template's last special token, else </s>'s id, else -1 */
#endif
