/* AVX2 rANS decoder: the lanes as vectors of 8 states (NVC_RANS_LANES / 8 of them), one gather per 8 symbols.
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

unsigned nvc_rans_max_index_avx2(const uint8_t *p, size_t n)
{
    __m256i m = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        m = _mm256_max_epu8(m, _mm256_loadu_si256((const __m256i *)(p + i)));
    __m128i h = _mm_max_epu8(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epu8(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu8(h, _mm_srli_si128(h, 4));
    h = _mm_max_epu8(h, _mm_srli_si128(h, 2));
    h = _mm_max_epu8(h, _mm_srli_si128(h, 1));
    unsigned max = (unsigned)_mm_extract_epi8(h, 0);
    for (; i < n; i++)
        max = p[i] > max ? p[i] : max;
    return max;
}

static inline void load_states(const nvc_rans_dec *d, __m256i *x, int nv)
{
    for (int v = 0; v < nv; v++)
        x[v] = _mm256_loadu_si256((const __m256i *)(d->state + 8 * v));
}

static inline void store_states(nvc_rans_dec *d, const __m256i *x, int nv)
{
    for (int v = 0; v < nv; v++)
        _mm256_storeu_si256((__m256i *)(d->state + 8 * v), x[v]);
}

/* The decoder for nv vectors (8 nv lanes); inlined once per constant nv so that its loops unroll. */
static inline __attribute__((always_inline)) long decode_run(nvc_rans_dec *d, const nvc_rans_run *run,
                                                             size_t start, const int nv)
{
    const int lanes = 8 * nv;
    const uint32_t *slots = d->cdf->slot;
    const uint8_t *buf = d->buf;
    const __m256i esc = _mm256_set1_epi32(NVC_CDF_ESCAPE);
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
    __m256i x[NVC_RANS_LANES / 8];
    load_states(d, x, nv);
    size_t pos = d->pos, i = start;
    /* A group reads at most one word per lane. */
    for (; i + (size_t)lanes <= run->n && d->size - pos >= 2 * (size_t)lanes; i += (size_t)lanes) {
        __m256i val[NVC_RANS_LANES / 8], y[NVC_RANS_LANES / 8];
        uint32_t escaped = 0;
        for (int v = 0; v < nv; v++) /* in lane order: words are consumed in the scalar order */
            x[v] = step8(x[v], table_base(run, i + 8 * (size_t)v), slots, buf, &pos, &val[v]);
        for (int v = 0; v < nv; v++) {
            /* y = (mean + value) mod 2^16 */
            y[v] = _mm256_and_si256(_mm256_add_epi32(means(run, i + 8 * (size_t)v), val[v]), lo16);
            escaped |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(val[v], esc))) << (8 * v);
        }
        for (int v = 0; v + 1 < nv; v += 2) /* pack unsigned (no saturation possible), restore the order */
            _mm256_storeu_si256((__m256i *)(run->y + i + 8 * (size_t)v),
                                _mm256_permute4x64_epi64(_mm256_packus_epi32(y[v], y[v + 1]), 0xD8));
        if (nv & 1) /* the odd vector: its 8 values packed alone */
            _mm_storeu_si128((__m128i *)(run->y + i + 8 * (size_t)(nv - 1)),
                             _mm_packus_epi32(_mm256_castsi256_si128(y[nv - 1]),
                                              _mm256_extracti128_si256(y[nv - 1], 1)));
        if (__builtin_expect(escaped != 0, 0)) { /* rare: the raw steps run scalar on the stored states */
            d->pos = pos;
            store_states(d, x, nv);
            if (nvc_rans_dec_escapes(d, run, i, escaped))
                return NVC_EINVALDATA;
            pos = d->pos;
            load_states(d, x, nv);
        }
    }
    d->pos = pos;
    store_states(d, x, nv);
    return (long)i;
}

long nvc_rans_decode_run_avx2(nvc_rans_dec *d, const nvc_rans_run *run, size_t start, int lanes)
{
    switch (lanes) {
    case 8: return decode_run(d, run, start, 1);
    case 16: return decode_run(d, run, start, 2);
    case 24: return decode_run(d, run, start, 3);
    case 32: return decode_run(d, run, start, 4);
    default: return (long)start;
    }
}
#else
typedef int nvc_rans_avx2_unused;
#endif
