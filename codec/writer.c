/* The public .nvc muxer (nvc_writer_*, include/nvc/nvc.h) over the stream writer (codec/stream_writer.c).
 * Packets arrive as frame bytes; they are parsed (which checks their CRCs) and handed over as substreams, so
 * the stream writer lays out, indexes and renames exactly as it does for the encoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/stream.h"
#include "codec/stream_info.h"
#include "nvc/nvc.h"

struct nvc_writer {
    nvc_stream_writer *out;
    nvc_stream_parser parser;   /* checks packets against the header written */
    nvc_frame_info *frame;
    const uint8_t **substreams; /* NVC_STREAM_MAX_SUBSTREAMS pointers into the packet */
    char error[256];
};

static void writer_free(nvc_writer *w)
{
    free(w->frame);
    free(w->substreams);
    free(w);
}

int nvc_writer_open(nvc_writer **out, const char *path, const nvc_stream_info *info, char *msg, size_t msg_size)
{
    if (!out || !path || !info)
        return NVC_EINVAL;
    *out = NULL;
    nvc_stream_header h;
    int err = nvc_stream_header_from_info(&h, info, msg, msg_size);
    if (err)
        return err;
    uint8_t hdr[NVC_STREAM_HEADER_SIZE];
    err = nvc_stream_write_header(&h, hdr, msg, msg_size);
    if (err)
        return err;
    nvc_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->frame = malloc(sizeof *w->frame);
        w->substreams = malloc(NVC_STREAM_MAX_SUBSTREAMS * sizeof *w->substreams);
    }
    if (!w || !w->frame || !w->substreams) {
        if (w)
            writer_free(w);
        if (msg && msg_size)
            snprintf(msg, msg_size, "out of memory");
        return NVC_ENOMEM;
    }
    nvc_stream_parser_init(&w->parser);
    size_t used;
    err = nvc_stream_parse_header(&w->parser, hdr, sizeof hdr, &used);
    if (!err)
        err = nvc_stream_writer_open(&w->out, path, &h, msg, msg_size);
    if (err) {
        writer_free(w);
        return err;
    }
    *out = w;
    return 0;
}

int nvc_writer_write(nvc_writer *w, const nvc_packet *pkt)
{
    w->error[0] = 0;
    if (!pkt || !pkt->data) {
        snprintf(w->error, sizeof w->error, "no packet");
        return NVC_EINVAL;
    }
    size_t used;
    int err = nvc_stream_parse_frame(&w->parser, pkt->data, pkt->size, &used, w->frame);
    if (!err && used != pkt->size)
        snprintf(w->error, sizeof w->error, "packet holds %zu bytes after its frame", pkt->size - used);
    else if (err == NVC_EAGAIN || err == NVC_EOF)
        snprintf(w->error, sizeof w->error, "packet is not one whole frame");
    else if (err)
        snprintf(w->error, sizeof w->error, "bad packet: %s", w->parser.error);
    if (w->error[0])
        return NVC_EINVAL;
    for (uint32_t k = 0; k < w->frame->total_substreams; k++)
        w->substreams[k] = w->frame->payload + w->frame->substream_offset[k];
    err = nvc_stream_writer_frame(w->out, w->frame, w->substreams);
    if (err)
        snprintf(w->error, sizeof w->error, "%s", nvc_stream_writer_error(w->out));
    return err;
}

int nvc_writer_close(nvc_writer **pw, char *msg, size_t msg_size)
{
    if (!pw || !*pw)
        return NVC_EINVAL;
    nvc_writer *w = *pw;
    int err = nvc_stream_writer_close(w->out, msg, msg_size);
    writer_free(w);
    *pw = NULL;
    return err;
}

void nvc_writer_abort(nvc_writer **pw)
{
    if (!pw || !*pw)
        return;
    nvc_stream_writer_abort((*pw)->out);
    writer_free(*pw);
    *pw = NULL;
}

const char *nvc_writer_error(const nvc_writer *w) { return w->error; }
