/* The encoder's block analysis (not normative: decoders never run it). A linear model's analysis is one 1x1
 * conv on space_to_depth(r) of its packed input pictures, i.e. a learned linear transform of each 16x16 luma
 * block with its chroma. The int8 analysis graph of the model computes it with 7-bit weights and rounds its
 * output onto a uint8 grid before the quality gain; this computes it with the int16 weights of a model blob
 * (docs/nvm.md "Block analysis blobs"), an exact integer accumulator and one rounding to the latent:
 *
 *   acc[o]    = bias[o] + sum_i w[o][i] * x[i]          (x: the concatenated inputs' raw uint8 values in
 *                                                         space_to_depth(r) order; exact, int64)
 *   latent[o] = clamp(floor(acc[o] * scale[q][o] + 0.5), -128, 127) + 128     (one IEEE double multiply)
 *
 * tools/train/nvcint.py block_analysis() is its mirror; tools/train/export.py block_analysis_blob() writes the
 * blob. The dot products run in int32 lanes (at most 2048 inputs: each lane then sums <= 256 products of
 * |w| <= 32767 and x <= 255, below 2^31), so the scalar and AVX2 kernels agree bit for bit. */
#ifndef NVC_CODEC_BLOCK_ANALYSIS_H
#define NVC_CODEC_BLOCK_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/threadpool.h"
#include "network/tensor.h"

#define NVC_BLOCK_ANALYSIS_MAX_IN 2048 /* inputs per output (c_in * r * r) */

typedef struct nvc_block_analysis {
    int c_out, c_in, r, nq;
    int n, n16;       /* inputs per output, and rounded up to 16 (the rows of w are padded with 0) */
    int16_t *w;       /* [c_out][n16], 32-byte aligned */
    int64_t *bias;    /* [c_out] */
    double *scale;    /* [nq][c_out] */
} nvc_block_analysis;

/* Parses and checks a blob (copied: the blob may go away). 0, NVC_EMODEL (message) or NVC_ENOMEM. */
int nvc_block_analysis_load(nvc_block_analysis *a, const uint8_t *blob, size_t size, char *msg, size_t msg_size);
void nvc_block_analysis_free(nvc_block_analysis *a);

/* latent := the analysis of the n_in packed pictures in[] (same size, multiples of r, c_in channels together,
 * zp 128) at `quality`: c_out x h/r x w/r, zp 128. 0, NVC_EINVAL (shapes, quality) or NVC_ENOMEM. */
int nvc_block_analysis_run(const nvc_block_analysis *a, const nvc_tensor *in, int n_in, int quality, nvc_pool *pool,
                           nvc_tensor *latent);

/* The dot-product kernel: out[o] = sum_i w[o][i] * x[i] for o < c_out, rows of n16 (a multiple of 16) int16.
 * The C reference and the AVX2 version (codec/x86/block_analysis_avx2.c) give the same results. */
typedef void (*nvc_block_dot_fn)(const int16_t *w, const int16_t *x, int n16, int c_out, int64_t *out);
void nvc_block_dot_c(const int16_t *w, const int16_t *x, int n16, int c_out, int64_t *out);
void nvc_block_dot_avx2(const int16_t *w, const int16_t *x, int n16, int c_out, int64_t *out);
/* The kernel for the current nvc_cpu_flags(). */
nvc_block_dot_fn nvc_block_dot_get(void);

#endif
