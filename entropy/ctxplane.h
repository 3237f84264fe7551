/* Context-adaptive coding of small latent planes (stream format 2.3): a few channels of one value per 16x16
 * block whose neighbours predict them well. P-frames code their motion latent with it (flag NVC_FRAME_MV_CONTEXT,
 * the shipped model's two vector components per block), I-frames their latent's block means (flag
 * NVC_FRAME_MEANS_CONTEXT, the means of Y, U and V: ~55% fewer bytes for them than the hyperprior).
 *
 * Why. A hyperprior codes each value with a Gaussian around a mean that a hyper-latent at 1/64 predicts: it pays
 * for the hyper-latent, and a Gaussian fits a motion field badly, which is piecewise constant, so that a value's
 * difference from its neighbours is 0 most of the time and sometimes large (heavy tails). Here each value is
 * predicted from its decoded neighbours and the difference coded with a table per context that learns the
 * plane's statistics as it goes: 10-19% fewer bytes than the hyperprior on the training clips' motion fields
 * (docs/model.md, session 14).
 *
 * Order and prediction. The values v(c, i, j) (channel c of C, block row i of H, column j of W; -128..127) are
 * coded position by position in raster order, the channels of a position in order. With L = v(c, i, j-1),
 * T = v(c, i-1, j), TR = v(c, i-1, j+1), TL = v(c, i-1, j-1), and 0 for a neighbour outside the latent:
 *     row 0:  pred = L,                  activity a = 2 |L|
 *     others: pred = median(L, T, TR),   a = |L - T| + |T - TR| + |L - TL|
 * The context is (class, c) with class 0 for a = 0, else min(6, 1 + floor(log2 a)) (a = 1; 2-3; 4-7; 8-15;
 * 16-31; 32+): where the neighbours agree the difference is almost surely 0, where they do not it spreads.
 *
 * Symbols. d = v - pred (-255..255) is symbol d + 13 for |d| <= 12 (1..25), else an escape: symbol 0 (d < -12)
 * or 26 (d > 12) followed by u = |d| - 13 in Exp-Golomb order 0 as raw bits (nb zeros, a one, the nb bits of
 * u + 1 below its leading one; nb <= 7 since |d| <= 255). A decoder rejects a value outside -128..127.
 *
 * Tables. Each context has frequencies f_0..f_26 >= 1 summing to M = 2^15. They start from the class's table
 * (ctxplane.c init_table: geometric in |d| with a ratio per class, 128 for each escape) and after each symbol s
 * of the context every other symbol t gives up (f_t - 1) >> 6 of its frequency to s: an exponentially decaying
 * histogram (about the last 64 symbols of the context) that keeps every f >= 1 and the sum exact, in integers,
 * so encoder and decoder agree bit for bit. A symbol that never occurs keeps at most 64 / 2^15 (0.2%).
 *
 * Coder. One rANS state as in rans.h (32 bits, 16-bit words, L = 2^16), with M = 2^15 (its maths holds for any
 * M = 2^k, k <= 16, that divides L); raw steps of b bits as in rans.h. Bytes: [u32 LE final encoder state][u16 LE
 * words in decoding order]; the decoder must end at state L having read every byte, else the data is corrupt.
 * The encoder runs the tables forward to know each symbol's frequency, then codes the steps in reverse. Decoding
 * is sequential (each value needs its neighbours), ~3600 values for a 1280x720 frame. */
#ifndef NVC_ENTROPY_CTXPLANE_H
#define NVC_ENTROPY_CTXPLANE_H

#include <stddef.h>
#include <stdint.h>

#define NVC_CTXPLANE_MAX_CHANNELS 4
#define NVC_CTXPLANE_CLASSES 7

/* The encoder's rate model (codec/frame.c nvc_frame_search): the prediction of value (ch, i, j) of a plane of h x w
 * values y from the values before it, in *pred, and its class (0..NVC_CTXPLANE_CLASSES - 1). */
int nvc_ctxplane_predict(const int16_t *y, int h, int w, int ch, int i, int j, int *pred);

/* bits[k * 256 + d + 128]: the bits of a difference d (-128..127) under class k's initial table, escape bits
 * included (the tables adapt along a plane: an estimate). */
void nvc_ctxplane_class_bits(float *bits);

/* Codes the c x h x w values y (each -128..127) into a new malloc'ed buffer *out of *size bytes. 0, NVC_EINVAL
 * (c outside 1..NVC_CTXPLANE_MAX_CHANNELS, h or w < 1, a value out of range) or NVC_ENOMEM. */
int nvc_ctxplane_encode(const int16_t *y, int c, int h, int w, uint8_t **out, size_t *size);

/* Decodes buf[0..size) into the c x h x w values y. 0, NVC_EINVAL (c, h, w as above) or NVC_EINVALDATA (corrupt
 * or truncated data, a value out of range; y then holds garbage). Never reads outside the buffer. */
int nvc_ctxplane_decode(const uint8_t *buf, size_t size, int c, int h, int w, int16_t *y);

#endif
