/* The public .nvc demuxer (nvc_reader_*, include/nvc/nvc.h): a thin layer over the stream engineer's file
 * reader (codec/stream_file.c), which does the buffering, parsing, resynchronisation and indexing. This file
 * only turns its parsed frames back into byte packets a decoder can eat, and remembers damage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/stream.h"
#include "codec/stream_info.h"
#include "nvc/nvc.h"

struct nvc_reader {
    nvc_stream_file *file;
    nvc_frame_info *frame;      /* 16 KiB: allocated, not on the stack */
    int need_resync;            /* the last frame was damaged: skip to the next intact one first */
    uint8_t header_bytes[NVC_STREAM_HEADER_SIZE];
    uint32_t *keyframes;
    size_t nkeyframes;
    int have_keyframes;
    char error[256];
};

static int reader_fail(nvc_reader *r, int err, const char *what)
{
    snprintf(r->error, sizeof r->error, "%s", what);
    return err;
}

static int reader_wrap(nvc_reader **out, nvc_stream_file *file, char *msg, size_t msg_size)
{
    nvc_reader *r = calloc(1, sizeof *r);
    if (r)
        r->frame = malloc(sizeof *r->frame);
    if (!r || !r->frame) {
        free(r);
        nvc_stream_file_close(file);
        if (msg && msg_size)
            snprintf(msg, msg_size, "out of memory");
        return NVC_ENOMEM;
    }
    r->file = file;
    /* The decoder is fed a re-serialised header: identical to the file's for version 1.0; for a later minor
     * version it drops the extension bytes this library could not use anyway. */
    int err = nvc_stream_write_header(nvc_stream_file_header(file), r->header_bytes, msg, msg_size);
    if (err) {
        nvc_reader_close(&r);
        return NVC_EINVALDATA;
    }
    *out = r;
    return 0;
}

int nvc_reader_open(nvc_reader **out, const char *path, char *msg, size_t msg_size)
{
    nvc_stream_file *file;
    if (!out || !path)
        return NVC_EINVAL;
    *out = NULL;
    int err = nvc_stream_file_open(&file, path, msg, msg_size);
    return err ? err : reader_wrap(out, file, msg, msg_size);
}

int nvc_reader_open_file(nvc_reader **out, FILE *fp, char *msg, size_t msg_size)
{
    nvc_stream_file *file;
    if (!out || !fp)
        return NVC_EINVAL;
    *out = NULL;
    int err = nvc_stream_file_open_fp(&file, fp, msg, msg_size);
    return err ? err : reader_wrap(out, file, msg, msg_size);
}

void nvc_reader_close(nvc_reader **pr)
{
    if (!pr || !*pr)
        return;
    nvc_reader *r = *pr;
    nvc_stream_file_close(r->file);
    free(r->frame);
    free(r->keyframes);
    free(r);
    *pr = NULL;
}

void nvc_reader_info(const nvc_reader *r, nvc_stream_info *info)
{
    nvc_stream_info_from_header(info, nvc_stream_file_header(r->file));
}

void nvc_reader_header(const nvc_reader *r, const uint8_t **data, size_t *size)
{
    *data = r->header_bytes;
    *size = sizeof r->header_bytes;
}

int nvc_reader_read_frame(nvc_reader *r, nvc_packet *pkt)
{
    memset(pkt, 0, sizeof *pkt);
    r->error[0] = 0;
    if (r->need_resync) {
        r->need_resync = 0;
        int err = nvc_stream_file_resync(r->file, NULL);
        if (err == NVC_EOF)
            return NVC_EOF;
        if (err)
            return reader_fail(r, err, nvc_stream_file_error(r->file));
    }
    uint64_t offset;
    int err = nvc_stream_file_next_frame(r->file, r->frame, &offset);
    if (err == NVC_EINVALDATA)
        r->need_resync = 1;
    if (err)
        return err == NVC_EOF ? err : reader_fail(r, err, nvc_stream_file_error(r->file));
    /* The file reader parses frames in place: the frame header lies right before the payload in its buffer,
     * and both stay valid until its next call (codec/stream_file.c). */
    pkt->data = r->frame->payload - r->frame->header_size;
    pkt->size = (size_t)r->frame->header_size + r->frame->payload_size;
    pkt->frame_number = r->frame->frame_number;
    pkt->frame_type = r->frame->type == NVC_FRAME_I ? NVC_PICTURE_I : NVC_PICTURE_P;
    pkt->offset = (int64_t)offset;
    return 0;
}

int nvc_reader_seek(nvc_reader *r, uint32_t frame_number, uint32_t *iframe)
{
    r->error[0] = 0;
    int err = nvc_stream_file_seek(r->file, frame_number, iframe);
    if (err)
        return reader_fail(r, err, nvc_stream_file_error(r->file));
    r->need_resync = 0;
    return 0;
}

int nvc_reader_keyframes(nvc_reader *r, const uint32_t **numbers, size_t *count)
{
    r->error[0] = 0;
    if (!r->have_keyframes) {
        const nvc_stream_index *idx;
        int err = nvc_stream_file_index(r->file, &idx, NULL);
        if (err)
            return reader_fail(r, err, nvc_stream_file_error(r->file));
        r->keyframes = malloc((idx->count ? idx->count : 1) * sizeof *r->keyframes);
        if (!r->keyframes)
            return reader_fail(r, NVC_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < idx->count; i++)
            r->keyframes[i] = idx->entries[i].frame_number;
        r->nkeyframes = idx->count;
        r->have_keyframes = 1;
    }
    *numbers = r->keyframes;
    *count = r->nkeyframes;
    return 0;
}

const char *nvc_reader_error(const nvc_reader *r) { return r->error; }
