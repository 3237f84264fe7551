/* Ops of the int8 engine as the loader stores them and the kernels run them (semantics: docs/engine.md),
 * and the kernel table ("DSP table", one per backend) the interpreter calls through. */
#ifndef NVC_NETWORK_OPS_H
#define NVC_NETWORK_OPS_H

#include <stdint.h>

#include "network/tensor.h"

enum nvc_op_type {
    NVC_OP_CONV2D = 1,
    NVC_OP_ADD = 2,
    NVC_OP_SCALE_CHANNELS = 3,
    NVC_OP_CONCAT = 4,
    NVC_OP_SLICE = 5,
    NVC_OP_DEPTH_TO_SPACE = 6,
    NVC_OP_SPACE_TO_DEPTH = 7,
    NVC_OP_CLAMP = 8,
    NVC_OP_UPSAMPLE = 9,
    NVC_OP_WARP = 10,
    NVC_OP_COUNT
};

#define NVC_OP_MAX_IN 16
#define NVC_OP_MAX_PARAMS 8

/* Weights of a dense conv2d rearranged for the SIMD kernels (made at load by nvc_conv_pack(), network/ops_c.c):
 * for each block of 16 output channels, each tap (ky, kx), each group of 4 input channels: 16 x 4
 * int8 (output channel major), i.e. two 32-byte vectors per group. Output channels beyond c_out and
 * input channels beyond c_in have weight 0 (and bias 0, M 0, A 0). */
typedef struct nvc_conv_packed {
    int8_t *w;           /* [c_out16 / 16][k*k][c_in8 / 4][16][4] */
    int32_t *bias, *M, *S;/* [c_out16], padded */
    int32_t *A;          /* [c_out16], padded with 0 (so padding channels of the addend add nothing); NULL
                          * without an addend */
    int c_out16, c_in8;  /* c_out rounded up to 16, c_in rounded up to 8 (an even number of groups) */
    /* Every int16 lane of the sum of two consecutive groups' vpmaddubsw products is exact: for each
     * output channel, tap, pair of groups (2g, 2g+1) and position j in {0,1}, {2,3}:
     * sum of |w| over the 4 weights (2 per group) <= 128, so 255 * 128 < 2^15. The kernel then adds two
     * vpmaddubsw results before widening (3 multiply instructions per 64 MACs instead of 4).
     * Decided per block of 16 output channels (block_paired[c_out16 / 16]); pair_sum_exact: all are. */
    uint8_t *block_paired;
    int pair_sum_exact;
    /* [c_out16]: the output is lo for every acc <= acc_lo and hi for every acc >= acc_hi (requant is
     * non-decreasing in acc, M >= 0), so kernels may clamp acc to [acc_lo, acc_hi] first; then
     * zp_out + requant(acc) fits int32 (|requant| <= 2^29 + 256 there) and the final clamp can be done
     * after narrowing (saturating packs). See nvc_conv_acc_range(). */
    int32_t *acc_lo, *acc_hi;
} nvc_conv_packed;

typedef struct nvc_net_op {
    int type;
    int n_in;
    int in[NVC_OP_MAX_IN];      /* tensor ids */
    int c_out, zp_out;          /* of the tensor this op makes */
    int n_params;
    int32_t p[NVC_OP_MAX_PARAMS];/* as in docs/nvm.md */
    int lo, hi;                 /* output clamp (0, 255 for ops without one) */
    /* conv2d; with n_in == 2, in[1] is the addend (c_out channels, the output's size) and A is set:
     * acc += A[o] * (addend[o] - zp_addend) (docs/engine.md) */
    int k, stride, depthwise, c_in;
    const int8_t *w;            /* [c_out][c_in or 1][k][k] */
    const int32_t *bias, *M, *S;
    const int32_t *A;           /* [c_out], NULL without an addend */
    nvc_conv_packed packed;
    /* scale_channels */
    int nq;
    const int32_t *tab_M, *tab_S;/* [nq][c_out] */
} nvc_net_op;

/* What a kernel needs to compute output rows [y0, y1) of one op. */
typedef struct nvc_op_args {
    const nvc_net_op *op;
    const nvc_tensor *in[NVC_OP_MAX_IN];
    nvc_tensor *out;
    int quality;
    const int32_t *motion; /* warp: motion in 1/16 pel at the motion tensor's resolution, [2][h][w] */
    void *scratch;         /* nvc_op_scratch_size() bytes, private to this call */
} nvc_op_args;

/* Scratch memory a kernel call (one band of rows) of op needs, in bytes (0 for most ops). */
size_t nvc_op_scratch_size(const nvc_net_op *op, const nvc_tensor *const *in);

typedef void (*nvc_op_rows_fn)(const nvc_op_args *a, int y0, int y1);

/* A backend: one kernel per op type. Every backend gives bit-identical results. */
typedef struct nvc_net_dsp {
    const char *name;
    nvc_op_rows_fn rows[NVC_OP_COUNT];
} nvc_net_dsp;

/* The table for the current nvc_cpu_flags() (re-read each call, so nvc_cpu_set_mask takes effect). */
const nvc_net_dsp *nvc_net_dsp_get(void);
void nvc_net_dsp_init_c(nvc_net_dsp *dsp);
void nvc_net_dsp_init_avx2(nvc_net_dsp *dsp); /* network/x86/ops_avx2.c: overrides some of the C ones */
void nvc_net_dsp_init_avxvnni(nvc_net_dsp *dsp); /* after init_avx2: the dense conv with vpdpbusd */

/* Exact requantisation of docs/engine.md: clamp(zp + ((acc*M + 2^(S-1)) >> S), lo, hi). */
static inline int nvc_requant(int64_t acc, int32_t M, int S, int zp, int lo, int hi)
{
    const int64_t v = ((acc * M + ((int64_t)1 << (S - 1))) >> S) + zp;
    return v < lo ? lo : v > hi ? hi : (int)v;
}

static inline int nvc_clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Division rounding towards minus infinity, b > 0. */
static inline int nvc_floor_div(int a, int b)
{
    const int q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Bilinear taps along one axis (docs/engine.md, upsample): output coordinate o of an input of n
 * samples upsampled by r -> indices i0, i1 and weights w0, w1 (sum 2r). */
static inline void nvc_bilinear_taps(int o, int n, int r, int *i0, int *i1, int *w0, int *w1)
{
    const int d = 2 * r, t = 2 * o + 1 - r, x0 = nvc_floor_div(t, d), f = t - x0 * d;
    *i0 = nvc_clampi(x0, 0, n - 1);
    *i1 = nvc_clampi(x0 + 1, 0, n - 1);
    *w0 = d - f;
    *w1 = f;
}

/* The accumulator range of nvc_conv_packed.acc_lo/acc_hi for one output channel. */
void nvc_conv_acc_range(int32_t M, int S, int zp, int lo, int hi, int32_t *acc_lo, int32_t *acc_hi);

/* Builds op->packed from op->w/bias/M/S/A (dense conv2d only). Returns 0 or NVC_ENOMEM. */
int nvc_conv_pack(nvc_net_op *op);
void nvc_conv_pack_free(nvc_net_op *op);

/* Warp, shared by the backends: motion at full luma resolution, two luma rows at a time
 * (docs/engine.md, warp steps 1-2), in the op call's scratch. */
typedef struct nvc_warp_rows {
    int r, mh, mw, lw, log2_d2; /* log2_d2 >= 0 when 4r^2 is a power of two (a shift replaces floor_div) */
    int *xa, *xb, *wxa, *wxb;    /* horizontal taps per luma column */
    int32_t *col;                /* [2][mw] vertical pass */
    int32_t *mv;                 /* [4][stride]: x, y of luma row 2y, then x, y of row 2y+1; 0 past lw */
    int stride;                  /* lw + 16 */
} nvc_warp_rows;
void nvc_warp_begin(const nvc_op_args *a, nvc_warp_rows *w);
void nvc_warp_motion_rows(const nvc_warp_rows *w, const int32_t *motion, int y); /* for packed row y */

/* Warp helper shared by backends: motion[2][mh][mw] (1/16 pel, before upsampling) from the uint8
 * motion tensor. */
void nvc_warp_motion(const nvc_net_op *op, const nvc_tensor *motion, int32_t *out);

#endif
