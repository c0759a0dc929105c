/* fuzz_png.c - the PNG frame reader (pp_video_read on a frame pattern): the input
 * is frame 0 of DIR/f_%d.png. */
#include "fuzz_util.h"
#include "io/video.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *frame = fz_write("f_0.png", data, n);
    const char *pattern = fz_path("f_%d.png");
    pp_video v;
    fz_clear_err();
    if (pp_video_read(&v, pattern) == 0) {
        if (v.frames != 1 || v.height < 1 || v.width < 1) abort();
        volatile uint8_t sink = v.rgb[(size_t)v.height * v.width * 3 - 1];
        (void)sink;
        pp_video_free(&v);
    } else {
        fz_check_err(frame);
    }
    return 0;
}
