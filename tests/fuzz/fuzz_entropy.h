/* The latent that a fuzz_entropy input's 8-byte header describes (format in fuzz_entropy.c); shared with the
 * seed corpus writer (test_entropy_latent --write-corpus) so the seeds decode. */
#ifndef NVC_TESTS_FUZZ_ENTROPY_H
#define NVC_TESTS_FUZZ_ENTROPY_H

#include "entropy/latent.h"
#include "entropy/rans.h"

#define FUZZ_ENTROPY_MAX_ELEMENTS (8 * 12 * 40)

/* mean and index hold FUZZ_ENTROPY_MAX_ELEMENTS; returns the element count. */
static inline size_t fuzz_entropy_latent(const uint8_t hdr[8], const nvc_cdf_set *cdf, int16_t *mean,
                                         uint8_t *index, nvc_latent *l)
{
    const int c = 1 + hdr[1] % 8, h = 1 + hdr[2] % 12, w = 1 + hdr[3] % 40;
    const int rows = 1 + hdr[4] % h, groups = 1 + hdr[5] % c, flags = hdr[6];
    unsigned long long s = 0x9E3779B97F4A7C15ull * (hdr[7] + 1u);
    const size_t n = (size_t)c * h * w;
    for (size_t e = 0; e < n; e++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        const unsigned long long r = s * 2685821657736338717ull;
        index[e] = (uint8_t)(r % (unsigned)cdf->ntables);
        mean[e] = (flags & 4) ? (int16_t)((r >> 20) & 1 ? 32767 : -32768) : (int16_t)((int)((r >> 20) % 81) - 40);
    }
    nvc_latent d = { c, h, w, cdf, (flags & 2) ? NULL : mean, (flags & 1) ? NULL : index, rows, groups,
                     (flags & 8) ? NVC_RANS_LANES_DERIVED : NVC_RANS_LANES_CHOSEN };
    *l = d;
    return n;
}

#endif
