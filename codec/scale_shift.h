/* Scale shifts (format 3.1, frame flag NVC_FRAME_SCALE_SHIFT): a per-frame correction of the hyperprior's scales.
 *
 * The hyper-decoder (and a slice's context graph) predicts for each latent value the index of the Gaussian table
 * it is coded with; the 64 tables' sigmas are log-spaced, one index a factor (64 / 0.11)^(1/63) = 1.106. The
 * prediction is learned over all the training content, and a given picture can be systematically more or less
 * detailed than the network expects: on vtest's I-frames at quality 63 every table index is about 2 too small
 * (coding with index + 2 is 3.4% fewer bits), on a residual at quality 63 some groups of channels want +1 and
 * others -1. So the encoder may send, per group of NVC_SHIFT_GROUP consecutive channels of the I latent or of the
 * residual latent, a shift s in -NVC_SHIFT_MAX..NVC_SHIFT_MAX that the decoder adds to the group's table indices
 * (clamped to the table set) before it decodes them: forward adaptation, a few bytes per frame and one addition per
 * value for the decoder; the network and its entropy parameters are unchanged.
 *
 * Code (the frame's last segment, one substream): the groups' shifts in channel order, each as the order-0
 * Exp-Golomb code of zigzag(s) (0, -1, 1, -2, 2, ... -> 0, 1, 2, 3, 4, ...: u + 1 in binary after as many 0 bits
 * as it has bits after its leading 1), bits MSB first, the last byte padded with 0 bits; exactly as many bytes as
 * the codes need. */
#ifndef NVC_CODEC_SCALE_SHIFT_H
#define NVC_CODEC_SCALE_SHIFT_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/cdf.h"
#include "entropy/threadpool.h"

#define NVC_SHIFT_GROUP 8 /* channels per shift: channel c has shift[c / NVC_SHIFT_GROUP] */
#define NVC_SHIFT_MAX 7

static inline int nvc_shift_groups(int channels)
{
    return (channels + NVC_SHIFT_GROUP - 1) / NVC_SHIFT_GROUP;
}

/* index[c][p] = clamp(orig[c][p] + shift[c / NVC_SHIFT_GROUP], 0, ntables - 1) for the channels c in [c0, c1) not
 * in `skip` (bit c, c < 32) and the `plane` positions p of each; index may be orig. */
void nvc_shift_apply(uint8_t *index, const uint8_t *orig, int c0, int c1, size_t plane, unsigned skip,
                     const int8_t *shift, int ntables);

/* Encoder: for each group whose first channel is in [c0, c1), the shift of least total bits for the values
 * v = y - mean of its channels in [c0, c1) not in `skip`, coded with table orig + shift (bits: the cost table of
 * nvc_rdoq_bits_table, set its table set; ties keep the smaller |shift|), written to shift[group]. Returns the
 * bits this saves against no shift. Groups run on the pool (NULL: inline); the result does not depend on it. */
double nvc_shift_choose(const int16_t *y, const int16_t *mean, const uint8_t *orig, int c0, int c1, size_t plane,
                        unsigned skip, const float *bits, const nvc_cdf_set *set, int8_t *shift, nvc_pool *pool);

/* Bytes of the code of n shifts. */
size_t nvc_shift_code_size(const int8_t *shift, int n);

/* Writes the code of n shifts (each in -NVC_SHIFT_MAX..NVC_SHIFT_MAX) to out (nvc_shift_code_size bytes). */
void nvc_shift_write(const int8_t *shift, int n, uint8_t *out);

/* Reads n shifts from a code of exactly `size` bytes. 0, or NVC_EINVALDATA (too short, bytes or nonzero padding
 * after the last code, a shift beyond NVC_SHIFT_MAX). */
int nvc_shift_read(const uint8_t *data, size_t size, int n, int8_t *shift);

#endif
