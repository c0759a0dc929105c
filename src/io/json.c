/* json.c - cJSON's printer with exact integers.
 * cJSON prints a number as %1.15g whenever that reads back within a relative
 * DBL_EPSILON of it, and above 2^52 an integer off by one does: 5025271712334729
 * prints as 5.02527171233473e+15, which reads back as 5025271712334730. The seeds
 * of the simulator's samples are 53-bit integers (pp_dataset_sample_seed), so a spec
 * or a dataset's metadata printed so names another video. pp_json_print prints a
 * copy in which each whole number from 1e15 up to 2^53 (where %1.15g may round) is
 * the raw text of its integer; every other number prints as cJSON prints it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/json.h"

static void exact_integers(cJSON *j) {
    for (cJSON *c = j; c; c = c->next) {
        double v = c->valuedouble, a = fabs(v);
        if (cJSON_IsNumber(c) && v == floor(v) && a >= 1e15 && a < 9007199254740992.0) {
            char buf[32];
            size_t len = (size_t)snprintf(buf, sizeof buf, "%.0f", v) + 1;
            char *raw = cJSON_malloc(len);
            if (!raw) continue; /* then cJSON's own form */
            memcpy(raw, buf, len);
            c->type = cJSON_Raw;
            c->valuestring = raw;
        }
        if (c->child) exact_integers(c->child);
    }
}

char *pp_json_print(const cJSON *j, int formatted) {
    cJSON *copy = cJSON_Duplicate(j, 1);
    if (!copy) return NULL;
    exact_integers(copy);
    char *s = formatted ? cJSON_Print(copy) : cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    return s;
}
