/* fuzz_maps.c - the phenomenon-map reader (pp_maps_load, src/io/maps.c:
 * "prophy-maps C F H W\n" + float32 data), then the maps resampled and scored
 * as localisation does (pp_maps_resample, pp_eval_map_iou). */
#include "fuzz_util.h"
#include "eval/eval.h"
#include "io/maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fz_write("in.maps", data, n);
    float *m;
    int c, f, h, w;
    fz_clear_err();
    if (pp_maps_load(path, &m, &c, &f, &h, &w)) {
        fz_check_err(path);
        if (m) abort();
        return 0;
    }
    if (c < 1 || f < 1 || h < 1 || w < 1) abort();
    enum { GF = 3, GH = 8, GW = 8 };
    float g[GF * GH * GW], r[GF * GH * GW];
    for (int i = 0; i < GF * GH * GW; i++) g[i] = (float)(i % 3) * 0.5f;
    pp_maps_resample(m, 1, f, h, w, r, GF, GH, GW);
    for (int k = 0; k < c; k++)
        (void)pp_eval_map_iou(m + (size_t)k * f * h * w, f, h, w, g, GF, GH, GW, 0.5f);
    free(m);
    return 0;
}
