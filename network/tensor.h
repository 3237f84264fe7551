/* uint8 activation tensors of the int8 engine (docs/engine.md, "Tensors").
 *
 * Layout: HWC, batch 1. Pixel (y, x) holds `cstride` bytes: the C channels, then padding up to a
 * multiple of 16 whose content is unspecified (consumers give it zero weight or ignore it). Rows are
 * `rstride` bytes apart. A border of NVC_TENSOR_BORDER pixels on every side holds the zero point, so
 * padded convolutions read it instead of testing bounds; kernels write only the interior. */
#ifndef NVC_NETWORK_TENSOR_H
#define NVC_NETWORK_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define NVC_TENSOR_BORDER 2
#define NVC_TENSOR_MAX_DIM 16384            /* H and W */
#define NVC_TENSOR_MAX_BYTES (1ull << 30)   /* one tensor's allocation */

typedef struct nvc_tensor {
    int c, h, w;      /* channels, rows, columns */
    int zp;           /* zero point 0..255 */
    int cstride;      /* bytes per pixel: c rounded up to 16 */
    ptrdiff_t rstride;/* bytes per row, borders included */
    uint8_t *data;    /* channel 0 of pixel (0, 0) */
    uint8_t *buf;     /* the allocation (NULL when empty) */
    size_t buf_size;
    struct nvc_tensor_cache *cache; /* where nvc_tensor_release returns buf (network/tensor_cache.h); NULL: freed */
} nvc_tensor;

/* (Re)allocates t as c x h x w with zero point zp, every byte (border, padding, interior) set to zp.
 * t must be zero-initialised or hold a tensor from an earlier call. Returns 0, NVC_EINVAL for bad
 * dimensions, NVC_ENOMEM when over NVC_TENSOR_MAX_BYTES or out of memory. */
int nvc_tensor_alloc(nvc_tensor *t, int c, int h, int w, int zp);
/* dst := a copy of src (dst as for nvc_tensor_alloc; src not empty). 0, or as nvc_tensor_alloc. */
int nvc_tensor_copy(nvc_tensor *dst, const nvc_tensor *src);
/* Frees t's buffer (or returns it to the cache it came from) and zeroes t. */
void nvc_tensor_release(nvc_tensor *t);

/* The pieces of nvc_tensor_alloc, for the engine's buffer cache (network/tensor_cache.h):
 * buf_size: the allocation a c x h x w tensor needs, 0 for bad dimensions or over NVC_TENSOR_MAX_BYTES;
 * buf_new/buf_free: a 64-byte aligned buffer (large ones are mapped directly, so freeing them returns
 * the memory to the system); shape: sets the fields of t (whose buf is at least buf_size) without
 * touching memory; fill_border: sets the border to zp (interior and channel padding untouched). */
size_t nvc_tensor_buf_size(int c, int h, int w);
uint8_t *nvc_tensor_buf_new(size_t size);
void nvc_tensor_buf_free(uint8_t *buf, size_t size);
void nvc_tensor_shape(nvc_tensor *t, int c, int h, int w, int zp);
void nvc_tensor_fill_border(nvc_tensor *t);

static inline uint8_t *nvc_tensor_px(const nvc_tensor *t, int y, int x)
{
    return t->data + (ptrdiff_t)y * t->rstride + (ptrdiff_t)x * t->cstride;
}

/* 1 when a and b have the same shape and the same interior values (channel padding and borders aside). */
int nvc_tensor_same(const nvc_tensor *a, const nvc_tensor *b);

/* Copies between a tensor and a CHW byte array (c*h*w bytes), for tests and tools. */
void nvc_tensor_from_chw(nvc_tensor *t, const uint8_t *chw);
void nvc_tensor_to_chw(const nvc_tensor *t, uint8_t *chw);

/* YUV420 8-bit picture <-> 6-channel tensor at half resolution (docs/engine.md, "Pictures").
 * pack: the picture is w x h (even), the tensor becomes 6 x hp/2 x wp/2 (hp >= h, wp >= w, even) with
 * zp 128, edges replicated. unpack: writes the top-left w x h picture of a 6-channel tensor. */
int nvc_net_pack_yuv420(nvc_tensor *t, const uint8_t *const planes[3], const ptrdiff_t strides[3], int w,
                        int h, int wp, int hp);
int nvc_net_unpack_yuv420(const nvc_tensor *t, uint8_t *const planes[3], const ptrdiff_t strides[3], int w,
                          int h);

#endif
