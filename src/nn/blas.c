/* blas.c - see blas.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/cpu.h"
#include "nn/blas.h"

char *openblas_get_corename(void);
char *openblas_get_config(void);

const char *pp_blas_core(void) { return openblas_get_corename(); }
const char *pp_blas_config(void) { return openblas_get_config(); }

/* the widest ISA an OpenBLAS 0.3.21 kernel uses */
static int kernel_level(const char *core) {
    static const char *const l3[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const l2[] = {"Haswell", "Zen", "Excavator"};
    static const char *const l1[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller"};
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(core, l3[i])) return PP_ISA_AVX512;
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(core, l2[i])) return PP_ISA_AVX2;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(core, l1[i])) return PP_ISA_AVX;
    return PP_ISA_SSE;
}

const char *pp_blas_advise_for(const char *running, int isa, int amd, int bf16) {
    if (!running || kernel_level(running) >= isa) return NULL;
    switch (isa) {
    case PP_ISA_AVX512: return bf16 ? "Cooperlake" : "SkylakeX";
    case PP_ISA_AVX2: return amd ? "Zen" : "Haswell";
    case PP_ISA_AVX: return "Sandybridge";
    default: return NULL;
    }
}

const char *pp_blas_advise(const char *running) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    return pp_blas_advise_for(running, pp_cpu_isa(), pp_cpu_is_amd(), pp_cpu_has_avx512_bf16());
}

const char *pp_blas_origin(void) {
    static char buf[128];
    const char *picked = getenv("PROPHY_BLAS_PICKED");
    if (picked) snprintf(buf, sizeof buf, "chosen by prophy; OpenBLAS picked %s", picked);
    else snprintf(buf, sizeof buf, "%s", getenv("OPENBLAS_CORETYPE") ? "OPENBLAS_CORETYPE, set by the user" : "OpenBLAS's own choice");
    return buf;
}

int pp_blas_prepare_env(void) {
    const char *core = pp_blas_core(), *better = pp_blas_advise(core);
    if (!better) return 0;
    setenv("OPENBLAS_CORETYPE", better, 1);
    setenv("PROPHY_BLAS_PICKED", core, 1);
    return 1;
}

void pp_blas_reexec(char **argv) {
    if (!pp_blas_prepare_env()) return;
    execv("/proc/self/exe", argv); /* returns only on failure: carry on as we are */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("PROPHY_BLAS_PICKED");
}
