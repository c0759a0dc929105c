/* json.h - cJSON printed with whole numbers exact (json.c). */
#ifndef PP_IO_JSON_H
#define PP_IO_JSON_H

#include <cjson/cJSON.h>

/* j as text (indented when formatted), every whole number below 2^53 printed as its
 * exact integer; NULL when out of memory. Free with cJSON_free. */
char *pp_json_print(const cJSON *j, int formatted);

#endif
