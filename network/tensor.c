#include "network/tensor.h"

#include <stdlib.h>
#include <string.h>
#if defined(__unix__)
#include <sys/mman.h>
#endif

#include "network/tensor_cache.h"
#include "nvc/nvc.h"

/* Buffers this large are mapped directly: unmapping gives them back to the system at once, whereas the
 * C library may keep freed multi-megabyte blocks in per-thread arenas for the life of the process. */
#define MMAP_MIN_BYTES ((size_t)256 << 10)

static int dims_ok(int c, int h, int w)
{
    return c >= 1 && c <= 4096 && h >= 1 && w >= 1 && h <= NVC_TENSOR_MAX_DIM && w <= NVC_TENSOR_MAX_DIM;
}

size_t nvc_tensor_buf_size(int c, int h, int w)
{
    if (!dims_ok(c, h, w))
        return 0;
    const size_t cstride = (size_t)(c + 15) & ~(size_t)15;
    const size_t rstride = (size_t)(w + 2 * NVC_TENSOR_BORDER) * cstride;
    const size_t rows = (size_t)h + 2 * NVC_TENSOR_BORDER;
    if (rstride > NVC_TENSOR_MAX_BYTES / rows)
        return 0;
    /* 64 spare bytes: SIMD kernels may load a full vector at the last pixel's channels */
    return ((rows * rstride + 64) + 63) & ~(size_t)63;
}

uint8_t *nvc_tensor_buf_new(size_t size)
{
#if defined(__unix__) && defined(MAP_ANONYMOUS)
    if (size >= MMAP_MIN_BYTES) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p; /* page aligned */
    }
#endif
    return aligned_alloc(64, size);
}

void nvc_tensor_buf_free(uint8_t *buf, size_t size)
{
    if (!buf)
        return;
#if defined(__unix__) && defined(MAP_ANONYMOUS)
    if (size >= MMAP_MIN_BYTES) {
        munmap(buf, size);
        return;
    }
#endif
    free(buf);
}

void nvc_tensor_shape(nvc_tensor *t, int c, int h, int w, int zp)
{
    t->c = c;
    t->h = h;
    t->w = w;
    t->zp = zp;
    t->cstride = (c + 15) & ~15;
    t->rstride = (ptrdiff_t)(w + 2 * NVC_TENSOR_BORDER) * t->cstride;
    t->data = t->buf + NVC_TENSOR_BORDER * t->rstride + NVC_TENSOR_BORDER * (ptrdiff_t)t->cstride;
}

void nvc_tensor_fill_border(nvc_tensor *t)
{
    const size_t side = NVC_TENSOR_BORDER * (size_t)t->cstride;
    uint8_t *const end = t->buf + (size_t)(t->h + 2 * NVC_TENSOR_BORDER) * (size_t)t->rstride;
    memset(t->buf, t->zp, (size_t)(t->data - t->buf) - side); /* top rows */
    for (int y = 0; y < t->h; y++) {                            /* left and right of each row */
        uint8_t *row = nvc_tensor_px(t, y, 0);
        memset(row - side, t->zp, side);
        memset(row + (size_t)t->w * (size_t)t->cstride, t->zp, side);
    }
    uint8_t *bottom = nvc_tensor_px(t, t->h, 0) - side;
    memset(bottom, t->zp, (size_t)(end - bottom)); /* bottom rows */
}

int nvc_tensor_alloc(nvc_tensor *t, int c, int h, int w, int zp)
{
    if (!dims_ok(c, h, w) || zp < 0 || zp > 255)
        return NVC_EINVAL;
    const size_t size = nvc_tensor_buf_size(c, h, w);
    if (!size)
        return NVC_ENOMEM;
    if (!t->buf || t->buf_size < size) {
        nvc_tensor_release(t);
        if (!(t->buf = nvc_tensor_buf_new(size)))
            return NVC_ENOMEM;
        t->buf_size = size;
    }
    memset(t->buf, zp, size);
    nvc_tensor_shape(t, c, h, w, zp);
    return 0;
}

int nvc_tensor_copy(nvc_tensor *dst, const nvc_tensor *src)
{
    if (dst == src)
        return 0;
    int err = nvc_tensor_alloc(dst, src->c, src->h, src->w, src->zp);
    if (!err) /* the same shape: the same layout, byte for byte */
        memcpy(dst->buf, src->buf, nvc_tensor_buf_size(src->c, src->h, src->w));
    return err;
}

void nvc_tensor_release(nvc_tensor *t)
{
    if (t->cache) {
        nvc_tensor_cache_put(t);
        return;
    }
    nvc_tensor_buf_free(t->buf, t->buf_size);
    memset(t, 0, sizeof(*t));
}

void nvc_tensor_from_chw(nvc_tensor *t, const uint8_t *chw)
{
    for (int c = 0; c < t->c; c++)
        for (int y = 0; y < t->h; y++)
            for (int x = 0; x < t->w; x++)
                nvc_tensor_px(t, y, x)[c] = chw[((size_t)c * t->h + y) * t->w + x];
}

void nvc_tensor_to_chw(const nvc_tensor *t, uint8_t *chw)
{
    for (int c = 0; c < t->c; c++)
        for (int y = 0; y < t->h; y++)
            for (int x = 0; x < t->w; x++)
                chw[((size_t)c * t->h + y) * t->w + x] = nvc_tensor_px(t, y, x)[c];
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int nvc_net_pack_yuv420(nvc_tensor *t, const uint8_t *const planes[3], const ptrdiff_t strides[3], int w,
                        int h, int wp, int hp)
{
    if (w < 2 || h < 2 || (w | h | wp | hp) & 1 || wp < w || hp < h)
        return NVC_EINVAL;
    int err = nvc_tensor_alloc(t, 6, hp / 2, wp / 2, 128);
    if (err)
        return err;
    for (int y = 0; y < hp / 2; y++)
        for (int x = 0; x < wp / 2; x++) {
            uint8_t *px = nvc_tensor_px(t, y, x);
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) {
                    const int yy = clampi(2 * y + a, 0, h - 1), xx = clampi(2 * x + b, 0, w - 1);
                    px[2 * a + b] = planes[0][(ptrdiff_t)yy * strides[0] + xx];
                }
            const int cy = clampi(y, 0, h / 2 - 1), cx = clampi(x, 0, w / 2 - 1);
            px[4] = planes[1][(ptrdiff_t)cy * strides[1] + cx];
            px[5] = planes[2][(ptrdiff_t)cy * strides[2] + cx];
        }
    return 0;
}

int nvc_net_unpack_yuv420(const nvc_tensor *t, uint8_t *const planes[3], const ptrdiff_t strides[3], int w,
                          int h)
{
    if (t->c != 6 || w < 2 || h < 2 || (w | h) & 1 || w > 2 * t->w || h > 2 * t->h)
        return NVC_EINVAL;
    /* one pass over the tensor: each pixel holds a 2x2 luma block and its U and V */
    for (int y = 0; y < h / 2; y++) {
        uint8_t *y0 = planes[0] + (ptrdiff_t)(2 * y) * strides[0], *y1 = y0 + strides[0];
        uint8_t *u = planes[1] + (ptrdiff_t)y * strides[1], *v = planes[2] + (ptrdiff_t)y * strides[2];
        const uint8_t *px = nvc_tensor_px(t, y, 0);
        for (int x = 0; x < w / 2; x++, px += t->cstride) {
            y0[2 * x] = px[0];
            y0[2 * x + 1] = px[1];
            y1[2 * x] = px[2];
            y1[2 * x + 1] = px[3];
            u[x] = px[4];
            v[x] = px[5];
        }
    }
    return 0;
}

int nvc_tensor_same(const nvc_tensor *a, const nvc_tensor *b)
{
    if (a->c != b->c || a->h != b->h || a->w != b->w)
        return 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++)
            if (memcmp(nvc_tensor_px(a, y, x), nvc_tensor_px(b, y, x), (size_t)a->c))
                return 0;
    return 1;
}
