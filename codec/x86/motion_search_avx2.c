/* AVX2 16x16 SAD of the block search (codec/motion_search.h): two rows per vpsadbw, whose four 64-bit lanes each
 * sum 8 absolute byte differences; exact (at most 256 x 255 in all), so equal to nvc_sad16x16_c. */
#include <immintrin.h>

#include "codec/motion_search.h"

static inline __m256i two_rows(const uint8_t *p, ptrdiff_t stride)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                   _mm_loadu_si128((const __m128i *)(p + stride)), 1);
}

int nvc_sad16x16_avx2(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs)
{
    __m256i acc = _mm256_setzero_si256();
    for (int y = 0; y < 16; y += 2)
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(two_rows(a + y * as, as), two_rows(b + y * bs, bs)));
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return (int)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
}
