/* Little-endian integers read from bytes (every nvc file format is little-endian: docs/bitstream.md, docs/nvm.md),
 * whatever the host's byte order. */
#ifndef NVC_CODEC_LE_H
#define NVC_CODEC_LE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t nvc_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static inline uint32_t nvc_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t nvc_le64(const uint8_t *p) { return (uint64_t)nvc_le32(p) | (uint64_t)nvc_le32(p + 4) << 32; }

/* The header the encoder's model blobs share (docs/nvm.md: "NVBA", "NVSB"): 4 magic bytes, u16 version 1,
 * u16 reserved, then four u32 dimensions into dims[]. 1 when the blob has it, else 0. */
#define NVC_BLOB_HEADER 24
static inline int nvc_blob_header(const uint8_t *blob, size_t size, const char magic[4], uint32_t dims[4])
{
    if (size < NVC_BLOB_HEADER || memcmp(blob, magic, 4) || nvc_le16(blob + 4) != 1)
        return 0;
    for (int i = 0; i < 4; i++)
        dims[i] = nvc_le32(blob + 8 + 4 * i);
    return 1;
}

#endif
