/* AVX2 rANS decoder: 32 lanes as 4 vectors of 8 states, one gather per 8 symbols.
 * Exactly the scalar step of rans.h (nvc_rans_dec_step) done 8 lanes at a time, lanes in increasing order, so
 * words are consumed in the same order and every result (values, errors) is identical. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "entropy/rans.h"

/* For an 8-bit mask of lanes that read a word: byte j = how many of lanes 0..j-1 read one, i.e. the index of
 * lane j's word among the words loaded for this vector. Built at compile time. */
#define PC(m, j) (((m) & ((1 << (j)) - 1)) ? __builtin_popcount((m) & ((1 << (j)) - 1)) : 0)
#define E(m)                                                                                                \
    ((uint64_t)PC(m, 1) << 8 | (uint64_t)PC(m, 2) << 16 | (uint64_t)PC(m, 3) << 24 |                        \
     (uint64_t)PC(m, 4) << 32 | (uint64_t)PC(m, 5) << 40 | (uint64_t)PC(m, 6) << 48 |                       \
     (uint64_t)PC(m, 7) << 56)
#define E4(m) E(m), E((m) + 1), E((m) + 2), E((m) + 3)
#define E16(m) E4(m), E4((m) + 4), E4((m) + 8), E4((m) + 12)
#define E64(m) E16(m), E16((m) + 16), E16((m) + 32), E16((m) + 48)
static const uint64_t word_index[256] = { E64(0), E64(64), E64(128), E64(192) };

/* One decode step of 8 lanes. Returns the new states; *vals gets the decoded values (int32, -128 = escape). */
static inline __m256i step8(__m256i x, __m256i tbase, const uint32_t *slots, const uint8_t *buf, size_t *pos,
                            __m256i *vals)
{
    const __m256i mask12 = _mm256_set1_epi32(0xFFF);
    const __m256i slot = _mm256_and_si256(x, mask12);
    const __m256i e = _mm256_i32gather_epi32((const int *)slots, _mm256_add_epi32(tbase, slot), 4);
    const __m256i freq = _mm256_and_si256(e, mask12);
    const __m256i off = _mm256_and_si256(_mm256_srli_epi32(e, 12), mask12);
    x = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srli_epi32(x, 12)), off);
    /* x < L  <=>  x >> 16 == 0 */
    const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(x, 16), _mm256_setzero_si256());
    const unsigned m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(need));
    const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(buf + *pos)));
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)word_index[m]));
    const __m256i w = _mm256_permutevar8x32_epi32(words, idx);
    x = _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), w), need);
    *pos += 2 * (size_t)__builtin_popcount(m);
    *vals = _mm256_srai_epi32(e, 24);
    return x;
}

static inline __m256i table_base(const nvc_rans_run *run, size_t i)
{
    if (!run->index_step)
        return _mm256_set1_epi32((int)run->index[0] << NVC_CDF_PREC_BITS);
    __m128i b = _mm_loadl_epi64((const __m128i *)(run->index + i));
    return _mm256_slli_epi32(_mm256_cvtepu8_epi32(b), NVC_CDF_PREC_BITS);
}

static inline __m256i means(const nvc_rans_run *run, size_t i)
{
    if (!run->mean_step)
        return _mm256_set1_epi32(run->mean[0]);
    return _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(run->mean + i)));
}

long nvc_rans_decode_run_avx2(nvc_rans_dec *d, const nvc_rans_run *run, size_t start)
{
    const uint32_t *slots = d->cdf->slot;
    const uint8_t *buf = d->buf;
    const __m256i esc = _mm256_set1_epi32(NVC_CDF_ESCAPE);
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
    __m256i x0 = _mm256_loadu_si256((const __m256i *)(d->state + 0));
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(d->state + 8));
    __m256i x2 = _mm256_loadu_si256((const __m256i *)(d->state + 16));
    __m256i x3 = _mm256_loadu_si256((const __m256i *)(d->state + 24));
    size_t pos = d->pos, i = start;
    /* A group reads at most 32 words = 64 bytes; the bypass bytes at the end are off limits. */
    for (; i + NVC_RANS_LANES <= run->n && d->size - pos >= 64; i += NVC_RANS_LANES) {
        __m256i v0, v1, v2, v3;
        x0 = step8(x0, table_base(run, i + 0), slots, buf, &pos, &v0);
        x1 = step8(x1, table_base(run, i + 8), slots, buf, &pos, &v1);
        x2 = step8(x2, table_base(run, i + 16), slots, buf, &pos, &v2);
        x3 = step8(x3, table_base(run, i + 24), slots, buf, &pos, &v3);
        /* y = (mean + value) mod 2^16: mask to 16 bits, pack unsigned (no saturation possible), fix order. */
        const __m256i y0 = _mm256_and_si256(_mm256_add_epi32(means(run, i + 0), v0), lo16);
        const __m256i y1 = _mm256_and_si256(_mm256_add_epi32(means(run, i + 8), v1), lo16);
        const __m256i y2 = _mm256_and_si256(_mm256_add_epi32(means(run, i + 16), v2), lo16);
        const __m256i y3 = _mm256_and_si256(_mm256_add_epi32(means(run, i + 24), v3), lo16);
        _mm256_storeu_si256((__m256i *)(run->y + i), _mm256_permute4x64_epi64(_mm256_packus_epi32(y0, y1), 0xD8));
        _mm256_storeu_si256((__m256i *)(run->y + i + 16),
                            _mm256_permute4x64_epi64(_mm256_packus_epi32(y2, y3), 0xD8));
        const unsigned e0 = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v0, esc)));
        const unsigned e1 = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v1, esc)));
        const unsigned e2 = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v2, esc)));
        const unsigned e3 = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v3, esc)));
        const uint32_t escaped = e0 | e1 << 8 | e2 << 16 | e3 << 24;
        if (__builtin_expect(escaped != 0, 0)) { /* rare: the raw steps run scalar on the stored states */
            d->pos = pos;
            _mm256_storeu_si256((__m256i *)(d->state + 0), x0);
            _mm256_storeu_si256((__m256i *)(d->state + 8), x1);
            _mm256_storeu_si256((__m256i *)(d->state + 16), x2);
            _mm256_storeu_si256((__m256i *)(d->state + 24), x3);
            if (nvc_rans_dec_escapes(d, run, i, escaped))
                return NVC_EINVALDATA;
            pos = d->pos;
            x0 = _mm256_loadu_si256((const __m256i *)(d->state + 0));
            x1 = _mm256_loadu_si256((const __m256i *)(d->state + 8));
            x2 = _mm256_loadu_si256((const __m256i *)(d->state + 16));
            x3 = _mm256_loadu_si256((const __m256i *)(d->state + 24));
        }
    }
    d->pos = pos;
    _mm256_storeu_si256((__m256i *)(d->state + 0), x0);
    _mm256_storeu_si256((__m256i *)(d->state + 8), x1);
    _mm256_storeu_si256((__m256i *)(d->state + 16), x2);
    _mm256_storeu_si256((__m256i *)(d->state + 24), x3);
    return (long)i;
}
#else
typedef int nvc_rans_avx2_unused;
#endif
