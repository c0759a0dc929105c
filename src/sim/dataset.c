/* dataset.c - shard writer (OpenMP across samples) and mmap-backed loader.
 * Layout (docs/DATASET.md), all integers little-endian:
 *   shard  = header[64] | records... | index[count] (u64 record offsets)
 *   header = "PPDSHRD1" | u32 version | u32 count | u64 index_offset | zeros
 *   record = fixed head (REC_HEAD bytes) | video | maps | prompt | spec */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <omp.h>
#include "base/common.h"
#include "sim/dataset.h"
#include "io/json.h"

#define SHARD_MAGIC "PPDSHRD1"
#define SHARD_VERSION 1u
#define HEADER_BYTES 64
#define REC_MAGIC 0x52535050u /* "PPSR" */
/* u32 magic, u32 head_bytes, u64 record_bytes, u32 F, H, W, scene, u64 seed,
 * u32 split, map_mask, prompt_len, spec_len, f32 cats[17] */
#define REC_HEAD (4 + 4 + 8 + 16 + 8 + 16 + 4 * PP_NCAT)

void pp_dataset_cfg_default(pp_dataset_cfg *c) {
    memset(c, 0, sizeof *c);
    c->frames = PP_SIM_DEF_FRAMES, c->height = PP_SIM_DEF_H, c->width = PP_SIM_DEF_W;
    c->nscenes = pp_sim_nscenes();
    for (int i = 0; i < c->nscenes && i < 64; i++) c->scenes[i] = i;
}

uint64_t pp_dataset_sample_seed(uint64_t seed, int64_t i) {
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) & ((1ULL << 53) - 1); /* exact as a JSON number (double) */
}

/* ------------------------------------------------------------- writing */

typedef struct {
    uint8_t *p;
    size_t n;
} blob;

static void put(uint8_t **w, const void *src, size_t n) {
    memcpy(*w, src, n);
    *w += n;
}
static void put32(uint8_t **w, uint32_t v) { put(w, &v, 4); }
static void put64(uint8_t **w, uint64_t v) { put(w, &v, 8); }

/* Serialise one simulated sample into a record. */
static blob encode(const pp_sim_out *o, int scene) {
    size_t plane = (size_t)o->frames * o->height * o->width;
    uint32_t mask = 0;
    for (int c = 0; c < PP_NCAT; c++)
        for (size_t i = 0; i < plane; i++)
            if (o->maps[(size_t)c * plane + i] > 0.5f / 255) {
                mask |= 1u << c;
                break;
            }
    char *spec = pp_json_print(o->spec, 0);
    size_t plen = strlen(o->prompt), slen = strlen(spec), nmaps = (size_t)__builtin_popcount(mask);
    blob b;
    b.n = REC_HEAD + plane * 3 + nmaps * plane + plen + slen;
    b.p = pp_malloc(b.n);
    uint8_t *w = b.p;
    put32(&w, REC_MAGIC), put32(&w, REC_HEAD), put64(&w, b.n);
    put32(&w, (uint32_t)o->frames), put32(&w, (uint32_t)o->height), put32(&w, (uint32_t)o->width);
    put32(&w, (uint32_t)scene), put64(&w, o->seed), put32(&w, (uint32_t)o->split), put32(&w, mask);
    put32(&w, (uint32_t)plen), put32(&w, (uint32_t)slen);
    put(&w, o->cats, 4 * PP_NCAT);
    put(&w, o->video.rgb, plane * 3);
    for (int c = 0; c < PP_NCAT; c++) {
        if (!(mask & (1u << c))) continue;
        const float *m = o->maps + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++) *w++ = (uint8_t)(m[i] * 255.0f + 0.5f);
    }
    put(&w, o->prompt, plen);
    put(&w, spec, slen);
    cJSON_free(spec);
    return b;
}

static int write_shard(const char *path, blob *recs, int n) {
    size_t total = HEADER_BYTES + (size_t)n * 8;
    for (int i = 0; i < n; i++) total += recs[i].n;
    uint8_t *buf = pp_calloc(total, 1), *w = buf;
    put(&w, SHARD_MAGIC, 8), put32(&w, SHARD_VERSION), put32(&w, (uint32_t)n);
    uint64_t off = HEADER_BYTES, idx_off = total - (size_t)n * 8;
    put64(&w, idx_off);
    w = buf + HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        put(&w, recs[i].p, recs[i].n);
        memcpy(buf + idx_off + 8 * (size_t)i, &off, 8);
        off += recs[i].n;
    }
    int rc = pp_write_file_atomic(path, buf, total);
    free(buf);
    return rc;
}

static int write_manifest(const char *dir, const pp_dataset_cfg *cfg, int nshards, int shard) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "prophy-dataset-1");
    cJSON_AddNumberToObject(j, "count", (double)cfg->count);
    cJSON_AddStringToObject(j, "split", cfg->split == PP_SPLIT_OOD ? "ood" : "id");
    cJSON_AddNumberToObject(j, "seed", (double)cfg->seed);
    cJSON_AddNumberToObject(j, "frames", cfg->frames);
    cJSON_AddNumberToObject(j, "height", cfg->height);
    cJSON_AddNumberToObject(j, "width", cfg->width);
    cJSON_AddNumberToObject(j, "shard_size", shard);
    cJSON *sc = cJSON_AddArrayToObject(j, "scenes");
    for (int i = 0; i < cfg->nscenes; i++)
        cJSON_AddItemToArray(sc, cJSON_CreateString(pp_sim_scene_at(cfg->scenes[i])->name));
    cJSON *sh = cJSON_AddArrayToObject(j, "shards");
    for (int s = 0; s < nshards; s++) {
        char name[64];
        snprintf(name, sizeof name, "shard-%05d.ppds", s);
        cJSON_AddItemToArray(sh, cJSON_CreateString(name));
    }
    char *txt = pp_json_print(j, 1), path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    int rc = pp_write_file_atomic(path, txt, strlen(txt));
    cJSON_free(txt);
    cJSON_Delete(j);
    return rc;
}

int pp_dataset_write(const char *dir, const pp_dataset_cfg *cfg, double *seconds) {
    double t0 = pp_now();
    if (cfg->count < 1) PP_FAIL("dataset: count must be at least 1");
    if (cfg->nscenes < 1) PP_FAIL("dataset: no scenes");
    if (pp_sim_check_size(cfg->frames, cfg->height, cfg->width)) return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) PP_FAIL("%s: cannot create: %s", dir, strerror(errno));
    int shard = cfg->shard_size > 0 ? cfg->shard_size : PP_DATASET_SHARD;
    int nshards = (int)((cfg->count + shard - 1) / shard);
    blob *recs = pp_calloc((size_t)shard, sizeof(blob));
    int rc = 0;
    for (int s = 0; s < nshards && !rc; s++) {
        int64_t first = (int64_t)s * shard;
        int n = (int)(cfg->count - first < shard ? cfg->count - first : shard), failed = 0;
#pragma omp parallel for schedule(dynamic, 4) num_threads(cfg->threads > 0 ? cfg->threads : omp_get_max_threads()) reduction(| : failed)
        for (int i = 0; i < n; i++) {
            int64_t k = first + i;
            int scene = cfg->scenes[k % cfg->nscenes];
            pp_sim_out o;
            if (pp_sim_run(pp_sim_scene_at(scene), pp_dataset_sample_seed(cfg->seed, k), cfg->split,
                           cfg->frames, cfg->height, cfg->width, &o)) {
                failed = 1;
                recs[i] = (blob){NULL, 0};
                continue;
            }
            recs[i] = encode(&o, scene);
            pp_sim_free(&o);
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/shard-%05d.ppds", dir, s);
        rc = failed ? -1 : write_shard(path, recs, n);
        if (failed) pp_seterr("dataset: simulation failed");
        for (int i = 0; i < n; i++) free(recs[i].p);
        if (cfg->verbose)
            fprintf(stderr, "\rdataset: %lld / %lld samples", (long long)(first + n), (long long)cfg->count);
    }
    if (cfg->verbose) fputc('\n', stderr);
    free(recs);
    if (!rc) rc = write_manifest(dir, cfg, nshards, shard);
    if (seconds) *seconds = pp_now() - t0;
    return rc;
}

/* ------------------------------------------------------------- reading */

typedef struct {
    char *path;     /* for messages */
    uint8_t *base;
    size_t size;
    uint32_t count;
    const uint8_t *index;
} shard_map;

struct pp_dataset {
    int nshards;
    shard_map *shards;
    int64_t count, *first; /* first[s] = global index of shard s's first sample */
    int64_t cursor;
    int frames, height, width, split; /* from the manifest: every record must agree */
    uint64_t scenes;                  /* bit i: scene index i is listed in the manifest */
};

static uint32_t get32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int map_shard(const char *path, shard_map *m) {
    m->path = pp_strdup(path);
    int fd = pp_open_input(path); /* a regular file (a FIFO does not block the open) */
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < HEADER_BYTES) {
        close(fd);
        PP_FAIL("%s: not a prophy shard (smaller than %d bytes)", path, HEADER_BYTES);
    }
    m->size = (size_t)st.st_size;
    m->base = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->base == MAP_FAILED) {
        m->base = NULL;
        PP_FAIL("%s: mmap failed: %s", path, strerror(errno));
    }
    if (memcmp(m->base, SHARD_MAGIC, 8)) PP_FAIL("%s: bad magic (not a prophy shard)", path);
    if (get32(m->base + 8) != SHARD_VERSION) PP_FAIL("%s: version: %u is not supported (want %u)", path, get32(m->base + 8), SHARD_VERSION);
    m->count = get32(m->base + 12);
    uint64_t idx = get64(m->base + 16);
    if (idx < HEADER_BYTES || idx > m->size || (m->size - idx) / 8 < m->count)
        PP_FAIL("%s: index offset: %llu with %u records does not fit the %zu-byte file", path,
                (unsigned long long)idx, m->count, m->size);
    m->index = m->base + idx;
    return 0;
}

/* A shard name of the manifest: a plain file name inside the dataset directory. */
static int plain_name(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

/* The manifest's fields the loader checks records against (docs/DATASET.md). */
static int read_manifest(pp_dataset *ds, const cJSON *j, const char *path) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!cJSON_IsObject(j) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "prophy-dataset-1"))
        PP_FAIL("%s: not a prophy dataset manifest (format: want \"prophy-dataset-1\")", path);
    static const char *const keys[4] = {"count", "frames", "height", "width"};
    double v[4];
    for (int k = 0; k < 4; k++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 9007199254740992.0) ||
            it->valuedouble != floor(it->valuedouble))
            PP_FAIL("%s: %s: missing or not a non-negative integer", path, keys[k]);
        v[k] = it->valuedouble;
    }
    if (v[1] > PP_SIM_MAX_FRAMES || v[2] > PP_SIM_MAX_SIZE || v[3] > PP_SIM_MAX_SIZE ||
        pp_sim_check_size((int)v[1], (int)v[2], (int)v[3])) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", v[1] > PP_SIM_MAX_FRAMES || v[2] > PP_SIM_MAX_SIZE || v[3] > PP_SIM_MAX_SIZE
                                            ? "out of range" : pp_lasterr());
        PP_FAIL("%s: frames, height, width: %.0f x %.0f x %.0f: %s", path, v[1], v[2], v[3], msg);
    }
    ds->count = (int64_t)v[0];
    ds->frames = (int)v[1], ds->height = (int)v[2], ds->width = (int)v[3];
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "split");
    if (!cJSON_IsString(sp) || (strcmp(sp->valuestring, "id") && strcmp(sp->valuestring, "ood")))
        PP_FAIL("%s: split: missing or not \"id\" / \"ood\"", path);
    ds->split = !strcmp(sp->valuestring, "ood") ? PP_SPLIT_OOD : PP_SPLIT_ID;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scenes"), *e;
    if (!cJSON_IsArray(sc) || cJSON_GetArraySize(sc) < 1) PP_FAIL("%s: scenes: missing or not a non-empty array", path);
    cJSON_ArrayForEach(e, sc) {
        int k = 0;
        while (k < pp_sim_nscenes() && k < 64 && !(cJSON_IsString(e) && !strcmp(e->valuestring, pp_sim_scene_at(k)->name)))
            k++;
        if (k == pp_sim_nscenes() || k == 64)
            PP_FAIL("%s: scenes: '%.64s' is not a scene of prophy sim --list", path,
                    cJSON_IsString(e) ? e->valuestring : "(not a string)");
        ds->scenes |= 1ull << k;
    }
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shards");
    if (!cJSON_IsArray(sh)) PP_FAIL("%s: shards: missing or not an array", path);
    cJSON_ArrayForEach(e, sh)
        if (!cJSON_IsString(e) || !plain_name(e->valuestring))
            PP_FAIL("%s: shards: '%.64s' is not a file name in the dataset directory", path,
                    cJSON_IsString(e) ? e->valuestring : "(not a string)");
    return 0;
}

pp_dataset *pp_dataset_open(const char *dir) {
    char path[4096], *txt = NULL;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (pp_read_file(path, &txt, NULL)) return NULL;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    pp_dataset *ds = pp_calloc(1, sizeof *ds);
    if (!j) {
        pp_seterr("%s: not a prophy dataset manifest (not JSON)", path);
        goto fail;
    }
    if (read_manifest(ds, j, path)) goto fail;
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shards");
    int64_t declared = ds->count;
    ds->count = 0;
    ds->nshards = cJSON_GetArraySize(sh);
    ds->shards = pp_calloc((size_t)ds->nshards + 1, sizeof(shard_map));
    ds->first = pp_calloc((size_t)ds->nshards + 1, sizeof(int64_t));
    for (int s = 0; s < ds->nshards; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, cJSON_GetArrayItem(sh, s)->valuestring);
        if (map_shard(path, &ds->shards[s])) goto fail;
        ds->first[s] = ds->count;
        ds->count += ds->shards[s].count;
    }
    ds->first[ds->nshards] = ds->count;
    if (ds->count != declared) {
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        pp_seterr("%s: count: %lld, but the shards hold %lld records", path, (long long)declared, (long long)ds->count);
        goto fail;
    }
    cJSON_Delete(j);
    return ds;
fail:
    cJSON_Delete(j);
    pp_dataset_close(ds);
    return NULL;
}

int64_t pp_dataset_count(const pp_dataset *ds) { return ds->count; }

static void *grow(void *p, size_t *cap, size_t n) {
    if (n <= *cap) return p;
    *cap = n;
    return pp_realloc(p, n);
}

/* Record k of shard m into s: every field is checked (against the file's size and
 * the manifest) before anything is sized from it. */
static int decode(const pp_dataset *ds, const shard_map *m, int64_t k, pp_sample *s) {
    const char *path = m->path;
    long long rk = (long long)k;
    uint64_t off = get64(m->index + 8 * (size_t)k);
    if (off < HEADER_BYTES || off > m->size || m->size - off < REC_HEAD)
        PP_FAIL("%s: record %lld: offset %llu is outside the file", path, rk, (unsigned long long)off);
    const uint8_t *r = m->base + off;
    uint64_t rec_bytes = get64(r + 8);
    if (get32(r) != REC_MAGIC) PP_FAIL("%s: record %lld: bad magic", path, rk);
    if (get32(r + 4) != REC_HEAD) PP_FAIL("%s: record %lld: head bytes %u (want %d)", path, rk, get32(r + 4), REC_HEAD);
    if (rec_bytes > m->size - off)
        PP_FAIL("%s: record %lld: record bytes %llu run past the end of the file", path, rk, (unsigned long long)rec_bytes);
    uint32_t F = get32(r + 16), H = get32(r + 20), W = get32(r + 24), scene = get32(r + 28), split = get32(r + 40);
    uint32_t mask = get32(r + 44);
    if (F != (uint32_t)ds->frames || H != (uint32_t)ds->height || W != (uint32_t)ds->width)
        PP_FAIL("%s: record %lld: size %u x %u x %u (frames x height x width) disagrees with the manifest's %d x %d x %d",
                path, rk, F, H, W, ds->frames, ds->height, ds->width);
    if (scene >= (uint32_t)pp_sim_nscenes() || scene >= 64 || !(ds->scenes >> scene & 1))
        PP_FAIL("%s: record %lld: scene %u is not one of the manifest's scenes", path, rk, scene);
    if (split != (uint32_t)ds->split) PP_FAIL("%s: record %lld: split %u disagrees with the manifest's", path, rk, split);
    if (mask >> PP_NCAT) PP_FAIL("%s: record %lld: map mask 0x%x names categories beyond %d", path, rk, mask, PP_NCAT);
    float cats[PP_NCAT];
    memcpy(cats, r + 56, sizeof cats);
    for (int c = 0; c < PP_NCAT; c++)
        if (!(cats[c] >= 0.0f && cats[c] <= 1.0f))
            PP_FAIL("%s: record %lld: categories[%d] is not in [0, 1]", path, rk, c);
    /* sizes bounded by the manifest (at most 2^23 pixel-frames): no overflow below */
    size_t plane = (size_t)F * H * W, nmaps = (size_t)__builtin_popcount(mask);
    size_t plen = get32(r + 48), slen = get32(r + 52);
    if ((uint64_t)REC_HEAD + plane * 3 + nmaps * plane + plen + slen != rec_bytes)
        PP_FAIL("%s: record %lld: record bytes %llu disagree with its sizes (%zu-pixel video, %zu maps, prompt %zu, spec %zu)",
                path, rk, (unsigned long long)rec_bytes, plane, nmaps, plen, slen);
    const uint8_t *p = r + REC_HEAD, *text = p + plane * 3 + nmaps * plane;
    if (memchr(text, 0, plen + slen)) PP_FAIL("%s: record %lld: the prompt or the spec holds a NUL byte", path, rk);
    s->frames = (int)F, s->height = (int)H, s->width = (int)W;
    s->scene = (int)scene, s->seed = get64(r + 32), s->split = (int)split;
    s->map_mask = mask;
    memcpy(s->cats, cats, sizeof cats);
    s->video = grow(s->video, &s->cap_video, plane * 3);
    memcpy(s->video, p, plane * 3);
    p += plane * 3;
    s->maps = grow(s->maps, &s->cap_maps, plane * PP_NCAT);
    for (int c = 0; c < PP_NCAT; c++) {
        uint8_t *dst = s->maps + (size_t)c * plane;
        if (s->map_mask & (1u << c)) memcpy(dst, p, plane), p += plane;
        else memset(dst, 0, plane);
    }
    s->prompt = grow(s->prompt, &s->cap_prompt, plen + 1);
    memcpy(s->prompt, p, plen), s->prompt[plen] = 0, p += plen;
    s->spec_json = grow(s->spec_json, &s->cap_spec, slen + 1);
    memcpy(s->spec_json, p, slen), s->spec_json[slen] = 0;
    return 0;
}

int pp_dataset_get(const pp_dataset *ds, int64_t idx, pp_sample *s) {
    if (idx < 0 || idx >= ds->count) PP_FAIL("dataset: index %lld out of range [0, %lld)", (long long)idx, (long long)ds->count);
    int lo = 0, hi = ds->nshards - 1;
    while (lo < hi) { /* last shard whose first index <= idx */
        int mid = (lo + hi + 1) / 2;
        if (ds->first[mid] <= idx) lo = mid;
        else hi = mid - 1;
    }
    return decode(ds, &ds->shards[lo], idx - ds->first[lo], s);
}

int pp_dataset_next(pp_dataset *ds, pp_sample *s) {
    if (ds->cursor >= ds->count) return 0;
    return pp_dataset_get(ds, ds->cursor++, s) ? -1 : 1;
}

void pp_dataset_rewind(pp_dataset *ds) { ds->cursor = 0; }

void pp_dataset_close(pp_dataset *ds) {
    if (!ds) return;
    for (int s = 0; s < ds->nshards; s++) {
        if (ds->shards[s].base) munmap(ds->shards[s].base, ds->shards[s].size);
        free(ds->shards[s].path);
    }
    free(ds->shards);
    free(ds->first);
    free(ds);
}

void pp_sample_free(pp_sample *s) {
    free(s->video);
    free(s->maps);
    free(s->prompt);
    free(s->spec_json);
    memset(s, 0, sizeof *s);
}

void pp_sample_background(const pp_sample *s, float *bg) {
    size_t plane = (size_t)s->frames * s->height * s->width;
    for (size_t i = 0; i < plane; i++) {
        uint8_t m = 0;
        for (int c = 0; c < PP_NCAT; c++)
            if (s->maps[(size_t)c * plane + i] > m) m = s->maps[(size_t)c * plane + i];
        bg[i] = 1.0f - (float)m / 255.0f;
    }
}
