/* test_spm.c - the SentencePiece unigram tokenizer against Hugging Face
 * tokenizers on >= 1000 strings (tools/make_spm_fixture.py), in four
 * configurations of the same vocabulary; truncation; Wan's whitespace_clean;
 * malformed tokenizer files. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/common.h"
#include "text/spm.h"
#include "text/spm_impl.h"
#include "test.h"

static char *read_fixture(const char *name, size_t *len) {
    char path[512], *d = NULL;
    snprintf(path, sizeof path, "%s/%s", pp_fixture_dir(), name);
    if (pp_read_file(path, &d, len)) return NULL;
    return d;
}

static cJSON *cases(void) {
    size_t n;
    char *d = read_fixture("spm_cases.json", &n);
    cJSON *j = d ? cJSON_ParseWithLength(d, n) : NULL;
    free(d);
    return j;
}

/* the primary tokenizer.json with a variant's replacements applied */
static char *variant_json(const char *primary, size_t n, const cJSON *v) {
    cJSON *j = cJSON_ParseWithLength(primary, n);
    if (!j) return NULL;
    if (v) {
        cJSON *model = cJSON_GetObjectItem(j, "model");
        cJSON_ReplaceItemInObject(model, "byte_fallback",
                                  cJSON_CreateBool(cJSON_IsTrue(cJSON_GetObjectItem(v, "byte_fallback"))));
        const char *charsmap =
            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "normalizer"), "precompiled_charsmap")->valuestring;
        const char *keys[] = {"normalizer", "pre_tokenizer"};
        for (int k = 0; k < 2; k++) {
            cJSON *x = cJSON_GetObjectItem(v, keys[k]);
            if (!x) continue;
            char *s = cJSON_PrintUnformatted(x), *at = strstr(s, "@PRIMARY");
            if (at) { /* splice the primary's charsmap in */
                size_t a = (size_t)(at - s), cl = strlen(charsmap);
                char *r = pp_malloc(strlen(s) + cl + 1);
                memcpy(r, s, a);
                memcpy(r + a, charsmap, cl);
                strcpy(r + a + cl, at + 8);
                free(s);
                s = r;
            }
            cJSON_ReplaceItemInObject(j, keys[k], cJSON_Parse(s));
            free(s);
        }
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

static int ids_equal(const int32_t *got, int n, const cJSON *want) {
    if (cJSON_GetArraySize(want) != n) return 0;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, want) if (e->valueint != got[i++]) return 0;
    return 1;
}

TEST(spm_matches_hf_tokenizers_all_variants) {
    size_t pn;
    char *primary = read_fixture("spm_tokenizer.json", &pn);
    cJSON *c = cases();
    CHECK(primary && c);
    if (!primary || !c) return;
    const cJSON *strings = cJSON_GetObjectItem(c, "strings"), *ids = cJSON_GetObjectItem(c, "ids");
    int ns = cJSON_GetArraySize(strings);
    CHECK(ns >= 1000);
    const cJSON *ref = cJSON_GetObjectItem(ids, "t5_bytes");
    const char *names[] = {"t5_bytes", "t5", "spm", "first"};
    int cap = 1 << 16;
    int32_t *out = pp_malloc((size_t)cap * sizeof *out);
    for (int v = 0; v < 4; v++) {
        const cJSON *var = v ? cJSON_GetObjectItem(cJSON_GetObjectItem(c, "variants"), names[v]) : NULL;
        char *js = variant_json(primary, pn, var);
        pp_spm *t = NULL;
        CHECK_MSG(js && pp_spm_load_json(&t, js, strlen(js), names[v]) == 0, "%s: %s", names[v], pp_lasterr());
        free(js);
        if (!t) continue;
        const cJSON *want = cJSON_GetObjectItem(ids, names[v]);
        int ok = 0, shown = 0;
        for (int i = 0; i < ns; i++) {
            const char *s = cJSON_GetArrayItem(strings, i)->valuestring;
            const cJSON *w = cJSON_GetArrayItem(want, i);
            if (cJSON_IsNull(w)) w = cJSON_GetArrayItem(ref, i);
            int n, tr;
            if (pp_spm_encode(t, s, strlen(s), cap, out, &n, &tr)) {
                CHECK_MSG(0, "%s: string %d: %s", names[v], i, pp_lasterr());
                continue;
            }
            if (ids_equal(out, n, w) && !tr) ok++;
            else if (shown++ < 3) {
                char *ws = cJSON_PrintUnformatted(w);
                fprintf(stderr, "    %s string %d '%.60s': got %d ids [", names[v], i, s, n);
                for (int k = 0; k < n && k < 24; k++) fprintf(stderr, "%d%s", out[k], k + 1 < n ? "," : "");
                fprintf(stderr, "], want %.200s\n", ws);
                free(ws);
            }
        }
        CHECK_MSG(ok == ns, "%s: %d of %d strings encode as the reference", names[v], ok, ns);
        printf("    %s: %d of %d strings give the reference ids\n", names[v], ok, ns);
        pp_spm_free(t);
    }
    free(out);
    free(primary);
    cJSON_Delete(c);
}

TEST(spm_truncation_keeps_eos_and_wan_padding) {
    pp_spm *t;
    char path[512];
    snprintf(path, sizeof path, "%s/spm_tokenizer.json", pp_fixture_dir());
    CHECK_MSG(pp_spm_load(&t, path) == 0, "%s", pp_lasterr());
    cJSON *c = cases();
    if (!t || !c) return;
    const cJSON *strings = cJSON_GetObjectItem(c, "strings"), *e;
    CHECK(pp_spm_eos_id(t) == cJSON_GetObjectItem(c, "eos_id")->valueint);
    CHECK(pp_spm_pad_id(t) == cJSON_GetObjectItem(c, "pad_id")->valueint);
    int32_t ids[512];
    int ncase = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "truncation")) {
        const char *s = cJSON_GetArrayItem(strings, cJSON_GetObjectItem(e, "string")->valueint)->valuestring;
        int ml = cJSON_GetObjectItem(e, "max_length")->valueint, n, tr;
        CHECK(pp_spm_encode(t, s, strlen(s), ml, ids, &n, &tr) == 0);
        CHECK_MSG(ids_equal(ids, n, cJSON_GetObjectItem(e, "ids")), "truncation case %d (max_length %d)", ncase, ml);
        CHECK(tr == cJSON_IsTrue(cJSON_GetObjectItem(e, "truncated")));
        if (tr) CHECK(n == ml && ids[n - 1] == pp_spm_eos_id(t));
        ncase++;
    }
    CHECK(ncase >= 6);
    /* Wan: EOS appended, padded with <pad> to text_len, the true length returned */
    int len, tr;
    CHECK(pp_spm_encode_wan(t, "A red ball falls.", 512, ids, &len, &tr) == 0);
    CHECK(len > 1 && len < 20 && !tr && ids[len - 1] == pp_spm_eos_id(t));
    for (int i = len; i < 512; i++) CHECK(ids[i] == pp_spm_pad_id(t));
    CHECK(pp_spm_encode_wan(t, "", 512, ids, &len, &tr) == 0);
    CHECK(len == 1 && ids[0] == pp_spm_eos_id(t));
    /* a prompt far longer than 512 tokens */
    const char *longest = cJSON_GetArrayItem(strings, cJSON_GetArraySize(strings) - 7)->valuestring; /* 5000 chars */
    CHECK(pp_spm_encode_wan(t, longest, 512, ids, &len, &tr) == 0);
    CHECK(len == 512 && tr && ids[511] == pp_spm_eos_id(t));
    cJSON_Delete(c);
    pp_spm_free(t);
}

TEST(spm_wan_whitespace_clean_matches_python) {
    cJSON *c = cases();
    CHECK(c != NULL);
    if (!c) return;
    const cJSON *strings = cJSON_GetObjectItem(c, "strings"), *e;
    int n = 0, ok = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "wan_clean")) {
        const char *s = cJSON_GetArrayItem(strings, cJSON_GetObjectItem(e, "string")->valueint)->valuestring;
        const char *want = cJSON_GetObjectItem(e, "clean")->valuestring;
        char *dst = pp_malloc(strlen(s) + 1);
        size_t k = pp_spm_wan_clean(dst, s, strlen(s));
        ok += k == strlen(want) && !strcmp(dst, want);
        free(dst);
        n++;
    }
    CHECK_MSG(ok == n && n > 300, "%d of %d cleaned strings match Python's", ok, n);
    cJSON_Delete(c);
}

static void expect_bad(const char *json, const char *needle) {
    pp_spm *t = NULL;
    int rc = pp_spm_load_json(&t, json, strlen(json), "bad.json");
    CHECK_MSG(rc != 0 && t == NULL, "'%.80s' should not load", json);
    if (rc) CHECK_MSG(strstr(pp_lasterr(), needle) && strstr(pp_lasterr(), "bad.json"), "error '%s' lacks '%s'",
                      pp_lasterr(), needle);
    pp_spm_free(t);
}

TEST(spm_bad_files) {
    expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0]", "not a JSON object");
    expect_bad("[1, 2]", "not a JSON object");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", "model type \"BPE\" is not supported");
    expect_bad("{\"model\": {\"type\": \"Unigram\"}}", "without a \"vocab\"");
    expect_bad("{\"normalizer\": null}", "no \"model\"");
    expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "vocab has 0 pieces");
    expect_bad("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}", "vocab entry 0");
    expect_bad("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"a\", -1]]}}", "unk_id");
    const char *m = "\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"a\", -1]]}";
    char buf[1024];
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"NFKC\"}}", m);
    expect_bad(buf, "normalizer type \"NFKC\" is not supported");
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"!!\"}}", m);
    expect_bad(buf, "not valid base64");
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAEAAA==\"}}", m);
    expect_bad(buf, "declares a 256-byte trie");
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(?<=a)b\"}, \"content\": \"\"}}", m);
    expect_bad(buf, "regex");
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"a{2000}\"}, \"content\": \"\"}}", m);
    expect_bad(buf, "more than 1000");
    snprintf(buf, sizeof buf, "{%s, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", m);
    expect_bad(buf, "pre_tokenizer type \"ByteLevel\" is not supported");
    snprintf(buf, sizeof buf, "{%s, \"post_processor\": {\"type\": \"RobertaProcessing\"}}", m);
    expect_bad(buf, "post_processor type \"RobertaProcessing\"");
    snprintf(buf, sizeof buf, "{%s, \"added_tokens\": [{\"id\": 1, \"content\": \"x\", \"single_word\": true}]}", m);
    expect_bad(buf, "single_word");
    /* a file that does not exist, and one that is not JSON */
    pp_spm *t = NULL;
    CHECK(pp_spm_load(&t, "/nonexistent/tokenizer.json") != 0 && strstr(pp_lasterr(), "/nonexistent"));
    const char *p = pp_test_path("garbage.json");
    FILE *f = fopen(p, "wb");
    fputs("\x89PNG not json", f);
    fclose(f);
    CHECK(pp_spm_load(&t, p) != 0 && strstr(pp_lasterr(), "not a JSON object"));
    /* a good minimal one: unknown characters become <unk> (no byte pieces) */
    snprintf(buf, sizeof buf, "{%s}", m);
    CHECK(pp_spm_load_json(&t, buf, strlen(buf), "min.json") == 0);
    int32_t ids[8];
    int n, tr;
    CHECK(pp_spm_encode(t, "aXa", 3, 8, ids, &n, &tr) == 0 && n == 3 && ids[0] == 1 && ids[1] == 0 && ids[2] == 1);
    CHECK(pp_spm_encode(t, "XY", 2, 8, ids, &n, &tr) == 0 && n == 1 && ids[0] == 0); /* fused */
    CHECK(pp_spm_encode(t, "\xff", 1, 8, ids, &n, &tr) != 0 && strstr(pp_lasterr(), "UTF-8"));
    CHECK(pp_spm_encode(t, "a", 1, 0, ids, &n, &tr) != 0);
    pp_spm_free(t);
}

TEST(spm_regex_subset) {
    struct { const char *re, *text; int found; size_t ms, me; } cs[] = {
        {" {2,}", "a  b", 1, 1, 3},      {" {2,}", "a b", 0, 0, 0},      {"\\A +| +\\z", "  a ", 1, 0, 2},
        {"\\A +| +\\z", "a  ", 1, 1, 3}, {"\\A\xe2\x96\x81", "\xe2\x96\x81x", 1, 0, 3},
        {"[a-c]+", "xxbca", 1, 2, 5},    {"[^a-c ]", "ab d", 1, 3, 4},   {"(?:ab)+c", "ababc", 1, 0, 5},
        {"a|ab", "ab", 1, 0, 1},         {"\\s+", "a\t\n b", 1, 1, 4},   {"^b", "a\nb", 1, 2, 3},
        {"a$", "a\nb", 1, 0, 1},         {"x?", "ab", 1, 0, 0},          {"a{2,3}", "aaaa", 1, 0, 3},
        {"\\.", "a.b", 1, 1, 2},         {"\\d+", "ab123", 1, 2, 5},     {"(a|b)*c", "abbac", 1, 0, 5},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        spm_re *r = pp_spm_re_compile(cs[i].re, strlen(cs[i].re), "test");
        CHECK_MSG(r != NULL, "%s: %s", cs[i].re, pp_lasterr());
        if (!r) continue;
        size_t ms = 0, me = 0;
        int f = pp_spm_re_search(r, cs[i].text, strlen(cs[i].text), 0, &ms, &me);
        CHECK_MSG(f == cs[i].found && (!f || (ms == cs[i].ms && me == cs[i].me)), "'%s' on '%s': %d [%zu,%zu)",
                  cs[i].re, cs[i].text, f, ms, me);
        pp_spm_re_free(r);
    }
    /* catastrophic backtracking: the memo of explored states bounds it */
    spm_re *r = pp_spm_re_compile("(a*)*b", 6, "test");
    CHECK(r != NULL);
    size_t n = 20000, ms, me;
    char *text = pp_malloc(n + 2);
    memset(text, 'a', n);
    text[n] = 0;
    double t0 = pp_now();
    CHECK(pp_spm_re_search(r, text, n, 0, &ms, &me) == 0);
    pp_spm_re_free(r);
    /* the SentencePiece converter's strip rule on a long run of spaces (quadratic without the memo) */
    r = pp_spm_re_compile("\\A +| +\\z", 10, "test");
    memset(text, ' ', n);
    text[n] = 'x', text[n + 1] = 0;
    CHECK(pp_spm_re_search(r, text, n + 1, 1, &ms, &me) == 0);
    CHECK(pp_spm_re_search(r, text, n + 1, 0, &ms, &me) == 1 && ms == 0 && me == n);
    CHECK_MSG(pp_now() - t0 < 5.0, "regex searches took %.1f s", pp_now() - t0);
    free(text);
    pp_spm_re_free(r);
}
