/* CDF table sets: the probability models the rANS coder (entropy/rans.h) codes latents with.
 *
 * A set holds K tables (1 <= K <= 256; a uint8 table index picks one per symbol). Table t codes the integer
 * values lo..hi (-127 <= lo <= hi <= 127) with 12-bit frequencies, plus one escape symbol for every value
 * outside [lo, hi]; an escaped value is then sent in bypass bits (Exp-Golomb of order escape_k, see
 * docs/entropy.md). Frequencies are >= 1 and sum to exactly NVC_CDF_TOTAL = 4096.
 *
 * Two producers:
 *  - nvc_cdf_set_gaussian(): K zero-mean discretised Gaussians with log-spaced sigmas (Gaussian-conditional
 *    latents; the mean is subtracted before coding). Built with IEEE-754 double +, -, *, / only, in a fixed
 *    order (no libm, no FMA contraction), then quantised with integer arithmetic: every platform builds the
 *    same bytes. tools/train/cdf_tables.py performs the identical computation in Python.
 *  - nvc_cdf_set_deserialize(): tables stored as integer frequencies (learned factorized priors, one table per
 *    channel, or any set an exporter wrote); the .nvm model file embeds them as a blob. The byte format is
 *    specified in docs/entropy.md and validated strictly here.
 *
 * For decoding, every table also has a packed lookup table of 4096 uint32 entries indexed by the low 12 bits
 * of a rANS state ("slot"): bits 0-11 the symbol's frequency, bits 12-23 slot - cum (the offset of the slot
 * inside the symbol's range), bits 24-31 the decoded value as int8 (NVC_CDF_ESCAPE = -128 for the escape).
 * One gather per symbol gives everything the decoder needs; 16 KiB per table, so the small-sigma tables a
 * trained model mostly uses stay in L2. */
#ifndef NVC_ENTROPY_CDF_H
#define NVC_ENTROPY_CDF_H

#include <stddef.h>
#include <stdint.h>

#define NVC_CDF_PREC_BITS 12
#define NVC_CDF_TOTAL (1u << NVC_CDF_PREC_BITS)
#define NVC_CDF_MAX_TABLES 256
#define NVC_CDF_MIN_VALUE (-127)
#define NVC_CDF_MAX_VALUE 127
#define NVC_CDF_MAX_SYMBOLS 256 /* 255 values + escape */
#define NVC_CDF_MAX_ESCAPE_K 16
#define NVC_CDF_ESCAPE (-128)   /* value field of the escape symbol's slots */

/* Default Gaussian set (what the codec uses unless its model file carries another). */
#define NVC_CDF_GAUSSIAN_K 64
#define NVC_CDF_GAUSSIAN_SIGMA_MIN 0.11
#define NVC_CDF_GAUSSIAN_SIGMA_MAX 64.0

typedef struct nvc_cdf_table {
    int lo, hi;      /* values coded directly */
    int escape_k;    /* Exp-Golomb order of escaped magnitudes, 0..NVC_CDF_MAX_ESCAPE_K */
    int nsym;        /* hi - lo + 2: symbol s < nsym-1 is value lo + s, symbol nsym-1 is the escape */
    uint16_t freq[NVC_CDF_MAX_SYMBOLS];
    uint16_t cum[NVC_CDF_MAX_SYMBOLS + 1]; /* cum[s] = freq[0] + ... + freq[s-1]; cum[nsym] = 4096 */
} nvc_cdf_table;

typedef struct nvc_cdf_set {
    int ntables;
    nvc_cdf_table *table; /* ntables */
    uint32_t *slot;       /* ntables << NVC_CDF_PREC_BITS packed decode entries, 64-byte aligned */
} nvc_cdf_set;

/* Packed slot entry fields. */
static inline uint32_t nvc_cdf_slot_freq(uint32_t e) { return e & 0xFFF; }
static inline uint32_t nvc_cdf_slot_offset(uint32_t e) { return (e >> 12) & 0xFFF; }
static inline int nvc_cdf_slot_value(uint32_t e) { return (int)(int8_t)(uint8_t)(e >> 24); }

/* Builds a set from integer frequencies. For table t: lo[t], hi[t], escape_k[t] as above and
 * freq[t] pointing at hi-lo+2 frequencies (values lo..hi, then the escape), each >= 1, summing to 4096.
 * 0, NVC_EINVAL (invalid description) or NVC_ENOMEM. */
int nvc_cdf_set_from_freqs(nvc_cdf_set **out, int ntables, const int *lo, const int *hi, const int *escape_k,
                           const uint16_t *const *freq);

/* Sigma of table i of a K-table Gaussian set: sigma_min * (sigma_max/sigma_min)^(i/(K-1)) (exactly the value
 * the builder uses; computed with the same deterministic exp/log). Scale quantisers use it for thresholds. */
double nvc_cdf_gaussian_sigma(int i, int k, double sigma_min, double sigma_max);

/* K Gaussian tables (1 <= K <= 256, 0.01 <= sigma_min <= sigma_max <= 1000). Table i has sigma
 * nvc_cdf_gaussian_sigma(i, ...), range [-h, h] with h the smallest value whose two-sided tail mass is at most
 * 1/65536 (capped at 127), escape_k = floor(log2(sigma)) clamped to 0..12. */
int nvc_cdf_set_gaussian(nvc_cdf_set **out, int k, double sigma_min, double sigma_max);

/* Quantises a probability vector (1 <= nsym <= 256 entries, each >= 0, not all 0, finite) to integer frequencies >= 1
 * summing to 4096, close to minimal cross-entropy; deterministic (the probabilities are first truncated to
 * multiples of 2^-40, the rest is integer arithmetic). Used by the Gaussian builder; exporters of learned
 * priors may use it (its Python twin is cdf_tables.quantize). 0 or NVC_EINVAL. */
int nvc_cdf_quantize(const double *prob, int nsym, uint16_t *freq);

void nvc_cdf_set_free(nvc_cdf_set *set);

/* Serialisation (docs/entropy.md, "Table set format"): returns the exact size; writes it when out != NULL and
 * cap suffices (returns 0 if cap is too small). */
size_t nvc_cdf_set_serialize(const nvc_cdf_set *set, uint8_t *out, size_t cap);

/* Parses and validates a serialised set (the whole buffer must be exactly one set). 0, NVC_EINVALDATA (with a
 * reason in msg when msg != NULL), NVC_EUNSUPPORTED (other version or precision) or NVC_ENOMEM. */
int nvc_cdf_set_deserialize(nvc_cdf_set **out, const uint8_t *buf, size_t size, char *msg, size_t msg_size);

#endif
