/* The encoder's rate-distortion optimised quantisation of a linear model's latents (not normative: decoders never
 * run it; any latent is a valid stream).
 *
 * The analysis rounds each latent value to the nearest integer: the least error for that value alone, but not the
 * least rate + lambda * error. A value one step nearer to its mean (or the mean itself) costs fewer bits, and
 * because the synthesis of a linear model is one linear map per 16x16 block, what it costs in squared error is
 * known exactly in the model's terms: latent unit k of a block adds step[q][k] * w[k][n] to packed sample n of its
 * block (blob <kind>_synth_basis, docs/nvm.md "Synthesis basis blobs"). With e the block's error (picture minus
 * reconstruction) and a = dy * step[q][k] the change of the dequantised value,
 *
 *   dD = |e - a w_k|^2 - |e|^2 = a^2 |w_k|^2 - 2 a <e, w_k>,       dR = bits(v + dy) - bits(v)
 *
 * (bits from the Gaussian table the value is coded with, v = latent - mean). Each block's values are visited once,
 * last channel first (the detail channels, where most of the small values are), and a change is kept where
 * dR + lambda dD < 0; e follows every kept change. The padding beyond the picture counts like the picture: it
 * is the edge of the next P-frame's reference (Megamind@130, 720x528 padded to 768x576: -8.2% with it counted,
 * -4.0% with it free, BD-rate against plain rounding). Blocks are independent, so the result does not depend on
 * the thread count, and the arithmetic is plain C float in a fixed order: the same on every machine.
 *
 * The channels of a slice are optimised with the table indices they will be coded with (the context graph's,
 * which see the slices before them as optimised), so the encoder runs this slice by slice between its context
 * graphs (codec/frame.c encode_latent). */
#ifndef NVC_CODEC_RDOQ_H
#define NVC_CODEC_RDOQ_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/cdf.h"
#include "entropy/threadpool.h"
#include "network/tensor.h"

typedef struct nvc_synth_basis {
    int c, pc, r, nq; /* latent channels, packed picture channels (6), block size in packed samples (8), qualities */
    int n;            /* samples per block: pc * r * r, sample n = channel * r * r + dy * r + dx */
    int16_t *w;       /* [c][n] */
    float *step;      /* [nq][c] */
    float *norm2;     /* [nq][c]: |step[q][k] w_k|^2 over a whole block */
} nvc_synth_basis;

/* Parses and checks a blob (copied). 0, NVC_EMODEL (message) or NVC_ENOMEM. */
int nvc_synth_basis_load(nvc_synth_basis *b, const uint8_t *blob, size_t size, char *msg, size_t msg_size);
void nvc_synth_basis_free(nvc_synth_basis *b);

/* The bits of coding value v (any integer) with table t of a set: log2(4096 / freq) inside the table's range; the
 * escape symbol's bits + its Exp-Golomb code (docs/entropy.md) outside it. */
double nvc_rdoq_symbol_bits(const nvc_cdf_table *t, int v);

/* Cost tables of a Gaussian set for nvc_rdoq_run: bits[t * 256 + v + 128] for v in -128..127. NULL on ENOMEM. */
float *nvc_rdoq_bits_table(const nvc_cdf_set *set);

/* The bits of value v (any integer) with table t of `set`, from its cost table `bits` where it holds v. */
static inline float nvc_rdoq_value_bits(const float *bits, const nvc_cdf_set *set, int t, int v)
{
    return v >= -128 && v < 128 ? bits[t * 256 + v + 128] : (float)nvc_rdoq_symbol_bits(&set->table[t], v);
}

typedef struct nvc_rdoq_job {
    const nvc_synth_basis *basis;
    const nvc_cdf_set *set;  /* the tables the values are coded with */
    const float *bits;       /* nvc_rdoq_bits_table(set) */
    int quality;
    double lambda;           /* per unit of squared error of one packed 8-bit sample (encoder.c rd_cost: 4/6 lambda(q)) */
    int c0, c1;              /* the channels to optimise, [c0, c1) */
    uint32_t skip;           /* bit k: channel k (< 32) is left as it is (coded otherwise: codec/frame.c) */
    int16_t *y;              /* [C][h][w] latent values (-128..127), changed in place */
    const int16_t *mean;     /* [C][h][w] */
    const uint8_t *index;    /* [C][h][w] table of each value */
    int h, w;                /* latent positions (16x16 luma blocks) */
    float *err;              /* [h][w][n] picture - reconstruction of each block, updated */
} nvc_rdoq_job;

/* The channels of `planes` (bit k: channel k), which are coded with the context-adaptive code (entropy/ctxplane.h):
 * each value, block by block in raster order, moves one step toward its prediction from its neighbours, or onto
 * it, where class_bits (nvc_ctxplane_class_bits) saved x 1 outweigh lambda x the error added. One thread: the
 * predictions follow the values already optimised. */
void nvc_rdoq_planes(const nvc_rdoq_job *j, unsigned planes, const float *class_bits);

/* Optimises channels [c0, c1) of every block (rows of blocks spread over the pool). */
void nvc_rdoq_run(const nvc_rdoq_job *j, nvc_pool *pool);

/* err := picture - recon per block, in the layout nvc_rdoq_job.err has. Both tensors are packed pictures of
 * h * r x w * r samples (the padded size) with pc channels. NULL on ENOMEM. */
float *nvc_rdoq_error(const nvc_synth_basis *b, const nvc_tensor *picture, const nvc_tensor *recon);

#endif
