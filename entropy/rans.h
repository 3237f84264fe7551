/* Interleaved rANS with 32-bit states, 16-bit renormalisation and 12-bit probabilities (ryg_rans style).
 *
 * The maths. A table gives symbol s a frequency f_s >= 1 and a start c_s (cumulative frequency) with
 * sum f_s = M = 2^12. A state is an integer x. Encoding s maps
 *     C(s, x) = floor(x / f_s) * M + (x mod f_s) + c_s
 * and decoding inverts it from the low 12 bits of x ("slot" x mod M, which lies in [c_s, c_s + f_s)):
 *     s = the symbol whose range holds slot,  D(x) = f_s * floor(x / M) + slot - c_s.
 * D(C(s, x)) = x exactly: all integer operations, nothing rounds. C grows x by about M / f_s, i.e. by the
 * symbol's information content, which is why the coder is within a tiny fraction of the entropy.
 *
 * Renormalisation keeps x inside I = [L, 2^32) with L = 2^16, shifting 16-bit words out (encoder) and in
 * (decoder):
 *   - encoder, before coding s: if x >= x_max(s) = f_s * 2^20, emit x's low 16 bits and x >>= 16. Since
 *     x < 2^32 and x_max(s) >= 2^20, one shift always suffices, and afterwards 16 f_s <= x < f_s 2^20, so
 *     C(s, x) lands in [2^16, 2^32) = I again.
 *   - decoder, after decoding s: x = D(...) is the encoder's pre-coding state; it is < L exactly when the
 *     encoder emitted a word (then x < 2^16; without emission x >= L by the invariant), so the decoder reads
 *     one word, x = (x << 16) | word, when x < L, and never needs a second (x >= 16 f_s >= 16 after D).
 * Encoder and decoder therefore agree step for step; the decoder is the exact mirror and needs at most one
 * 16-bit read per symbol, which is what makes it branch-free in SIMD.
 *
 * Interleaving. A substream has up to 32 independent states ("lanes"). Symbols come in runs (contiguous
 * arrays, e.g. one channel's rows in a tile); symbol i of a run uses lane i mod lanes, so the decoder handles
 * `lanes` consecutive symbols per step, 8 per AVX2 vector, and the states' dependency chains overlap. All lanes
 * share one word stream: the decoder reads words in symbol order (run by run, i ascending), the encoder runs
 * over the symbols in exactly the reverse order and writes its words backwards, so each word lands where the
 * decoder will look for it.
 *
 * The lane count trades size for speed: each lane costs ~3 bytes (its 16-bit start state and the unused part of
 * its 32-bit final state; ~0.5% of a 17 KB substream at 32 lanes, 15% of a 650-byte one), while the AVX2
 * decoder is latency-bound below 32 lanes (bench latent, session 4: ~345 / 590 / 840 / 1000 Msymbols/s with
 * 8 / 16 / 24 / 32 lanes). Two layouts:
 *   - signalled (stream format 2.2 on): the substream's first byte is its lane count, 1..min(32, longest run),
 *     chosen by the encoder (nvc_rans_encode with NVC_RANS_LANES_CHOSEN: the most lanes whose cost stays
 *     within 0.4% of the substream, but 8 or more, one AVX2 vector, when it has 65536+ symbols);
 *   - derived (2.0 and 2.1): no such byte; lanes = min(32, longest run, max(1, floor(symbols / 256))).
 * Groups of a multiple of 8 lanes decode with AVX2, others (small substreams) with the scalar path.

 * Escapes. Values outside a table's [lo, hi] code the escape symbol; their value follows as raw bits coded
 * through the same lane: a "raw" step of b bits (1 <= b <= 16) is the rANS step with f = 2^(12-b) shifted
 * to b bits, i.e. encoder x = (x << b) | v after emitting a word when x >= 2^(32-b), decoder v = x mod 2^b,
 * x >>= b, then the usual refill: the same invariant and proof as above with M/f = 2^b. The bits are a sign,
 * then the magnitude beyond the range in Exp-Golomb of order escape_k (docs/entropy.md). Decode order within
 * a group of up to `lanes` symbols: first the regular step of every lane (the SIMD part), then the raw steps of
 * the group's escaped symbols in lane order (rare, scalar); the encoder mirrors it in reverse. Because the
 * escape bits go through the states too, every byte of a substream feeds the final-state check below.
 *
 * Substream bytes: [u8 lanes, signalled layout only][lanes x u32 LE final encoder states][u16 LE words in
 * decoding order]; an empty substream (no symbols) is 0 bytes in both layouts.
 *
 * Corruption check. The encoder starts every lane at L, so a correct decode ends with every lane at exactly
 * L, having read exactly all the bytes. A damaged or truncated substream almost surely breaks this, and the
 * decoder never reads outside the buffer whatever the bytes are: NVC_EINVALDATA. (Decoded values wrap modulo
 * 2^16 when mean + value leaves int16: no encoder produces that, but it is defined.) */
#ifndef NVC_ENTROPY_RANS_H
#define NVC_ENTROPY_RANS_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/cdf.h"
#include "nvc/nvc.h"

#define NVC_RANS_LANES 32
#define NVC_RANS_SYMBOLS_PER_LANE_LOG2 8 /* derived layout: lanes = min(32, longest run, max(1, symbols >> 8)) */

/* The `lanes` argument of nvc_rans_encode: a count 1..32 (signalled layout, capped to the longest run) or: */
#define NVC_RANS_LANES_DERIVED 0  /* the derived layout of stream formats 2.0 and 2.1 */
#define NVC_RANS_LANES_CHOSEN (-1) /* signalled layout, the count chosen for size and speed (see above) */
#define NVC_RANS_L (1u << 16)

/* A run: n symbols whose table index and mean are given per symbol (step 1) or once for the run (step 0). */
typedef struct nvc_rans_run {
    const uint8_t *index;  /* table indices (< cdf->ntables) */
    const int16_t *mean;   /* the coded value is y - mean */
    int16_t *y;            /* values: read by the encoder, written by the decoder */
    unsigned index_step;   /* 1 or 0 */
    unsigned mean_step;    /* 1 or 0 */
    size_t n;
} nvc_rans_run;

/* The raw bits that follow the escape symbol for value d outside table t's [lo, hi] (its sign and Exp-Golomb
 * code, as the coder writes them): an encoder's rate estimate (codec/rdoq.c). */
unsigned nvc_rans_escape_bits(const nvc_cdf_table *t, int d);

/* Encodes the runs into a new malloc'ed buffer *out of *size bytes (NULL and 0 when there are no symbols),
 * with `lanes` as above. 0, NVC_EINVAL (table index out of range, lanes outside -1..32) or NVC_ENOMEM. */
int nvc_rans_encode(const nvc_cdf_set *cdf, const nvc_rans_run *runs, int nruns, int lanes, uint8_t **out,
                    size_t *size);

/* Decodes buf[0..size) (signalled layout if `signalled`, else derived) into the runs' y arrays. 0, NVC_EINVAL
 * (table index out of range) or NVC_EINVALDATA (corrupt or truncated, lane count out of range; the y arrays
 * then hold garbage). Uses AVX2 when nvc_cpu_flags() has it; the scalar and AVX2 paths give identical results
 * and errors for any input. */
int nvc_rans_decode(const nvc_cdf_set *cdf, const nvc_rans_run *runs, int nruns, int signalled,
                    const uint8_t *buf, size_t size);

/* ---- decoder internals, shared by the scalar path (rans.c) and the SIMD kernels (entropy/x86/) ---- */

typedef struct nvc_rans_dec {
    uint32_t state[NVC_RANS_LANES];
    const uint8_t *buf;
    size_t size;
    size_t pos; /* next word */
    const nvc_cdf_set *cdf;
} nvc_rans_dec;

/* Refill after a step: one word when x < L. 0 or NVC_EINVALDATA when the bytes are exhausted. */
static inline int nvc_rans_dec_refill(nvc_rans_dec *d, uint32_t *x)
{
    if (*x < NVC_RANS_L) {
        if (d->size - d->pos < 2)
            return NVC_EINVALDATA;
        *x = *x << 16 | (uint32_t)d->buf[d->pos] | (uint32_t)d->buf[d->pos + 1] << 8;
        d->pos += 2;
    }
    return 0;
}

/* One regular decode step on lane `lane` with table `table`: the value (or NVC_CDF_ESCAPE) in *value. */
static inline int nvc_rans_dec_step(nvc_rans_dec *d, int lane, unsigned table, int *value)
{
    uint32_t x = d->state[lane];
    uint32_t e = d->cdf->slot[((size_t)table << NVC_CDF_PREC_BITS) | (x & (NVC_CDF_TOTAL - 1))];
    x = nvc_cdf_slot_freq(e) * (x >> NVC_CDF_PREC_BITS) + nvc_cdf_slot_offset(e);
    *value = nvc_cdf_slot_value(e);
    int err = nvc_rans_dec_refill(d, &x);
    d->state[lane] = x;
    return err;
}

/* The escaped symbols of the group of run symbols starting at i0 (mask bit j = symbol i0 + j, lane j):
 * their raw steps in lane order, writing their values. 0 or NVC_EINVALDATA. */
int nvc_rans_dec_escapes(nvc_rans_dec *d, const nvc_rans_run *run, size_t i0, uint32_t mask);

/* Stores mean + value modulo 2^16 (the same wrap as the SIMD kernels). */
static inline void nvc_rans_store(int16_t *y, int mean, int value)
{
    uint16_t u = (uint16_t)((unsigned)mean + (unsigned)value);
    *y = (int16_t)(u >= 0x8000u ? (int)u - 0x10000 : (int)u); /* no implementation-defined conversion */
}

#if defined(__x86_64__) || defined(__i386__)
/* Decodes whole groups of `lanes` symbols of a run from symbol `start` (a multiple of lanes) while at least
 * 2 lanes bytes remain; returns the index where it stopped (the scalar path finishes), or NVC_EINVALDATA.
 * lanes 8, 16, 24 or 32 (other counts: returns start). Compiled with AVX2; call only when
 * nvc_cpu_flags() & NVC_CPU_AVX2. */
long nvc_rans_decode_run_avx2(nvc_rans_dec *d, const nvc_rans_run *run, size_t start, int lanes);

/* Largest of p[0..n) (0 when n == 0). */
unsigned nvc_rans_max_index_avx2(const uint8_t *p, size_t n);
#endif

#endif
