/* Reference-counted picture buffers (codec/picture.h). One allocation holds the count and the three planes. */
#include "codec/picture.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct picture_buffer {
    atomic_int refs;
} picture_buffer;

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

int nvc_picture_alloc(nvc_picture *pic, int width, int height)
{
    memset(pic, 0, sizeof *pic);
    if (width < 2 || height < 2 || width > 8192 || height > 8192 || (width | height) & 1)
        return NVC_EINVAL;
    size_t luma_stride = align_up((size_t)width, NVC_PICTURE_ALIGN);
    size_t chroma_stride = align_up((size_t)width / 2, NVC_PICTURE_ALIGN);
    size_t luma_size = align_up(luma_stride * (size_t)height + NVC_PICTURE_OVERREAD, NVC_PICTURE_ALIGN);
    size_t chroma_size = align_up(chroma_stride * (size_t)(height / 2) + NVC_PICTURE_OVERREAD, NVC_PICTURE_ALIGN);
    size_t header = align_up(sizeof(picture_buffer), NVC_PICTURE_ALIGN);
    uint8_t *block = aligned_alloc(NVC_PICTURE_ALIGN, header + luma_size + 2 * chroma_size);
    if (!block)
        return NVC_ENOMEM;
    picture_buffer *buf = (picture_buffer *)block;
    atomic_init(&buf->refs, 1);
    pic->data[0] = block + header;
    pic->data[1] = pic->data[0] + luma_size;
    pic->data[2] = pic->data[1] + chroma_size;
    pic->stride[0] = (ptrdiff_t)luma_stride;
    pic->stride[1] = pic->stride[2] = (ptrdiff_t)chroma_stride;
    pic->width = width;
    pic->height = height;
    pic->priv = buf;
    return 0;
}

void nvc_picture_ref(nvc_picture *dst, const nvc_picture *src)
{
    picture_buffer *buf = src->priv;
    atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
    *dst = *src;
}

void nvc_picture_unref(nvc_picture *pic)
{
    if (!pic)
        return;
    picture_buffer *buf = pic->priv;
    /* acq_rel: the thread that frees must see every other holder's writes to the planes. */
    if (buf && atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) == 1)
        free(buf);
    memset(pic, 0, sizeof *pic);
}
