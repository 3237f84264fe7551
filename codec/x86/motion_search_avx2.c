/* AVX2 16x16 SADs of the block search (codec/motion_search.h): the block's 16 rows stay in 8 registers (two rows
 * each); per candidate, two rows per vpsadbw, whose four 64-bit lanes each sum 8 absolute byte differences.
 * Exact (at most 256 x 255 per candidate), so equal to nvc_sad16x16_row_c. */
#include <immintrin.h>

#include "codec/motion_search.h"

static inline __m256i two_rows(const uint8_t *p, ptrdiff_t stride)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                   _mm_loadu_si128((const __m128i *)(p + stride)), 1);
}

void nvc_sad16x16_row_avx2(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs, int n, int *sad)
{
    __m256i rows[8];
    for (int i = 0; i < 8; i++)
        rows[i] = two_rows(a + 2 * i * as, as);
    for (int k = 0; k < n; k++) {
        __m256i acc = _mm256_sad_epu8(rows[0], two_rows(b + k, bs));
        for (int i = 1; i < 8; i++)
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(rows[i], two_rows(b + 2 * i * bs + k, bs)));
        const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        sad[k] = (int)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
    }
}
