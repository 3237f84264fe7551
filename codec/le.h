/* Little-endian integers read from bytes (every nvc file format is little-endian: docs/bitstream.md, docs/nvm.md),
 * whatever the host's byte order. */
#ifndef NVC_CODEC_LE_H
#define NVC_CODEC_LE_H

#include <stdint.h>

static inline uint16_t nvc_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static inline uint32_t nvc_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t nvc_le64(const uint8_t *p) { return (uint64_t)nvc_le32(p) | (uint64_t)nvc_le32(p + 4) << 32; }

#endif
