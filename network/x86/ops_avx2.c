/* AVX2 kernels; each one equals its scalar reference in network/ops_c.c bit for bit.
 *
 * Dense conv2d: weights in the packed layout of nvc_conv_packed (16 output channels x 4 input channels
 * per pair of vectors). One input pixel's 4 channels are broadcast, `vpmaddubsw` multiplies them with
 * the 4 weights of 8 output channels (u8 x s8, pairs summed to int16: |255*64*2| < 2^15, exact since
 * weights are limited to [-64, 64]), `vpmaddwd` by ones widens to int32 and sums the pairs. The block
 * is 4 output pixels x 16 output channels (8 accumulators). Requantisation is exact 64-bit: see
 * requant8(). */
#include <immintrin.h>
#include <string.h>

#include "network/ops.h"

/* Per-lane constants of docs/engine.md's requantisation for 8 channels, split in even and odd lanes
 * because vpmuldq multiplies the even 32-bit lanes. With off = 2^(62-S):
 *   r = (acc*M + 2^62 + 2^(S-1)) >>> S = floor((acc*M + 2^(S-1)) / 2^S) + off      (|acc*M| < 2^61)
 *   out = clamp(r, lo - zp + off, hi - zp + off) - (off - zp). */
typedef struct {
    __m256i M, add[2], shift[2], lo[2], hi[2], sub[2];
} requant_consts;

static void requant_setup(requant_consts *q, const int32_t *M, const int32_t *S, int zp, int lo, int hi)
{
    int64_t add[2][4], shift[2][4], vlo[2][4], vhi[2][4], sub[2][4];
    for (int c = 0; c < 8; c++) {
        const int odd = c & 1, lane = c >> 1, s = S[c];
        const int64_t off = (int64_t)1 << (62 - s);
        add[odd][lane] = ((int64_t)1 << 62) + ((int64_t)1 << (s - 1));
        shift[odd][lane] = s;
        vlo[odd][lane] = lo - zp + off;
        vhi[odd][lane] = hi - zp + off;
        sub[odd][lane] = off - zp;
    }
    q->M = _mm256_loadu_si256((const __m256i *)M);
    for (int odd = 0; odd < 2; odd++) {
        q->add[odd] = _mm256_loadu_si256((const __m256i *)add[odd]);
        q->shift[odd] = _mm256_loadu_si256((const __m256i *)shift[odd]);
        q->lo[odd] = _mm256_loadu_si256((const __m256i *)vlo[odd]);
        q->hi[odd] = _mm256_loadu_si256((const __m256i *)vhi[odd]);
        q->sub[odd] = _mm256_loadu_si256((const __m256i *)sub[odd]);
    }
}

static inline __m256i requant_lanes(__m256i prod, const requant_consts *q, int odd)
{
    __m256i r = _mm256_srlv_epi64(_mm256_add_epi64(prod, q->add[odd]), q->shift[odd]);
    r = _mm256_blendv_epi8(r, q->lo[odd], _mm256_cmpgt_epi64(q->lo[odd], r));
    r = _mm256_blendv_epi8(r, q->hi[odd], _mm256_cmpgt_epi64(r, q->hi[odd]));
    return _mm256_sub_epi64(r, q->sub[odd]);
}

/* 8 int32 accumulators -> 8 int32 outputs in [lo, hi]. */
static inline __m256i requant8(__m256i acc, const requant_consts *q)
{
    const __m256i even = requant_lanes(_mm256_mul_epi32(acc, q->M), q, 0);
    const __m256i odd =
        requant_lanes(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(q->M, 32)), q, 1);
    return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* Two vectors of 8 int32 values in 0..255 -> 16 bytes in order. */
static inline void store16(uint8_t *dst, __m256i a, __m256i b)
{
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    const __m256i u = _mm256_permute4x64_epi64(_mm256_packus_epi16(w, w), 0x08);
    _mm_storeu_si128((__m128i *)dst, _mm256_castsi256_si128(u));
}

static inline __m256i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Output pixels x .. x+P-1 of row y, output channels 16*ob .. 16*ob+15. PAIRED: add the int16
 * products of two input-channel groups before widening (only when pk->pair_sum_exact). */
static inline __attribute__((always_inline)) void conv_block(const nvc_net_op *op, const nvc_tensor *in,
                                                             nvc_tensor *out, int y, int x, int ob, const int P,
                                                             const int PAIRED, const requant_consts q[2])
{
    const nvc_conv_packed *pk = &op->packed;
    const int k = op->k, pad = k / 2, s = op->stride, groups = pk->c_in8 / 4;
    const ptrdiff_t step = (ptrdiff_t)s * in->cstride;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[6][2];
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(pk->bias + 16 * ob));
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(pk->bias + 16 * ob + 8));
    for (int j = 0; j < P; j++) {
        acc[j][0] = b0;
        acc[j][1] = b1;
    }
    const int8_t *wp = pk->w + (size_t)ob * k * k * groups * 64;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            const uint8_t *src = nvc_tensor_px(in, y * s + ky - pad, x * s + kx - pad);
            if (PAIRED) {
                for (int g = 0; g < groups; g += 2, wp += 128, src += 8) {
                    const __m256i w00 = _mm256_load_si256((const __m256i *)wp);
                    const __m256i w01 = _mm256_load_si256((const __m256i *)(wp + 32));
                    const __m256i w10 = _mm256_load_si256((const __m256i *)(wp + 64));
                    const __m256i w11 = _mm256_load_si256((const __m256i *)(wp + 96));
                    for (int j = 0; j < P; j++) {
                        const __m256i v0 = bcast4(src + j * step), v1 = bcast4(src + j * step + 4);
                        const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(v0, w00), _mm256_maddubs_epi16(v1, w10));
                        const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(v0, w01), _mm256_maddubs_epi16(v1, w11));
                        acc[j][0] = _mm256_add_epi32(acc[j][0], _mm256_madd_epi16(p0, ones));
                        acc[j][1] = _mm256_add_epi32(acc[j][1], _mm256_madd_epi16(p1, ones));
                    }
                }
                continue;
            }
            for (int g = 0; g < groups; g++, wp += 64, src += 4) {
                const __m256i w0 = _mm256_load_si256((const __m256i *)wp);
                const __m256i w1 = _mm256_load_si256((const __m256i *)(wp + 32));
                for (int j = 0; j < P; j++) {
                    const __m256i v = bcast4(src + j * step);
                    acc[j][0] = _mm256_add_epi32(acc[j][0], _mm256_madd_epi16(_mm256_maddubs_epi16(v, w0), ones));
                    acc[j][1] = _mm256_add_epi32(acc[j][1], _mm256_madd_epi16(_mm256_maddubs_epi16(v, w1), ones));
                }
            }
        }
    for (int j = 0; j < P; j++)
        store16(nvc_tensor_px(out, y, x + j) + 16 * ob, requant8(acc[j][0], &q[0]), requant8(acc[j][1], &q[1]));
}

#define CONV_BLOCK_PIXELS 4

/* One row of one output-channel block; PAIRED is a constant so each variant is compiled separately. */
static inline __attribute__((always_inline)) void conv_row(const nvc_op_args *a, int y, int ob, const int PAIRED,
                                                           const requant_consts q[2])
{
    const int w = a->out->w;
    int x = 0;
    for (; x + CONV_BLOCK_PIXELS <= w; x += CONV_BLOCK_PIXELS)
        conv_block(a->op, a->in[0], a->out, y, x, ob, CONV_BLOCK_PIXELS, PAIRED, q);
    for (; x < w; x++)
        conv_block(a->op, a->in[0], a->out, y, x, ob, 1, PAIRED, q);
}

static nvc_op_rows_fn depthwise_rows_c; /* the reference serves depthwise convolutions for now */

static void conv2d_rows_avx2(const nvc_op_args *a, int y0, int y1)
{
    const nvc_net_op *op = a->op;
    if (op->depthwise) {
        depthwise_rows_c(a, y0, y1);
        return;
    }
    const nvc_conv_packed *pk = &op->packed;
    for (int ob = 0; ob < pk->c_out16 / 16; ob++) {
        requant_consts q[2];
        requant_setup(&q[0], pk->M + 16 * ob, pk->S + 16 * ob, op->zp_out, op->lo, op->hi);
        requant_setup(&q[1], pk->M + 16 * ob + 8, pk->S + 16 * ob + 8, op->zp_out, op->lo, op->hi);
        for (int y = y0; y < y1; y++) {
            if (pk->pair_sum_exact)
                conv_row(a, y, ob, 1, q);
            else
                conv_row(a, y, ob, 0, q);
        }
    }
}

void nvc_net_dsp_init_avx2(nvc_net_dsp *dsp)
{
    depthwise_rows_c = dsp->rows[NVC_OP_CONV2D];
    dsp->name = "avx2";
    dsp->rows[NVC_OP_CONV2D] = conv2d_rows_avx2;
}
