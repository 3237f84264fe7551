/* CDF table sets: deterministic Gaussian builder, quantiser, packed decode tables, (de)serialisation.
 *
 * Reproducibility: the Gaussian probabilities are computed with IEEE-754 double +, -, *, / only (correctly
 * rounded everywhere), in one fixed order, with no library calls, so x86, ARM and Python (cdf_tables.py, which
 * repeats every operation in the same order) obtain the same bits. Contraction of a*b+c into an FMA would
 * change results, so it is switched off for this file; excess precision (x87) is refused at compile time. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "entropy/cdf.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvc/nvc.h"

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "the CDF builder needs plain IEEE double evaluation (FLT_EVAL_METHOD == 0), e.g. SSE2 on x86"
#endif

/* ---- deterministic elementary functions (mirrored in tools/train/cdf_tables.py) ---- */

#define LN2 0.6931471805599453
#define TWO_OVER_SQRT_PI 1.1283791670955126
#define INV_SQRT2 0.7071067811865476

/* exp(y): halve y (exact) until |y| <= 1/8, 18 Taylor terms, square back. */
static double det_exp(double y)
{
    int halvings = 0;
    while (y > 0.125 || y < -0.125) {
        y = y / 2.0;
        halvings++;
    }
    double term = 1.0, sum = 1.0;
    for (int n = 1; n <= 18; n++) {
        term = term * y / (double)n;
        sum = sum + term;
    }
    for (int i = 0; i < halvings; i++)
        sum = sum * sum;
    return sum;
}

/* ln(x), x > 0: x = m * 2^e with m in [1, 2) (exact scaling), ln m = 2 atanh((m-1)/(m+1)). */
static double det_log(double x)
{
    int e = 0;
    while (x >= 2.0) {
        x = x / 2.0;
        e++;
    }
    while (x < 1.0) {
        x = x * 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 0; k < 30; k++) {
        sum = sum + term / (double)(2 * k + 1);
        term = term * z2;
    }
    return (double)e * LN2 + 2.0 * sum;
}

/* erf(x) for x >= 0: (2/sqrt(pi)) exp(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)), all terms positive. */
static double det_erf(double x)
{
    if (x >= 8.0)
        return 1.0;
    double x2 = x * x, term = x, sum = x;
    for (int n = 1; n < 400; n++) {
        term = term * 2.0 * x2 / (double)(2 * n + 1);
        sum = sum + term;
        if (term < sum * 1e-17)
            break;
    }
    double r = TWO_OVER_SQRT_PI * det_exp(-x2) * sum;
    return r > 1.0 ? 1.0 : r;
}

/* P(V <= t) for V ~ N(0, sigma^2), as 0.5 * erf(|t|/(sigma sqrt 2)) signed; i.e. Phi(t) - 1/2. */
static double det_phi_centered(double t, double sigma)
{
    double a = t < 0 ? -t : t;
    double h = 0.5 * det_erf(a / sigma * INV_SQRT2);
    return t < 0 ? -h : h;
}

double nvc_cdf_gaussian_sigma(int i, int k, double sigma_min, double sigma_max)
{
    if (k <= 1)
        return sigma_min;
    double step = det_log(sigma_max / sigma_min) / (double)(k - 1);
    return sigma_min * det_exp(step * (double)i);
}

/* ---- quantisation ---- */

int nvc_cdf_quantize(const double *prob, int nsym, uint16_t *freq)
{
    if (nsym < 1 || nsym > NVC_CDF_MAX_SYMBOLS)
        return NVC_EINVAL;
    uint64_t p[NVC_CDF_MAX_SYMBOLS];
    uint64_t total = 0;
    for (int s = 0; s < nsym; s++) {
        if (!(prob[s] >= 0.0 && prob[s] <= 1.0)) /* also rejects NaN */
            return NVC_EINVAL;
        p[s] = (uint64_t)(prob[s] * 1099511627776.0); /* 2^40, exact scaling, truncation */
        total += p[s];
    }
    if (total == 0)
        return NVC_EINVAL;
    /* Proportional start, at least 1 each; then move units one at a time where the cross-entropy
     * changes least (first order: taking one from f costs ~p/(f-1/2), giving one gains ~p/(f+1/2)). */
    int64_t sum = 0;
    int f[NVC_CDF_MAX_SYMBOLS];
    for (int s = 0; s < nsym; s++) {
        uint64_t v = (p[s] * NVC_CDF_TOTAL + total / 2) / total; /* p < 2^40+1, product < 2^53 */
        f[s] = v < 1 ? 1 : (int)v;
        sum += f[s];
    }
    while (sum > (int64_t)NVC_CDF_TOTAL) {
        int best = -1;
        for (int s = 0; s < nsym; s++) {
            if (f[s] <= 1)
                continue;
            /* cost p[s]/(2f[s]-1) smallest: p[s]*(2f[b]-1) < p[b]*(2f[s]-1) */
            if (best < 0 || p[s] * (uint64_t)(2 * f[best] - 1) < p[best] * (uint64_t)(2 * f[s] - 1))
                best = s;
        }
        f[best]--; /* exists: sum > 4096 >= nsym means some f > 1 */
        sum--;
    }
    while (sum < (int64_t)NVC_CDF_TOTAL) {
        int best = 0;
        for (int s = 1; s < nsym; s++)
            if (p[s] * (uint64_t)(2 * f[best] + 1) > p[best] * (uint64_t)(2 * f[s] + 1))
                best = s;
        f[best]++;
        sum++;
    }
    for (int s = 0; s < nsym; s++)
        freq[s] = (uint16_t)f[s];
    return 0;
}

/* ---- sets ---- */

static int check_table_desc(int lo, int hi, int escape_k, const uint16_t *freq)
{
    if (lo < NVC_CDF_MIN_VALUE || hi > NVC_CDF_MAX_VALUE || lo > hi)
        return 0;
    if (escape_k < 0 || escape_k > NVC_CDF_MAX_ESCAPE_K)
        return 0;
    unsigned sum = 0;
    for (int s = 0; s < hi - lo + 2; s++) {
        if (freq[s] < 1)
            return 0;
        sum += freq[s];
    }
    return sum == NVC_CDF_TOTAL;
}

static void fill_slots(const nvc_cdf_table *t, uint32_t *slot)
{
    for (int s = 0; s < t->nsym; s++) {
        int value = s == t->nsym - 1 ? NVC_CDF_ESCAPE : t->lo + s;
        for (unsigned k = 0; k < t->freq[s]; k++)
            slot[t->cum[s] + k] = (uint32_t)t->freq[s] | (uint32_t)k << 12 | (uint32_t)(uint8_t)(int8_t)value << 24;
    }
}

int nvc_cdf_set_from_freqs(nvc_cdf_set **out, int ntables, const int *lo, const int *hi, const int *escape_k,
                           const uint16_t *const *freq)
{
    *out = NULL;
    if (ntables < 1 || ntables > NVC_CDF_MAX_TABLES)
        return NVC_EINVAL;
    for (int t = 0; t < ntables; t++)
        if (!freq[t] || !check_table_desc(lo[t], hi[t], escape_k[t], freq[t]))
            return NVC_EINVAL;
    nvc_cdf_set *set = calloc(1, sizeof(*set));
    if (!set)
        return NVC_ENOMEM;
    set->ntables = ntables;
    set->table = calloc((size_t)ntables, sizeof(*set->table));
    set->slot = aligned_alloc(64, ((size_t)ntables << NVC_CDF_PREC_BITS) * sizeof(uint32_t));
    if (!set->table || !set->slot) {
        nvc_cdf_set_free(set);
        return NVC_ENOMEM;
    }
    for (int t = 0; t < ntables; t++) {
        nvc_cdf_table *tb = &set->table[t];
        tb->lo = lo[t];
        tb->hi = hi[t];
        tb->escape_k = escape_k[t];
        tb->nsym = hi[t] - lo[t] + 2;
        tb->cum[0] = 0;
        for (int s = 0; s < tb->nsym; s++) {
            tb->freq[s] = freq[t][s];
            tb->cum[s + 1] = (uint16_t)(tb->cum[s] + freq[t][s]);
        }
        fill_slots(tb, set->slot + ((size_t)t << NVC_CDF_PREC_BITS));
    }
    *out = set;
    return 0;
}

void nvc_cdf_set_free(nvc_cdf_set *set)
{
    if (!set)
        return;
    free(set->table);
    free(set->slot);
    free(set);
}

/* One Gaussian table: range, escape order and probabilities, then quantised. */
static int gaussian_table(double sigma, int *lo, int *hi, int *escape_k, uint16_t *freq)
{
    int h = 0;
    /* two-sided tail beyond h: 2 * (1/2 - (Phi(h + 1/2) - 1/2)) = 1 - 2 * phi_c(h + 1/2) */
    while (h < NVC_CDF_MAX_VALUE && 1.0 - 2.0 * det_phi_centered((double)h + 0.5, sigma) > 1.0 / 65536.0)
        h++;
    int k = 0;
    while (k < 12 && (double)(2 << k) <= sigma)
        k++;
    double prob[NVC_CDF_MAX_SYMBOLS];
    int nsym = 2 * h + 2;
    double inside = 0.0;
    for (int v = -h; v <= h; v++) {
        double pv = det_phi_centered((double)v + 0.5, sigma) - det_phi_centered((double)v - 0.5, sigma);
        prob[v + h] = pv;
        inside = inside + pv;
    }
    double tail = 1.0 - inside;
    prob[nsym - 1] = tail > 0.0 ? tail : 0.0;
    *lo = -h;
    *hi = h;
    *escape_k = k;
    return nvc_cdf_quantize(prob, nsym, freq);
}

int nvc_cdf_set_gaussian(nvc_cdf_set **out, int k, double sigma_min, double sigma_max)
{
    *out = NULL;
    if (k < 1 || k > NVC_CDF_MAX_TABLES || !(sigma_min >= 0.01) || !(sigma_max >= sigma_min) ||
        !(sigma_max <= 1000.0))
        return NVC_EINVAL;
    int lo[NVC_CDF_MAX_TABLES], hi[NVC_CDF_MAX_TABLES], esc[NVC_CDF_MAX_TABLES];
    uint16_t (*freq)[NVC_CDF_MAX_SYMBOLS] = malloc(sizeof(*freq) * (size_t)k);
    const uint16_t *fp[NVC_CDF_MAX_TABLES];
    if (!freq)
        return NVC_ENOMEM;
    int err = 0;
    for (int i = 0; i < k && !err; i++) {
        err = gaussian_table(nvc_cdf_gaussian_sigma(i, k, sigma_min, sigma_max), &lo[i], &hi[i], &esc[i], freq[i]);
        fp[i] = freq[i];
    }
    if (!err)
        err = nvc_cdf_set_from_freqs(out, k, lo, hi, esc, fp);
    free(freq);
    return err;
}

/* ---- serialisation: "NVCT", u8 version 1, u8 precision 12, u16 ntables, then per table
 *      i8 lo, i8 hi, u8 escape_k, u8 0, u16 freq[hi-lo+2]; all little-endian ---- */

#define SET_MAGIC "NVCT"
#define SET_VERSION 1

size_t nvc_cdf_set_serialize(const nvc_cdf_set *set, uint8_t *out, size_t cap)
{
    size_t size = 8;
    for (int t = 0; t < set->ntables; t++)
        size += 4 + 2 * (size_t)set->table[t].nsym;
    if (!out)
        return size;
    if (cap < size)
        return 0;
    memcpy(out, SET_MAGIC, 4);
    out[4] = SET_VERSION;
    out[5] = NVC_CDF_PREC_BITS;
    out[6] = (uint8_t)set->ntables;
    out[7] = (uint8_t)(set->ntables >> 8);
    uint8_t *p = out + 8;
    for (int t = 0; t < set->ntables; t++) {
        const nvc_cdf_table *tb = &set->table[t];
        p[0] = (uint8_t)(int8_t)tb->lo;
        p[1] = (uint8_t)(int8_t)tb->hi;
        p[2] = (uint8_t)tb->escape_k;
        p[3] = 0;
        p += 4;
        for (int s = 0; s < tb->nsym; s++, p += 2) {
            p[0] = (uint8_t)tb->freq[s];
            p[1] = (uint8_t)(tb->freq[s] >> 8);
        }
    }
    return size;
}

int nvc_cdf_set_deserialize(nvc_cdf_set **out, const uint8_t *buf, size_t size, char *msg, size_t msg_size)
{
    char dummy[1];
    if (!msg) {
        msg = dummy;
        msg_size = sizeof(dummy);
    }
    msg[0] = 0;
    *out = NULL;
#define FAIL(code, ...)                                                                                     \
    do {                                                                                                    \
        snprintf(msg, msg_size, __VA_ARGS__);                                                               \
        err = code;                                                                                         \
        goto done;                                                                                          \
    } while (0)
    int err = 0;
    int *lo = NULL, *hi = NULL, *esc = NULL;
    uint16_t (*freq)[NVC_CDF_MAX_SYMBOLS] = NULL;
    const uint16_t **fp = NULL;
    if (size < 8 || memcmp(buf, SET_MAGIC, 4) != 0)
        FAIL(NVC_EINVALDATA, "CDF table set: bad magic or too short (%zu bytes)", size);
    if (buf[4] != SET_VERSION || buf[5] != NVC_CDF_PREC_BITS)
        FAIL(NVC_EUNSUPPORTED, "CDF table set: version %u precision %u not supported", buf[4], buf[5]);
    int n = buf[6] | buf[7] << 8;
    if (n < 1 || n > NVC_CDF_MAX_TABLES)
        FAIL(NVC_EINVALDATA, "CDF table set: %d tables (1..%d)", n, NVC_CDF_MAX_TABLES);
    lo = malloc(sizeof(int) * (size_t)n);
    hi = malloc(sizeof(int) * (size_t)n);
    esc = malloc(sizeof(int) * (size_t)n);
    freq = malloc(sizeof(*freq) * (size_t)n);
    fp = malloc(sizeof(*fp) * (size_t)n);
    if (!lo || !hi || !esc || !freq || !fp)
        FAIL(NVC_ENOMEM, "CDF table set: out of memory");
    size_t pos = 8;
    for (int t = 0; t < n; t++) {
        if (size - pos < 4)
            FAIL(NVC_EINVALDATA, "CDF table set: truncated at table %d", t);
        lo[t] = (int8_t)buf[pos];
        hi[t] = (int8_t)buf[pos + 1];
        esc[t] = buf[pos + 2];
        if (lo[t] < NVC_CDF_MIN_VALUE || lo[t] > hi[t] || esc[t] > NVC_CDF_MAX_ESCAPE_K || buf[pos + 3] != 0)
            FAIL(NVC_EINVALDATA, "CDF table set: table %d has range [%d, %d], escape order %d, reserved %u", t,
                 lo[t], hi[t], esc[t], buf[pos + 3]);
        pos += 4;
        int nsym = hi[t] - lo[t] + 2;
        if ((size - pos) / 2 < (size_t)nsym)
            FAIL(NVC_EINVALDATA, "CDF table set: truncated in table %d", t);
        unsigned sum = 0;
        for (int s = 0; s < nsym; s++, pos += 2) {
            freq[t][s] = (uint16_t)(buf[pos] | buf[pos + 1] << 8);
            if (freq[t][s] == 0)
                FAIL(NVC_EINVALDATA, "CDF table set: table %d symbol %d has frequency 0", t, s);
            sum += freq[t][s];
        }
        if (sum != NVC_CDF_TOTAL)
            FAIL(NVC_EINVALDATA, "CDF table set: table %d frequencies sum to %u, not %u", t, sum, NVC_CDF_TOTAL);
        fp[t] = freq[t];
    }
    if (pos != size)
        FAIL(NVC_EINVALDATA, "CDF table set: %zu trailing bytes", size - pos);
    err = nvc_cdf_set_from_freqs(out, n, lo, hi, esc, fp);
    if (err)
        FAIL(err, "CDF table set: %s", nvc_strerror(err));
done:
    free(lo);
    free(hi);
    free(esc);
    free(freq);
    free(fp);
    return err;
#undef FAIL
}
