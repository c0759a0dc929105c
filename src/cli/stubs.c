/* stubs.c - DEVELOPMENT ONLY: weak placeholders for commands being written.
 * A real cmd_*.c overrides each. This file is deleted before the work lands. */
#include "cli.h"
#define STUB(n) __attribute__((weak)) int cmd_##n(int argc, char **argv) { (void)argc; (void)argv; return cli_error("'%s' is not built yet", #n); }
STUB(train) STUB(generate) STUB(bench) STUB(inspect) STUB(sim) STUB(dataset) STUB(eval)
