/* fuzz_y4m.c - the Y4M video reader (pp_video_read on a .y4m file). */
#include "fuzz_util.h"
#include "io/video.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fz_write("in.y4m", data, n);
    pp_video v;
    fz_clear_err();
    if (pp_video_read(&v, path) == 0) {
        if (v.frames < 1 || v.height < 1 || v.width < 1 || !(v.fps > 0)) abort();
        volatile uint8_t sink = v.rgb[(size_t)v.frames * v.height * v.width * 3 - 1];
        (void)sink;
        pp_video_free(&v);
    } else {
        fz_check_err(path);
    }
    return 0;
}
