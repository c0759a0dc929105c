/* test_safetensors.c - the safetensors reader/writer: round trips of every dtype,
 * half-precision conversion, atomic saves, and one test per malformed file. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "base/rng.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

#define tpath pp_test_path

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* 8-byte little-endian length + header + data_len bytes of 0x11. */
static uint8_t *st_bytes(const char *header, uint64_t hlen, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = pp_malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, 0x11, data_len);
    return b;
}

static int count_tmp_files(void) {
    DIR *d = opendir(tpath("")); /* the scratch directory */
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

/* Both the file reader and the memory reader reject these bytes, naming `want`. */
static void expect_bad_bytes(const uint8_t *b, size_t len, const char *want, int line) {
    const char *path = tpath("bad.safetensors");
    write_bytes(path, b, len);
    pp_st_file f;
    int rc = pp_st_open(&f, path);
    CHECK_MSG(rc != 0, "line %d: accepted a bad file", line);
    CHECK_MSG(strstr(pp_lasterr(), want) && strstr(pp_lasterr(), path),
              "line %d: error '%s' does not mention '%s'", line, pp_lasterr(), want);
    CHECK(f.ntensors == 0 && f.tensors == NULL);
    pp_st_close(&f);
    uint8_t *copy = pp_malloc(len ? len : 1); /* exact size, so ASan sees any over-read */
    if (len) memcpy(copy, b, len);
    rc = pp_st_open_memory(&f, "mem", copy, len);
    CHECK_MSG(rc != 0 && strstr(pp_lasterr(), want), "line %d: memory reader: %s", line, pp_lasterr());
    free(copy);
}

static void expect_bad(const char *header, size_t data_len, const char *want, int line) {
    size_t len;
    uint8_t *b = st_bytes(header, strlen(header), data_len, &len);
    expect_bad_bytes(b, len, want, line);
    free(b);
}
#define EXPECT_BAD(hdr, dlen, want) expect_bad((hdr), (dlen), (want), __LINE__)

static int open_ok(pp_st_file *f, const char *header, size_t data_len) {
    size_t len;
    uint8_t *b = st_bytes(header, strlen(header), data_len, &len);
    const char *path = tpath("ok.safetensors");
    write_bytes(path, b, len);
    free(b);
    int rc = pp_st_open(f, path);
    CHECK_MSG(rc == 0, "rejected a valid file: %s", pp_lasterr());
    return rc;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0; }

/* ---------------------------------------------------------------- half precision */

TEST(safetensors_f16_exact_values) {
    static const struct { float f; uint16_t h; } v[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.5f, 0x3800},
        {65504.0f, 0x7bff}, {65519.99f, 0x7bff}, {65520.0f, 0x7c00}, {1e9f, 0x7c00},
        {0x1p-14f, 0x0400},            /* smallest normal */
        {0x1p-24f, 0x0001},            /* smallest subnormal */
        {0x1p-25f, 0x0000},            /* tie between 0 and 2^-24: even is 0 */
        {0x1.8p-25f, 0x0001},          /* above the tie */
        {0x1.8p-24f, 0x0002},          /* 1.5 units: tie, rounds to even 2 */
        {0x1.4p-23f, 0x0002},          /* 2.5 units: tie, rounds to even 2 */
        {0x3ffp-24f, 0x03ff},          /* largest subnormal */
        {0x1.ffcp-15f, 0x0400},        /* 1023.5 units -> smallest normal */
        {1.0f + 0x1p-11f, 0x3c00},     /* tie at 1: to even */
        {1.0f + 0x3p-11f, 0x3c02},     /* tie at 1+2^-10: to even */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01},
        {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK_MSG(pp_f32_to_f16(v[i].f) == v[i].h, "f32_to_f16(%a) = %04x, want %04x", v[i].f,
                  pp_f32_to_f16(v[i].f), v[i].h);
    }
    CHECK(same_bits(pp_f16_to_f32(0x8000), -0.0f));
    CHECK(pp_f16_to_f32(0x0001) == 0x1p-24f && pp_f16_to_f32(0x03ff) == 0x3ffp-24f);
    CHECK(pp_f16_to_f32(0x7bff) == 65504.0f && pp_f16_to_f32(0xfc00) == -INFINITY);
    uint16_t hn = pp_f32_to_f16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x03ff) != 0);
    CHECK(isnan(pp_f16_to_f32(0x7e00)) && isnan(pp_f16_to_f32(0xfd01)));
    /* a signalling NaN whose payload lives only in the low bits stays a NaN */
    float snan;
    uint32_t sb = 0x7f800001;
    memcpy(&snan, &sb, 4);
    CHECK((pp_f32_to_f16(snan) & 0x3ff) != 0);
}

TEST(safetensors_f16_all_halves_round_trip) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = pp_f16_to_f32((uint16_t)h);
        uint16_t back = pp_f32_to_f16(f);
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan ? !isnan(f) || (back & 0x7c00) != 0x7c00 || !(back & 0x3ff) || (back & 0x8000) != (h & 0x8000)
                : back != h)
            bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
}

#ifdef __FLT16_MAX__
/* The compiler's own float -> _Float16 conversion (round to nearest even) as an oracle. */
TEST(safetensors_f16_matches_compiler) {
    pp_rng r;
    pp_rng_seed(&r, 7);
    int bad = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)pp_rng_u64(&r);
        if (i & 1) u = (u & 0x87ffffff) | 0x30000000; /* half the draws near the f16 range */
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        _Float16 ref = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &ref, 2);
        bad += pp_f32_to_f16(f) != rb;
        bad += !same_bits(pp_f16_to_f32(rb), (float)ref);
    }
    CHECK_MSG(bad == 0, "%d conversions differ from the compiler's", bad);
}
#endif

TEST(safetensors_bf16_exact_values) {
    static const struct { uint32_t f; uint16_t h; } v[] = {
        {0x3f800000, 0x3f80}, /* 1 */
        {0x3f808000, 0x3f80}, /* tie, even stays */
        {0x3f818000, 0x3f82}, /* tie, odd rounds up */
        {0x3f808001, 0x3f81}, /* above the tie */
        {0x3f807fff, 0x3f80}, /* below the tie */
        {0x7f7fffff, 0x7f80}, /* max float rounds to inf */
        {0x7f7f7fff, 0x7f7f}, /* largest that stays finite */
        {0x00010000, 0x0001}, /* subnormal, exact */
        {0x00008000, 0x0000}, /* subnormal tie -> even 0 */
        {0x00018000, 0x0002}, /* subnormal tie -> even 2 */
        {0x80000000, 0x8000}, /* -0 */
        {0x7f800000, 0x7f80}, {0xff800000, 0xff80}, /* +-inf */
        {0xc0490fdb, 0xc049}, /* -pi */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        float f;
        memcpy(&f, &v[i].f, 4);
        CHECK_MSG(pp_f32_to_bf16(f) == v[i].h, "f32_to_bf16(%08x) = %04x, want %04x", v[i].f,
                  pp_f32_to_bf16(f), v[i].h);
    }
    uint32_t qn = 0x7fc00000, sn = 0x7f800001, nn = 0xff800001;
    float q, s, n;
    memcpy(&q, &qn, 4), memcpy(&s, &sn, 4), memcpy(&n, &nn, 4);
    CHECK(isnan(pp_bf16_to_f32(pp_f32_to_bf16(q))));
    CHECK(isnan(pp_bf16_to_f32(pp_f32_to_bf16(s)))); /* payload only in the dropped bits */
    CHECK(pp_f32_to_bf16(n) & 0x8000);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = pp_bf16_to_f32((uint16_t)h);
        bad += isnan(f) ? !isnan(pp_bf16_to_f32(pp_f32_to_bf16(f))) : pp_f32_to_bf16(f) != h;
    }
    CHECK_MSG(bad == 0, "%d bf16 values do not round-trip", bad);
}

/* ---------------------------------------------------------------- round trips */

TEST(safetensors_round_trip_every_dtype) {
    pp_st_writer *w = pp_st_writer_new();
    uint8_t bytes[PP_NDTYPES][6 * 8];
    int64_t shape[2] = {2, 3};
    for (int d = 0; d < PP_NDTYPES; d++) {
        for (size_t i = 0; i < sizeof bytes[d]; i++) bytes[d][i] = (uint8_t)(d * 31 + i * 7 + 1);
        char name[32];
        snprintf(name, sizeof name, "t.%s", pp_dtype_name((pp_dtype)d));
        CHECK(pp_st_add(w, name, (pp_dtype)d, 2, shape, bytes[d]) == 0);
    }
    int64_t scalar_v = -5, zshape[3] = {4, 0, 2};
    CHECK(pp_st_add(w, "scalar", PP_I64, 0, NULL, &scalar_v) == 0);
    CHECK(pp_st_add(w, "empty", PP_F32, 3, zshape, NULL) == 0);
    CHECK(pp_st_set_meta(w, "format", "pt") == 0);
    CHECK(pp_st_set_meta(w, "note", "quote \" backslash \\ newline \n tab \t \xc3\xa9") == 0);
    CHECK(pp_st_set_meta(w, "format", "prophy") == 0); /* replaces */
    const char *path = tpath("all.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);

    pp_st_file f;
    if (pp_st_open(&f, path)) {
        CHECK_MSG(0, "%s", pp_lasterr());
        return;
    }
    CHECK(pp_st_count(&f) == PP_NDTYPES + 2);
    CHECK(f.header_len % 8 == 0);
    for (int d = 0; d < PP_NDTYPES; d++) {
        const pp_st_tensor *t = pp_st_at(&f, d); /* header keeps insertion order */
        char name[32];
        snprintf(name, sizeof name, "t.%s", pp_dtype_name((pp_dtype)d));
        CHECK(!strcmp(t->name, name) && pp_st_find(&f, name) == t);
        CHECK(t->dtype == (pp_dtype)d && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
        CHECK(t->numel == 6 && t->end - t->begin == 6 * pp_dtype_size(t->dtype));
        CHECK(memcmp(t->data, bytes[d], 6 * pp_dtype_size(t->dtype)) == 0);
        CHECK((uintptr_t)t->data % pp_dtype_size(t->dtype) == 0); /* our files are aligned */
    }
    int64_t sv = 0;
    CHECK(pp_st_load_raw(&f, "scalar", PP_I64, &sv, 0, NULL) == 0 && sv == -5);
    const pp_st_tensor *e = pp_st_find(&f, "empty");
    CHECK(e && e->numel == 0 && e->ndim == 3 && e->shape[1] == 0);
    CHECK(pp_st_find(&f, "nope") == NULL);
    CHECK(pp_st_meta(&f, "format") && !strcmp(pp_st_meta(&f, "format"), "prophy"));
    CHECK(pp_st_meta(&f, "note") &&
          !strcmp(pp_st_meta(&f, "note"), "quote \" backslash \\ newline \n tab \t \xc3\xa9"));
    CHECK(pp_st_meta(&f, "missing") == NULL && f.nmeta == 2);
    pp_st_close(&f);
    CHECK(count_tmp_files() == 0);
}

TEST(safetensors_float_conversion_on_load) {
    enum { N = 1000 };
    float x[N];
    double d[N];
    pp_rng r;
    pp_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) x[i] = pp_rng_normal(&r) * (i % 7 == 0 ? 1e4f : 1.0f), d[i] = x[i] * 1.0000001;
    x[1] = 0x1p-20f, x[2] = -0x1p-130f, x[3] = INFINITY, x[4] = 70000.0f;
    int64_t sh[2] = {10, 100};
    pp_st_writer *w = pp_st_writer_new();
    CHECK(pp_st_add_f32(w, "a.f32", PP_F32, 2, sh, x) == 0);
    CHECK(pp_st_add_f32(w, "a.f16", PP_F16, 2, sh, x) == 0);
    CHECK(pp_st_add_f32(w, "a.bf16", PP_BF16, 2, sh, x) == 0);
    CHECK(pp_st_add(w, "a.f64", PP_F64, 2, sh, d) == 0);
    CHECK(pp_st_add(w, "steps", PP_I64, 2, sh, d) == 0);
    CHECK(pp_st_add_f32(w, "bad", PP_I32, 2, sh, x) != 0 && strstr(pp_lasterr(), "I32"));
    const char *path = tpath("conv.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    pp_st_file f;
    if (pp_st_open(&f, path)) {
        CHECK_MSG(0, "%s", pp_lasterr());
        return;
    }
    float y[N];
    int bad = 0;
    CHECK(pp_st_load_f32(&f, "a.f32", y, 2, sh) == 0);
    for (int i = 0; i < N; i++) bad += !same_bits(y[i], x[i]);
    CHECK(pp_st_load_f32(&f, "a.f16", y, 2, sh) == 0);
    for (int i = 0; i < N; i++) bad += !same_bits(y[i], pp_f16_to_f32(pp_f32_to_f16(x[i])));
    CHECK(y[3] == INFINITY && y[4] == INFINITY && y[1] == 0x1p-20f);
    CHECK(pp_st_load_f32(&f, "a.bf16", y, 2, sh) == 0);
    for (int i = 0; i < N; i++) bad += !same_bits(y[i], pp_bf16_to_f32(pp_f32_to_bf16(x[i])));
    CHECK(pp_st_load_f32(&f, "a.f64", y, 2, sh) == 0);
    for (int i = 0; i < N; i++) bad += !same_bits(y[i], (float)d[i]);
    CHECK_MSG(bad == 0, "%d converted values differ", bad);
    CHECK(pp_st_load_f32(&f, "steps", y, 2, sh) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "I64"), "%s", pp_lasterr());
    pp_st_close(&f);
}

/* A file written by hand with a non-multiple-of-8 header: data may be unaligned. */
TEST(safetensors_reads_unaligned_foreign_file) {
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t len;
    uint8_t *b = st_bytes(h, strlen(h), 8, &len);
    float v[2] = {1.5f, -3.25f};
    memcpy(b + len - 8, v, 8);
    pp_st_file f;
    int rc = pp_st_open_memory(&f, "mem", b, len);
    CHECK_MSG(rc == 0, "%s", pp_lasterr());
    float y[2] = {0};
    int64_t sh = 2;
    if (!rc) CHECK(pp_st_load_f32(&f, "w", y, 1, &sh) == 0 && y[0] == 1.5f && y[1] == -3.25f);
    pp_st_close(&f);
    free(b);
}

TEST(safetensors_accepts_spaces_and_empty_header) {
    pp_st_file f;
    if (!open_ok(&f, "  { \"__metadata__\" : { } }   \n\t ", 0)) CHECK(f.ntensors == 0 && f.nmeta == 0);
    pp_st_close(&f);
    if (!open_ok(&f, "{\"b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[2,3]},"
                     "\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                     "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[3,3]}}", 3))
        CHECK(f.ntensors == 3 && !strcmp(f.tensors[0].name, "b") && pp_st_find(&f, "a") == &f.tensors[1]);
    pp_st_close(&f);
    pp_st_writer *w = pp_st_writer_new(); /* an empty writer writes a valid empty file */
    const char *path = tpath("empty.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    CHECK(pp_st_open(&f, path) == 0 && f.ntensors == 0);
    pp_st_close(&f);
}

/* ---------------------------------------------------------------- model expectations */

TEST(safetensors_missing_or_misshaped_tensor) {
    float buf[64] = {0};
    int64_t s48[2] = {4, 8}, s416[2] = {4, 16};
    pp_st_writer *w = pp_st_writer_new();
    CHECK(pp_st_add(w, "blocks.3.ffn.0.bias", PP_F32, 2, s48, buf) == 0);
    CHECK(pp_st_add(w, "ids", PP_U8, 2, s48, buf) == 0);
    const char *path = tpath("model.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    pp_st_file f;
    if (pp_st_open(&f, path)) return;
    CHECK(pp_st_load_f32(&f, "blocks.3.ffn.0.weight", buf, 2, s48) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "missing tensor 'blocks.3.ffn.0.weight'"), "%s", pp_lasterr());
    CHECK(pp_st_load_f32(&f, "blocks.3.ffn.0.bias", buf, 2, s416) != 0);
    CHECK_MSG(strstr(pp_lasterr(), "tensor 'blocks.3.ffn.0.bias' has shape [4,8], the model expects [4,16]"),
              "%s", pp_lasterr());
    CHECK(pp_st_load_f32(&f, "blocks.3.ffn.0.bias", buf, 1, s416) != 0 &&
          strstr(pp_lasterr(), "expects [4]"));
    CHECK(pp_st_load_f32(&f, "ids", buf, 2, s48) != 0 && strstr(pp_lasterr(), "dtype U8"));
    CHECK(pp_st_load_raw(&f, "ids", PP_I32, buf, 2, s48) != 0 && strstr(pp_lasterr(), "expected I32"));
    CHECK(pp_st_load_raw(&f, "ids", PP_U8, buf, 2, s48) == 0);
    CHECK(pp_st_load_f32(&f, "blocks.3.ffn.0.bias", buf, 2, s48) == 0);
    pp_st_close(&f);
}

TEST(safetensors_shape_str) {
    char b[64];
    int64_t s[3] = {4, 16, 1234567};
    CHECK(!strcmp(pp_shape_str(b, sizeof b, 3, s), "[4,16,1234567]"));
    CHECK(!strcmp(pp_shape_str(b, sizeof b, 0, s), "[]"));
    CHECK(!strcmp(pp_shape_str(b, 10, 3, s), "[4,16...]"));
    CHECK(!strcmp(pp_shape_str(b, 3, 3, s), "[4"));
}

/* ---------------------------------------------------------------- writer */

static void read_all(const char *path, char *buf, size_t cap, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
}

/* The exact bytes of a small file: the format as the reference writes it. */
TEST(safetensors_writer_exact_bytes) {
    uint8_t u[3] = {1, 2, 3};
    float x = 1.0f;
    int64_t l = 7, s3 = 3, s1 = 1;
    pp_st_writer *w = pp_st_writer_new();
    pp_st_add(w, "u", PP_U8, 1, &s3, u);
    pp_st_add(w, "f", PP_F32, 1, &s1, &x);
    pp_st_add(w, "l", PP_I64, 1, &s1, &l);
    pp_st_set_meta(w, "k", "v");
    const char *path = tpath("exact.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    const char *hdr = "{\"__metadata__\":{\"k\":\"v\"},"
                      "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[12,15]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                      "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
    size_t h = strlen(hdr), hp = (h + 7) / 8 * 8;
    uint8_t want[512] = {(uint8_t)hp, (uint8_t)(hp >> 8)};
    memcpy(want + 8, hdr, h);
    memset(want + 8 + h, ' ', hp - h);
    uint8_t *d = want + 8 + hp;
    memcpy(d, &l, 8), memcpy(d + 8, &x, 4), memcpy(d + 12, u, 3);
    char got[512];
    size_t n;
    read_all(path, got, sizeof got, &n);
    CHECK_MSG(n == 8 + hp + 15 && memcmp(got, want, n) == 0, "file differs (%zu bytes, want %zu)", n, 8 + hp + 15);
}

TEST(safetensors_writer_rejects_bad_tensors) {
    pp_st_writer *w = pp_st_writer_new();
    float x[4] = {0};
    int64_t s[2] = {2, 2}, neg[2] = {2, -1};
    CHECK(pp_st_add(w, "a", PP_F32, 2, s, x) == 0);
    CHECK(pp_st_add(w, "a", PP_F32, 2, s, x) != 0 && strstr(pp_lasterr(), "'a' added twice"));
    CHECK(pp_st_add(w, "", PP_F32, 2, s, x) != 0);
    CHECK(pp_st_add(w, "__metadata__", PP_F32, 2, s, x) != 0);
    CHECK(pp_st_add(w, "bad\xff", PP_F32, 2, s, x) != 0);
    CHECK(pp_st_add(w, "n", PP_F32, 2, neg, x) != 0 && strstr(pp_lasterr(), "negative"));
    CHECK(pp_st_add(w, "d", (pp_dtype)99, 2, s, x) != 0);
    CHECK(pp_st_add(w, "nodata", PP_F32, 2, s, NULL) != 0);
    int64_t huge[3] = {1ll << 40, 1ll << 20, 1ll << 10};
    CHECK(pp_st_add(w, "huge", PP_F32, 3, huge, x) != 0);
    pp_st_writer_free(w);
}


TEST(safetensors_save_is_atomic) {
    const char *path = tpath("atomic.safetensors");
    float small[4] = {1, 2, 3, 4};
    int64_t s4 = 4;
    pp_st_writer *w = pp_st_writer_new();
    pp_st_add(w, "small", PP_F32, 1, &s4, small);
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    char before[4096], after[4096];
    size_t nb, na;
    read_all(path, before, sizeof before, &nb);

    /* A save that fails mid-write (file size limit) leaves the old file intact. */
    size_t big_n = 1 << 20;
    float *big = pp_calloc(big_n, sizeof(float));
    int64_t sb = (int64_t)big_n;
    w = pp_st_writer_new();
    pp_st_add(w, "big", PP_F32, 1, &sb, big);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc = pp_st_save(w, path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(rc != 0 && strstr(pp_lasterr(), "write failed"));
    read_all(path, after, sizeof after, &na);
    CHECK(na == nb && memcmp(before, after, nb) == 0);
    CHECK(count_tmp_files() == 0);

    /* Without the limit it replaces the file. */
    CHECK(pp_st_save(w, path) == 0);
    pp_st_file f;
    CHECK(pp_st_open(&f, path) == 0 && f.ntensors == 1 && pp_st_find(&f, "big"));
    pp_st_close(&f);
    CHECK(count_tmp_files() == 0);

    /* A directory (or any other non-regular file) is never written over. */
    const char *dir = tpath("a_directory");
    mkdir(dir, 0755);
    CHECK(pp_st_save(w, dir) != 0 && strstr(pp_lasterr(), "is a directory"));
    CHECK(count_tmp_files() == 0);
    rmdir(dir);
    CHECK(pp_st_save(w, tpath("no/such/dir/x.safetensors")) != 0 && strstr(pp_lasterr(), "cannot create"));
    pp_st_writer_free(w);
    free(big);
}

/* ---------------------------------------------------------------- malformed files */

#define T1 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"

TEST(safetensors_bad_empty_and_short_files) {
    expect_bad_bytes((const uint8_t *)"", 0, "file is empty", __LINE__);
    expect_bad_bytes((const uint8_t *)"\x10\0\0", 3, "truncated", __LINE__);
    pp_st_file f;
    CHECK(pp_st_open(&f, tpath("does-not-exist.safetensors")) != 0 && strstr(pp_lasterr(), "cannot open"));
    mkdir(tpath("dir.safetensors"), 0755);
    CHECK(pp_st_open(&f, tpath("dir.safetensors")) != 0 && strstr(pp_lasterr(), "is a directory"));
    rmdir(tpath("dir.safetensors"));
    CHECK(mkfifo(tpath("fifo.safetensors"), 0600) == 0); /* must not block waiting for a writer */
    CHECK(pp_st_open(&f, tpath("fifo.safetensors")) != 0 && strstr(pp_lasterr(), "not a regular file"));
    unlink(tpath("fifo.safetensors"));
    pp_st_close(&f); /* harmless on a failed open */
}

TEST(safetensors_bad_truncated_anywhere) {
    /* A valid file cut at every length is rejected, whatever the cut hits. */
    float x[6] = {0};
    int64_t s[2] = {2, 3};
    pp_st_writer *w = pp_st_writer_new();
    pp_st_add(w, "a", PP_F32, 2, s, x);
    pp_st_add_f32(w, "b", PP_BF16, 2, s, x);
    pp_st_set_meta(w, "k", "v");
    const char *path = tpath("full.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    char buf[1024];
    size_t n;
    read_all(path, buf, sizeof buf, &n);
    int accepted = 0;
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *b = pp_malloc(cut ? cut : 1);
        memcpy(b, buf, cut);
        pp_st_file f;
        if (pp_st_open_memory(&f, "cut", b, cut) == 0) accepted++, pp_st_close(&f);
        free(b);
    }
    CHECK_MSG(accepted == 0, "%d truncations accepted", accepted);
    expect_bad_bytes((uint8_t *)buf, n - 1, "out of bounds", __LINE__);
    expect_bad_bytes((uint8_t *)buf, 20, "larger than the file", __LINE__);
}

TEST(safetensors_bad_header_length) {
    size_t len;
    uint8_t *b = st_bytes(T1, 1000, 16, &len);
    expect_bad_bytes(b, len, "header length 1000 is larger than the file", __LINE__);
    free(b);
    b = st_bytes(T1, UINT64_MAX, 16, &len);
    expect_bad_bytes(b, len, "is absurd", __LINE__);
    free(b);
    b = st_bytes("", 0, 0, &len);
    expect_bad_bytes(b, len, "header is empty", __LINE__);
    free(b);
}

TEST(safetensors_bad_json) {
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}", 16, "not valid JSON");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],,\"data_offsets\":[0,16]}}", 16, "not valid JSON");
    EXPECT_BAD("not json at all", 0, "not valid JSON");
    EXPECT_BAD("[1,2,3]", 0, "header is not a JSON object");
    EXPECT_BAD("\"str\"", 0, "header is not a JSON object");
    EXPECT_BAD("{} {}", 0, "bytes after its JSON value");
    EXPECT_BAD("{}x", 0, "bytes after its JSON value");
    EXPECT_BAD("{\x01}", 0, "control character at byte 1");
    EXPECT_BAD("{\"w\xff\":1}", 0, "not valid UTF-8");
    EXPECT_BAD("{\"w\xc0\x80\":1}", 0, "not valid UTF-8"); /* overlong NUL */
    size_t len;
    uint8_t *b = st_bytes("{}      ", 8, 0, &len);
    b[10] = 0; /* a NUL inside the header */
    expect_bad_bytes(b, len, "not valid UTF-8", __LINE__);
    free(b);
}

TEST(safetensors_bad_unknown_dtype) {
    EXPECT_BAD("{\"w\":{\"dtype\":\"F7\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
               "tensor 'w': unknown dtype 'F7'");
    EXPECT_BAD("{\"w\":{\"dtype\":\"f32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "unknown dtype 'f32'");
    EXPECT_BAD("{\"w\":{\"dtype\":32,\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "\"dtype\" is not a string");
}

TEST(safetensors_bad_entry_fields) {
    EXPECT_BAD("{\"w\":{\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "tensor 'w': has no \"dtype\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, "has no \"shape\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}", 16, "has no \"data_offsets\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
               "\"dtype\" appears twice");
    EXPECT_BAD("{\"w\":[1,2]}", 16, "tensor 'w': entry is not a JSON object");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, "\"shape\" is not an array");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", 16,
               "shape[1] is -2, not a non-negative integer");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2.5],\"data_offsets\":[0,16]}}", 16, "shape[1] is 2.5");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\",2],\"data_offsets\":[0,16]}}", 16, "shape[0] is a string");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0]}}", 16,
               "\"data_offsets\" is not an array of 2");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16,32]}}", 16, "data_offsets");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[-1,15]}}", 16, "data_offsets");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,1e300]}}", 16, "data_offsets");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
               "\"data_offsets\":[0,16]}}", 16, "too many elements");
}

TEST(safetensors_bad_offsets_out_of_bounds) {
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 12,
               "tensor 'w': data_offsets [0,16] are out of bounds: the data section has 12 bytes");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[1000000,1000016]}}", 16, "out of bounds");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}", 16, "run backwards");
}

TEST(safetensors_bad_offsets_overlap_or_gap) {
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}", 24,
               "tensors 'a' [0,16] and 'b' [8,24] overlap");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "overlap");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 16, "overlap");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
               "bytes [8,12) of the data section belong to no tensor");
    EXPECT_BAD(T1, 20, "4 trailing bytes after the last tensor");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16,
               "tensor 'a' appears twice");
}

TEST(safetensors_bad_shape_vs_bytes) {
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,16]}}", 16,
               "tensor 'w': shape [2,4] of F32 needs 32 bytes but data_offsets [0,16] hold 16");
    EXPECT_BAD("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "needs 8 bytes");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,16]}}", 16, "shape [] of F64 needs 8");
}

TEST(safetensors_bad_metadata) {
    EXPECT_BAD("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string");
    EXPECT_BAD("{\"__metadata__\":[\"k\"]}", 0, "\"__metadata__\" is not a JSON object");
    EXPECT_BAD("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice");
    EXPECT_BAD("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "metadata 'k' appears twice");
}

/* ---------------------------------------------------------------- fuzz */

/* Random mutations of a valid file never crash the reader or make it accept data
 * outside the buffer (run under ASan by `make sanitize`). */
TEST(safetensors_fuzz_mutations) {
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    int64_t s2[2] = {3, 4}, s1 = 4;
    pp_st_writer *w = pp_st_writer_new();
    pp_st_add(w, "blocks.0.w", PP_F32, 2, s2, x);
    pp_st_add_f32(w, "blocks.0.h", PP_F16, 2, s2, x);
    pp_st_add_f32(w, "b", PP_BF16, 1, &s1, x);
    pp_st_add(w, "n", PP_I64, 1, &s1, x);
    pp_st_set_meta(w, "format", "pt");
    const char *path = tpath("fuzz.safetensors");
    CHECK(pp_st_save(w, path) == 0);
    pp_st_writer_free(w);
    char orig[2048];
    size_t n;
    read_all(path, orig, sizeof orig, &n);
    static const char alphabet[] = "0123456789[]{},:\" -.eE\\FIU";
    pp_rng r;
    pp_rng_seed(&r, 12345);
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = n;
        uint8_t *b = pp_malloc(n + 16);
        memcpy(b, orig, n);
        int muts = 1 + (int)pp_rng_below(&r, 4);
        for (int m = 0; m < muts; m++) {
            /* mostly the JSON header; sometimes the length prefix or a truncation */
            size_t at = pp_rng_below(&r, 20) ? 8 + pp_rng_below(&r, (uint32_t)(n - 8)) : pp_rng_below(&r, 8);
            uint32_t how = pp_rng_below(&r, 16);
            if (how < 4) b[at] = (uint8_t)pp_rng_u64(&r);
            else if (how < 11) b[at] = (uint8_t)alphabet[pp_rng_below(&r, sizeof alphabet - 1)];
            else if (how < 15) b[at] ^= (uint8_t)(1u << pp_rng_below(&r, 8));
            else len = pp_rng_below(&r, (uint32_t)len + 1);
        }
        uint8_t *exact = pp_malloc(len ? len : 1);
        memcpy(exact, b, len);
        free(b);
        pp_st_file f;
        if (pp_st_open_memory(&f, "fuzz", exact, len) == 0) {
            accepted++;
            for (int i = 0; i < f.ntensors; i++) {
                const pp_st_tensor *t = &f.tensors[i];
                CHECK((const uint8_t *)t->data >= exact && t->end <= f.data_len &&
                      (const uint8_t *)t->data + (t->end - t->begin) <= exact + len);
                if (pp_dtype_is_float(t->dtype) && t->numel < 4096) {
                    float y[4096];
                    CHECK(pp_st_to_f32(&f, t, y) == 0);
                }
            }
            pp_st_close(&f);
        } else {
            CHECK(strchr(pp_lasterr(), '\n') == NULL && strstr(pp_lasterr(), "fuzz: ") == pp_lasterr());
        }
        free(exact);
        if (pp_test_failed()) break;
    }
    CHECK(accepted > 0); /* some mutations (inside data bytes) stay valid */
}

/* pp_json_print: whole numbers from 1e15 to 2^53 exact (cJSON's own %1.15g prints
 * 5025271712334729 as 5.02527171233473e+15, another seed), every other number as
 * cJSON prints it, and the object printed left as it was. */
TEST(json_print_keeps_whole_numbers_exact) {
    cJSON *j = cJSON_Parse("{\"seed\":5025271712334729,\"x\":0.1,\"n\":3,\"big\":1e20,"
                           "\"a\":[9007199254740991,-5025271712334729,{\"s\":4503599627370497}]}");
    CHECK(j != NULL);
    if (pp_test_failed()) return;
    char *s = pp_json_print(j, 0);
    CHECK(s && !strcmp(s, "{\"seed\":5025271712334729,\"x\":0.1,\"n\":3,\"big\":1e+20,"
                          "\"a\":[9007199254740991,-5025271712334729,{\"s\":4503599627370497}]}"));
    cJSON *back = s ? cJSON_Parse(s) : NULL;
    CHECK(back && cJSON_GetObjectItem(back, "seed")->valuedouble == 5025271712334729.0);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "seed"))); /* the original untouched */
    char *f = pp_json_print(j, 1);
    CHECK(f && strstr(f, "\"seed\":\t5025271712334729,"));
    cJSON_free(s), cJSON_free(f);
    cJSON_Delete(back), cJSON_Delete(j);
}

/* ---------------------------------------------------------------- pages given back */

static uint64_t sum_words(const uint16_t *w, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + w[i];
    return s;
}

/* pp_map_drop on a mapped file: the resident set falls by the tensor's pages,
 * the data reads back the same, and nothing outside the mapping is touched */
TEST(mapped_pages_given_back_and_read_again) {
    const size_t n = (size_t)12 << 20; /* 12 Mi BF16 words, 24 MiB */
    uint16_t *src = pp_malloc(n * 2);
    for (size_t i = 0; i < n; i++) src[i] = (uint16_t)(i * 2654435761u >> 7);
    int64_t shape[1] = {(int64_t)n};
    pp_st_writer *w = pp_st_writer_new();
    CHECK(pp_st_add(w, "w", PP_BF16, 1, shape, src) == 0);
    CHECK(pp_st_save(w, tpath("drop.safetensors")) == 0);
    pp_st_writer_free(w);
    pp_st_file f;
    CHECK(pp_st_open(&f, tpath("drop.safetensors")) == 0);
    const pp_st_tensor *t = pp_st_find(&f, "w");
    CHECK(t && t->numel == n);
    pp_map_range m = pp_st_mapping(&f);
    CHECK(m.base && m.len == f.size);
    uint64_t want = sum_words(src, n), got = sum_words(t->data, n); /* every page read: resident */
    double before = pp_rss_mb();
    size_t dropped = pp_map_drop(m, t->data, n * 2);
    double after = pp_rss_mb();
    CHECK_MSG(dropped >= n * 2 && dropped <= n * 2 + 2 * 4096, "dropped %zu bytes", dropped);
    CHECK_MSG(before - after > 20.0, "resident %.1f -> %.1f MiB", before, after);
    CHECK(got == want && sum_words(t->data, n) == want); /* faulted in again, the same bytes */
    /* outside the mapping, or empty: nothing; a range past its end is clamped */
    CHECK(pp_map_drop(m, src, n * 2) == 0);
    CHECK(pp_map_drop(m, t->data, 0) == 0);
    CHECK(pp_map_drop((pp_map_range){NULL, 0}, t->data, 16) == 0);
    CHECK(pp_map_drop(m, m.base, m.len * 4) <= m.len + 4096);
    CHECK(sum_words(src, n) == want); /* the anonymous buffer untouched */
    pp_st_close(&f);
    free(src);
}
