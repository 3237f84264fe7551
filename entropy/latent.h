/* Latent tensors <-> independent rANS substreams, coded and decoded concurrently on an nvc_pool.
 *
 * A latent is planar C x H x W int16 (element (c, r, x) at c*H*W + r*W + x). Two kinds:
 *  - Gaussian-conditional (index != NULL): element e is coded as y[e] - mean[e] with table index[e] of the set
 *    (mean may be NULL: all zero);
 *  - factorized (index == NULL): channel c uses table c (C <= ntables) and mean[c] (per channel, or NULL: 0).
 *
 * Substreams: the encoder cuts the tensor into tile_rows bands of rows x channel_groups groups of channels
 * (band b = rows [b*H/tile_rows, (b+1)*H/tile_rows), group g = channels [g*C/groups, (g+1)*C/groups), integer
 * division). Substream k = b * channel_groups + g holds, channel by channel, each channel's rows of the band
 * (one contiguous run of rows*W symbols per channel; see rans.h for the run/lane layout). The codec signals
 * tile_rows and channel_groups; the decoder must use the same values. Substreams are independent, so any
 * thread count (and the scalar or AVX2 path) decodes to the same tensor, and encoding gives the same bytes.
 *
 * Choosing counts: each non-empty substream costs ~3 bytes per rANS lane (rans.h: up to 32 lanes, fewer with
 * NVC_RANS_LANES_CHOSEN when the substream is small) and 1 byte of lane count; use as few substreams as the
 * decoder's parallelism needs (about 2-4 per decoding thread balances load). */
#ifndef NVC_ENTROPY_LATENT_H
#define NVC_ENTROPY_LATENT_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/cdf.h"
#include "entropy/threadpool.h"

#define NVC_LATENT_MAX_DIM 65535
#define NVC_LATENT_MAX_ELEMENTS (1u << 28)
#define NVC_LATENT_MAX_SUBSTREAMS 1024 /* = NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT */

typedef struct nvc_latent {
    int channels, height, width;
    const nvc_cdf_set *cdf;
    const int16_t *mean;   /* C*H*W (Gaussian) or C (factorized), or NULL */
    const uint8_t *index;  /* C*H*W table indices (Gaussian), NULL for factorized */
    int tile_rows;         /* 1..height */
    int channel_groups;    /* 1..channels */
    int lanes;             /* the substreams' layout and lane count (rans.h): NVC_RANS_LANES_DERIVED (0, stream
                            * formats 2.0/2.1), NVC_RANS_LANES_CHOSEN or 1..32; decoding only tells 0 from not 0 */
} nvc_latent;

/* Encoded substreams: data[k] (size[k] bytes) for k < count, all inside one allocation. */
typedef struct nvc_substreams {
    int count;
    const uint8_t **data;
    uint32_t *size;
    uint8_t *bytes; /* owns the payload */
    size_t total;   /* sum of the sizes */
} nvc_substreams;

/* 0 if the description is valid (dimensions, counts, table indices of a factorized latent), else NVC_EINVAL.
 * Per-element table indices are checked by the coders. */
int nvc_latent_check(const nvc_latent *l);

static inline int nvc_latent_substreams(const nvc_latent *l) { return l->tile_rows * l->channel_groups; }

/* Encodes y (C*H*W) into out (free with nvc_substreams_free; zeroed on error). pool may be NULL.
 * 0, NVC_EINVAL or NVC_ENOMEM. */
int nvc_latent_encode(const nvc_latent *l, const int16_t *y, nvc_pool *pool, nvc_substreams *out);

void nvc_substreams_free(nvc_substreams *s);

/* Decodes count = nvc_latent_substreams(l) substreams (data[k], size[k]) into y (C*H*W). pool may be NULL.
 * 0, NVC_EINVAL (bad description or count, table index out of range), NVC_ENOMEM, or NVC_EINVALDATA (a corrupt
 * or truncated substream: the lowest-numbered failing one decides; y is then partly garbage). */
int nvc_latent_decode(const nvc_latent *l, const uint8_t *const *data, const uint32_t *size, int count,
                      nvc_pool *pool, int16_t *y);

#endif
