/* Block motion search (codec/motion_search.h). */
#include "codec/motion_search.h"

#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#include "codec/cpu.h"
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

/* ---- block-vector search ------------------------------------------------------------------------------ */

#define BLOCK 16

typedef struct block_job {
    const uint8_t *c; /* current luma, W x H */
    const uint8_t *r; /* reference luma with a pad-pel replicated border: (W + 2 pad) x (H + 2 pad) */
    int w, h, range, pad, penalty;
    const nvc_mv_rate *rate;
    nvc_tensor *out;
    void (*sad_row)(const uint8_t *, ptrdiff_t, const uint8_t *, ptrdiff_t, int, int *); /* _c or _avx2 */
} block_job;

#define MAX_V (4 * NVC_BLOCK_MV_MAX_RANGE + 3) /* the largest vector component the search reaches, quarter pels */

/* What each value of a vector component of block (by, bx) costs in SAD units: penalty |v|, or with a rate model
 * sad_per_bit times the bits of v - mean with the component's table (v - mean clamped to the table range). */
static void component_costs(const block_job *j, int by, int bx, int comp, int *cost)
{
    const int V = 4 * j->range + 3;
    const nvc_mv_rate *r = j->rate;
    if (!r) {
        for (int v = -V; v <= V; v++)
            cost[v + MAX_V] = j->penalty * abs(v);
        return;
    }
    const size_t at = ((size_t)comp * j->out->h + by) * j->out->w + bx;
    const float *bits = r->bits + (size_t)r->index[at] * 256;
    for (int v = -V; v <= V; v++) {
        int d = v - r->mean[at];
        d = d < -128 ? -128 : d > 127 ? 127 : d;
        cost[v + MAX_V] = (int)lrintf(r->sad_per_bit * bits[d + 128]);
    }
}

/* Full-resolution luma of a packed picture (phases (dy, dx) = channels 2 dy + dx), with a replicated border. */
static void luma_plane(const nvc_tensor *t, uint8_t *dst, int border)
{
    const int W = 2 * t->w, H = 2 * t->h;
    const ptrdiff_t stride = W + 2 * border;
    for (int y = -border; y < H + border; y++) {
        const int sy = y < 0 ? 0 : y >= H ? H - 1 : y;
        uint8_t *row = dst + (ptrdiff_t)(y + border) * stride + border;
        for (int x = -border; x < W + border; x++) {
            const int sx = x < 0 ? 0 : x >= W ? W - 1 : x;
            row[x] = nvc_tensor_px(t, sy >> 1, sx >> 1)[2 * (sy & 1) + (sx & 1)];
        }
    }
}

void nvc_sad16x16_row_c(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs, int n, int *sad)
{
    for (int k = 0; k < n; k++) {
        int s = 0;
        for (int y = 0; y < BLOCK; y++)
            for (int x = 0; x < BLOCK; x++)
                s += abs((int)a[y * as + x] - (int)b[y * bs + x + k]);
        sad[k] = s;
    }
}

/* SAD against the reference sampled at quarter-pel vector (vx, vy); r points at the block's own position. */
static int block_sad_qpel(const uint8_t *c, ptrdiff_t cs, const uint8_t *r, ptrdiff_t rs, int vx, int vy)
{
    const int fx = (vx % 4 + 4) % 4, fy = (vy % 4 + 4) % 4; /* vx = 4 floor(vx / 4) + fx */
    const uint8_t *p = r + (ptrdiff_t)((vy - fy) / 4) * rs + (vx - fx) / 4;
    const int wa = (4 - fx) * (4 - fy), wb = fx * (4 - fy), wc = (4 - fx) * fy, wd = fx * fy;
    int sad = 0;
    for (int y = 0; y < BLOCK; y++)
        for (int x = 0; x < BLOCK; x++) {
            const uint8_t *q = p + y * rs + x;
            const int v = (wa * q[0] + wb * q[1] + wc * q[rs] + wd * q[rs + 1] + 8) >> 4;
            sad += abs((int)c[y * cs + x] - v);
        }
    return sad;
}

static void block_row(void *ctx, int by, int worker)
{
    (void)worker;
    const block_job *j = ctx;
    const ptrdiff_t rs = j->w + 2 * j->pad;
    for (int bx = 0; bx < j->w / BLOCK; bx++) {
        const uint8_t *c = j->c + (ptrdiff_t)by * BLOCK * j->w + bx * BLOCK;
        const uint8_t *r = j->r + (ptrdiff_t)(by * BLOCK + j->pad) * rs + bx * BLOCK + j->pad;
        int cost_x[2 * MAX_V + 1], cost_y[2 * MAX_V + 1];
        component_costs(j, by, bx, 0, cost_x);
        component_costs(j, by, bx, 1, cost_y);
        int best = INT32_MAX, vx = 0, vy = 0;
        for (int dy = -j->range; dy <= j->range; dy++) {
            int sad[2 * NVC_BLOCK_MV_MAX_RANGE + 1];
            j->sad_row(c, j->w, r + (ptrdiff_t)dy * rs - j->range, rs, 2 * j->range + 1, sad);
            for (int dx = -j->range; dx <= j->range; dx++) {
                const int cost = sad[dx + j->range] + cost_x[4 * dx + MAX_V] + cost_y[4 * dy + MAX_V];
                if (cost < best) {
                    best = cost;
                    vx = 4 * dx;
                    vy = 4 * dy;
                }
            }
        }
        for (int step = 2; step >= 1; step--) {
            const int cx = vx, cy = vy;
            for (int dy = -step; dy <= step; dy += step)
                for (int dx = -step; dx <= step; dx += step) {
                    if (!dx && !dy)
                        continue;
                    const int tx = cx + dx, ty = cy + dy;
                    const int cost = block_sad_qpel(c, j->w, r, rs, tx, ty) + cost_x[tx + MAX_V] + cost_y[ty + MAX_V];
                    if (cost < best) {
                        best = cost;
                        vx = tx;
                        vy = ty;
                    }
                }
        }
        uint8_t *o = nvc_tensor_px(j->out, by, bx);
        o[0] = (uint8_t)(128 + vx);
        o[1] = (uint8_t)(128 + vy);
    }
}

int nvc_block_search(const nvc_tensor *cur, const nvc_tensor *ref, int range, int penalty, const nvc_mv_rate *rate,
                     nvc_pool *pool, nvc_tensor *out)
{
    /* penalty <= 2^16, sad_per_bit <= 2^10 (bits <= ~60 per value): costs stay far below INT32_MAX (SAD <=
     * 256 * 255, |v| <= 4 * 31 + 3 per component) */
    if (cur->c < 4 || ref->c < 4 || cur->h != ref->h || cur->w != ref->w || cur->h % 8 || cur->w % 8 ||
        range < 1 || range > NVC_BLOCK_MV_MAX_RANGE || penalty < 0 || penalty > 65536 ||
        (rate && !(rate->sad_per_bit >= 0 && rate->sad_per_bit <= 1024)))
        return NVC_EINVAL;
    int err = nvc_tensor_alloc(out, 2, cur->h / 8, cur->w / 8, 128);
    if (err)
        return err;
    const int W = 2 * cur->w, H = 2 * cur->h, pad = range + 2; /* refinement reaches range + 3/4 and one tap on */
    uint8_t *c = malloc((size_t)W * H);
    uint8_t *r = malloc((size_t)(W + 2 * pad) * (H + 2 * pad));
    if (!c || !r) {
        free(c);
        free(r);
        nvc_tensor_release(out);
        return NVC_ENOMEM;
    }
    luma_plane(cur, c, 0);
    luma_plane(ref, r, pad);
    block_job job = { c, r, W, H, range, pad, penalty, rate, out,
                      nvc_cpu_flags() & NVC_CPU_AVX2 ? nvc_sad16x16_row_avx2 : nvc_sad16x16_row_c };
    nvc_pool_run(pool, H / BLOCK, block_row, &job);
    free(c);
    free(r);
    return 0;
}
