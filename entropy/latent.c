/* Latent tensors <-> substreams (layout in latent.h): one pool task per substream. */
#include "entropy/latent.h"

#include <stdlib.h>
#include <string.h>

#include "entropy/rans.h"
#include "nvc/nvc.h"

int nvc_latent_check(const nvc_latent *l)
{
    if (!l || !l->cdf || l->channels < 1 || l->height < 1 || l->width < 1 || l->channels > NVC_LATENT_MAX_DIM ||
        l->height > NVC_LATENT_MAX_DIM || l->width > NVC_LATENT_MAX_DIM)
        return NVC_EINVAL;
    if ((uint64_t)l->channels * (uint64_t)l->height * (uint64_t)l->width > NVC_LATENT_MAX_ELEMENTS)
        return NVC_EINVAL;
    if (l->tile_rows < 1 || l->tile_rows > l->height || l->channel_groups < 1 || l->channel_groups > l->channels ||
        l->tile_rows * l->channel_groups > NVC_LATENT_MAX_SUBSTREAMS)
        return NVC_EINVAL;
    if (!l->index && l->channels > l->cdf->ntables)
        return NVC_EINVAL;
    if (l->lanes < NVC_RANS_LANES_CHOSEN || l->lanes > NVC_RANS_LANES)
        return NVC_EINVAL;
    return 0;
}

static const int16_t zero_mean = 0;
static const uint8_t channel_table[NVC_CDF_MAX_TABLES] = {
#define T4(i) (i), (i) + 1, (i) + 2, (i) + 3
#define T16(i) T4(i), T4((i) + 4), T4((i) + 8), T4((i) + 12)
#define T64(i) T16(i), T16((i) + 16), T16((i) + 32), T16((i) + 48)
    T64(0), T64(64), T64(128), T64(192)
#undef T4
#undef T16
#undef T64
};

/* Runs of substream k (one per channel of its group); *nruns = their count; NULL when out of memory. */
static nvc_rans_run *substream_runs(const nvc_latent *l, int k, int16_t *y, int *nruns, size_t *nsymbols)
{
    const int b = k / l->channel_groups, g = k % l->channel_groups;
    const int r0 = (int)((int64_t)b * l->height / l->tile_rows), r1 = (int)((int64_t)(b + 1) * l->height / l->tile_rows);
    const int c0 = (int)((int64_t)g * l->channels / l->channel_groups);
    const int c1 = (int)((int64_t)(g + 1) * l->channels / l->channel_groups);
    const size_t plane = (size_t)l->height * (size_t)l->width, n = (size_t)(r1 - r0) * (size_t)l->width;
    nvc_rans_run *runs = malloc(sizeof(*runs) * (size_t)(c1 - c0));
    if (!runs)
        return NULL;
    for (int c = c0; c < c1; c++) {
        nvc_rans_run *run = &runs[c - c0];
        const size_t off = (size_t)c * plane + (size_t)r0 * (size_t)l->width;
        run->y = y + off;
        run->n = n;
        if (l->index) {
            run->index = l->index + off;
            run->index_step = 1;
            run->mean = l->mean ? l->mean + off : &zero_mean;
            run->mean_step = l->mean ? 1 : 0;
        } else {
            run->index = &channel_table[c];
            run->index_step = 0;
            run->mean = l->mean ? l->mean + c : &zero_mean;
            run->mean_step = 0;
        }
    }
    *nruns = c1 - c0;
    *nsymbols = n * (size_t)(c1 - c0);
    return runs;
}

typedef struct coder_job {
    const nvc_latent *l;
    int16_t *y;
    const uint8_t *const *data; /* decode: input; encode: each substream's own buffer */
    const uint32_t *size;
    uint8_t **enc_data;         /* encode: malloc'ed per substream */
    size_t *enc_size;
    int *err;
} coder_job;

/* One pool task: substream k, encoded when the job has enc_data, decoded otherwise. */
static void coder_task(void *ctx, int k, int worker)
{
    coder_job *j = ctx;
    int nruns;
    size_t n;
    nvc_rans_run *runs = substream_runs(j->l, k, j->y, &nruns, &n);
    if (!runs) {
        j->err[k] = NVC_ENOMEM;
        return;
    }
    j->err[k] = j->enc_data ? nvc_rans_encode(j->l->cdf, runs, nruns, j->l->lanes, &j->enc_data[k], &j->enc_size[k])
                            : nvc_rans_decode(j->l->cdf, runs, nruns, j->l->lanes != 0, j->data[k], j->size[k]);
    free(runs);
}

static int first_error(const int *err, int count)
{
    for (int k = 0; k < count; k++)
        if (err[k])
            return err[k];
    return 0;
}

void nvc_substreams_free(nvc_substreams *s)
{
    if (!s)
        return;
    free(s->data);
    free(s->size);
    free(s->bytes);
    memset(s, 0, sizeof(*s));
}

int nvc_latent_encode(const nvc_latent *l, const int16_t *y, nvc_pool *pool, nvc_substreams *out)
{
    memset(out, 0, sizeof(*out));
    int err = nvc_latent_check(l);
    if (err)
        return err;
    const int count = nvc_latent_substreams(l);
    uint8_t *parts[NVC_LATENT_MAX_SUBSTREAMS] = { 0 };
    size_t part_size[NVC_LATENT_MAX_SUBSTREAMS] = { 0 };
    int errs[NVC_LATENT_MAX_SUBSTREAMS] = { 0 };
    coder_job job = { l, (int16_t *)y, NULL, NULL, parts, part_size, errs };
    nvc_pool_run(pool, count, coder_task, &job);
    err = first_error(errs, count);
    size_t total = 0;
    for (int k = 0; k < count; k++)
        total += part_size[k];
    if (!err && total > UINT32_MAX)
        err = NVC_EINVAL;
    out->data = calloc((unsigned)count, sizeof(*out->data));
    out->size = calloc((unsigned)count, sizeof(*out->size));
    out->bytes = malloc(total ? total : 1);
    if (!err && (!out->data || !out->size || !out->bytes))
        err = NVC_ENOMEM;
    if (!err) {
        size_t pos = 0;
        for (int k = 0; k < count; k++) {
            if (part_size[k])
                memcpy(out->bytes + pos, parts[k], part_size[k]);
            out->data[k] = out->bytes + pos;
            out->size[k] = (uint32_t)part_size[k];
            pos += part_size[k];
        }
        out->total = total;
        out->count = count;
    }
    for (int k = 0; k < count; k++)
        free(parts[k]);
    if (err)
        nvc_substreams_free(out);
    return err;
}

int nvc_latent_decode(const nvc_latent *l, const uint8_t *const *data, const uint32_t *size, int count,
                      nvc_pool *pool, int16_t *y)
{
    int err = nvc_latent_check(l);
    if (err)
        return err;
    if (count != nvc_latent_substreams(l))
        return NVC_EINVAL;
    for (int k = 0; k < count; k++)
        if (!data[k] && size[k])
            return NVC_EINVAL;
    int errs[NVC_LATENT_MAX_SUBSTREAMS] = { 0 };
    coder_job job = { l, y, data, size, NULL, NULL, errs };
    nvc_pool_run(pool, count, coder_task, &job);
    return first_error(errs, count);
}
