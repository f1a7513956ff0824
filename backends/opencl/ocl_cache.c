/* The program cache's file format (see ocl_cache.h). No OpenCL here. */
#include "ocl_cache.h"

#include <string.h>

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void wr_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t ocl_cache_hash(const void *data, size_t n)
{
    /* Each step h -> mix(h ^ word) is a bijection of h, so a change confined
     * to one word always changes the result; other damage escapes with
     * probability about 2^-64. Eight bytes a step keeps a multi-megabyte
     * binary's check to a fraction of a millisecond. */
    const unsigned char *p = data;
    uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h ^= rd_le(p + i, 8);
        h *= 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    if (i < n) {
        h ^= rd_le(p + i, (int)(n - i)) ^ ((uint64_t)(n - i) << 59);
        h *= 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

const unsigned char *ocl_cache_parse(const unsigned char *file, size_t len, const char *key,
                                     size_t *bin_len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *bin_len = 0;
    size_t kl = strlen(key);
    if (len < OCL_CACHE_MAGIC_LEN || memcmp(file, OCL_CACHE_MAGIC, OCL_CACHE_MAGIC_LEN) != 0) {
        *why = "not a cache file of this version";
        return NULL;
    }
    size_t pos = OCL_CACHE_MAGIC_LEN;
    if (len - pos < 4) {
        *why = "truncated header";
        return NULL;
    }
    uint64_t fkl = rd_le(file + pos, 4);
    pos += 4;
    if (fkl > OCL_CACHE_MAX_KEY || fkl > len - pos) {
        *why = "key length out of bounds";
        return NULL;
    }
    if (fkl != kl || memcmp(file + pos, key, kl) != 0) {
        *why = "another key (hash collision)";
        return NULL;
    }
    pos += kl;
    if (len - pos < 16) {
        *why = "truncated header";
        return NULL;
    }
    uint64_t bl = rd_le(file + pos, 8), hash = rd_le(file + pos + 8, 8);
    pos += 16;
    if (bl == 0 || bl > OCL_CACHE_MAX_BINARY) {
        *why = "binary length out of bounds";
        return NULL;
    }
    if (bl != len - pos) {
        *why = bl < len - pos ? "trailing bytes after the binary"
                              : "binary length does not match the file (truncated?)";
        return NULL;
    }
    if (ocl_cache_hash(file + pos, (size_t)bl) != hash) {
        *why = "the binary's hash does not match (damaged file)";
        return NULL;
    }
    *bin_len = (size_t)bl;
    *why = NULL;
    return file + pos;
}

size_t ocl_cache_header(unsigned char *out, const char *key, const unsigned char *bin,
                        size_t bin_len)
{
    size_t kl = strlen(key);
    if (kl > OCL_CACHE_MAX_KEY || bin_len == 0 || (uint64_t)bin_len > OCL_CACHE_MAX_BINARY)
        return 0;
    size_t pos = 0;
    memcpy(out, OCL_CACHE_MAGIC, OCL_CACHE_MAGIC_LEN);
    pos += OCL_CACHE_MAGIC_LEN;
    wr_le(out + pos, kl, 4);
    pos += 4;
    memcpy(out + pos, key, kl);
    pos += kl;
    wr_le(out + pos, bin_len, 8);
    wr_le(out + pos + 8, ocl_cache_hash(bin, bin_len), 8);
    return pos + 16;
}
