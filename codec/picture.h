/* Decoded pictures: reference-counted YUV 4:2:0 buffers behind the public nvc_picture.
 * The decoder and encoder drivers allocate with nvc_picture_alloc and hand out extra references with
 * nvc_picture_ref (e.g. the reference frame kept for the next P-frame and the copy returned to the app);
 * the last nvc_picture_unref (public) frees the buffer, from whichever thread drops it. */
#ifndef NVC_CODEC_PICTURE_H
#define NVC_CODEC_PICTURE_H

#include "nvc/nvc.h"

/* Plane rows start at 64-byte-aligned addresses (strides are multiples of 64) and every plane may be read
 * NVC_PICTURE_OVERREAD bytes past the end of its last row, so SIMD loads need no tail handling. */
#define NVC_PICTURE_ALIGN 64
#define NVC_PICTURE_OVERREAD 64

/* Allocates a width x height picture (even sizes, 2..8192 each) with one reference; the metadata fields are
 * zeroed. Plane contents are uninitialised. 0, NVC_EINVAL (size) or NVC_ENOMEM. */
int nvc_picture_alloc(nvc_picture *pic, int width, int height);

/* *dst = a new reference to the same buffer and metadata as src (src must be a library picture). */
void nvc_picture_ref(nvc_picture *dst, const nvc_picture *src);

#endif
