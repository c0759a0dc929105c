/* safetensors.c - see safetensors.h */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "io/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000ull      /* the reference implementation's limit */
#define ST_MAX_EXACT 9007199254740992.0 /* 2^53: JSON numbers beyond are not exact */

typedef unsigned long long ull;

/* ---------------------------------------------------------------- dtypes */

static const struct {
    const char *name;
    size_t size;
} g_dtypes[PP_NDTYPES] = {
    [PP_BOOL] = {"BOOL", 1}, [PP_U8] = {"U8", 1},   [PP_I8] = {"I8", 1},
    [PP_F8_E5M2] = {"F8_E5M2", 1}, [PP_F8_E4M3] = {"F8_E4M3", 1},
    [PP_I16] = {"I16", 2},   [PP_U16] = {"U16", 2}, [PP_F16] = {"F16", 2},
    [PP_BF16] = {"BF16", 2}, [PP_I32] = {"I32", 4}, [PP_U32] = {"U32", 4},
    [PP_F32] = {"F32", 4},   [PP_F64] = {"F64", 8}, [PP_I64] = {"I64", 8},
    [PP_U64] = {"U64", 8},
};

static int dtype_ok(pp_dtype t) { return (int)t >= 0 && t < PP_NDTYPES; }

const char *pp_dtype_name(pp_dtype t) { return dtype_ok(t) ? g_dtypes[t].name : "?"; }

size_t pp_dtype_size(pp_dtype t) { return dtype_ok(t) ? g_dtypes[t].size : 0; }

int pp_dtype_parse(const char *name, pp_dtype *out) {
    for (int i = 0; i < PP_NDTYPES; i++)
        if (!strcmp(name, g_dtypes[i].name)) {
            *out = (pp_dtype)i;
            return 0;
        }
    return -1;
}

int pp_dtype_is_float(pp_dtype t) { return t == PP_F16 || t == PP_BF16 || t == PP_F32 || t == PP_F64; }

/* ---------------------------------------------------------------- half precision */

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t pp_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7fffffff;
    if (u >= 0x7f800000) /* inf, or NaN kept quiet with the top of its payload */
        return sign | (u > 0x7f800000 ? (uint16_t)(0x7e00 | ((u >> 13) & 0x3ff)) : 0x7c00);
    if (u >= 0x477ff000) return sign | 0x7c00; /* >= 65520 rounds to inf */
    if (u >= 0x38800000) {                     /* normal half: >= 2^-14 */
        u += 0xfff + ((u >> 13) & 1);          /* round to nearest even at bit 13 */
        return sign | (uint16_t)((u - (112u << 23)) >> 13);
    }
    uint32_t e = u >> 23; /* subnormal half (or zero): units of 2^-24 */
    if (e < 102) return sign;
    uint32_t m = (u & 0x7fffff) | 0x800000, s = 126 - e; /* value = m * 2^-s units */
    uint32_t r = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return sign | (uint16_t)r;
}

float pp_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) { /* zero or subnormal: exactly m * 2^-24 */
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    if (e == 31) return bits_f32(sign | 0x7f800000 | (m << 13));
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t pp_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float pp_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

/* ---------------------------------------------------------------- small helpers */

char *pp_shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    if (!size) return buf;
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n + 2 <= size) memcpy(buf + n, "]", 2);
    else if (size >= 5) memcpy(buf + size - 5, "...]", 5);
    return buf;
}

/* Offset of the first byte that breaks UTF-8 (or is NUL), or len if all valid. */
static size_t utf8_bad(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c == 0) return i;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) n = 3, cp = c & 0x07;
        else return i;
        if (len - i <= n) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

static int utf8_ok(const char *s) { size_t n = strlen(s); return utf8_bad((const uint8_t *)s, n) == n; }

/* ---------------------------------------------------------------- reader: JSON pieces */

/* The member `key` of obj, requiring it to appear at most once. -1 if duplicated. */
static int unique_item(const cJSON *obj, const char *key, const cJSON **out) {
    *out = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, key)) continue;
        if (*out) return -1;
        *out = c;
    }
    return 0;
}

/* A JSON number that is an exact non-negative integer. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_EXACT) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static void json_desc(const cJSON *v, char *buf, size_t size) {
    if (cJSON_IsNumber(v)) snprintf(buf, size, "%.17g", v->valuedouble);
    else if (cJSON_IsString(v)) snprintf(buf, size, "a string");
    else if (cJSON_IsArray(v)) snprintf(buf, size, "an array");
    else if (cJSON_IsObject(v)) snprintf(buf, size, "an object");
    else if (cJSON_IsBool(v)) snprintf(buf, size, "a boolean");
    else snprintf(buf, size, "null");
}

/* Record "FILE: tensor 'NAME': <what>" and return -1. */
static int tfail(const char *path, const char *name, const char *fmt, ...) PP_PRINTF(3, 4);
static int tfail(const char *path, const char *name, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    PP_FAIL("%s: tensor '%s': %s", path, name, what);
}

static int entry_item(const char *path, const char *name, const cJSON *e, const char *key,
                      const cJSON **out) {
    if (unique_item(e, key, out)) return tfail(path, name, "\"%s\" appears twice", key);
    if (!*out) return tfail(path, name, "has no \"%s\"", key);
    return 0;
}

static int parse_dtype(const char *path, const char *name, const cJSON *e, pp_st_tensor *t) {
    const cJSON *v;
    if (entry_item(path, name, e, "dtype", &v)) return -1;
    if (!cJSON_IsString(v)) return tfail(path, name, "\"dtype\" is not a string");
    if (pp_dtype_parse(v->valuestring, &t->dtype))
        return tfail(path, name,
                     "unknown dtype '%.64s' (known: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 "
                     "F32 F64 I64 U64)",
                     v->valuestring);
    return 0;
}

static int parse_shape(const char *path, const char *name, const cJSON *e, pp_st_tensor *t,
                       int64_t **shape_out) {
    const cJSON *v;
    if (entry_item(path, name, e, "shape", &v)) return -1;
    if (!cJSON_IsArray(v)) return tfail(path, name, "\"shape\" is not an array");
    int nd = cJSON_GetArraySize(v), i = 0;
    int64_t *shape = pp_malloc(sizeof(int64_t) * (size_t)(nd ? nd : 1));
    *shape_out = shape;
    uint64_t numel = 1;
    int overflow = 0;
    for (const cJSON *d = v->child; d; d = d->next, i++) {
        uint64_t x;
        if (json_uint(d, &x)) {
            char desc[40];
            json_desc(d, desc, sizeof desc);
            return tfail(path, name, "shape[%d] is %s, not a non-negative integer", i, desc);
        }
        shape[i] = (int64_t)x;
        overflow |= __builtin_mul_overflow(numel, x, &numel);
    }
    t->ndim = nd;
    t->shape = shape;
    for (i = 0; i < nd; i++)
        if (shape[i] == 0) numel = 0, overflow = 0;
    if (overflow) {
        char s[96];
        return tfail(path, name, "shape %s has too many elements", pp_shape_str(s, sizeof s, nd, shape));
    }
    t->numel = numel;
    return 0;
}

static int parse_offsets(const char *path, const char *name, const cJSON *e, pp_st_tensor *t) {
    const cJSON *v;
    if (entry_item(path, name, e, "data_offsets", &v)) return -1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || json_uint(v->child, &t->begin) ||
        json_uint(v->child->next, &t->end))
        return tfail(path, name, "\"data_offsets\" is not an array of 2 non-negative integers");
    return 0;
}

/* Offsets inside the data section and consistent with dtype and shape. */
static int check_extent(const char *path, const char *name, const pp_st_tensor *t, uint64_t data_len) {
    if (t->begin > t->end)
        return tfail(path, name, "data_offsets [%llu,%llu] run backwards", (ull)t->begin, (ull)t->end);
    if (t->end > data_len)
        return tfail(path, name,
                     "data_offsets [%llu,%llu] are out of bounds: the data section has %llu bytes",
                     (ull)t->begin, (ull)t->end, (ull)data_len);
    char s[96];
    pp_shape_str(s, sizeof s, t->ndim, t->shape);
    uint64_t nbytes;
    if (__builtin_mul_overflow(t->numel, (uint64_t)pp_dtype_size(t->dtype), &nbytes))
        return tfail(path, name, "shape %s of %s is too large", s, pp_dtype_name(t->dtype));
    if (nbytes != t->end - t->begin)
        return tfail(path, name, "shape %s of %s needs %llu bytes but data_offsets [%llu,%llu] hold %llu", s,
                     pp_dtype_name(t->dtype), (ull)nbytes, (ull)t->begin, (ull)t->end,
                     (ull)(t->end - t->begin));
    return 0;
}

static int parse_entry(const char *path, const cJSON *e, pp_st_tensor *t, uint64_t data_len) {
    const char *name = e->string;
    t->name = pp_strdup(name);
    if (!cJSON_IsObject(e)) return tfail(path, name, "entry is not a JSON object");
    int64_t *shape = NULL;
    int rc = parse_dtype(path, name, e, t) || parse_shape(path, name, e, t, &shape) ||
             parse_offsets(path, name, e, t) || check_extent(path, name, t, data_len);
    t->shape = shape;
    return rc ? -1 : 0;
}

static int parse_meta(pp_st_file *f, const cJSON *m) {
    if (!cJSON_IsObject(m)) PP_FAIL("%s: \"__metadata__\" is not a JSON object", f->path);
    int n = cJSON_GetArraySize(m);
    f->meta = pp_calloc((size_t)(n ? n : 1), sizeof *f->meta);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            PP_FAIL("%s: metadata '%s' is not a string", f->path, c->string);
        if (pp_st_meta(f, c->string)) PP_FAIL("%s: metadata '%s' appears twice", f->path, c->string);
        f->meta[f->nmeta].key = pp_strdup(c->string);
        f->meta[f->nmeta].value = pp_strdup(c->valuestring);
        f->nmeta++;
    }
    return 0;
}

/* ---------------------------------------------------------------- reader: whole-file checks */

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const pp_st_tensor *const *)a)->name, (*(const pp_st_tensor *const *)b)->name);
}

static int cmp_extent(const void *a, const void *b) {
    const pp_st_tensor *x = *(const pp_st_tensor *const *)a, *y = *(const pp_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int index_names(pp_st_file *f) {
    int n = f->ntensors;
    f->by_name = pp_malloc(sizeof *f->by_name * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, (size_t)n, sizeof *f->by_name, cmp_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name))
            PP_FAIL("%s: tensor '%s' appears twice in the header", f->path, f->by_name[i]->name);
    return 0;
}

/* The tensors must tile the data section exactly, as the reference requires. */
static int check_layout(pp_st_file *f) {
    int n = f->ntensors;
    const pp_st_tensor **v = pp_malloc(sizeof *v * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) v[i] = &f->tensors[i];
    qsort(v, (size_t)n, sizeof *v, cmp_extent);
    uint64_t pos = 0;
    const pp_st_tensor *prev = NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (v[i]->begin < pos) {
            pp_seterr("%s: tensors '%s' [%llu,%llu] and '%s' [%llu,%llu] overlap", f->path, prev->name,
                      (ull)prev->begin, (ull)prev->end, v[i]->name, (ull)v[i]->begin, (ull)v[i]->end);
            rc = -1;
        } else if (v[i]->begin > pos) {
            pp_seterr("%s: bytes [%llu,%llu) of the data section belong to no tensor (before '%s')",
                      f->path, (ull)pos, (ull)v[i]->begin, v[i]->name);
            rc = -1;
        }
        if (v[i]->end > pos || !prev) prev = v[i];
        if (v[i]->end > pos) pos = v[i]->end;
    }
    free(v);
    if (!rc && pos != f->data_len) {
        pp_seterr("%s: %llu trailing bytes after the last tensor (data section %llu bytes, tensors end at %llu)",
                  f->path, (ull)(f->data_len - pos), (ull)f->data_len, (ull)pos);
        rc = -1;
    }
    return rc;
}

static int count_tensors(const cJSON *root) {
    int n = 0;
    for (const cJSON *c = root->child; c; c = c->next) n += strcmp(c->string, "__metadata__") != 0;
    return n;
}

static int parse_root(pp_st_file *f, const cJSON *root) {
    if (!cJSON_IsObject(root)) PP_FAIL("%s: header is not a JSON object", f->path);
    const cJSON *meta;
    if (unique_item(root, "__metadata__", &meta))
        PP_FAIL("%s: \"__metadata__\" appears twice in the header", f->path);
    if (meta && parse_meta(f, meta)) return -1;
    int n = count_tensors(root);
    f->tensors = pp_calloc((size_t)(n ? n : 1), sizeof *f->tensors);
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        pp_st_tensor *t = &f->tensors[f->ntensors++];
        if (parse_entry(f->path, c, t, f->data_len)) return -1;
        t->data = f->data + t->begin;
    }
    return index_names(f) || check_layout(f) ? -1 : 0;
}

static int is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Validate and parse the N header bytes (copied so cJSON reads a terminated string). */
static int parse_header(pp_st_file *f, const uint8_t *hdr, size_t len) {
    size_t bad = utf8_bad(hdr, len);
    if (bad < len) PP_FAIL("%s: header is not valid UTF-8 (byte %zu of the header)", f->path, bad);
    for (size_t i = 0; i < len; i++) /* cJSON would skip these as whitespace */
        if (hdr[i] < 0x20 && !is_json_space((char)hdr[i]))
            PP_FAIL("%s: header is not valid JSON (control character at byte %zu of the header)", f->path, i);
    char *s = pp_malloc(len + 1);
    memcpy(s, hdr, len);
    s[len] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    int rc = 0;
    if (!root) {
        size_t at = end && end >= s && end <= s + len ? (size_t)(end - s) : 0;
        pp_seterr("%s: header is not valid JSON (error near byte %zu of the header)", f->path, at);
        rc = -1;
    } else {
        size_t at = (size_t)(end - s);
        while (at < len && is_json_space(s[at])) at++;
        if (at < len) {
            pp_seterr("%s: header has bytes after its JSON value (at byte %zu of the header)", f->path, at);
            rc = -1;
        } else {
            rc = parse_root(f, root);
        }
    }
    cJSON_Delete(root);
    free(s);
    return rc;
}

static int check_prefix(const char *path, size_t size, const uint8_t *base, uint64_t *hlen) {
    if (size == 0) PP_FAIL("%s: file is empty, not a safetensors file", path);
    if (size < 8)
        PP_FAIL("%s: file is truncated: %zu bytes, too short for the 8-byte header length", path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];
    if (n > size - 8 && n <= ST_MAX_HEADER)
        PP_FAIL("%s: header length %llu is larger than the file (%zu bytes after the length field)",
                path, (ull)n, size - 8);
    if (n > ST_MAX_HEADER)
        PP_FAIL("%s: header length %llu is absurd (limit %llu; file has %zu bytes)", path, (ull)n,
                ST_MAX_HEADER, size);
    if (n == 0) PP_FAIL("%s: header is empty (length 0)", path);
    *hlen = n;
    return 0;
}

static void free_parsed(pp_st_file *f) {
    for (int i = 0; i < f->ntensors; i++) {
        free((char *)f->tensors[i].name);
        free((int64_t *)f->tensors[i].shape);
    }
    for (int i = 0; i < f->nmeta; i++) {
        free((char *)f->meta[i].key);
        free((char *)f->meta[i].value);
    }
    free(f->tensors);
    free(f->meta);
    free(f->by_name);
    free(f->path);
}

int pp_st_open_memory(pp_st_file *f, const char *name, const void *buf, size_t len) {
    memset(f, 0, sizeof *f);
    f->path = pp_strdup(name);
    f->size = len;
    const uint8_t *base = buf;
    if (check_prefix(f->path, len, base, &f->header_len)) goto fail;
    f->data = base + 8 + f->header_len;
    f->data_len = len - 8 - f->header_len;
    if (parse_header(f, base + 8, (size_t)f->header_len)) goto fail;
    return 0;
fail:
    free_parsed(f);
    memset(f, 0, sizeof *f);
    return -1;
}

int pp_st_open(pp_st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) PP_FAIL("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        PP_FAIL("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        PP_FAIL("%s: %s, not a safetensors file", path,
                S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            PP_FAIL("%s: cannot map %zu bytes: %s", path, size, strerror(e));
        }
    }
    close(fd);
    static const uint8_t empty[1];
    if (pp_st_open_memory(f, path, map ? map : empty, size)) {
        if (map) munmap(map, size);
        return -1;
    }
    f->map = map;
    f->map_len = size;
    return 0;
}

pp_map_range pp_st_mapping(const pp_st_file *f) { return (pp_map_range){f->map, f->map ? f->map_len : 0}; }

void pp_st_close(pp_st_file *f) {
    if (!f) return;
    free_parsed(f);
    if (f->map) munmap(f->map, f->map_len);
    memset(f, 0, sizeof *f);
}

const pp_st_tensor *pp_st_find(const pp_st_file *f, const char *name) {
    int lo = 0, hi = f->ntensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->by_name[mid]->name, name);
        if (!c) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const char *pp_st_meta(const pp_st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

/* ---------------------------------------------------------------- loading */

int pp_st_to_f32(const pp_st_file *f, const pp_st_tensor *t, float *dst) {
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case PP_F32:
        if (n) memcpy(dst, p, n * 4);
        return 0;
    case PP_F16:
#pragma omp parallel for schedule(static) if (n > (1 << 18))
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = pp_f16_to_f32(h);
        }
        return 0;
    case PP_BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 18))
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = pp_bf16_to_f32(h);
        }
        return 0;
    case PP_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        PP_FAIL("%s: tensor '%s' has dtype %s, not a float type (F32, F16, BF16, F64)",
                f->path, t->name, pp_dtype_name(t->dtype));
    }
}

int pp_st_expect(const pp_st_file *f, const char *name, int ndim, const int64_t *shape,
                 const pp_st_tensor **out) {
    const pp_st_tensor *t = pp_st_find(f, name);
    if (!t) PP_FAIL("%s: missing tensor '%s'", f->path, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        PP_FAIL("%s: tensor '%s' has shape %s, the model expects %s", f->path, name,
                pp_shape_str(a, sizeof a, t->ndim, t->shape), pp_shape_str(b, sizeof b, ndim, shape));
    }
    *out = t;
    return 0;
}

int pp_st_load_f32(const pp_st_file *f, const char *name, float *dst, int ndim, const int64_t *shape) {
    const pp_st_tensor *t;
    if (pp_st_expect(f, name, ndim, shape, &t)) return -1;
    return pp_st_to_f32(f, t, dst);
}

int pp_st_load_raw(const pp_st_file *f, const char *name, pp_dtype dtype, void *dst, int ndim,
                   const int64_t *shape) {
    const pp_st_tensor *t;
    if (pp_st_expect(f, name, ndim, shape, &t)) return -1;
    if (t->dtype != dtype)
        PP_FAIL("%s: tensor '%s' has dtype %s, expected %s", f->path, name, pp_dtype_name(t->dtype),
                pp_dtype_name(dtype));
    if (t->end > t->begin) memcpy(dst, t->data, (size_t)(t->end - t->begin));
    return 0;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *name;
    pp_dtype dtype; /* as stored */
    int ndim;
    int64_t *shape;
    uint64_t numel, nbytes;
    const void *data;
    int from_f32; /* data is float, converted to dtype while saving */
} st_item;

struct pp_st_writer {
    st_item *items;
    int n, cap;
    char **mkeys, **mvals;
    int nmeta, mcap;
};

pp_st_writer *pp_st_writer_new(void) { return pp_calloc(1, sizeof(pp_st_writer)); }

void pp_st_writer_free(pp_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->items[i].name);
        free(w->items[i].shape);
    }
    for (int i = 0; i < w->nmeta; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->items);
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

static int add_item(pp_st_writer *w, const char *name, pp_dtype dtype, int ndim, const int64_t *shape,
                    const void *data, int from_f32) {
    if (!name || !*name) PP_FAIL("safetensors writer: empty tensor name");
    if (!strcmp(name, "__metadata__") || !utf8_ok(name))
        PP_FAIL("safetensors writer: invalid tensor name '%s'", name);
    if (!dtype_ok(dtype)) PP_FAIL("safetensors writer: tensor '%s': invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || (ndim > 0 && !shape)) PP_FAIL("safetensors writer: tensor '%s': bad shape", name);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->items[i].name, name)) PP_FAIL("safetensors writer: tensor '%s' added twice", name);
    uint64_t numel = 1, nbytes;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) PP_FAIL("safetensors writer: tensor '%s': dimension %d is negative", name, i);
        if (__builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
            PP_FAIL("safetensors writer: tensor '%s': too many elements", name);
    }
    if (__builtin_mul_overflow(numel, (uint64_t)pp_dtype_size(dtype), &nbytes) || nbytes > (1ull << 53))
        PP_FAIL("safetensors writer: tensor '%s': too large", name);
    if (nbytes && !data) PP_FAIL("safetensors writer: tensor '%s': no data", name);
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->items = pp_realloc(w->items, sizeof *w->items * (size_t)w->cap);
    }
    st_item *it = &w->items[w->n++];
    *it = (st_item){.name = pp_strdup(name), .dtype = dtype, .ndim = ndim, .numel = numel,
                    .nbytes = nbytes, .data = data, .from_f32 = from_f32};
    it->shape = pp_malloc(sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    if (ndim) memcpy(it->shape, shape, sizeof(int64_t) * (size_t)ndim);
    return 0;
}

int pp_st_add(pp_st_writer *w, const char *name, pp_dtype dtype, int ndim, const int64_t *shape,
              const void *data) {
    return add_item(w, name, dtype, ndim, shape, data, 0);
}

int pp_st_add_f32(pp_st_writer *w, const char *name, pp_dtype as, int ndim, const int64_t *shape,
                  const float *data) {
    if (as != PP_F32 && as != PP_F16 && as != PP_BF16)
        PP_FAIL("safetensors writer: tensor '%s': floats can be stored as F32, F16 or BF16, not %s",
                name ? name : "", pp_dtype_name(as));
    return add_item(w, name, as, ndim, shape, data, as != PP_F32);
}

int pp_st_set_meta(pp_st_writer *w, const char *key, const char *value) {
    if (!key || !value || !utf8_ok(key) || !utf8_ok(value))
        PP_FAIL("safetensors writer: metadata '%s' is not valid UTF-8 text", key ? key : "(null)");
    for (int i = 0; i < w->nmeta; i++)
        if (!strcmp(w->mkeys[i], key)) {
            free(w->mvals[i]);
            w->mvals[i] = pp_strdup(value);
            return 0;
        }
    if (w->nmeta == w->mcap) {
        w->mcap = w->mcap ? 2 * w->mcap : 8;
        w->mkeys = pp_realloc(w->mkeys, sizeof *w->mkeys * (size_t)w->mcap);
        w->mvals = pp_realloc(w->mvals, sizeof *w->mvals * (size_t)w->mcap);
    }
    w->mkeys[w->nmeta] = pp_strdup(key);
    w->mvals[w->nmeta] = pp_strdup(value);
    w->nmeta++;
    return 0;
}

/* -- a growing string for the header */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t k) {
    if (b->n + k + 1 > b->cap) {
        while (b->n + k + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->s = pp_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, k);
    b->n += k;
    b->s[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') esc[0] = '\\', esc[1] = (char)c, esc[2] = 0;
        else if (c < 0x20) snprintf(esc, sizeof esc, "\\u%04x", c);
        else esc[0] = (char)c, esc[1] = 0;
        sb_str(b, esc);
    }
    sb_put(b, "\"", 1);
}

static void sb_u64(sbuf *b, uint64_t v) {
    char t[24];
    snprintf(t, sizeof t, "%llu", (ull)v);
    sb_str(b, t);
}

/* Data layout: order[] lists the items by decreasing element size (stable), and
 * off[i] is item i's offset, contiguous from 0. */
static void layout(const pp_st_writer *w, int *order, uint64_t *off) {
    int k = 0;
    for (size_t sz = 8; sz >= 1; sz /= 2)
        for (int i = 0; i < w->n; i++)
            if (pp_dtype_size(w->items[i].dtype) == sz) order[k++] = i;
    uint64_t pos = 0;
    for (int i = 0; i < k; i++) {
        off[order[i]] = pos;
        pos += w->items[order[i]].nbytes;
    }
}

static void build_header(const pp_st_writer *w, const uint64_t *off, sbuf *b) {
    sb_str(b, "{");
    if (w->nmeta) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            if (i) sb_str(b, ",");
            sb_json(b, w->mkeys[i]);
            sb_str(b, ":");
            sb_json(b, w->mvals[i]);
        }
        sb_str(b, "}");
    }
    for (int i = 0; i < w->n; i++) {
        const st_item *it = &w->items[i];
        if (i || w->nmeta) sb_str(b, ",");
        sb_json(b, it->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, pp_dtype_name(it->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < it->ndim; d++) {
            if (d) sb_str(b, ",");
            sb_u64(b, (uint64_t)it->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off[i]);
        sb_str(b, ",");
        sb_u64(b, off[i] + it->nbytes);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (b->n % 8) sb_str(b, " ");
}

/* -- buffered output to a file descriptor */
#define OUT_CAP (1u << 20)
typedef struct {
    int fd, err;
    uint8_t *buf;
    size_t n;
} outf;

static void write_all(outf *o, const void *p, size_t n) {
    const uint8_t *c = p;
    while (n && !o->err) {
        ssize_t k = write(o->fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            o->err = k < 0 ? errno : EIO;
            return;
        }
        c += k;
        n -= (size_t)k;
    }
}

static void out_flush(outf *o) {
    write_all(o, o->buf, o->n);
    o->n = 0;
}

static void out_put(outf *o, const void *p, size_t n) {
    if (!n) return;
    if (o->n + n > OUT_CAP) out_flush(o);
    if (n >= OUT_CAP) write_all(o, p, n);
    else memcpy(o->buf + o->n, p, n), o->n += n;
}

static void out_item(outf *o, const st_item *it) {
    if (!it->from_f32) {
        out_put(o, it->data, (size_t)it->nbytes);
        return;
    }
    const float *x = it->data;
    uint16_t chunk[4096];
    for (size_t i = 0; i < it->numel && !o->err; i += 4096) {
        size_t k = it->numel - i < 4096 ? (size_t)(it->numel - i) : 4096;
        for (size_t j = 0; j < k; j++)
            chunk[j] = it->dtype == PP_F16 ? pp_f32_to_f16(x[i + j]) : pp_f32_to_bf16(x[i + j]);
        out_put(o, chunk, 2 * k);
    }
}

static int write_body(const pp_st_writer *w, const int *order, const sbuf *hdr, int fd, const char *tmp) {
    outf o = {.fd = fd, .buf = pp_malloc(OUT_CAP)};
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)hdr->n >> (8 * i));
    out_put(&o, len, 8);
    out_put(&o, hdr->s, hdr->n);
    for (int i = 0; i < w->n && !o.err; i++) out_item(&o, &w->items[order[i]]);
    out_flush(&o);
    free(o.buf);
    if (o.err) PP_FAIL("%s: write failed: %s", tmp, strerror(o.err));
    return 0;
}

int pp_st_save(const pp_st_writer *w, const char *path) {
    size_t n = (size_t)(w->n ? w->n : 1);
    int *order = pp_malloc(sizeof(int) * n);
    uint64_t *off = pp_malloc(sizeof(uint64_t) * n);
    layout(w, order, off);
    sbuf hdr = {0};
    build_header(w, off, &hdr);
    pp_out_file o;
    int rc = pp_out_open(&o, path);
    if (!rc) {
        rc = write_body(w, order, &hdr, o.fd, path);
        rc = rc ? (pp_out_abort(&o), -1) : pp_out_commit(&o);
    }
    free(order);
    free(off);
    free(hdr.s);
    return rc;
}

int pp_st_set_meta_json(pp_st_writer *w, const char *key, const void *json) {
    char *s = pp_json_print((const cJSON *)json, 0);
    if (!s) PP_FAIL("metadata '%s': cannot print its JSON", key);
    int rc = pp_st_set_meta(w, key, s);
    free(s);
    return rc;
}

/* value i of a float tensor as a double */
static double value_at(const pp_st_tensor *t, size_t i) {
    const uint8_t *p = t->data;
    uint16_t h;
    float x;
    double d;
    switch (t->dtype) {
    case PP_F32: memcpy(&x, p + 4 * i, 4); return x;
    case PP_F16: memcpy(&h, p + 2 * i, 2); return pp_f16_to_f32(h);
    case PP_BF16: memcpy(&h, p + 2 * i, 2); return pp_bf16_to_f32(h);
    case PP_F64: memcpy(&d, p + 8 * i, 8); return d;
    default: return 0;
    }
}

int pp_st_check_finite(const pp_st_file *f) {
    for (int k = 0; k < f->ntensors; k++) {
        const pp_st_tensor *t = &f->tensors[k];
        if (!pp_dtype_is_float(t->dtype)) continue;
        for (size_t i = 0; i < (size_t)t->numel; i++) {
            double v = value_at(t, i);
            if (!isfinite(v)) PP_FAIL("%s: tensor '%s' holds %g at index %zu", f->path, t->name, v, i);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- sharded files */

#define ST_MAX_SHARDS 4096

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* the distinct shard names of an index's weight_map, in order of first mention */
static int index_shards(const char *path, const cJSON *map, char ***names, int *n) {
    *names = NULL, *n = 0;
    if (!cJSON_IsObject(map)) PP_FAIL("%s: no \"weight_map\" object (not a shard index)", path);
    int cap = 0;
    for (const cJSON *c = map->child; c; c = c->next) {
        const char *s = cJSON_IsString(c) ? c->valuestring : NULL;
        if (!s || !s[0] || strchr(s, '/') || s[0] == '.' || strlen(s) > 255 || !utf8_ok(s))
            PP_FAIL("%s: weight_map['%s'] is not a plain file name in the index's folder", path, c->string);
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*names)[i], s);
        if (seen) continue;
        if (*n == ST_MAX_SHARDS) PP_FAIL("%s: more than %d shards", path, ST_MAX_SHARDS);
        if (*n == cap) *names = pp_realloc(*names, sizeof **names * (size_t)(cap = cap ? 2 * cap : 8));
        (*names)[(*n)++] = pp_strdup(s);
    }
    if (!*n) PP_FAIL("%s: the weight_map lists no tensors", path);
    return 0;
}

/* maps shard `path` at base (MAP_FIXED inside a reserved range) */
static int map_shard(const char *path, void *base, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) PP_FAIL("%s: cannot open: %s", path, strerror(errno));
    void *m = mmap(base, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) PP_FAIL("%s: cannot map %zu bytes: %s", path, size, strerror(e));
    return 0;
}

/* regular-file size of shard `path` */
static int shard_size(const char *path, size_t *size) {
    struct stat st;
    if (stat(path, &st) != 0) PP_FAIL("%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) PP_FAIL("%s: is not a regular file, not a safetensors shard", path);
    *size = (size_t)st.st_size;
    return 0;
}

/* moves the tensors (and, for the first shard, the metadata) of s into f */
static void take_shard(pp_st_file *f, pp_st_file *s, int first) {
    memcpy(f->tensors + f->ntensors, s->tensors, sizeof *s->tensors * (size_t)s->ntensors);
    f->ntensors += s->ntensors;
    s->ntensors = 0; /* the names and shapes now belong to f */
    if (first) {
        f->meta = s->meta, f->nmeta = s->nmeta;
        s->meta = NULL, s->nmeta = 0;
    }
    free_parsed(s);
    memset(s, 0, sizeof *s);
}

/* every weight_map entry is a tensor of the shard it names */
static int check_index(const pp_st_file *f, const cJSON *map, char **names, const uint8_t **lo,
                       const uint8_t **hi, int n) {
    for (const cJSON *c = map->child; c; c = c->next) {
        int k = 0;
        while (k < n && strcmp(names[k], c->valuestring)) k++;
        const pp_st_tensor *t = pp_st_find(f, c->string);
        const uint8_t *d = t ? t->data : NULL;
        if (!t || d < lo[k] || d > hi[k])
            PP_FAIL("%s: tensor '%s' is listed in shard '%s', which does not hold it", f->path, c->string,
                    c->valuestring);
    }
    return 0;
}

int pp_st_open_sharded(pp_st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    if (!ends_with(path, ".json")) return pp_st_open(f, path);
    char *text = NULL;
    size_t len = 0;
    if (pp_read_file(path, &text, &len)) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        PP_FAIL("%s: not a JSON object (a shard index holds {\"weight_map\": {...}})", path);
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    char **names = NULL, **paths = NULL;
    int n = 0, rc = index_shards(path, map, &names, &n);
    size_t *size = pp_calloc((size_t)(n ? n : 1), sizeof *size), total = 0, page = (size_t)sysconf(_SC_PAGESIZE);
    const uint8_t **lo = pp_calloc((size_t)(n ? n : 1), sizeof *lo), **hi = pp_calloc((size_t)(n ? n : 1), sizeof *hi);
    paths = pp_calloc((size_t)(n ? n : 1), sizeof *paths);
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path + 1) : 0;
    for (int i = 0; i < n && !rc; i++) {
        paths[i] = pp_malloc(dlen + strlen(names[i]) + 1);
        memcpy(paths[i], path, dlen);
        strcpy(paths[i] + dlen, names[i]);
        rc = shard_size(paths[i], &size[i]);
        if (!rc && size[i] > SIZE_MAX / 2 - total) rc = -1, pp_seterr("%s: the shards are too large to map", path);
        if (!rc) total += (size[i] + page - 1) / page * page + page; /* a guard page after each */
    }
    uint8_t *base = NULL;
    if (!rc) {
        base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) base = NULL, rc = -1, pp_seterr("%s: cannot reserve %zu bytes for the shards", path, total);
    }
    size_t off = 0;
    pp_st_file *shard = pp_calloc((size_t)(n ? n : 1), sizeof *shard);
    int total_tensors = 0;
    for (int i = 0; i < n && !rc; i++) {
        static const uint8_t empty[1];
        if (size[i]) rc = map_shard(paths[i], base + off, size[i]);
        if (!rc) rc = pp_st_open_memory(&shard[i], paths[i], size[i] ? base + off : empty, size[i]);
        lo[i] = base + off, hi[i] = base + off + size[i];
        off += (size[i] + page - 1) / page * page + page;
        if (!rc) total_tensors += shard[i].ntensors;
    }
    if (!rc) {
        f->path = pp_strdup(path);
        f->tensors = pp_calloc((size_t)(total_tensors ? total_tensors : 1), sizeof *f->tensors);
        for (int i = 0; i < n; i++) take_shard(f, &shard[i], i == 0);
        f->size = total, f->map = base, f->map_len = total;
        base = NULL;
        rc = index_names(f) || check_index(f, map, names, lo, hi, n) ? -1 : 0;
    }
    for (int i = 0; i < n; i++) {
        free_parsed(&shard[i]);
        free(names[i]), free(paths[i]);
    }
    free(shard), free(names), free(paths), free(size), free(lo), free(hi);
    if (base) munmap(base, total);
    cJSON_Delete(root);
    if (rc) pp_st_close(f);
    return rc;
}
