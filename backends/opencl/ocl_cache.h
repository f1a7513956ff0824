/* The on-disk format of the OpenCL program cache, apart from any device so
 * that tests and the fuzz harness can run it anywhere. An entry is
 *
 *   "CLGRADCL2\n"  u32 key length  key  u64 binary length  u64 hash  binary
 *
 * (integers little-endian). The key is the text of everything that makes a
 * binary usable (source hash, options, device, driver, salt) and must equal
 * the reader's key byte for byte; the hash covers the binary, so a damaged
 * entry is a miss and is never handed to the driver (drivers assert or
 * crash on a damaged binary). */
#ifndef CLGRAD_OCL_CACHE_H
#define CLGRAD_OCL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define OCL_CACHE_MAGIC "CLGRADCL2\n"
#define OCL_CACHE_MAGIC_LEN 10
#define OCL_CACHE_MAX_KEY 4096u
#define OCL_CACHE_MAX_BINARY ((uint64_t)1 << 30)
/* Bytes before the binary for a key of kl bytes. */
#define OCL_CACHE_HEADER_LEN(kl) (OCL_CACHE_MAGIC_LEN + 4 + (size_t)(kl) + 8 + 8)


/* A 64-bit hash of n bytes (8 at a time: a changed word always changes it). */
uint64_t ocl_cache_hash(const void *data, size_t n);

/* The binary inside `file` (len bytes) when it is a whole, undamaged entry
 * for `key`; else NULL with *why saying what is wrong. Reads only the len
 * bytes given and bounds every field it reads. */
const unsigned char *ocl_cache_parse(const unsigned char *file, size_t len, const char *key,
                                     size_t *bin_len, const char **why);

/* Writes the header of an entry for (key, bin) to out, which has room for
 * OCL_CACHE_HEADER_LEN(strlen(key)) bytes; returns its length, or 0 when the
 * key or the binary is too large to cache. */
size_t ocl_cache_header(unsigned char *out, const char *key, const unsigned char *bin,
                        size_t bin_len);

#endif
