#include "codec/stream_info.h"

#include <stdio.h>
#include <string.h>

void nvc_stream_info_from_header(nvc_stream_info *info, const nvc_stream_header *h)
{
    memset(info, 0, sizeof *info);
    info->width = h->width;
    info->height = h->height;
    info->fps_num = h->fps_num;
    info->fps_den = h->fps_den;
    info->colour_primaries = h->colour_primaries;
    info->transfer = h->transfer;
    info->matrix = h->matrix;
    info->full_range = h->full_range;
    info->bit_depth = h->bit_depth;
    info->gop_length = h->gop_length;
    info->frame_count = h->frame_count == NVC_STREAM_FRAME_COUNT_UNKNOWN ? -1 : (int64_t)h->frame_count;
    info->model_id = h->model_id;
    _Static_assert(sizeof info->model_name == sizeof h->model_name, "model name sizes differ");
    memcpy(info->model_name, h->model_name, sizeof info->model_name);
    info->model_name[sizeof info->model_name - 1] = 0;
    info->version_major = h->version_major;
    info->version_minor = h->version_minor;
}

int nvc_stream_header_from_info(nvc_stream_header *h, const nvc_stream_info *info, char *msg, size_t msg_size)
{
    memset(h, 0, sizeof *h);
    const char *bad = NULL;
    if (info->width < 0 || info->width > 0xFFFF || info->height < 0 || info->height > 0xFFFF)
        bad = "size";
    else if (info->colour_primaries < 0 || info->colour_primaries > 255 || info->transfer < 0 || info->transfer > 255 ||
             info->matrix < 0 || info->matrix > 255 || info->full_range < 0 || info->full_range > 1)
        bad = "colour description";
    else if (info->gop_length < 0 || info->gop_length > 0xFFFF)
        bad = "GOP length";
    else if (info->frame_count < -1 || info->frame_count >= (int64_t)NVC_STREAM_FRAME_COUNT_UNKNOWN)
        bad = "frame count";
    else if (info->bit_depth != 0 && info->bit_depth != 8)
        bad = "bit depth (only 8 is supported)";
    if (bad) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "invalid stream %s", bad);
        return NVC_EINVAL;
    }
    h->width = (uint16_t)info->width;
    h->height = (uint16_t)info->height;
    h->fps_num = info->fps_num;
    h->fps_den = info->fps_den;
    h->colour_primaries = (uint8_t)info->colour_primaries;
    h->transfer = (uint8_t)info->transfer;
    h->matrix = (uint8_t)info->matrix;
    h->full_range = (uint8_t)info->full_range;
    h->chroma_format = 1;
    h->bit_depth = 8;
    h->gop_length = (uint16_t)info->gop_length;
    h->frame_count = info->frame_count < 0 ? NVC_STREAM_FRAME_COUNT_UNKNOWN : (uint32_t)info->frame_count;
    h->model_id = info->model_id;
    /* Up to the first NUL: the format requires zeros after the name (h was zeroed). */
    for (int i = 0; i < NVC_STREAM_MODEL_NAME_LEN && info->model_name[i]; i++)
        h->model_name[i] = info->model_name[i];
    return 0;
}
