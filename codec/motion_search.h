/* Encoder-side block motion search (not normative: only the encoder runs it; its result is an input of the
 * p_mv_enc graph). The integer twin of block_motion_search() in tools/train/model.py: luma at half resolution
 * as the sum of the four phases of the packed picture, 4x4 blocks there (8x8 luma), full search over
 * +-NVC_MOTION_SEARCH_RANGE half-resolution pels with edge-replicated reference, cost = SAD + a small
 * penalty on |dx| + |dy| (the model's 1e-4 in the same units), first minimum in (dy, dx) raster order. */
#ifndef NVC_CODEC_MOTION_SEARCH_H
#define NVC_CODEC_MOTION_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/threadpool.h"
#include "network/tensor.h"

#define NVC_MOTION_SEARCH_RANGE 8

/* cur, ref: 6 x H x W packed pictures (H, W multiples of 4). out: allocated here as 2 x H/4 x W/4, zp 128,
 * channel 0 = horizontal, 1 = vertical displacement in luma pels (2 * half-resolution pels) + 128.
 * 0, NVC_EINVAL or NVC_ENOMEM. */
int nvc_motion_search(const nvc_tensor *cur, const nvc_tensor *ref, nvc_pool *pool, nvc_tensor *out);

/* The block-vector model's search (its p_mv_enc graph takes an input named "block_mv"), the integer twin of
 * block_search() in tools/train/model.py: one vector per 16x16 luma block in quarter pels, minimising
 * SAD(luma) + penalty * (|vx| + |vy|): full integer search over +-range pels (edge-replicated
 * reference), then half- and quarter-pel refinement (the 8 neighbours 2, then 1 quarter pel around the best,
 * bilinear in integers: ((4-fx)(4-fy) a + fx (4-fy) b + (4-fx) fy c + fx fy d + 8) >> 4); candidates in
 * raster order (dy, then dx), the first minimum kept. range 1..NVC_BLOCK_MV_MAX_RANGE, penalty >= 0 (the
 * model trains with NVC_BLOCK_MV_PENALTY; the encoder scales it with quality: nvc_frame_mv_penalty).
 * cur, ref: 6 x H x W packed pictures (H, W multiples of 8). out: allocated here as 2 x H/8 x W/8, zp 128,
 * channel 0 = horizontal, 1 = vertical displacement in quarter luma pels + 128.
 * 0, NVC_EINVAL or NVC_ENOMEM. */
#define NVC_BLOCK_MV_PENALTY 16
#define NVC_BLOCK_MV_MAX_RANGE 31

/* A rate model for the vectors (instead of the penalty): component c of block (by, bx) costs sad_per_bit times the
 * bits of (v - mean) with Gaussian table `index`, both at [(c * H/8 + by) * W/8 + bx] (the layout of the
 * encoder's latent arrays: planar, x then y), and bits[t * 256 + d + 128] the bits of value d with table t
 * (nvc_rdoq_bits_table). sad_per_bit 0..1024. */
typedef struct nvc_mv_rate {
    const int16_t *mean;
    const uint8_t *index;
    const float *bits;
    float sad_per_bit;
} nvc_mv_rate;
int nvc_block_search(const nvc_tensor *cur, const nvc_tensor *ref, int range, int penalty, const nvc_mv_rate *rate,
                     nvc_pool *pool, nvc_tensor *out);

/* Sums of absolute differences of a 16x16 block of bytes a against the n blocks b + k, k = 0..n-1 (n 1..64;
 * strides in bytes) into sad[k]: one row of the block search's integer stage, ~96% of its SADs. The C reference
 * and the AVX2 kernel (vpsadbw with a's rows kept in registers, codec/x86/motion_search_avx2.c) give the same
 * values (exact integer arithmetic; tests/test_block_analysis.c compares them); nvc_block_search uses the AVX2
 * one where nvc_cpu_flags() has AVX2. */
void nvc_sad16x16_row_c(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs, int n, int *sad);
void nvc_sad16x16_row_avx2(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs, int n, int *sad);

#endif
