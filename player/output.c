#include "player/output.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <stdio.h>
#include <string.h>

struct nvplay_output {
    AVFormatContext *fmt;
    AVStream *st;
    AVRational frame_duration; /* the stream's 1/fps: what a pts of 1 means */
    int width, height;
    int wrapped;               /* the muxer takes AVFrames (y4m), not rawvideo bytes */
    AVPacket *pkt;
};

static int av_fail(char *msg, size_t msg_size, const char *what, int averr)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, e, sizeof e);
    snprintf(msg, msg_size, "%s: %s", what, e);
    return -1;
}

static void output_free(nvplay_output *o)
{
    if (o->fmt) {
        if (o->fmt->pb && !(o->fmt->oformat->flags & AVFMT_NOFILE))
            avio_closep(&o->fmt->pb);
        avformat_free_context(o->fmt);
    }
    av_packet_free(&o->pkt);
    av_free(o);
}

int output_open(nvplay_output **out, const char *path, const nvc_stream_info *info, char *msg, size_t msg_size)
{
    *out = NULL;
    nvplay_output *o = av_mallocz(sizeof *o);
    if (!o || !(o->pkt = av_packet_alloc())) {
        av_free(o);
        snprintf(msg, msg_size, "out of memory");
        return -1;
    }
    int to_stdout = !strcmp(path, "-");
    int err = avformat_alloc_output_context2(&o->fmt, NULL, to_stdout ? "yuv4mpegpipe" : NULL,
                                             to_stdout ? "pipe:1" : path);
    if (err < 0 || !o->fmt) {
        output_free(o);
        snprintf(msg, msg_size, "%s: no container format for this file name (try .y4m, .nut, .mkv, .avi)", path);
        return -1;
    }
    if (!(o->st = avformat_new_stream(o->fmt, NULL))) {
        output_free(o);
        snprintf(msg, msg_size, "out of memory");
        return -1;
    }
    o->width = info->width;
    o->height = info->height;
    o->frame_duration = (AVRational){(int)info->fps_den, (int)info->fps_num};
    AVCodecParameters *par = o->st->codecpar;
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    /* FFmpeg's y4m muxer takes frames wrapped in packets; the others take rawvideo with the 'I420' tag. */
    o->wrapped = !strcmp(o->fmt->oformat->name, "yuv4mpegpipe");
    par->codec_id = o->wrapped ? AV_CODEC_ID_WRAPPED_AVFRAME : AV_CODEC_ID_RAWVIDEO;
    par->codec_tag = o->wrapped ? 0 : avcodec_pix_fmt_to_codec_tag(AV_PIX_FMT_YUV420P);
    par->format = AV_PIX_FMT_YUV420P;
    par->width = info->width;
    par->height = info->height;
    par->sample_aspect_ratio = (AVRational){1, 1};
    par->field_order = AV_FIELD_PROGRESSIVE;
    /* FFmpeg's colour enums are the H.273 code points the stream carries. */
    par->color_primaries = (enum AVColorPrimaries)info->colour_primaries;
    par->color_trc = (enum AVColorTransferCharacteristic)info->transfer;
    par->color_space = (enum AVColorSpace)info->matrix;
    par->color_range = info->full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    par->chroma_location = AVCHROMA_LOC_LEFT;
    o->st->time_base = o->frame_duration;
    o->st->avg_frame_rate = o->st->r_frame_rate = (AVRational){(int)info->fps_num, (int)info->fps_den};
    if (!(o->fmt->oformat->flags & AVFMT_NOFILE) &&
        (err = avio_open(&o->fmt->pb, to_stdout ? "pipe:1" : path, AVIO_FLAG_WRITE)) < 0) {
        output_free(o);
        return av_fail(msg, msg_size, path, err);
    }
    if ((err = avformat_write_header(o->fmt, NULL)) < 0) {
        output_free(o);
        return av_fail(msg, msg_size, "writing the container header", err);
    }
    *out = o;
    return 0;
}

static void free_wrapped_frame(void *opaque, uint8_t *data)
{
    AVFrame *frame = (AVFrame *)data;
    av_frame_free(&frame);
}

/* The packet of a wrapped_avframe stream: an AVFrame (with its own copy of the planes) as the payload. */
static int wrap_frame(nvplay_output *o, const nvc_picture *pic)
{
    AVFrame view = {0}; /* borrowed planes, not reference-counted: av_frame_clone copies them */
    for (int p = 0; p < 3; p++) {
        view.data[p] = pic->data[p];
        view.linesize[p] = (int)pic->stride[p];
    }
    view.width = o->width;
    view.height = o->height;
    view.format = AV_PIX_FMT_YUV420P;
    AVFrame *copy = av_frame_clone(&view);
    if (!copy)
        return AVERROR(ENOMEM);
    o->pkt->buf = av_buffer_create((uint8_t *)copy, sizeof *copy, free_wrapped_frame, NULL, 0);
    if (!o->pkt->buf) {
        av_frame_free(&copy);
        return AVERROR(ENOMEM);
    }
    o->pkt->data = o->pkt->buf->data;
    o->pkt->size = sizeof *copy;
    return 0;
}

/* A rawvideo packet: the planes one after another, rows without padding. */
static int pack_raw(nvplay_output *o, const nvc_picture *pic)
{
    size_t luma = (size_t)o->width * o->height, chroma = luma / 4;
    int err = av_new_packet(o->pkt, (int)(luma + 2 * chroma));
    if (err < 0)
        return err;
    uint8_t *dst = o->pkt->data;
    for (int p = 0; p < 3; p++) {
        int w = p ? o->width / 2 : o->width, h = p ? o->height / 2 : o->height;
        for (int y = 0; y < h; y++, dst += w)
            memcpy(dst, pic->data[p] + y * pic->stride[p], (size_t)w);
    }
    return 0;
}

int output_write(nvplay_output *o, const nvc_picture *pic, char *msg, size_t msg_size)
{
    if (pic->width != o->width || pic->height != o->height) {
        snprintf(msg, msg_size, "picture %dx%d in a %dx%d output", pic->width, pic->height, o->width, o->height);
        return -1;
    }
    int err = o->wrapped ? wrap_frame(o, pic) : pack_raw(o, pic);
    if (err < 0)
        return av_fail(msg, msg_size, "making a packet", err);
    o->pkt->pts = o->pkt->dts = pic->frame_number;
    o->pkt->duration = 1;
    o->pkt->flags |= AV_PKT_FLAG_KEY;
    o->pkt->stream_index = o->st->index;
    av_packet_rescale_ts(o->pkt, o->frame_duration, o->st->time_base);
    err = av_interleaved_write_frame(o->fmt, o->pkt); /* takes the packet's data, resets pkt */
    if (err < 0)
        return av_fail(msg, msg_size, "writing a frame", err);
    return 0;
}

int output_close(nvplay_output *o, char *msg, size_t msg_size)
{
    int err = av_write_trailer(o->fmt);
    int ret = err < 0 ? av_fail(msg, msg_size, "writing the container trailer", err) : 0;
    if (!(o->fmt->oformat->flags & AVFMT_NOFILE) && o->fmt->pb) {
        if (o->fmt->pb->error < 0 && !ret)
            ret = av_fail(msg, msg_size, "writing the output", o->fmt->pb->error);
        avio_closep(&o->fmt->pb);
    }
    output_free(o);
    return ret;
}
