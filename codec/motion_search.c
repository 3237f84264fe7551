/* Block motion search (codec/motion_search.h). */
#include "codec/motion_search.h"

#include <stdint.h>
#include <stdlib.h>

#include "nvc/nvc.h"

#define R NVC_MOTION_SEARCH_RANGE

/* The model's cost is mean|c - r| over 16 pels of values (sum of 4 phases) / 1020, plus 1e-4 (|dx| + |dy|);
 * times 16 * 1020 * 1000 that is SAD * 1000 + 1632 (|dx| + |dy|) exactly. */
#define COST_SAD 1000
#define COST_DIST 1632

typedef struct search_job {
    const uint16_t *c;   /* current luma sums, W x H */
    const uint16_t *r;   /* reference luma sums with an R-pel replicated border: (W + 2R) x (H + 2R) */
    int w, h;
    nvc_tensor *out;
} search_job;

static void luma_sums(const nvc_tensor *t, uint16_t *dst, ptrdiff_t dstride, int border)
{
    for (int y = -border; y < t->h + border; y++) {
        const int sy = y < 0 ? 0 : y >= t->h ? t->h - 1 : y;
        uint16_t *row = dst + (ptrdiff_t)(y + border) * dstride + border;
        for (int x = -border; x < t->w + border; x++) {
            const int sx = x < 0 ? 0 : x >= t->w ? t->w - 1 : x;
            const uint8_t *p = nvc_tensor_px(t, sy, sx);
            row[x] = (uint16_t)(p[0] + p[1] + p[2] + p[3]);
        }
    }
}

static void search_row(void *ctx, int by, int worker)
{
    (void)worker;
    const search_job *j = ctx;
    const ptrdiff_t rs = j->w + 2 * R;
    for (int bx = 0; bx < j->w / 4; bx++) {
        int64_t best = INT64_MAX;
        int bdx = 0, bdy = 0;
        const uint16_t *c = j->c + (ptrdiff_t)by * 4 * j->w + bx * 4;
        for (int dy = -R; dy <= R; dy++)
            for (int dx = -R; dx <= R; dx++) {
                const uint16_t *r = j->r + (ptrdiff_t)(by * 4 + R + dy) * rs + bx * 4 + R + dx;
                int sad = 0;
                for (int y = 0; y < 4; y++)
                    for (int x = 0; x < 4; x++)
                        sad += abs((int)c[y * j->w + x] - (int)r[y * rs + x]);
                const int64_t cost = (int64_t)sad * COST_SAD + COST_DIST * (abs(dx) + abs(dy));
                if (cost < best) {
                    best = cost;
                    bdx = dx;
                    bdy = dy;
                }
            }
        uint8_t *o = nvc_tensor_px(j->out, by, bx);
        o[0] = (uint8_t)(128 + 2 * bdx);
        o[1] = (uint8_t)(128 + 2 * bdy);
    }
}

int nvc_motion_search(const nvc_tensor *cur, const nvc_tensor *ref, nvc_pool *pool, nvc_tensor *out)
{
    if (cur->c < 4 || ref->c < 4 || cur->h != ref->h || cur->w != ref->w || cur->h % 4 || cur->w % 4)
        return NVC_EINVAL;
    int err = nvc_tensor_alloc(out, 2, cur->h / 4, cur->w / 4, 128);
    if (err)
        return err;
    const int w = cur->w, h = cur->h;
    uint16_t *c = malloc(sizeof(uint16_t) * (size_t)w * h);
    uint16_t *r = malloc(sizeof(uint16_t) * (size_t)(w + 2 * R) * (h + 2 * R));
    if (!c || !r) {
        free(c);
        free(r);
        return NVC_ENOMEM;
    }
    luma_sums(cur, c, w, 0);
    luma_sums(ref, r, w + 2 * R, R);
    search_job job = { c, r, w, h, out };
    nvc_pool_run(pool, h / 4, search_row, &job);
    free(c);
    free(r);
    return 0;
}
