/* Scalar reference kernels of every op (docs/engine.md). They define the results; the SIMD kernels in
 * network/x86/ must match them bit for bit (tests/test_checkasm_network.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "network/ops.h"
#include "nvc/nvc.h"

#define clampi nvc_clampi
#define floor_div nvc_floor_div
#define bilinear_taps nvc_bilinear_taps

static void conv2d_rows(const nvc_op_args *a, int y0, int y1)
{
    const nvc_net_op *op = a->op;
    const nvc_tensor *in = a->in[0], *addend = op->n_in > 1 ? a->in[1] : NULL;
    nvc_tensor *out = a->out;
    const int k = op->k, pad = k / 2, s = op->stride, cin = op->c_in;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < out->w; x++) {
            uint8_t *dst = nvc_tensor_px(out, y, x);
            const uint8_t *add = addend ? nvc_tensor_px(addend, y, x) : NULL;
            for (int o = 0; o < op->c_out; o++) {
                /* |bias| + |sum w * x| + |addend term| < 2^31 (the loader's bound): int32 is exact */
                int32_t acc = op->bias[o] + (add ? op->A[o] * (add[o] - addend->zp) : 0);
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const uint8_t *src = nvc_tensor_px(in, y * s + ky - pad, x * s + kx - pad);
                        if (op->depthwise) {
                            acc += op->w[(o * k + ky) * k + kx] * src[o];
                            continue;
                        }
                        const int8_t *w = op->w + (size_t)o * cin * k * k + ky * k + kx;
                        for (int i = 0; i < cin; i++)
                            acc += w[i * k * k] * src[i];
                    }
                dst[o] = (uint8_t)nvc_requant(acc, op->M[o], op->S[o], op->zp_out, op->lo, op->hi);
            }
        }
}

static void add_rows(const nvc_op_args *a, int y0, int y1)
{
    const nvc_net_op *op = a->op;
    const int Ma = op->p[0], Mb = op->p[1], S = op->p[2];
    const int zpa = a->in[0]->zp, zpb = a->in[1]->zp;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            const uint8_t *pa = nvc_tensor_px(a->in[0], y, x), *pb = nvc_tensor_px(a->in[1], y, x);
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int c = 0; c < op->c_out; c++)
                dst[c] = (uint8_t)nvc_requant((pa[c] - zpa) * Ma + (pb[c] - zpb) * Mb, 1, S, op->zp_out, op->lo,
                                              op->hi);
        }
}

static void scale_channels_rows(const nvc_op_args *a, int y0, int y1)
{
    const nvc_net_op *op = a->op;
    const int row = op->nq == 1 ? 0 : a->quality; /* validated by the interpreter */
    const int32_t *M = op->tab_M + (size_t)row * op->c_out, *S = op->tab_S + (size_t)row * op->c_out;
    const int zp = a->in[0]->zp;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            const uint8_t *src = nvc_tensor_px(a->in[0], y, x);
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int c = 0; c < op->c_out; c++)
                dst[c] = (uint8_t)nvc_requant(src[c] - zp, M[c], S[c], op->zp_out, op->lo, op->hi);
        }
}

static void concat_rows(const nvc_op_args *a, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int i = 0; i < a->op->n_in; i++) {
                memcpy(dst, nvc_tensor_px(a->in[i], y, x), (size_t)a->in[i]->c);
                dst += a->in[i]->c;
            }
        }
}

static void slice_rows(const nvc_op_args *a, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++)
            memcpy(nvc_tensor_px(a->out, y, x), nvc_tensor_px(a->in[0], y, x) + a->op->p[0], (size_t)a->out->c);
}

static void depth_to_space_rows(const nvc_op_args *a, int y0, int y1)
{
    const int r = a->op->p[0];
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            const uint8_t *src = nvc_tensor_px(a->in[0], y / r, x / r) + (y % r) * r + x % r;
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int c = 0; c < a->out->c; c++)
                dst[c] = src[c * r * r];
        }
}

static void space_to_depth_rows(const nvc_op_args *a, int y0, int y1)
{
    const int r = a->op->p[0], cin = a->in[0]->c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) {
                    const uint8_t *src = nvc_tensor_px(a->in[0], y * r + i, x * r + j);
                    for (int c = 0; c < cin; c++)
                        dst[c * r * r + i * r + j] = src[c];
                }
        }
}

static void clamp_rows(const nvc_op_args *a, int y0, int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            const uint8_t *src = nvc_tensor_px(a->in[0], y, x);
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int c = 0; c < a->out->c; c++)
                dst[c] = (uint8_t)clampi(src[c], a->op->lo, a->op->hi);
        }
}

static void upsample_rows(const nvc_op_args *a, int y0, int y1)
{
    const nvc_tensor *in = a->in[0];
    const int r = a->op->p[0], bilinear = a->op->p[1], d2 = 4 * r * r;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->out->w; x++) {
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            if (!bilinear) {
                memcpy(dst, nvc_tensor_px(in, y / r, x / r), (size_t)in->c);
                continue;
            }
            int ya, yb, wya, wyb, xa, xb, wxa, wxb;
            bilinear_taps(y, in->h, r, &ya, &yb, &wya, &wyb);
            bilinear_taps(x, in->w, r, &xa, &xb, &wxa, &wxb);
            const uint8_t *p00 = nvc_tensor_px(in, ya, xa), *p01 = nvc_tensor_px(in, ya, xb);
            const uint8_t *p10 = nvc_tensor_px(in, yb, xa), *p11 = nvc_tensor_px(in, yb, xb);
            for (int c = 0; c < in->c; c++) {
                const int s = wya * (wxa * p00[c] + wxb * p01[c]) + wyb * (wxa * p10[c] + wxb * p11[c]);
                dst[c] = (uint8_t)((s + d2 / 2) / d2);
            }
        }
}

void nvc_warp_motion(const nvc_net_op *op, const nvc_tensor *motion, int32_t *out)
{
    const size_t plane = (size_t)motion->h * motion->w;
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < motion->h; y++)
            for (int x = 0; x < motion->w; x++) {
                const int v = nvc_requant(nvc_tensor_px(motion, y, x)[c] - motion->zp, op->p[1 + 2 * c],
                                          op->p[2 + 2 * c], 0, -32768, 32767);
                out[c * plane + (size_t)y * motion->w + x] = v;
            }
}

/* One row of the motion field at full luma resolution (docs/engine.md, warp step 2): bilinear
 * upsampling by r of the low-resolution field m[2][mh][mw], separably (vertical pass on the motion
 * columns, then horizontal; the same integer sum as the 2-D formula), rounding down. */
static void warp_mv_row(const nvc_warp_rows *w, const int32_t *m, int ly, int32_t *mvx, int32_t *mvy)
{
    int ya, yb, wya, wyb;
    bilinear_taps(ly, w->mh, w->r, &ya, &yb, &wya, &wyb);
    const size_t plane = (size_t)w->mh * w->mw;
    for (int c = 0; c < 2; c++) {
        const int32_t *pa = m + c * plane + (size_t)ya * w->mw, *pb = m + c * plane + (size_t)yb * w->mw;
        for (int x = 0; x < w->mw; x++)
            w->col[c * w->mw + x] = wya * pa[x] + wyb * pb[x];
    }
    const int d2 = 4 * w->r * w->r;
    for (int c = 0; c < 2; c++) {
        const int32_t *col = w->col + c * w->mw;
        int32_t *dst = c ? mvy : mvx;
        for (int x = 0; x < w->lw; x++) {
            const int s = w->wxa[x] * col[w->xa[x]] + w->wxb[x] * col[w->xb[x]] + d2 / 2;
            dst[x] = w->log2_d2 >= 0 ? s >> w->log2_d2 : floor_div(s, d2);
        }
    }
}

void nvc_warp_begin(const nvc_op_args *a, nvc_warp_rows *w)
{
    const nvc_tensor *motion = a->in[1];
    w->r = a->op->p[0];
    w->mh = motion->h;
    w->mw = motion->w;
    w->lw = 2 * a->in[0]->w;
    w->stride = w->lw + 16;
    const int d2 = 4 * w->r * w->r;
    w->log2_d2 = (d2 & (d2 - 1)) ? -1 : __builtin_ctz((unsigned)d2);
    int32_t *scratch = a->scratch; /* nvc_op_scratch_size() bytes for this band */
    w->xa = scratch;
    w->xb = w->xa + w->lw;
    w->wxa = w->xb + w->lw;
    w->wxb = w->wxa + w->lw;
    w->col = w->wxb + w->lw;
    w->mv = w->col + 2 * w->mw;
    memset(w->mv, 0, sizeof(int32_t) * 4 * (size_t)w->stride);
    for (int x = 0; x < w->lw; x++)
        bilinear_taps(x, w->mw, w->r, &w->xa[x], &w->xb[x], &w->wxa[x], &w->wxb[x]);
}

void nvc_warp_motion_rows(const nvc_warp_rows *w, const int32_t *motion, int y)
{
    for (int a = 0; a < 2; a++)
        warp_mv_row(w, motion, 2 * y + a, w->mv + 2 * a * w->stride, w->mv + (2 * a + 1) * w->stride);
}

/* Integer bilinear sample of a plane given by `at(yy, xx)` (clamped to h x w) at (y, x) + mv/16. */
#define WARP_SAMPLE(at, h, w, y, x, mx, my)                                                              \
    ({                                                                                                   \
        const int x0_ = (x) + ((mx) >> 4), y0_ = (y) + ((my) >> 4), fx_ = (mx)&15, fy_ = (my)&15;     \
        const int xa_ = clampi(x0_, 0, (w)-1), xb_ = clampi(x0_ + 1, 0, (w)-1);                        \
        const int ya_ = clampi(y0_, 0, (h)-1), yb_ = clampi(y0_ + 1, 0, (h)-1);                        \
        ((16 - fx_) * (16 - fy_) * at(ya_, xa_) + fx_ * (16 - fy_) * at(ya_, xb_) +                     \
         (16 - fx_) * fy_ * at(yb_, xa_) + fx_ * fy_ * at(yb_, xb_) + 128) >> 8;                        \
    })

static void warp_rows(const nvc_op_args *a, int y0, int y1)
{
    const nvc_tensor *ref = a->in[0];
    const int lh = 2 * ref->h, lw = 2 * ref->w; /* luma size */
    nvc_warp_rows w;
    nvc_warp_begin(a, &w);
    const int32_t *mv = w.mv;
    const int st = w.stride;
#define LUMA(yy, xx) nvc_tensor_px(ref, (yy) >> 1, (xx) >> 1)[2 * ((yy)&1) + ((xx)&1)]
#define CHROMA(yy, xx) nvc_tensor_px(ref, yy, xx)[plane]
    for (int y = y0; y < y1; y++) {
        nvc_warp_motion_rows(&w, a->motion, y);
        for (int x = 0; x < ref->w; x++) {
            uint8_t *dst = nvc_tensor_px(a->out, y, x);
            for (int ph = 0; ph < 4; ph++) {
                const int ly = 2 * y + (ph >> 1), lx = 2 * x + (ph & 1);
                const int32_t *mrow = mv + 2 * (ph >> 1) * st;
                const int mx = mrow[lx], my = mrow[st + lx];
                dst[ph] = (uint8_t)WARP_SAMPLE(LUMA, lh, lw, ly, lx, mx, my);
            }
            const int cmx = mv[2 * x] >> 1, cmy = mv[st + 2 * x] >> 1; /* luma (2y, 2x), halved */
            for (int plane = 4; plane < 6; plane++)
                dst[plane] = (uint8_t)WARP_SAMPLE(CHROMA, ref->h, ref->w, y, x, cmx, cmy);
        }
    }
#undef LUMA
#undef CHROMA
}

size_t nvc_op_scratch_size(const nvc_net_op *op, const nvc_tensor *const *in)
{
    if (op->type != NVC_OP_WARP)
        return 0;
    /* nvc_warp_rows: 4 tap arrays over the luma width, 2 motion columns, 4 padded motion rows */
    const size_t lw = 2 * (size_t)in[0]->w;
    return sizeof(int32_t) * (4 * lw + 2 * (size_t)in[1]->w + 4 * (lw + 16));
}

void nvc_net_dsp_init_c(nvc_net_dsp *dsp)
{
    dsp->name = "c";
    dsp->rows[NVC_OP_CONV2D] = conv2d_rows;
    dsp->rows[NVC_OP_ADD] = add_rows;
    dsp->rows[NVC_OP_SCALE_CHANNELS] = scale_channels_rows;
    dsp->rows[NVC_OP_CONCAT] = concat_rows;
    dsp->rows[NVC_OP_SLICE] = slice_rows;
    dsp->rows[NVC_OP_DEPTH_TO_SPACE] = depth_to_space_rows;
    dsp->rows[NVC_OP_SPACE_TO_DEPTH] = space_to_depth_rows;
    dsp->rows[NVC_OP_CLAMP] = clamp_rows;
    dsp->rows[NVC_OP_UPSAMPLE] = upsample_rows;
    dsp->rows[NVC_OP_WARP] = warp_rows;
}

static nvc_net_dsp dsp_c, dsp_avx2, dsp_avxvnni;
static pthread_once_t dsp_once = PTHREAD_ONCE_INIT;

static void dsp_init_all(void)
{
    nvc_net_dsp_init_c(&dsp_c);
    dsp_avx2 = dsp_c;
    nvc_net_dsp_init_avx2(&dsp_avx2);
    dsp_avxvnni = dsp_avx2;
    nvc_net_dsp_init_avxvnni(&dsp_avxvnni);
}

const nvc_net_dsp *nvc_net_dsp_get(void)
{
    pthread_once(&dsp_once, dsp_init_all);
    const unsigned f = nvc_cpu_flags();
    if (!(f & NVC_CPU_AVX2))
        return &dsp_c;
    return (f & NVC_CPU_AVXVNNI) ? &dsp_avxvnni : &dsp_avx2;
}

/* zp + requant(acc) before the clamp; non-decreasing in acc since M >= 0 (exact: |acc * M| < 2^61). */
static int64_t requant_unclamped(int64_t acc, int32_t M, int S, int zp)
{
    return ((acc * M + ((int64_t)1 << (S - 1))) >> S) + zp;
}

void nvc_conv_acc_range(int32_t M, int S, int zp, int lo, int hi, int32_t *acc_lo, int32_t *acc_hi)
{
    /* acc_lo: the largest acc with value <= lo (INT32_MIN if none: no acc needs raising);
     * acc_hi: the smallest acc with value >= hi (INT32_MAX if none). Binary searches over int32. */
    int64_t a = INT32_MIN, b = INT32_MAX;
    if (requant_unclamped(b, M, S, zp) <= lo)
        a = b;
    else if (requant_unclamped(a, M, S, zp) <= lo)
        while (b - a > 1) { /* f(a) <= lo < f(b) */
            const int64_t m = a + (b - a) / 2;
            *(requant_unclamped(m, M, S, zp) <= lo ? &a : &b) = m;
        }
    *acc_lo = (int32_t)a;
    a = INT32_MIN;
    b = INT32_MAX;
    if (requant_unclamped(a, M, S, zp) >= hi)
        b = a;
    else if (requant_unclamped(b, M, S, zp) >= hi)
        while (b - a > 1) { /* f(a) < hi <= f(b) */
            const int64_t m = a + (b - a) / 2;
            *(requant_unclamped(m, M, S, zp) >= hi ? &b : &a) = m;
        }
    *acc_hi = (int32_t)b;
}

int nvc_conv_pack(nvc_net_op *op)
{
    nvc_conv_packed *p = &op->packed;
    const int k2 = op->k * op->k;
    p->c_out16 = (op->c_out + 15) & ~15;
    p->c_in8 = (op->c_in + 7) & ~7;
    const size_t n = (size_t)p->c_out16 * k2 * p->c_in8;
    p->w = aligned_alloc(64, (n + 63) & ~(size_t)63);
    p->bias = calloc((size_t)p->c_out16, sizeof(int32_t));
    p->M = calloc((size_t)p->c_out16, sizeof(int32_t));
    p->S = calloc((size_t)p->c_out16, sizeof(int32_t));
    p->A = op->A ? calloc((size_t)p->c_out16, sizeof(int32_t)) : NULL;
    p->block_paired = calloc((size_t)p->c_out16 / 16, 1);
    p->acc_lo = calloc((size_t)p->c_out16, sizeof(int32_t));
    p->acc_hi = calloc((size_t)p->c_out16, sizeof(int32_t));
    if (!p->w || !p->bias || !p->M || !p->S || (op->A && !p->A) || !p->block_paired || !p->acc_lo || !p->acc_hi) {
        nvc_conv_pack_free(op);
        return NVC_ENOMEM;
    }
    memset(p->w, 0, n);
    for (int o = 0; o < p->c_out16; o++) {
        p->S[o] = 1; /* padded channels: M = 0 -> value zp_out */
        if (o < op->c_out) {
            p->M[o] = op->M[o];
            p->S[o] = op->S[o];
        }
        nvc_conv_acc_range(p->M[o], p->S[o], op->zp_out, op->lo, op->hi, &p->acc_lo[o], &p->acc_hi[o]);
        if (o >= op->c_out)
            continue;
        p->bias[o] = op->bias[o];
        if (op->A)
            p->A[o] = op->A[o];
        for (int t = 0; t < k2; t++)
            for (int i = 0; i < op->c_in; i++) {
                const size_t dst = ((((size_t)(o / 16) * k2 + t) * (p->c_in8 / 4) + i / 4) * 16 + o % 16) * 4 + i % 4;
                p->w[dst] = op->w[((size_t)o * op->c_in + i) * k2 + t];
            }
    }
    p->pair_sum_exact = 1;
    const size_t block = (size_t)k2 * p->c_in8 * 16; /* bytes per block of 16 output channels */
    for (int ob = 0; ob < p->c_out16 / 16; ob++) {
        p->block_paired[ob] = 1;
        for (size_t v = ob * block; v < (ob + 1) * block; v += 128) /* two groups: [16 oc][4 ic] twice */
            for (int o = 0; o < 16; o++)
                for (int j = 0; j < 4; j += 2) {
                    const int8_t *a = p->w + v + o * 4 + j, *b = a + 64;
                    if (abs(a[0]) + abs(a[1]) + abs(b[0]) + abs(b[1]) > 128)
                        p->block_paired[ob] = 0;
                }
        p->pair_sum_exact &= p->block_paired[ob];
    }
    return 0;
}

void nvc_conv_pack_free(nvc_net_op *op)
{
    free(op->packed.w);
    free(op->packed.bias);
    free(op->packed.M);
    free(op->packed.S);
    free(op->packed.A);
    free(op->packed.block_paired);
    free(op->packed.acc_lo);
    free(op->packed.acc_hi);
    memset(&op->packed, 0, sizeof(op->packed));
}
