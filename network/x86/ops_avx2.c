/* AVX2 kernels; each one equals its scalar reference in network/ops_c.c bit for bit.
 *
 * Dense conv2d: weights in the packed layout of nvc_conv_packed (16 output channels x 4 input channels
 * per pair of vectors). One input pixel's 4 channels are broadcast, `vpmaddubsw` multiplies them with
 * the 4 weights of 8 output channels (u8 x s8, pairs summed to int16: |255*64*2| < 2^15, exact since
 * weights are limited to [-64, 64]), `vpmaddwd` by ones widens to int32 and sums the pairs; with
 * AVX-VNNI one `vpdpbusd` does all three. A block is 4-6 output pixels x 16 output channels (see
 * conv_row()). A conv with an addend starts its accumulators at bias + A * (addend - zp_addend)
 * (addend8()). Requantisation is exact 64-bit: see requant8() and, for the conv, conv_requant8(). */
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

/* The conv epilogue, cheaper than requant8: acc is first clamped to [acc_lo, acc_hi] of
 * nvc_conv_packed (which changes no output), so zp + requant(acc) fits int32 and its low 32 bits are
 * enough: with off = 2^(62-S), the low half of (acc*M + 2^62 + 2^(S-1)) >>> S is v + off mod 2^32, and
 * subtracting (off mod 2^32) - zp gives zp + v. The clamp to [lo, hi] is done on the bytes after the
 * saturating narrowing (store_conv16/8). A and zp_addend: the addend term, for convs with one. */
typedef struct {
    __m256i acc_lo, acc_hi, M, M_odd, add[2], shift[2], sub;
    __m256i A, zp_addend;
} conv_requant;

static void conv_requant_setup(conv_requant *q, const nvc_conv_packed *pk, int c0, int zp, int zp_addend)
{
    int64_t add[2][4], shift[2][4];
    int32_t sub[8];
    for (int c = 0; c < 8; c++) {
        const int odd = c & 1, lane = c >> 1, s = pk->S[c0 + c];
        add[odd][lane] = ((int64_t)1 << 62) + ((int64_t)1 << (s - 1));
        shift[odd][lane] = s;
        sub[c] = (int32_t)(uint32_t)(((uint64_t)1 << (62 - s)) - (uint64_t)(int64_t)zp);
    }
    q->acc_lo = _mm256_loadu_si256((const __m256i *)(pk->acc_lo + c0));
    q->acc_hi = _mm256_loadu_si256((const __m256i *)(pk->acc_hi + c0));
    q->M = _mm256_loadu_si256((const __m256i *)(pk->M + c0));
    q->M_odd = _mm256_srli_epi64(q->M, 32);
    q->sub = _mm256_loadu_si256((const __m256i *)sub);
    q->A = pk->A ? _mm256_loadu_si256((const __m256i *)(pk->A + c0)) : _mm256_setzero_si256();
    q->zp_addend = _mm256_set1_epi32(zp_addend);
    for (int odd = 0; odd < 2; odd++) {
        q->add[odd] = _mm256_loadu_si256((const __m256i *)add[odd]);
        q->shift[odd] = _mm256_loadu_si256((const __m256i *)shift[odd]);
    }
}

/* 8 int32 accumulators -> 8 values zp + requant(acc), not yet clamped to [lo, hi]. */
static inline __m256i conv_requant8(__m256i acc, const conv_requant *q)
{
    acc = _mm256_min_epi32(_mm256_max_epi32(acc, q->acc_lo), q->acc_hi);
    const __m256i even = _mm256_srlv_epi64(_mm256_add_epi64(_mm256_mul_epi32(acc, q->M), q->add[0]), q->shift[0]);
    const __m256i odd = _mm256_srlv_epi64(
        _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->M_odd), q->add[1]), q->shift[1]);
    return _mm256_sub_epi32(_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA), q->sub);
}

/* acc + A * (addend - zp_addend) for the 8 channels of q at p (8 bytes of one addend pixel). Exact in
 * int32: |A * (addend - zp)| <= 32768 * 255, and the loader bounds |bias| + |sum w * x| + 255 * max|A|
 * below 2^31, so every partial sum is exact whatever the order. The conv's output channels are the
 * addend's, so the two tensors have the same cstride (a multiple of 16) and a block's 8 or 16 bytes
 * never leave the pixel; channels beyond c_out hold unspecified bytes, which A = 0 there
 * (nvc_conv_packed) cancels. */
static inline __m256i addend8(__m256i acc, const uint8_t *p, const conv_requant *q)
{
    const __m256i d = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)), q->zp_addend);
    return _mm256_add_epi32(acc, _mm256_mullo_epi32(d, q->A));
}

/* Two vectors of 8 int32 values -> 16 bytes in order, saturated to 0..255 and clamped to [lo, hi]. */
static inline void store_conv16(uint8_t *dst, __m256i a, __m256i b, __m128i lo, __m128i hi)
{
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    const __m256i u = _mm256_permute4x64_epi64(_mm256_packus_epi16(w, w), 0x08);
    _mm_storeu_si128((__m128i *)dst, _mm_min_epu8(_mm_max_epu8(_mm256_castsi256_si128(u), lo), hi));
}

/* AVX-VNNI vpdpbusd (VEX): acc + the sums of 4 products u8 x s8 per int32 lane, without intermediate
 * saturation, so exact for any weight. Inline assembly, so that this file needs no -mavxvnni (callers
 * run it only when nvc_cpu_flags() has NVC_CPU_AVXVNNI). */
static inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8)
{
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8));
    return acc;
}

/* acc + the sums of 4 products u8 x s8 per int32 lane: one vpdpbusd with VNNI, else vpmaddubsw + vpmaddwd
 * (exact: the weights' range keeps the int16 pair sums from saturating). VNNI is a compile-time constant. */
static inline __attribute__((always_inline)) __m256i dot4_add(__m256i acc, __m256i u8, __m256i s8, __m256i ones,
                                                              const int VNNI)
{
    return VNNI ? dpbusd(acc, u8, s8) : _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u8, s8), ones));
}

static inline __m256i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* 8 int32 values -> 8 bytes in order, saturated to 0..255 and clamped to [lo, hi]. */
static inline void store_conv8(uint8_t *dst, __m256i a, __m128i lo, __m128i hi)
{
    const __m256i w = _mm256_packs_epi32(a, a);
    const __m128i u = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storel_epi64((__m128i *)dst, _mm_min_epu8(_mm_max_epu8(_mm_unpacklo_epi32(u, _mm_srli_si128(u, 8)), lo), hi));
}

/* Output pixels x .. x+P-1 of row y, output channels 16*ob .. 16*ob + 8*OCV - 1 (OCV = 2 vectors of 8
 * output channels, or 1 for a last block of at most 8 channels). PAIRED: add the int16 products of two
 * input-channel groups before widening (only when pk->block_paired[ob]). VNNI: one vpdpbusd per group
 * instead (PAIRED is then 0). ADDEND: the accumulators start at bias + the addend term (addend8()); a
 * constant like the others, so convs without an addend run the same code as before there was one. (In
 * the prologue rather than before conv_requant8: there gcc kept addend values live across the loops
 * and spilled accumulators to the stack: +14% time over the plain 64->64 3x3 conv on AVX2, now ~+1%.)
 * The pixel and channel-vector loops are unrolled explicitly (`#pragma GCC unroll`): gcc -O2 kept them
 * as loops, so acc[][] lived in memory and every multiply-add went through a load and a store
 * (perf annotate); in registers the full-range decoder stack of bench_network runs ~1.25x faster. */
static inline __attribute__((always_inline)) void conv_block(const nvc_net_op *op, const nvc_tensor *in,
                                                             const nvc_tensor *addend, nvc_tensor *out, int y,
                                                             int x, int ob, const int P, const int PAIRED,
                                                             const int OCV, const int VNNI, const int ADDEND,
                                                             const conv_requant q[2])
{
    const nvc_conv_packed *pk = &op->packed;
    const int k = op->k, pad = k / 2, s = op->stride, groups = pk->c_in8 / 4;
    const ptrdiff_t step = (ptrdiff_t)s * in->cstride;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[8][2];
    #pragma GCC unroll 8
    for (int v = 0; v < OCV; v++) {
        const __m256i b = _mm256_loadu_si256((const __m256i *)(pk->bias + 16 * ob + 8 * v));
        #pragma GCC unroll 8
        for (int j = 0; j < P; j++)
            acc[j][v] = ADDEND ? addend8(b, nvc_tensor_px(addend, y, x + j) + 16 * ob + 8 * v, &q[v]) : b;
    }
    const int8_t *wp = pk->w + (size_t)ob * k * k * groups * 64;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            const uint8_t *src = nvc_tensor_px(in, y * s + ky - pad, x * s + kx - pad);
            if (PAIRED) {
                for (int g = 0; g < groups; g += 2, wp += 128, src += 8) {
                    __m256i w0[2], w1[2];
                    #pragma GCC unroll 8
                    for (int v = 0; v < OCV; v++) {
                        w0[v] = _mm256_load_si256((const __m256i *)(wp + 32 * v));
                        w1[v] = _mm256_load_si256((const __m256i *)(wp + 64 + 32 * v));
                    }
                    #pragma GCC unroll 8
                    for (int j = 0; j < P; j++) {
                        const __m256i v0 = bcast4(src + j * step), v1 = bcast4(src + j * step + 4);
                        #pragma GCC unroll 8
                        for (int v = 0; v < OCV; v++) {
                            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(v0, w0[v]),
                                                               _mm256_maddubs_epi16(v1, w1[v]));
                            acc[j][v] = _mm256_add_epi32(acc[j][v], _mm256_madd_epi16(p, ones));
                        }
                    }
                }
                continue;
            }
            for (int g = 0; g < groups; g++, wp += 64, src += 4) {
                __m256i w0[2];
#pragma GCC unroll 8
                for (int v = 0; v < OCV; v++)
                    w0[v] = _mm256_load_si256((const __m256i *)(wp + 32 * v));
#pragma GCC unroll 8
                for (int j = 0; j < P; j++) {
                    const __m256i v0 = bcast4(src + j * step);
#pragma GCC unroll 8
                    for (int v = 0; v < OCV; v++)
                        acc[j][v] = dot4_add(acc[j][v], v0, w0[v], ones, VNNI);
                }
            }
        }
        const __m128i lo = _mm_set1_epi8((char)op->lo), hi = _mm_set1_epi8((char)op->hi);
#pragma GCC unroll 8
    for (int j = 0; j < P; j++) {
        uint8_t *dst = nvc_tensor_px(out, y, x + j) + 16 * ob;
        if (OCV == 2)
            store_conv16(dst, conv_requant8(acc[j][0], &q[0]), conv_requant8(acc[j][1], &q[1]), lo, hi);
        else
            store_conv8(dst, conv_requant8(acc[j][0], &q[0]), lo, hi);
    }
}

/* One row of one output-channel block; the variant parameters are constants, so each combination is
 * compiled separately. Pixels per block (measured, bench_network on a real model): 16 channels x 5
 * pixels unpaired (10 accumulators; ~8% faster than 4), x 4 pixels paired (it needs 4 weight vectors),
 * x 6 with VNNI (12 accumulators, 2 weight vectors, 1 broadcast), 8 channels x 8 pixels. */
static inline __attribute__((always_inline)) void conv_row(const nvc_op_args *a, int y, int ob, const int PAIRED,
                                                           const int OCV, const int VNNI, const int ADDEND,
                                                           const conv_requant q[2])
{
    const int w = a->out->w, P = OCV == 2 ? (VNNI ? 6 : PAIRED ? 4 : 5) : 8;
    int x = 0;
    for (; x + P <= w; x += P)
        conv_block(a->op, a->in[0], a->in[1], a->out, y, x, ob, P, PAIRED, OCV, VNNI, ADDEND, q);
    for (; x < w; x++)
        conv_block(a->op, a->in[0], a->in[1], a->out, y, x, ob, 1, PAIRED, OCV, VNNI, ADDEND, q);
}

/* Rows y0 .. y1-1 of output-channel block ob: the block's run-time properties (paired products, at most
 * 8 channels) become conv_row's constants. */
static inline __attribute__((always_inline)) void conv_block_rows(const nvc_op_args *a, int y0, int y1, int ob,
                                                                  const int VNNI, const int ADDEND,
                                                                  const conv_requant q[2])
{
    const int half = a->op->c_out - 16 * ob <= 8; /* a last block of at most 8 channels */
    const int paired = !VNNI && a->op->packed.block_paired[ob];
    for (int y = y0; y < y1; y++) {
        if (paired)
            half ? conv_row(a, y, ob, 1, 1, 0, ADDEND, q) : conv_row(a, y, ob, 1, 2, 0, ADDEND, q);
        else
            half ? conv_row(a, y, ob, 0, 1, VNNI, ADDEND, q) : conv_row(a, y, ob, 0, 2, VNNI, ADDEND, q);
    }
}

static nvc_op_rows_fn depthwise_rows_c; /* the reference serves depthwise convolutions for now */

static inline __attribute__((always_inline)) void conv2d_rows(const nvc_op_args *a, int y0, int y1, const int VNNI)
{
    const nvc_net_op *op = a->op;
    if (op->depthwise) {
        depthwise_rows_c(a, y0, y1);
        return;
    }
    const nvc_conv_packed *pk = &op->packed;
    const int addend = op->n_in > 1, zp_addend = addend ? a->in[1]->zp : 0;
    for (int ob = 0; ob < pk->c_out16 / 16; ob++) {
        conv_requant q[2];
        conv_requant_setup(&q[0], pk, 16 * ob, op->zp_out, zp_addend);
        conv_requant_setup(&q[1], pk, 16 * ob + 8, op->zp_out, zp_addend);
        if (addend)
            conv_block_rows(a, y0, y1, ob, VNNI, 1, q);
        else
            conv_block_rows(a, y0, y1, ob, VNNI, 0, q);
    }
}

static void conv2d_rows_avx2(const nvc_op_args *a, int y0, int y1)
{
    conv2d_rows(a, y0, y1, 0);
}

static void conv2d_rows_avxvnni(const nvc_op_args *a, int y0, int y1)
{
    conv2d_rows(a, y0, y1, 1);
}

/* Both tensors have the same channel count, hence the same pixel layout: a row is processed as one
 * span of w * cstride bytes (a multiple of 16), padding channels included (their values are unspecified
 * and stay so). acc = (a-zpa)*Ma + (b-zpb)*Mb fits int32 and its rounding shift too (|acc| < 2^24,
 * S <= 30); packing saturates to int16 then uint8, which cannot change the final clamp to [lo, hi]. */
static void add_rows_avx2(const nvc_op_args *a, int y0, int y1)
{
    const nvc_net_op *op = a->op;
    const int S = op->p[2];
    const __m256i zpa = _mm256_set1_epi16((short)a->in[0]->zp), zpb = _mm256_set1_epi16((short)a->in[1]->zp);
    const __m256i mab = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)op->p[1] << 16 | (uint16_t)op->p[0]));
    const __m256i round = _mm256_set1_epi32(1 << (S - 1)), zp = _mm256_set1_epi32(op->zp_out);
    const __m128i shift = _mm_cvtsi32_si128(S);
    const __m128i lo = _mm_set1_epi8((char)op->lo), hi = _mm_set1_epi8((char)op->hi);
    const size_t span = (size_t)a->out->w * a->out->cstride;
    for (int y = y0; y < y1; y++) {
        const uint8_t *pa = nvc_tensor_px(a->in[0], y, 0), *pb = nvc_tensor_px(a->in[1], y, 0);
        uint8_t *dst = nvc_tensor_px(a->out, y, 0);
        for (size_t i = 0; i < span; i += 16) {
            const __m256i va = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(pa + i))), zpa);
            const __m256i vb = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(pb + i))), zpb);
            __m256i r0 = _mm256_madd_epi16(_mm256_unpacklo_epi16(va, vb), mab);
            __m256i r1 = _mm256_madd_epi16(_mm256_unpackhi_epi16(va, vb), mab);
            r0 = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(r0, round), shift), zp);
            r1 = _mm256_add_epi32(_mm256_sra_epi32(_mm256_add_epi32(r1, round), shift), zp);
            const __m256i w16 = _mm256_packs_epi32(r0, r1); /* in order within each 128-bit lane */
            const __m256i u8 = _mm256_permute4x64_epi64(_mm256_packus_epi16(w16, w16), 0x08);
            const __m128i v = _mm_min_epu8(_mm_max_epu8(_mm256_castsi256_si128(u8), lo), hi);
            _mm_storeu_si128((__m128i *)(dst + i), v);
        }
    }
}

/* Per-channel exact 64-bit requantisation of q - zp_in, 8 channels at a time. */
static void scale_channels_rows_avx2(const nvc_op_args *a, int y0, int y1)
{
    const nvc_net_op *op = a->op;
    const int row = op->nq == 1 ? 0 : a->quality, c = op->c_out;
    const __m256i zp_in = _mm256_set1_epi32(a->in[0]->zp);
    for (int c0 = 0; c0 < c; c0 += 8) {
        int32_t M[8], S[8];
        for (int i = 0; i < 8; i++) {
            M[i] = c0 + i < c ? op->tab_M[(size_t)row * c + c0 + i] : 0;
            S[i] = c0 + i < c ? op->tab_S[(size_t)row * c + c0 + i] : 1;
        }
        requant_consts q;
        requant_setup(&q, M, S, op->zp_out, op->lo, op->hi);
        for (int y = y0; y < y1; y++)
            for (int x = 0; x < a->out->w; x++) {
                const uint8_t *src = nvc_tensor_px(a->in[0], y, x) + c0;
                const __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src)), zp_in);
                const __m256i r = requant8(v, &q);
                const __m256i w16 = _mm256_packs_epi32(r, r);
                const __m128i u8 = _mm_packus_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
                /* bytes 0-3 from the low lane, 4-7 from the high lane */
                const __m128i out8 = _mm_unpacklo_epi32(u8, _mm_srli_si128(u8, 8));
                _mm_storel_epi64((__m128i *)(nvc_tensor_px(a->out, y, x) + c0), out8);
            }
    }
}

static nvc_op_rows_fn depth_to_space_rows_c;

/* r = 2: 16 input channels = 4 output channels x 4 phases; a byte shuffle makes them phase-major and
 * each phase's 4 bytes go to its output pixel; the last c % 4 channels bytewise. Other factors: the
 * reference. */
static void depth_to_space_rows_avx2(const nvc_op_args *a, int y0, int y1)
{
    const int c = a->out->c, c4 = c & ~3;
    if (a->op->p[0] != 2) {
        depth_to_space_rows_c(a, y0, y1);
        return;
    }
    const __m128i phase_major = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int y = y0; y < y1; y++) {
        const int iy = y >> 1, i = y & 1;
        for (int ix = 0; ix < a->in[0]->w; ix++) {
            const uint8_t *src = nvc_tensor_px(a->in[0], iy, ix);
            uint8_t *d0 = nvc_tensor_px(a->out, y, 2 * ix), *d1 = d0 + a->out->cstride;
            int k = 0;
            for (; k < c4; k += 4) {
                const __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 4 * k)), phase_major);
                /* phase i*2 + j is dword (2i + j) */
                const int p0 = _mm_extract_epi32(v, 0), p1 = _mm_extract_epi32(v, 1);
                const int p2 = _mm_extract_epi32(v, 2), p3 = _mm_extract_epi32(v, 3);
                memcpy(d0 + k, i ? &p2 : &p0, 4);
                memcpy(d1 + k, i ? &p3 : &p1, 4);
            }
            for (; k < c; k++) { /* channel tail */
                d0[k] = src[4 * k + 2 * i];
                d1[k] = src[4 * k + 2 * i + 1];
            }
        }
    }
}

/* 8 integer bilinear samples (docs/engine.md, warp step 3): tap byte offsets from base (clamped
 * coordinates, so always inside the tensor; a 4-byte gather reads at most 3 bytes more, which the
 * tensor's padding channels and spare bytes cover) and 4-bit fractions. Pairs of taps share a 32-bit
 * lane as int16 so one vpmaddwd applies two weights (each <= 256, products exact). */
static inline __m256i bilinear8(const uint8_t *base, __m256i o00, __m256i o01, __m256i o10, __m256i o11, __m256i fx,
                                __m256i fy)
{
    const __m256i byte = _mm256_set1_epi32(0xFF), sixteen = _mm256_set1_epi32(16);
    const __m256i p00 = _mm256_and_si256(_mm256_i32gather_epi32((const int *)base, o00, 1), byte);
    const __m256i p01 = _mm256_and_si256(_mm256_i32gather_epi32((const int *)base, o01, 1), byte);
    const __m256i p10 = _mm256_and_si256(_mm256_i32gather_epi32((const int *)base, o10, 1), byte);
    const __m256i p11 = _mm256_and_si256(_mm256_i32gather_epi32((const int *)base, o11, 1), byte);
    const __m256i wx = _mm256_or_si256(_mm256_sub_epi32(sixteen, fx), _mm256_slli_epi32(fx, 16)); /* (16-fx, fx) */
    const __m256i gy = _mm256_sub_epi32(sixteen, fy);
    const __m256i w0 = _mm256_mullo_epi16(wx, _mm256_or_si256(gy, _mm256_slli_epi32(gy, 16)));
    const __m256i w1 = _mm256_mullo_epi16(wx, _mm256_or_si256(fy, _mm256_slli_epi32(fy, 16)));
    const __m256i s0 = _mm256_madd_epi16(_mm256_or_si256(p00, _mm256_slli_epi32(p01, 16)), w0);
    const __m256i s1 = _mm256_madd_epi16(_mm256_or_si256(p10, _mm256_slli_epi32(p11, 16)), w1);
    return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(s0, s1), _mm256_set1_epi32(128)), 8);
}

static inline __m256i clamp_epi32(__m256i v, __m256i hi)
{
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), hi);
}

/* nvc_warp_motion_rows() with 8 columns per step (when 4r^2 is a power of two; else the reference). */
static void warp_motion_rows_avx2(const nvc_warp_rows *w, const int32_t *m, int y)
{
    if (w->log2_d2 < 0) {
        nvc_warp_motion_rows(w, m, y);
        return;
    }
    const int d2 = 4 * w->r * w->r, mw = w->mw, lw = w->lw;
    const __m128i shift = _mm_cvtsi32_si128(w->log2_d2);
    const __m256i half = _mm256_set1_epi32(d2 / 2);
    const size_t plane = (size_t)w->mh * mw;
    for (int a = 0; a < 2; a++) {
        int ya, yb, wya, wyb;
        nvc_bilinear_taps(2 * y + a, w->mh, w->r, &ya, &yb, &wya, &wyb);
        const __m256i vwa = _mm256_set1_epi32(wya), vwb = _mm256_set1_epi32(wyb);
        for (int c = 0; c < 2; c++) {
            const int32_t *pa = m + c * plane + (size_t)ya * mw, *pb = m + c * plane + (size_t)yb * mw;
            int32_t *col = w->col + c * mw;
            int x = 0;
            for (; x + 8 <= mw; x += 8)
                _mm256_storeu_si256((__m256i *)(col + x),
                    _mm256_add_epi32(_mm256_mullo_epi32(vwa, _mm256_loadu_si256((const __m256i *)(pa + x))),
                                     _mm256_mullo_epi32(vwb, _mm256_loadu_si256((const __m256i *)(pb + x)))));
            for (; x < mw; x++)
                col[x] = wya * pa[x] + wyb * pb[x];
        }
        for (int c = 0; c < 2; c++) {
            const int32_t *col = w->col + c * mw;
            int32_t *dst = w->mv + (2 * a + c) * w->stride;
            int x = 0;
            for (; x + 8 <= lw; x += 8) {
                const __m256i ia = _mm256_loadu_si256((const __m256i *)(w->xa + x));
                const __m256i ib = _mm256_loadu_si256((const __m256i *)(w->xb + x));
                const __m256i s = _mm256_add_epi32(
                    _mm256_add_epi32(_mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(w->wxa + x)),
                                                        _mm256_i32gather_epi32(col, ia, 4)),
                                     _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(w->wxb + x)),
                                                        _mm256_i32gather_epi32(col, ib, 4))),
                    half);
                _mm256_storeu_si256((__m256i *)(dst + x), _mm256_sra_epi32(s, shift));
            }
            for (; x < lw; x++)
                dst[x] = (w->wxa[x] * col[w->xa[x]] + w->wxb[x] * col[w->xb[x]] + d2 / 2) >> w->log2_d2;
        }
    }
}

/* Luma: 8 consecutive luma pixels of one luma row per step; chroma: 8 packed pixels per step. Lanes
 * past the row end sample clamped positions with zero motion and are not stored. */
static void warp_rows_avx2(const nvc_op_args *a, int y0, int y1)
{
    const nvc_tensor *ref = a->in[0];
    nvc_tensor *out = a->out;
    const int lh = 2 * ref->h, lw = 2 * ref->w;
    nvc_warp_rows w;
    nvc_warp_begin(a, &w);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), one = _mm256_set1_epi32(1);
    const __m256i fifteen = _mm256_set1_epi32(15), rstride = _mm256_set1_epi32((int)ref->rstride);
    const __m256i cstride = _mm256_set1_epi32(ref->cstride);
    const __m256i lw1 = _mm256_set1_epi32(lw - 1), lh1 = _mm256_set1_epi32(lh - 1);
    const __m256i cw1 = _mm256_set1_epi32(ref->w - 1), ch1 = _mm256_set1_epi32(ref->h - 1);
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    int32_t res[8];
    for (int y = y0; y < y1; y++) {
        warp_motion_rows_avx2(&w, a->motion, y);
        uint8_t *drow = nvc_tensor_px(out, y, 0);
        for (int ph_row = 0; ph_row < 2; ph_row++) {
            const int ly = 2 * y + ph_row;
            const int32_t *mvx = w.mv + 2 * ph_row * w.stride, *mvy = mvx + w.stride;
            for (int lx0 = 0; lx0 < lw; lx0 += 8) {
                const __m256i mx = _mm256_loadu_si256((const __m256i *)(mvx + lx0));
                const __m256i my = _mm256_loadu_si256((const __m256i *)(mvy + lx0));
                const __m256i x0 = _mm256_add_epi32(_mm256_add_epi32(_mm256_set1_epi32(lx0), lane), _mm256_srai_epi32(mx, 4));
                const __m256i yy0 = _mm256_add_epi32(_mm256_set1_epi32(ly), _mm256_srai_epi32(my, 4));
                const __m256i xa = clamp_epi32(x0, lw1), xb = clamp_epi32(_mm256_add_epi32(x0, one), lw1);
                const __m256i ya = clamp_epi32(yy0, lh1), yb = clamp_epi32(_mm256_add_epi32(yy0, one), lh1);
                /* luma (yy, xx) is channel 2*(yy&1) + (xx&1) of packed pixel (yy>>1, xx>>1) */
                const __m256i ca = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srai_epi32(xa, 1), cstride), _mm256_and_si256(xa, one));
                const __m256i cb = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srai_epi32(xb, 1), cstride), _mm256_and_si256(xb, one));
                const __m256i ra = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srai_epi32(ya, 1), rstride),
                                                    _mm256_slli_epi32(_mm256_and_si256(ya, one), 1));
                const __m256i rb = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_srai_epi32(yb, 1), rstride),
                                                    _mm256_slli_epi32(_mm256_and_si256(yb, one), 1));
                const __m256i v = bilinear8(ref->data, _mm256_add_epi32(ra, ca), _mm256_add_epi32(ra, cb),
                                            _mm256_add_epi32(rb, ca), _mm256_add_epi32(rb, cb),
                                            _mm256_and_si256(mx, fifteen), _mm256_and_si256(my, fifteen));
                _mm256_storeu_si256((__m256i *)res, v);
                const int n = lw - lx0 < 8 ? lw - lx0 : 8;
                for (int i = 0; i < n; i++) {
                    const int lx = lx0 + i;
                    drow[(size_t)(lx >> 1) * out->cstride + 2 * ph_row + (lx & 1)] = (uint8_t)res[i];
                }
            }
        }
        /* chroma: the vector of luma (2y, 2x), halved */
        for (int x0 = 0; x0 < ref->w; x0 += 8) {
            const int32_t *mvx = w.mv + 2 * x0, *mvy = w.mv + w.stride + 2 * x0;
            const __m256i ex0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)mvx), even);
            const __m256i ex1 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(mvx + 8)), even);
            const __m256i ey0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)mvy), even);
            const __m256i ey1 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(mvy + 8)), even);
            const __m256i cmx = _mm256_srai_epi32(_mm256_permute2x128_si256(ex0, ex1, 0x20), 1);
            const __m256i cmy = _mm256_srai_epi32(_mm256_permute2x128_si256(ey0, ey1, 0x20), 1);
            const __m256i px0 = _mm256_add_epi32(_mm256_add_epi32(_mm256_set1_epi32(x0), lane), _mm256_srai_epi32(cmx, 4));
            const __m256i py0 = _mm256_add_epi32(_mm256_set1_epi32(y), _mm256_srai_epi32(cmy, 4));
            const __m256i ca = _mm256_mullo_epi32(clamp_epi32(px0, cw1), cstride);
            const __m256i cb = _mm256_mullo_epi32(clamp_epi32(_mm256_add_epi32(px0, one), cw1), cstride);
            const __m256i ra = _mm256_mullo_epi32(clamp_epi32(py0, ch1), rstride);
            const __m256i rb = _mm256_mullo_epi32(clamp_epi32(_mm256_add_epi32(py0, one), ch1), rstride);
            const __m256i fx = _mm256_and_si256(cmx, fifteen), fy = _mm256_and_si256(cmy, fifteen);
            const __m256i o00 = _mm256_add_epi32(ra, ca), o01 = _mm256_add_epi32(ra, cb);
            const __m256i o10 = _mm256_add_epi32(rb, ca), o11 = _mm256_add_epi32(rb, cb);
            const int n = ref->w - x0 < 8 ? ref->w - x0 : 8;
            for (int plane = 4; plane < 6; plane++) {
                _mm256_storeu_si256((__m256i *)res, bilinear8(ref->data + plane, o00, o01, o10, o11, fx, fy));
                for (int i = 0; i < n; i++)
                    drow[(size_t)(x0 + i) * out->cstride + plane] = (uint8_t)res[i];
            }
        }
    }
}

void nvc_net_dsp_init_avx2(nvc_net_dsp *dsp)
{
    depthwise_rows_c = dsp->rows[NVC_OP_CONV2D];
    depth_to_space_rows_c = dsp->rows[NVC_OP_DEPTH_TO_SPACE];
    dsp->name = "avx2";
    dsp->rows[NVC_OP_CONV2D] = conv2d_rows_avx2;
    dsp->rows[NVC_OP_ADD] = add_rows_avx2;
    dsp->rows[NVC_OP_SCALE_CHANNELS] = scale_channels_rows_avx2;
    dsp->rows[NVC_OP_DEPTH_TO_SPACE] = depth_to_space_rows_avx2;
    dsp->rows[NVC_OP_WARP] = warp_rows_avx2;
}

void nvc_net_dsp_init_avxvnni(nvc_net_dsp *dsp)
{
    dsp->name = "avx2+avxvnni";
    dsp->rows[NVC_OP_CONV2D] = conv2d_rows_avxvnni;
}
