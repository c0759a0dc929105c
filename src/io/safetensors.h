/* safetensors.h - reading and writing safetensors files.
 *
 * Format (huggingface/safetensors): 8 bytes N (little-endian u64), N bytes of a
 * UTF-8 JSON object, then the data section. Each key of the object is a tensor
 * name mapped to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
 * (byte offsets relative to the data section); the optional key "__metadata__"
 * maps to an object of string values.
 *
 * Reader: pp_st_open() mmaps the file and validates all of it before returning,
 * as strictly as the reference implementation: header length within the file
 * (and at most 100 MB), valid UTF-8 JSON object, known dtypes, integral
 * non-negative shapes whose byte count equals end - begin, offsets inside the data
 * section, and tensors tiling the data section exactly (no overlap, no hole, no
 * trailing bytes). Every failure is one line naming the file, the tensor and the
 * problem. Tensors are kept in header order; lookup by name is a binary search.
 * Tensor data points into the mapping and may be unaligned in files written by
 * other tools (read it with memcpy or the pp_st_to_* functions).
 *
 * Writer: collects tensors (the data is borrowed: it must stay valid and
 * unchanged until pp_st_save returns) and string metadata, then streams the file
 * to PATH.tmp.<pid>.<n>, fsyncs it, renames it over PATH and fsyncs the directory,
 * so PATH is either the old file or the complete new one. The header lists the
 * tensors in insertion order; their data is laid out by decreasing element size
 * (insertion order among equals), contiguously after a header padded with spaces
 * to a multiple of 8 bytes, so every tensor is aligned to its element size and
 * the file is what the reference implementation writes and accepts.
 *
 * Assumes a little-endian host (as the format does). */
#ifndef PP_SAFETENSORS_H
#define PP_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "base/common.h"

/* ---- element types */
typedef enum {
    PP_BOOL, PP_U8, PP_I8, PP_F8_E5M2, PP_F8_E4M3, PP_I16, PP_U16, PP_F16, PP_BF16,
    PP_I32, PP_U32, PP_F32, PP_F64, PP_I64, PP_U64,
    PP_NDTYPES
} pp_dtype;

const char *pp_dtype_name(pp_dtype t);           /* "F32"; "?" when out of range */
size_t pp_dtype_size(pp_dtype t);                /* bytes per element; 0 when out of range */
int pp_dtype_parse(const char *name, pp_dtype *out); /* 0, or -1 for an unknown name (no error set) */
int pp_dtype_is_float(pp_dtype t);               /* F16, BF16, F32, F64: convertible to float */

/* ---- half precision, round-to-nearest-even; NaN stays NaN (quiet), overflow gives inf */
uint16_t pp_f32_to_f16(float x);
float pp_f16_to_f32(uint16_t h);
uint16_t pp_f32_to_bf16(float x);
float pp_bf16_to_f32(uint16_t h);

/* "[4,8]" (scalars "[]") into buf; truncated with "..." if it does not fit. Returns buf. */
char *pp_shape_str(char *buf, size_t size, int ndim, const int64_t *shape);

/* ---- reader */
typedef struct {
    const char *name;
    pp_dtype dtype;
    int ndim;
    const int64_t *shape; /* ndim entries */
    uint64_t numel;       /* product of shape (1 for a scalar) */
    uint64_t begin, end;  /* data_offsets: bytes of the data section */
    const void *data;     /* into the file; possibly unaligned */
} pp_st_tensor;

typedef struct {
    const char *key, *value;
} pp_st_kv;

typedef struct {
    char *path;                /* as given, for messages */
    size_t size;               /* whole file */
    uint64_t header_len;       /* N */
    const uint8_t *data;       /* data section */
    uint64_t data_len;
    int ntensors;
    pp_st_tensor *tensors;     /* header order */
    int nmeta;
    pp_st_kv *meta;            /* "__metadata__", header order */
    /* private */
    const pp_st_tensor **by_name;
    void *map;
    size_t map_len;
} pp_st_file;

/* Open and validate. On failure: -1, an error line, and *f left empty (closing it is harmless). */
int pp_st_open(pp_st_file *f, const char *path);
/* Same over a buffer that the caller keeps alive until pp_st_close; name is for messages. */
int pp_st_open_memory(pp_st_file *f, const char *name, const void *buf, size_t len);
void pp_st_close(pp_st_file *f);
/* The file's read-only mapping (pp_map_drop gives its pages back); {NULL, 0} when
 * opened over memory. Valid until pp_st_close. */
pp_map_range pp_st_mapping(const pp_st_file *f);
/* A model split over several files (Hugging Face's sharded checkpoints): path is
 * either one safetensors file (then this is pp_st_open) or a shard index, a JSON
 * file named "*.json" such as "diffusion_pytorch_model.safetensors.index.json"
 * holding {"weight_map": {tensor: shard file name, ...}}. Every shard named there
 * (a plain file name in the index's folder) is mapped and validated as pp_st_open
 * does, and the whole set reads as one file: the tensors of all shards (a name
 * held by two shards, or listed for a shard that lacks it, is an error), the
 * metadata of the first shard. f->path is the index's path; errors inside a shard
 * name the shard. pp_st_close releases everything. At most 4096 shards. */
int pp_st_open_sharded(pp_st_file *f, const char *path);

static inline int pp_st_count(const pp_st_file *f) { return f->ntensors; }
static inline const pp_st_tensor *pp_st_at(const pp_st_file *f, int i) { return &f->tensors[i]; }
const pp_st_tensor *pp_st_find(const pp_st_file *f, const char *name); /* NULL if absent (no error) */
const char *pp_st_meta(const pp_st_file *f, const char *key);          /* NULL if absent */

/* Convert a F32/F16/BF16/F64 tensor to t->numel floats. Fails for other dtypes. */
int pp_st_to_f32(const pp_st_file *f, const pp_st_tensor *t, float *dst);
/* Every value of every float tensor is finite; else -1 and an error naming the
 * first tensor (and index) that holds a NaN or an infinity. */
int pp_st_check_finite(const pp_st_file *f);
/* Find `name` and check it has exactly this shape. Errors:
 *   "FILE: missing tensor 'blocks.3.ffn.0.weight'"
 *   "FILE: tensor 'x' has shape [4,8], the model expects [4,16]" */
int pp_st_expect(const pp_st_file *f, const char *name, int ndim, const int64_t *shape,
                 const pp_st_tensor **out);
/* pp_st_expect + pp_st_to_f32 (the tensor must have a float dtype). */
int pp_st_load_f32(const pp_st_file *f, const char *name, float *dst, int ndim, const int64_t *shape);
/* pp_st_expect + a byte copy; the dtype must be exactly `dtype` (for steps, RNG states, masks). */
int pp_st_load_raw(const pp_st_file *f, const char *name, pp_dtype dtype, void *dst, int ndim,
                   const int64_t *shape);

/* ---- writer */
typedef struct pp_st_writer pp_st_writer;

pp_st_writer *pp_st_writer_new(void);
void pp_st_writer_free(pp_st_writer *w);
/* Add a tensor stored as-is: numel * pp_dtype_size(dtype) bytes at data (borrowed).
 * Fails on an empty, duplicate, "__metadata__" or non-UTF-8 name, a negative dim,
 * or a size that overflows. ndim may be 0 (a scalar). */
int pp_st_add(pp_st_writer *w, const char *name, pp_dtype dtype, int ndim, const int64_t *shape,
              const void *data);
/* Add float data (borrowed) to be stored as F32, F16 or BF16, converted while saving. */
int pp_st_add_f32(pp_st_writer *w, const char *name, pp_dtype as, int ndim, const int64_t *shape,
                  const float *data);
/* Set a "__metadata__" string (copied); setting a key again replaces its value. */
int pp_st_set_meta(pp_st_writer *w, const char *key, const char *value);
/* A JSON value (a cJSON *) as a metadata string. */
int pp_st_set_meta_json(pp_st_writer *w, const char *key, const void *json);
/* Write the file atomically (see above). The writer stays usable afterwards. */
int pp_st_save(const pp_st_writer *w, const char *path);

#endif
