/* Private to the data files of libclgrad (csv, idx, safetensors, datasets,
 * checkpoint): the file helpers they share. */
#ifndef CLGRAD_CORE_DATA_INTERNAL_H
#define CLGRAD_CORE_DATA_INTERNAL_H

#include <clgrad/data.h>

#define CLG_DATA_INTERNAL __attribute__((visibility("hidden")))

/* Reads a whole file into a malloc'd buffer with one spare NUL byte after
 * the data (so text parsers may treat it as a string). Errors name the path. */
CLG_DATA_INTERNAL clg_status clg__read_file(clg_ctx *ctx, const char *path, char **buf,
                                            size_t *len);
/* Writes n pieces to a temporary file next to path, fsyncs it, renames it
 * over path and fsyncs the directory. */
CLG_DATA_INTERNAL clg_status clg__write_atomic(clg_ctx *ctx, const char *path,
                                               const void *const *pieces,
                                               const size_t *sizes, int n);

/* The type and dims of an IDX file (plain or gzipped) from its first
 * bytes, without reading or inflating the rest; x->data stays NULL. */
CLG_DATA_INTERNAL clg_status clg__idx_peek(clg_ctx *ctx, const char *path, clg_idx *x);
/* Opens an input for reading, never blocking (a FIFO, a device) and only
 * when it is a regular file, checked on the open descriptor: the descriptor
 * (in blocking mode again, its stat in *sb), or -1 with an error naming the
 * path and what it is. Every reader of an input file goes through it. */
struct stat;
CLG_DATA_INTERNAL int clg__open_input(clg_ctx *ctx, const char *path, struct stat *sb);
/* "a FIFO (named pipe)", "a directory", ... for a st_mode, in messages. */
CLG_DATA_INTERNAL const char *clg__file_kind(unsigned mode);
/* CLG_OK when path is absent or a regular file; else an error naming path
 * and what it is (a symbolic link, a device, ...): outputs never replace
 * anything but a regular file. */
CLG_DATA_INTERNAL clg_status clg__check_output(clg_ctx *ctx, const char *path);

/* datasets.c: a data set of n samples of nf features with class labels
 * (label_len per sample), contents uninitialised; NULL when out of memory. */
CLG_DATA_INTERNAL clg_dataset *clg__dataset_alloc(int64_t n, int64_t nf, int64_t classes,
                                                  int64_t label_len);

/* binary16 and bfloat16 <-> f32 (halfprec.c): widening exact, narrowing
 * round-to-nearest-even as torch's .half() / .bfloat16(). */
CLG_DATA_INTERNAL float clg__f16_to_f32(uint16_t h);
CLG_DATA_INTERNAL float clg__bf16_to_f32(uint16_t h);
CLG_DATA_INTERNAL uint16_t clg__f32_to_f16(float f);
CLG_DATA_INTERNAL uint16_t clg__f32_to_bf16(float f);

#endif
