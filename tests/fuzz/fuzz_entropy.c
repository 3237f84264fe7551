/* libFuzzer target for the entropy decoder and the CDF table set parser.
 *
 * Input: byte 0 selects the mode.
 *  - even: a latent. Bytes 1-7: channels 1 + b1 % 8, height 1 + b2 % 12, width 1 + b3 % 40,
 *    tile_rows 1 + b4 % height, channel_groups 1 + b5 % channels, flags b6 (bit 0 factorized, bit 1 no means,
 *    bit 2 extreme means, bit 3 the derived substream layout of formats 2.0/2.1, else signalled lanes), seed b7
 *    for the table indices and means. Then for each substream a u16 LE size
 *    (cut to what remains) and its bytes. The substreams are decoded with the scalar and the AVX2 path: both
 *    must return the same code and, on success, the same values; a successful decode re-encodes and decodes
 *    back to the same values.
 *  - odd: bytes 1.. are a serialised CDF table set; when it parses, it must re-serialise to the same bytes.
 * Build and run: make fuzz-run (seeds: tests/fuzz/corpus/fuzz_entropy, written by
 * test_entropy_latent --write-corpus DIR). */
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "entropy/latent.h"
#include "nvc/nvc.h"
#include "tests/fuzz/fuzz_entropy.h"

static nvc_cdf_set *gauss;

static void fuzz_tables(const uint8_t *data, size_t size)
{
    nvc_cdf_set *set;
    if (nvc_cdf_set_deserialize(&set, data, size, NULL, 0))
        return;
    size_t n = nvc_cdf_set_serialize(set, NULL, 0);
    uint8_t *again = malloc(n);
    if (!again || n != size || nvc_cdf_set_serialize(set, again, n) != n || memcmp(again, data, n))
        abort();
    free(again);
    nvc_cdf_set_free(set);
}

static void fuzz_latent(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    int16_t mean[FUZZ_ENTROPY_MAX_ELEMENTS], y0[FUZZ_ENTROPY_MAX_ELEMENTS], y1[FUZZ_ENTROPY_MAX_ELEMENTS];
    int16_t y2[FUZZ_ENTROPY_MAX_ELEMENTS];
    uint8_t index[FUZZ_ENTROPY_MAX_ELEMENTS];
    nvc_latent l;
    const size_t n = fuzz_entropy_latent(data, gauss, mean, index, &l);
    const int count = nvc_latent_substreams(&l);
    const uint8_t *sub[NVC_LATENT_MAX_SUBSTREAMS];
    uint32_t sub_size[NVC_LATENT_MAX_SUBSTREAMS];
    size_t pos = 8;
    for (int k = 0; k < count; k++) {
        size_t want = pos + 2 <= size ? (size_t)(data[pos] | data[pos + 1] << 8) : 0;
        pos = pos + 2 <= size ? pos + 2 : size;
        if (want > size - pos)
            want = size - pos;
        sub[k] = data + pos;
        sub_size[k] = (uint32_t)want;
        pos += want;
    }
    nvc_cpu_set_mask(0);
    const int e0 = nvc_latent_decode(&l, sub, sub_size, count, NULL, y0);
    nvc_cpu_set_mask(~0u);
    const int e1 = nvc_latent_decode(&l, sub, sub_size, count, NULL, y1);
    if (e0 != e1 || (e0 != 0 && e0 != NVC_EINVALDATA))
        abort();
    if (e0)
        return;
    if (memcmp(y0, y1, 2 * n))
        abort();
    nvc_substreams enc;
    if (nvc_latent_encode(&l, y0, NULL, &enc))
        abort();
    if (nvc_latent_decode(&l, enc.data, enc.size, enc.count, NULL, y2) || memcmp(y0, y2, 2 * n))
        abort();
    nvc_substreams_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gauss && nvc_cdf_set_gaussian(&gauss, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN,
                                       NVC_CDF_GAUSSIAN_SIGMA_MAX))
        abort();
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_tables(data + 1, size - 1);
    else
        fuzz_latent(data, size);
    return 0;
}
