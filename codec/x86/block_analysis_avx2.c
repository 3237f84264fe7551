/* AVX2 dot products of the encoder's block analysis (codec/block_analysis.h): vpmaddwd of int16 weights and
 * inputs into int32 lanes, four output rows at a time (each input vector is loaded once for the four). Exact:
 * a lane sums n16 / 8 <= 256 products of |w| <= 32767 and 0 <= x <= 255, below 2^31. */
#include <immintrin.h>

#include "codec/block_analysis.h"

static inline int64_t hsum(__m256i v)
{
    const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
    const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1));
    const __m256i t = _mm256_add_epi64(lo, hi);
    const __m128i u = _mm_add_epi64(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    return _mm_cvtsi128_si64(u) + _mm_extract_epi64(u, 1);
}

void nvc_block_dot_avx2(const int16_t *w, const int16_t *x, int n16, int c_out, int64_t *out)
{
    int o = 0;
    for (; o + 4 <= c_out; o += 4, w += 4 * (size_t)n16) {
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n16; i += 16) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + i)), v));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + n16 + i)), v));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + 2 * n16 + i)), v));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + 3 * n16 + i)), v));
        }
        out[o] = hsum(a0);
        out[o + 1] = hsum(a1);
        out[o + 2] = hsum(a2);
        out[o + 3] = hsum(a3);
    }
    for (; o < c_out; o++, w += n16) {
        __m256i a0 = _mm256_setzero_si256();
        for (int i = 0; i < n16; i += 16)
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + i)),
                                                        _mm256_loadu_si256((const __m256i *)(x + i))));
        out[o] = hsum(a0);
    }
}
