/* cmd_inspect.c - `prophy inspect FILE [--json]`: validate a safetensors file and
 * list its tensors (name, dtype, shape), its parameter count and size, and its
 * metadata. An invalid file (a malformed one, or one with a NaN or an infinity in a
 * tensor) is one error line and exit status 1. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io/safetensors.h"
#include "io/json.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: prophy inspect FILE [--json]\n"
            "  Validates a safetensors file and lists its tensors (name, dtype, shape),\n"
            "  the total parameter count and size, and its metadata.\n"
            "  --json   print one JSON object instead of the table\n");
}

/* 1536 -> "1.5 KiB" */
static const char *human_bytes(char *buf, size_t size, double b) {
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, u++;
    if (u == 0) snprintf(buf, size, "%.0f bytes", b);
    else snprintf(buf, size, "%.1f %s", b, unit[u]);
    return buf;
}

/* 1234567 -> "1.23M" */
static const char *human_count(char *buf, size_t size, double n) {
    static const char *suffix[] = {"", "K", "M", "B", "T"};
    int u = 0;
    while (n >= 1000 && u < 4) n /= 1000, u++;
    snprintf(buf, size, u ? "%.3g%s" : "%.0f%s", n, suffix[u]);
    return buf;
}

/* Print s with control characters escaped, so every entry stays on one line. */
static void put_text(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

static uint64_t total_params(const pp_st_file *f) {
    uint64_t n = 0;
    for (int i = 0; i < pp_st_count(f); i++) n += pp_st_at(f, i)->numel;
    return n;
}

static void print_table(const pp_st_file *f) {
    char a[48] = "", b[32], c[32], shape[256];
    uint64_t params = total_params(f);
    if (params >= 10000) snprintf(a, sizeof a, " (%s)", human_count(c, sizeof c, (double)params));
    printf("%s: %d tensors, %llu parameters%s, %s of tensor data, header %llu bytes\n", f->path,
           pp_st_count(f), (unsigned long long)params, a, human_bytes(b, sizeof b, (double)f->data_len),
           (unsigned long long)f->header_len);
    int w = 4;
    for (int i = 0; i < pp_st_count(f); i++) {
        int k = (int)strlen(pp_st_at(f, i)->name);
        if (k > w) w = k;
    }
    if (w > 80) w = 80;
    if (pp_st_count(f)) printf("  %-*s  %-7s %s\n", w, "name", "dtype", "shape");
    for (int i = 0; i < pp_st_count(f); i++) {
        const pp_st_tensor *t = pp_st_at(f, i);
        printf("  ");
        put_text(t->name);
        printf("%*s  %-7s %s\n", w - (int)strlen(t->name), "", pp_dtype_name(t->dtype),
               pp_shape_str(shape, sizeof shape, t->ndim, t->shape));
    }
    if (f->nmeta) printf("metadata (%d):\n", f->nmeta);
    for (int i = 0; i < f->nmeta; i++) {
        printf("  ");
        put_text(f->meta[i].key);
        printf(": ");
        put_text(f->meta[i].value);
        putchar('\n');
    }
}

static cJSON *tensor_json(const pp_st_tensor *t) {
    cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *off = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "dtype", pp_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
    cJSON_AddItemToObject(o, "shape", shape);
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)t->begin));
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)t->end));
    cJSON_AddItemToObject(o, "data_offsets", off);
    return o;
}

static int print_json(const pp_st_file *f) {
    cJSON *o = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "file", f->path);
    cJSON_AddNumberToObject(o, "file_bytes", (double)f->size);
    cJSON_AddNumberToObject(o, "header_bytes", (double)f->header_len);
    cJSON_AddNumberToObject(o, "data_bytes", (double)f->data_len);
    cJSON_AddNumberToObject(o, "parameters", (double)total_params(f));
    for (int i = 0; i < f->nmeta; i++) cJSON_AddStringToObject(meta, f->meta[i].key, f->meta[i].value);
    cJSON_AddItemToObject(o, "metadata", meta);
    for (int i = 0; i < pp_st_count(f); i++) cJSON_AddItemToArray(list, tensor_json(pp_st_at(f, i)));
    cJSON_AddItemToObject(o, "tensors", list);
    char *s = pp_json_print(o, 0);
    cJSON_Delete(o);
    if (!s) return cli_error("inspect: out of memory formatting JSON");
    puts(s);
    cJSON_free(s);
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_error("inspect: unknown option '%s' (usage: prophy inspect FILE [--json])", argv[i]);
        } else if (path) {
            return cli_error("inspect: one FILE at a time (got '%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return cli_error("inspect: missing FILE (usage: prophy inspect FILE [--json])");
    pp_st_file f;
    if (pp_st_open(&f, path)) return cli_lib_error();
    if (pp_st_check_finite(&f)) {
        pp_st_close(&f);
        return cli_lib_error();
    }
    int rc = json ? print_json(&f) : (print_table(&f), 0);
    pp_st_close(&f);
    if (fflush(stdout) != 0) return cli_error("inspect: cannot write the listing");
    return rc;
}
