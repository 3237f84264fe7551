/* CRC-32 as in zlib/PNG/Ethernet (reflected polynomial 0xEDB88320, initial value and final xor
 * 0xFFFFFFFF; crc32("123456789") == 0xCBF43926), so anyone can check .nvc files with zlib.crc32. */
#ifndef NVC_CODEC_CRC32_H
#define NVC_CODEC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC of buf[0..len); to continue a running CRC pass the previous result as `crc` (0 to start). */
uint32_t nvc_crc32(uint32_t crc, const void *buf, size_t len);

#endif
