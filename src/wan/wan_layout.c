/* wan_layout.c - where the parts of a Wan2.1 model are in the folders users have
 * (see wan_files.h and docs/WAN.md). Only names and file types are looked at
 * here; the loaders check what is inside. */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/common.h"
#include "wan/wan_files.h"

const char *pp_wan_layout_name(pp_wan_layout l) {
    switch (l) {
    case PP_WAN_LAYOUT_DIFFUSERS: return "diffusers";
    case PP_WAN_LAYOUT_WAN: return "Wan";
    case PP_WAN_LAYOUT_COMFYUI: return "ComfyUI";
    default: return "files";
    }
}

/* out = dir/name; -1 when it does not fit */
static int pjoin(char *out, size_t size, const char *dir, const char *name) {
    int k = snprintf(out, size, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= size ? -1 : 0;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void set_path(pp_wan_part *part, const char *fmt, ...) PP_PRINTF(2, 3);
static void set_path(pp_wan_part *part, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part->path, sizeof part->path, fmt, ap);
    va_end(ap);
    part->why[0] = 0;
}

static void set_why(pp_wan_part *part, const char *fmt, ...) PP_PRINTF(2, 3);
static void set_why(pp_wan_part *part, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part->why, sizeof part->why, fmt, ap);
    va_end(ap);
    part->path[0] = 0;
}

/* dir/name when it is a regular file */
static int try_file(pp_wan_part *part, const char *dir, const char *name) {
    char p[4096];
    if (pjoin(p, sizeof p, dir, name) || !is_file(p)) return 0;
    set_path(part, "%s", p);
    return 1;
}

/* a shard index first, else the single file */
static int try_weights(pp_wan_part *part, const char *dir, const char *stem) {
    char idx[512], one[512];
    snprintf(idx, sizeof idx, "%s.safetensors.index.json", stem);
    snprintf(one, sizeof one, "%s.safetensors", stem);
    return try_file(part, dir, idx) || try_file(part, dir, one);
}

static void lower(char *dst, const char *src, size_t size) {
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

/* The one *.safetensors file of dir whose lower-case name holds every word of
 * `all` and none of `none` (space-separated). None: part->why; several: an
 * error listing them is left in why as well. */
static void pick(pp_wan_part *part, const char *dir, const char *all, const char *none, const char *what,
                 const char *flag) {
    DIR *d = opendir(dir);
    char found[4][256];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char lw[256], words[256];
        lower(lw, e->d_name, sizeof lw);
        size_t len = strlen(lw);
        if (len < 12 || strcmp(lw + len - 12, ".safetensors")) continue;
        int ok = 1;
        snprintf(words, sizeof words, "%s", all);
        for (char *s = strtok(words, " "); s && ok; s = strtok(NULL, " ")) ok = strstr(lw, s) != NULL;
        snprintf(words, sizeof words, "%s", none ? none : "");
        for (char *s = strtok(words, " "); s && ok; s = strtok(NULL, " ")) ok = strstr(lw, s) == NULL;
        if (!ok) continue;
        char p[4096];
        if (pjoin(p, sizeof p, dir, e->d_name) || !is_file(p)) continue;
        if (n < 4) snprintf(found[n], sizeof found[n], "%s", e->d_name);
        n++;
    }
    if (d) closedir(d);
    if (n == 1) {
        set_path(part, "%s/%s", dir, found[0]);
        return;
    }
    if (n == 0) {
        set_why(part, "%s: no %s (a *.safetensors file named like *%s*); pass %s FILE", dir, what, all, flag);
        return;
    }
    /* several: sorted names, for a deterministic message */
    int k = n < 4 ? n : 4;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++)
            if (strcmp(found[j], found[i]) < 0) {
                char t[256];
                memcpy(t, found[i], sizeof t), memcpy(found[i], found[j], sizeof t), memcpy(found[j], t, sizeof t);
            }
    set_why(part, "%s: %d files could be the %s (%s, %s%s); choose one with %s FILE", dir, n, what, found[0],
            found[1], n > 2 ? ", ..." : "", flag);
}

static void find_diffusers(pp_wan_paths *p, const char *dir) {
    char sub[4096];
    p->layout = PP_WAN_LAYOUT_DIFFUSERS;
    pjoin(sub, sizeof sub, dir, "transformer");
    if (!try_weights(&p->dit, sub, "diffusion_pytorch_model"))
        set_why(&p->dit, "%s: no diffusion_pytorch_model.safetensors (or its .index.json): the DiT is missing", sub);
    if (!try_file(&p->dit_config, sub, "config.json"))
        set_why(&p->dit_config, "%s: no config.json", sub);
    pjoin(sub, sizeof sub, dir, "text_encoder");
    if (!try_weights(&p->t5, sub, "model"))
        set_why(&p->t5, "%s: no model.safetensors (or model.safetensors.index.json): the umT5 encoder is missing; "
                        "pass --wan-t5 FILE", sub);
    pjoin(sub, sizeof sub, dir, "tokenizer");
    if (!try_file(&p->tokenizer, sub, "tokenizer.json"))
        set_why(&p->tokenizer, "%s: no tokenizer.json; pass --wan-tokenizer FILE", sub);
    pjoin(sub, sizeof sub, dir, "vae");
    if (!try_weights(&p->vae, sub, "diffusion_pytorch_model"))
        set_why(&p->vae, "%s: no diffusion_pytorch_model.safetensors: the VAE is missing; pass --wan-vae FILE", sub);
    if (!try_file(&p->vae_config, sub, "config.json")) set_why(&p->vae_config, "%s: no config.json", sub);
}

static void find_wan(pp_wan_paths *p, const char *dir) {
    p->layout = PP_WAN_LAYOUT_WAN;
    if (!try_weights(&p->dit, dir, "diffusion_pytorch_model"))
        set_why(&p->dit, "%s: no diffusion_pytorch_model.safetensors (or its .index.json): the DiT is missing", dir);
    try_file(&p->dit_config, dir, "config.json");
    /* Wan ships the encoder and the VAE as PyTorch pickles (.pth), which prophy
     * does not read: a safetensors conversion beside them, or a file given */
    if (!try_file(&p->t5, dir, "models_t5_umt5-xxl-enc-bf16.safetensors"))
        set_why(&p->t5, "%s: no models_t5_umt5-xxl-enc-bf16.safetensors (Wan ships a .pth pickle: convert it to "
                        "safetensors, or pass --wan-t5 umt5_xxl_fp16.safetensors)", dir);
    char tok[4096];
    pjoin(tok, sizeof tok, dir, "google/umt5-xxl");
    if (!try_file(&p->tokenizer, tok, "tokenizer.json"))
        set_why(&p->tokenizer, "%s: no tokenizer.json; pass --wan-tokenizer FILE", tok);
    if (!try_file(&p->vae, dir, "Wan2.1_VAE.safetensors"))
        set_why(&p->vae, "%s: no Wan2.1_VAE.safetensors (Wan ships Wan2.1_VAE.pth, a pickle: convert it, or pass "
                         "--wan-vae wan_2.1_vae.safetensors)", dir);
}

static void find_comfy(pp_wan_paths *p, const char *dir) {
    char sub[4096];
    p->layout = PP_WAN_LAYOUT_COMFYUI;
    pjoin(sub, sizeof sub, dir, "diffusion_models");
    pick(&p->dit, sub, "wan t2v", "fp8", "Wan2.1 text-to-video DiT", "--wan-dit");
    pjoin(sub, sizeof sub, dir, "text_encoders");
    if (!is_dir(sub)) pjoin(sub, sizeof sub, dir, "clip");
    pick(&p->t5, sub, "umt5", "fp8", "umT5-XXL encoder (not fp8)", "--wan-t5");
    pjoin(sub, sizeof sub, dir, "vae");
    pick(&p->vae, sub, "wan vae", NULL, "Wan2.1 VAE", "--wan-vae");
    /* ComfyUI has its tokenizer in its code: a tokenizer.json beside the encoder, if any */
    pjoin(sub, sizeof sub, dir, "text_encoders");
    if (!try_file(&p->tokenizer, sub, "tokenizer.json") && !try_file(&p->tokenizer, dir, "tokenizer/tokenizer.json"))
        set_why(&p->tokenizer, "%s: ComfyUI's folders hold no tokenizer.json; pass --wan-tokenizer "
                               "google/umt5-xxl/tokenizer.json", dir);
}

int pp_wan_find(pp_wan_paths *p, const char *dir) {
    memset(p, 0, sizeof *p);
    if (strlen(dir) > 3000) PP_FAIL("%.64s...: the folder's name is too long", dir);
    if (!is_dir(dir)) PP_FAIL("%s: not a folder (--wan takes a model folder; --wan-dit etc. take files)", dir);
    char t[4096];
    pjoin(t, sizeof t, dir, "transformer");
    int diff = is_dir(t);
    pjoin(t, sizeof t, dir, "model_index.json");
    diff = diff || is_file(t);
    pjoin(t, sizeof t, dir, "diffusion_models");
    int comfy = is_dir(t);
    pjoin(t, sizeof t, dir, "config.json");
    int wan = is_file(t);
    pjoin(t, sizeof t, dir, "diffusion_pytorch_model.safetensors");
    wan = wan || is_file(t);
    pjoin(t, sizeof t, dir, "diffusion_pytorch_model.safetensors.index.json");
    wan = wan || is_file(t);
    set_why(&p->dit, "no DiT given");
    set_why(&p->t5, "no umT5 encoder given");
    set_why(&p->tokenizer, "no tokenizer given");
    set_why(&p->vae, "no VAE given");
    if (diff) find_diffusers(p, dir);
    else if (wan) find_wan(p, dir);
    else if (comfy) find_comfy(p, dir);
    else
        PP_FAIL("%s: not a Wan2.1 folder: no transformer/ or model_index.json (diffusers), no config.json or "
                "diffusion_pytorch_model*.safetensors (Wan), no diffusion_models/ (ComfyUI)", dir);
    return 0;
}

int pp_wan_set_part(pp_wan_part *part, const char *path) {
    int fd = pp_open_input(path);
    if (fd < 0) return -1;
    close(fd);
    set_path(part, "%s", path);
    return 0;
}

int pp_wan_paths_check(const pp_wan_paths *p) {
    const pp_wan_part *parts[] = {&p->dit, &p->t5, &p->tokenizer, &p->vae};
    const char *names[] = {"DiT (--wan-dit)", "umT5 encoder (--wan-t5)", "tokenizer (--wan-tokenizer)", "VAE (--wan-vae)"};
    for (int i = 0; i < 4; i++)
        if (!parts[i]->path[0]) PP_FAIL("%s", parts[i]->why[0] ? parts[i]->why : names[i]);
    return 0;
}
