/* .nvc parsing and serialisation on byte buffers (docs/bitstream.md). No I/O, no allocation except the index. */
#include "codec/stream.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32.h"
#include "codec/le.h"

static const uint8_t file_magic[8] = {0x8A, 'N', 'V', 'C', 0x0D, 0x0A, 0x1A, 0x0A};
static const uint8_t frame_sync[4] = {'N', 'V', 'C', 'F'};
static const uint8_t index_magic[4] = {'N', 'V', 'C', 'I'};
static const uint8_t trailer_magic[4] = {'N', 'V', 'C', 'E'};

static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v); wr16(p + 2, v >> 16); }

/* Unsigned LEB128 (3.x frame headers): 7 bits a byte, low first, the high bit set on every byte but the last. */
static uint8_t *put_varint(uint8_t *p, uint32_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

/* Reads one varint from [*p, end): at most 5 bytes, a value below 2^32, minimal (no final 0 byte after the
 * first). 0, or -1 when it is none of these. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 5 && *p < end; i++) {
        const uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if ((i > 0 && b == 0) || x > UINT32_MAX)
                return -1;
            *v = (uint32_t)x;
            return 0;
        }
    }
    return -1;
}

/* Whether a stream header's version has the compact frame headers (3.x) or the fixed-width ones (2.x). */
static int compact(const nvc_stream_header *h) { return h->version_major >= 3; }

/* Whether the version is one this code knows exactly (2.0 .. 2.3, 3.0 .. this one): its structures have exactly
 * the sizes the specification gives; a later minor version may append fields. */
static int known_version(const nvc_stream_header *h)
{
    return h->version_major == 2 ? h->version_minor <= 3 : h->version_minor <= NVC_STREAM_VERSION_MINOR;
}

/* The frame flags a version defines: none in 2.0, NO_MOTION and NO_RESIDUAL in 2.1 and 2.2, the context codes
 * from 2.3 on, SCALE_SHIFT and FITTED_TABLES from 3.1 on. */
static unsigned known_flags(const nvc_stream_header *h)
{
    if (h->version_major >= 3 && h->version_minor >= 1)
        return NVC_FRAME_FLAGS_DEFINED;
    if (h->version_major >= 3 || h->version_minor >= 3)
        return NVC_FRAME_FLAGS_DEFINED_2_3;
    return h->version_minor >= 1 ? NVC_FRAME_FLAGS_DEFINED_2_1 : 0;
}

static void fmt_msg(char *msg, size_t size, const char *fmt, va_list ap)
{
    if (msg && size)
        vsnprintf(msg, size, fmt, ap);
}

/* Formats the message into p->error and returns err. */
static int fail(nvc_stream_parser *p, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(nvc_stream_parser *p, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fmt_msg(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    return err;
}

static int fail_msg(char *msg, size_t size, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_msg(char *msg, size_t size, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fmt_msg(msg, size, fmt, ap);
    va_end(ap);
    return err;
}

void nvc_stream_parser_init(nvc_stream_parser *p)
{
    memset(p, 0, sizeof *p);
}

void nvc_stream_parser_reset_frames(nvc_stream_parser *p)
{
    p->have_frame = 0;
}

void nvc_stream_index_free(nvc_stream_index *idx)
{
    free(idx->entries);
    idx->entries = NULL;
    idx->count = 0;
}

const uint8_t *nvc_frame_substream(const nvc_frame_info *f, unsigned seg, unsigned i, uint32_t *size)
{
    if (seg >= f->nsegments || i >= f->nsubstreams[seg] || !f->payload)
        return NULL;
    unsigned k = f->first_substream[seg] + i;
    *size = f->substream_size[k];
    return f->payload + f->substream_offset[k];
}

/* ---- field validation, shared by the parser (NVC_EINVALDATA) and the writer (NVC_EINVAL) ---- */

/* H.273 code points that are defined (2021 edition); the others are reserved. */
static int primaries_ok(unsigned v) { return v == 1 || v == 2 || (v >= 4 && v <= 12) || v == 22; }
static int transfer_ok(unsigned v) { return v == 1 || v == 2 || (v >= 4 && v <= 18); }
static int matrix_ok(unsigned v) { return v <= 14 && v != 3; }

/* 0, or NVC_EINVALDATA / NVC_EUNSUPPORTED with a message; `err_invalid` replaces NVC_EINVALDATA for the writer. */
static int check_header(const nvc_stream_header *h, int err_invalid, char *msg, size_t size)
{
    if (h->width < 2 || h->height < 2 || h->width > NVC_STREAM_MAX_DIM || h->height > NVC_STREAM_MAX_DIM ||
        (h->width | h->height) & 1)
        return fail_msg(msg, size, err_invalid, "picture size %ux%u: width and height must be even, 2..%u",
                        h->width, h->height, NVC_STREAM_MAX_DIM);
    if ((uint32_t)h->width * h->height > NVC_STREAM_MAX_PIXELS)
        return fail_msg(msg, size, err_invalid, "picture size %ux%u exceeds %u pixels", h->width, h->height,
                        NVC_STREAM_MAX_PIXELS);
    if (h->fps_num < 1 || h->fps_den < 1 || h->fps_num > 1000000 || h->fps_den > 1000000)
        return fail_msg(msg, size, err_invalid, "frame rate %u/%u: both terms must be 1..1000000", h->fps_num,
                        h->fps_den);
    if (!primaries_ok(h->colour_primaries) || !transfer_ok(h->transfer) || !matrix_ok(h->matrix) ||
        h->full_range > 1)
        return fail_msg(msg, size, err_invalid, "colour description %u/%u/%u/%u is not a defined H.273 code",
                        h->colour_primaries, h->transfer, h->matrix, h->full_range);
    if (h->chroma_format != 1 || h->bit_depth != 8)
        return fail_msg(msg, size, err_invalid == NVC_EINVAL ? NVC_EINVAL : NVC_EUNSUPPORTED,
                        "chroma format %u, bit depth %u: only 4:2:0 (1), 8 bits supported", h->chroma_format,
                        h->bit_depth);
    for (int i = 0; i < NVC_STREAM_MODEL_NAME_LEN; i++) {
        unsigned char c = (unsigned char)h->model_name[i];
        if (c == 0) {
            for (; i < NVC_STREAM_MODEL_NAME_LEN; i++)
                if (h->model_name[i])
                    return fail_msg(msg, size, err_invalid, "model name: bytes after the terminating NUL");
            break;
        }
        if (c < 0x20 || c > 0x7E)
            return fail_msg(msg, size, err_invalid, "model name: byte 0x%02x is not printable ASCII", c);
    }
    return 0;
}

/* Segment counts and substream sizes (nsegments, nsubstreams[], substream_size[]); fills first_substream,
 * total_substreams, substream_offset and payload_size. */
static int check_layout(nvc_frame_info *f, int err_invalid, char *msg, size_t size)
{
    if (f->nsegments < 1 || f->nsegments > NVC_STREAM_MAX_SEGMENTS)
        return fail_msg(msg, size, err_invalid, "frame %u: %u segments, allowed 1..%u", f->frame_number,
                        f->nsegments, NVC_STREAM_MAX_SEGMENTS);
    uint32_t total = 0;
    for (uint32_t s = 0; s < f->nsegments; s++) {
        if (f->nsubstreams[s] < 1 || f->nsubstreams[s] > NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT)
            return fail_msg(msg, size, err_invalid, "frame %u segment %u: %u substreams, allowed 1..%u",
                            f->frame_number, s, f->nsubstreams[s], NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT);
        f->first_substream[s] = total;
        total += f->nsubstreams[s];
    }
    if (total > NVC_STREAM_MAX_SUBSTREAMS)
        return fail_msg(msg, size, err_invalid, "frame %u: %u substreams, at most %u per frame", f->frame_number,
                        total, NVC_STREAM_MAX_SUBSTREAMS);
    f->total_substreams = total;
    uint64_t offset = 0;
    for (uint32_t k = 0; k < total; k++) {
        f->substream_offset[k] = (uint32_t)offset;
        offset += f->substream_size[k];
        if (offset > NVC_STREAM_MAX_FRAME_BYTES)
            return fail_msg(msg, size, err_invalid, "frame %u: payload exceeds %u bytes", f->frame_number,
                            NVC_STREAM_MAX_FRAME_BYTES);
    }
    f->payload_size = (uint32_t)offset;
    return 0;
}

static int check_frame_fields(const nvc_frame_info *f, int err_invalid, char *msg, size_t size)
{
    if (f->type != NVC_FRAME_I && f->type != NVC_FRAME_P)
        return fail_msg(msg, size, err_invalid, "frame %u: type %u is neither I (0) nor P (1)", f->frame_number,
                        f->type);
    if (f->quality > NVC_STREAM_MAX_QUALITY)
        return fail_msg(msg, size, err_invalid, "frame %u: quality %u exceeds %u", f->frame_number, f->quality,
                        NVC_STREAM_MAX_QUALITY);
    if (f->flags & ~NVC_FRAME_FLAGS_DEFINED)
        return fail_msg(msg, size, err_invalid, "frame %u: undefined flags 0x%02x", f->frame_number, f->flags);
    if (f->flags & ~(f->type == NVC_FRAME_I ? NVC_FRAME_FLAGS_I : NVC_FRAME_FLAGS_P))
        return fail_msg(msg, size, err_invalid, "frame %u: an %s-frame with flags 0x%02x", f->frame_number,
                        f->type == NVC_FRAME_I ? "I" : "P", f->flags);
    if ((f->flags & NVC_FRAME_MV_CONTEXT) && (f->flags & NVC_FRAME_NO_MOTION))
        return fail_msg(msg, size, err_invalid, "frame %u: flags 0x%02x: context-coded vectors without motion",
                        f->frame_number, f->flags);
    if ((f->flags & (NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES)) && (f->flags & NVC_FRAME_NO_RESIDUAL))
        return fail_msg(msg, size, err_invalid,
                        "frame %u: flags 0x%02x: scale shifts or fitted tables without a residual", f->frame_number,
                        f->flags);
    return 0;
}

/* ---- file header ---- */

int nvc_stream_write_header(const nvc_stream_header *h, uint8_t out[NVC_STREAM_HEADER_SIZE], char *msg,
                            size_t msg_size)
{
    int err = check_header(h, NVC_EINVAL, msg, msg_size);
    if (err)
        return err;
    memset(out, 0, NVC_STREAM_HEADER_SIZE);
    memcpy(out, file_magic, 8);
    /* A parsed header of 2.x or of an earlier 3.x keeps its version: its frames are in that version's layout and
     * use its flags (the file reader hands them to the decoder behind a re-written header). Any other (version 0:
     * filled in by a writer) is written as this code's version. */
    const int v2 = h->version_major == 2, v3 = h->version_major == 3;
    wr16(out + 8, v2 ? 2 : NVC_STREAM_VERSION_MAJOR);
    wr16(out + 10, v2                                           ? (h->version_minor < 3 ? h->version_minor : 3)
                   : v3 && h->version_minor < NVC_STREAM_VERSION_MINOR ? h->version_minor
                                                                 : NVC_STREAM_VERSION_MINOR);
    wr16(out + 12, NVC_STREAM_HEADER_SIZE);
    wr16(out + 14, 0); /* flags */
    wr16(out + 16, h->width);
    wr16(out + 18, h->height);
    wr32(out + 20, h->fps_num);
    wr32(out + 24, h->fps_den);
    out[28] = h->colour_primaries;
    out[29] = h->transfer;
    out[30] = h->matrix;
    out[31] = h->full_range;
    out[32] = h->chroma_format;
    out[33] = h->bit_depth;
    wr16(out + 34, h->gop_length);
    wr32(out + 36, h->frame_count);
    wr32(out + 40, h->model_id);
    memcpy(out + 44, h->model_name, strnlen(h->model_name, NVC_STREAM_MODEL_NAME_LEN));
    wr32(out + 60, nvc_crc32(0, out, 60));
    return 0;
}

int nvc_stream_parse_header(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
    p->error[0] = 0;
    /* The magic first, so that a file of another type gets the right message even when short. */
    size_t n = len < 8 ? len : 8;
    if (n && memcmp(buf, file_magic, n) != 0) /* n == 0: buf may be NULL, memcmp must not see it */
        return fail(p, NVC_EINVALDATA, "not an .nvc stream (bad magic)");
    if (len < 16) {
        *used = 16;
        return NVC_EAGAIN;
    }
    unsigned major = nvc_le16(buf + 8), minor = nvc_le16(buf + 10), size = nvc_le16(buf + 12), flags = nvc_le16(buf + 14);
    if (major != 2 && major != NVC_STREAM_VERSION_MAJOR)
        return fail(p, NVC_EUNSUPPORTED, "stream format version %u.%u: this reader supports 2.x and %u.x", major,
                    minor, NVC_STREAM_VERSION_MAJOR);
    const nvc_stream_header version = { .version_major = (uint16_t)major, .version_minor = (uint16_t)minor };
    if (size < NVC_STREAM_HEADER_SIZE || size > NVC_STREAM_MAX_HEADER_SIZE ||
        (known_version(&version) && size != NVC_STREAM_HEADER_SIZE))
        return fail(p, NVC_EINVALDATA, "file header size %u invalid for version %u.%u", size, major, minor);
    if (len < size) {
        *used = size;
        return NVC_EAGAIN;
    }
    uint32_t crc = nvc_le32(buf + size - 4);
    if (nvc_crc32(0, buf, size - 4) != crc)
        return fail(p, NVC_EINVALDATA, "file header CRC mismatch (damaged header)");
    if (flags)
        return fail(p, NVC_EUNSUPPORTED, "file header flags 0x%04x: unknown features", flags);
    nvc_stream_header *h = &p->header;
    memset(h, 0, sizeof *h);
    h->version_major = (uint16_t)major;
    h->version_minor = (uint16_t)minor;
    h->header_size = (uint16_t)size;
    h->width = nvc_le16(buf + 16);
    h->height = nvc_le16(buf + 18);
    h->fps_num = nvc_le32(buf + 20);
    h->fps_den = nvc_le32(buf + 24);
    h->colour_primaries = buf[28];
    h->transfer = buf[29];
    h->matrix = buf[30];
    h->full_range = buf[31];
    h->chroma_format = buf[32];
    h->bit_depth = buf[33];
    h->gop_length = nvc_le16(buf + 34);
    h->frame_count = nvc_le32(buf + 36);
    h->model_id = nvc_le32(buf + 40);
    memcpy(h->model_name, buf + 44, NVC_STREAM_MODEL_NAME_LEN);
    h->model_name[NVC_STREAM_MODEL_NAME_LEN] = 0;
    int err = check_header(h, NVC_EINVALDATA, p->error, sizeof p->error);
    if (err)
        return err;
    p->have_header = 1;
    p->have_frame = 0;
    *used = size;
    return 0;
}

/* ---- frames ---- */

/* A segment a 3.x frame header lists with no substreams: one empty substream here (a 2.x header's way). */
static int left_out(const nvc_frame_info *f, uint32_t s)
{
    return f->nsubstreams[s] == 1 && f->substream_size[f->first_substream[s]] == 0;
}

/* The compact layout (3.x; docs/bitstream.md) into out (room for NVC_STREAM_FRAME_MAX_HEADER_SIZE bytes, which
 * the largest layout check_layout passes fits: 10 + 5 + 8 x 2 + 2048 x 4 + 8); returns its size. */
static size_t write_compact(const nvc_frame_info *f, uint32_t payload_crc, uint8_t *out)
{
    memcpy(out, frame_sync, 4);
    out[6] = f->type;
    out[7] = f->quality;
    out[8] = f->flags;
    out[9] = (uint8_t)f->nsegments;
    uint8_t *q = put_varint(out + 10, f->frame_number);
    for (uint32_t s = 0; s < f->nsegments; s++)
        q = put_varint(q, left_out(f, s) ? 0 : f->nsubstreams[s]);
    for (uint32_t s = 0; s < f->nsegments; s++)
        for (uint32_t i = 0; i < f->nsubstreams[s] && !left_out(f, s); i++)
            q = put_varint(q, f->substream_size[f->first_substream[s] + i]);
    if (f->payload_size) {
        wr32(q, payload_crc);
        q += 4;
    }
    const size_t size = (size_t)(q - out) + 4;
    wr16(out + 4, (uint32_t)size);
    wr32(q, nvc_crc32(0, out, size - 4));
    return size;
}

int nvc_stream_write_frame_header(const nvc_stream_header *h, nvc_frame_info *f, uint32_t payload_crc,
                                  uint8_t *out, size_t cap, size_t *len, char *msg, size_t msg_size)
{
    int err = check_frame_fields(f, NVC_EINVAL, msg, msg_size);
    if (!err)
        err = check_layout(f, NVC_EINVAL, msg, msg_size);
    if (err)
        return err;
    const nvc_stream_header current = { .version_major = NVC_STREAM_VERSION_MAJOR,
                                        .version_minor = NVC_STREAM_VERSION_MINOR };
    if (!h)
        h = &current;
    if (f->flags & ~known_flags(h))
        return fail_msg(msg, msg_size, NVC_EINVAL, "frame %u: flags 0x%02x do not exist in format %u.%u",
                        f->frame_number, f->flags, h->version_major, h->version_minor);
    if (compact(h)) {
        uint8_t header[NVC_STREAM_FRAME_MAX_HEADER_SIZE];
        const size_t size = write_compact(f, payload_crc, header);
        if (cap < size)
            return fail_msg(msg, msg_size, NVC_EINVAL, "frame header needs %zu bytes, buffer has %zu", size, cap);
        memcpy(out, header, size);
        f->header_size = (uint32_t)size;
        f->payload_crc = payload_crc;
        *len = size;
        return 0;
    }
    size_t size = NVC_STREAM_FRAME_FIXED_SIZE + 2 * (size_t)f->nsegments + 4 * (size_t)f->total_substreams;
    if (cap < size)
        return fail_msg(msg, msg_size, NVC_EINVAL, "frame header needs %zu bytes, buffer has %zu", size, cap);
    f->header_size = (uint32_t)size;
    f->payload_crc = payload_crc;
    memcpy(out, frame_sync, 4);
    wr16(out + 4, (uint32_t)size);
    out[6] = f->type;
    out[7] = f->quality;
    wr32(out + 8, f->frame_number);
    wr32(out + 12, f->payload_size);
    wr32(out + 16, payload_crc);
    out[20] = (uint8_t)f->nsegments;
    out[21] = f->flags;
    uint8_t *q = out + 22;
    for (uint32_t s = 0; s < f->nsegments; s++, q += 2)
        wr16(q, f->nsubstreams[s]);
    for (uint32_t k = 0; k < f->total_substreams; k++, q += 4)
        wr32(q, f->substream_size[k]);
    wr32(q, nvc_crc32(0, out, size - 4));
    *len = size;
    return 0;
}

/* The flags byte of a frame header: unknown features are NVC_EUNSUPPORTED. */
static int parse_flags(nvc_stream_parser *p, unsigned flags, nvc_frame_info *f)
{
    if (flags & ~known_flags(&p->header))
        return fail(p, NVC_EUNSUPPORTED, "frame %u: flags 0x%02x: unknown features", f->frame_number, flags);
    f->flags = (uint8_t)flags;
    return 0;
}

/* The compact frame header (3.x) at buf; the sync marker is checked. */
static int parse_compact(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *need, nvc_frame_info *f)
{
    if (len < 10) {
        *need = 10;
        return NVC_EAGAIN;
    }
    const uint32_t size = nvc_le16(buf + 4), nseg = buf[9];
    if (nseg < 1 || nseg > NVC_STREAM_MAX_SEGMENTS)
        return fail(p, NVC_EINVALDATA, "frame header: %u segments, allowed 1..%u", nseg, NVC_STREAM_MAX_SEGMENTS);
    if (size < 15 + nseg || size > NVC_STREAM_FRAME_MAX_HEADER_SIZE + 1024)
        return fail(p, NVC_EINVALDATA, "frame header size %u out of range", size);
    if (len < size) {
        *need = size;
        return NVC_EAGAIN;
    }
    if (nvc_crc32(0, buf, size - 4) != nvc_le32(buf + size - 4))
        return fail(p, NVC_EINVALDATA, "frame header CRC mismatch (damaged frame)");
    const uint8_t *q = buf + 10, *end = buf + size - 4;
    f->header_size = size;
    f->type = buf[6];
    f->quality = buf[7];
    f->nsegments = nseg;
    f->payload = NULL;
    f->lanes_signalled = 1;
    if (get_varint(&q, end, &f->frame_number))
        return fail(p, NVC_EINVALDATA, "frame header: bad frame number");
    int err = parse_flags(p, buf[8], f);
    if (err)
        return err;
    uint32_t total = 0, listed[NVC_STREAM_MAX_SEGMENTS];
    for (uint32_t s = 0; s < nseg; s++) {
        if (get_varint(&q, end, &listed[s]) || listed[s] > NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT)
            return fail(p, NVC_EINVALDATA, "frame %u segment %u: bad substream count", f->frame_number, s);
        f->nsubstreams[s] = listed[s] ? listed[s] : 1; /* 0: left out, one empty substream here */
        total += f->nsubstreams[s];
    }
    if (total > NVC_STREAM_MAX_SUBSTREAMS)
        return fail(p, NVC_EINVALDATA, "frame %u: %u substreams, at most %u per frame", f->frame_number, total,
                    NVC_STREAM_MAX_SUBSTREAMS);
    for (uint32_t s = 0, k = 0; s < nseg; s++) {
        if (!listed[s])
            f->substream_size[k++] = 0;
        for (uint32_t i = 0; i < listed[s]; i++)
            if (get_varint(&q, end, &f->substream_size[k++]) || f->substream_size[k - 1] > NVC_STREAM_MAX_FRAME_BYTES)
                return fail(p, NVC_EINVALDATA, "frame %u segment %u: bad substream size", f->frame_number, s);
    }
    if ((err = check_frame_fields(f, NVC_EINVALDATA, p->error, sizeof p->error)) ||
        (err = check_layout(f, NVC_EINVALDATA, p->error, sizeof p->error)))
        return err;
    for (uint32_t s = 0; s < nseg; s++)
        if (listed[s] == 1 && f->substream_size[f->first_substream[s]] == 0)
            return fail(p, NVC_EINVALDATA, "frame %u segment %u: one empty substream (a 3.x header lists 0)",
                        f->frame_number, s);
    f->payload_crc = 0;
    if (f->payload_size) {
        if (end - q < 4)
            return fail(p, NVC_EINVALDATA, "frame %u: header too short for its payload CRC", f->frame_number);
        f->payload_crc = nvc_le32(q);
        q += 4;
    }
    /* exact in the versions this code knows; a later minor version may append fields before the CRC */
    if (known_version(&p->header) && q != end)
        return fail(p, NVC_EINVALDATA, "frame %u: header size %u does not match its fields", f->frame_number, size);
    return 0;
}

int nvc_stream_parse_frame_header(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *need,
                                  nvc_frame_info *f)
{
    if (len && memcmp(buf, frame_sync, len < 4 ? len : 4) != 0) /* len 0: buf may be NULL */
        return fail(p, NVC_EINVALDATA, "no frame sync marker where a frame should start");
    if (compact(&p->header))
        return parse_compact(p, buf, len, need, f);
    if (len < 22) {
        *need = 22;
        return NVC_EAGAIN;
    }
    uint32_t size = nvc_le16(buf + 4);
    uint32_t nseg = buf[20];
    if (nseg < 1 || nseg > NVC_STREAM_MAX_SEGMENTS)
        return fail(p, NVC_EINVALDATA, "frame header: %u segments, allowed 1..%u", nseg, NVC_STREAM_MAX_SEGMENTS);
    if (size < NVC_STREAM_FRAME_FIXED_SIZE + 2 * nseg)
        return fail(p, NVC_EINVALDATA, "frame header size %u too small", size);
    if (len < 22 + 2 * nseg) {
        *need = 22 + 2 * nseg;
        return NVC_EAGAIN;
    }
    uint32_t total = 0;
    for (uint32_t s = 0; s < nseg; s++)
        total += nvc_le16(buf + 22 + 2 * s);
    /* Exact in version 1.0; a later minor version may append fields before the CRC (up to 1 KiB). */
    uint32_t exact = NVC_STREAM_FRAME_FIXED_SIZE + 2 * nseg + 4 * total;
    if (total > NVC_STREAM_MAX_SUBSTREAMS || size < exact || size > exact + 1024 ||
        (known_version(&p->header) && size != exact))
        return fail(p, NVC_EINVALDATA, "frame header size %u does not match its %u segments / %u substreams", size,
                    nseg, total);
    if (len < size) {
        *need = size;
        return NVC_EAGAIN;
    }
    if (nvc_crc32(0, buf, size - 4) != nvc_le32(buf + size - 4))
        return fail(p, NVC_EINVALDATA, "frame header CRC mismatch (damaged frame)");
    f->header_size = size;
    f->type = buf[6];
    f->quality = buf[7];
    f->frame_number = nvc_le32(buf + 8);
    uint32_t payload_size = nvc_le32(buf + 12);
    f->payload_crc = nvc_le32(buf + 16);
    f->nsegments = nseg;
    f->payload = NULL;
    int err = parse_flags(p, buf[21], f);
    if (err)
        return err;
    f->lanes_signalled = p->header.version_minor >= 2;
    for (uint32_t s = 0; s < nseg; s++)
        f->nsubstreams[s] = nvc_le16(buf + 22 + 2 * s);
    for (uint32_t k = 0; k < total; k++)
        f->substream_size[k] = nvc_le32(buf + 22 + 2 * nseg + 4 * k);
    err = check_frame_fields(f, NVC_EINVALDATA, p->error, sizeof p->error);
    if (!err)
        err = check_layout(f, NVC_EINVALDATA, p->error, sizeof p->error);
    if (err)
        return err;
    if (f->payload_size != payload_size)
        return fail(p, NVC_EINVALDATA, "frame %u: payload size %u differs from the sum of its substreams %u",
                    f->frame_number, payload_size, f->payload_size);
    return 0;
}

int nvc_stream_parse_frame(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *used, nvc_frame_info *f)
{
    p->error[0] = 0;
    if (!p->have_header)
        return fail(p, NVC_EINVAL, "no stream header parsed yet");
    if (len >= 4 && memcmp(buf, index_magic, 4) == 0) {
        *used = 0;
        return NVC_EOF;
    }
    size_t need = 0;
    int err = nvc_stream_parse_frame_header(p, buf, len, &need, f);
    if (err == NVC_EAGAIN) {
        *used = need;
        return err;
    }
    if (err)
        return err;
    size_t total = (size_t)f->header_size + f->payload_size;
    if (len < total) {
        *used = total;
        return NVC_EAGAIN;
    }
    const uint8_t *payload = buf + f->header_size;
    if (nvc_crc32(0, payload, f->payload_size) != f->payload_crc)
        return fail(p, NVC_EINVALDATA, "frame %u: payload CRC mismatch (damaged frame)", f->frame_number);
    if (p->have_frame && f->frame_number <= p->last_frame_number)
        return fail(p, NVC_EINVALDATA, "frame number %u after %u: frame numbers must increase", f->frame_number,
                    p->last_frame_number);
    f->payload = payload;
    p->have_frame = 1;
    p->last_frame_number = f->frame_number;
    *used = total;
    return 0;
}

int nvc_stream_find_sync(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *offset)
{
    /* The candidate's header is parsed into a scratch frame; 16 KiB is too much for some thread stacks. */
    nvc_frame_info *scratch = malloc(sizeof *scratch);
    if (!scratch)
        return fail(p, NVC_ENOMEM, "out of memory");
    char saved[sizeof p->error];
    memcpy(saved, p->error, sizeof saved);
    int ret = NVC_EAGAIN;
    size_t i = 0;
    for (; i + 4 <= len; i++) {
        if (memcmp(buf + i, frame_sync, 4) != 0)
            continue;
        size_t need;
        int err = nvc_stream_parse_frame_header(p, buf + i, len - i, &need, scratch);
        if (err == 0 || err == NVC_EAGAIN) { /* found, or a candidate that needs more bytes to be judged */
            ret = err;
            break;
        }
    }
    /* Without a candidate, keep the last 3 bytes: they may be the start of a marker. */
    if (i + 4 > len)
        i = len > 3 ? len - 3 : 0;
    *offset = i;
    memcpy(p->error, saved, sizeof saved);
    free(scratch);
    return ret;
}

/* ---- index and trailer ---- */

int nvc_stream_parse_trailer(nvc_stream_parser *p, const uint8_t trailer[NVC_STREAM_TRAILER_SIZE],
                             uint64_t *index_offset)
{
    p->error[0] = 0;
    if (memcmp(trailer + 12, trailer_magic, 4) != 0)
        return fail(p, NVC_EINVALDATA, "no trailer (unfinished stream?)");
    if (nvc_crc32(0, trailer, 8) != nvc_le32(trailer + 8))
        return fail(p, NVC_EINVALDATA, "trailer CRC mismatch");
    *index_offset = nvc_le64(trailer);
    return 0;
}

int nvc_stream_parse_index(nvc_stream_parser *p, const uint8_t *buf, size_t len, uint64_t index_offset,
                           size_t *used, nvc_stream_index *idx)
{
    p->error[0] = 0;
    idx->count = 0;
    idx->entries = NULL;
    if (len < 8) {
        *used = 8;
        return NVC_EAGAIN;
    }
    if (memcmp(buf, index_magic, 4) != 0)
        return fail(p, NVC_EINVALDATA, "no index marker at the offset the trailer gives");
    uint32_t count = nvc_le32(buf + 4);
    if (count > NVC_STREAM_MAX_INDEX_ENTRIES)
        return fail(p, NVC_EINVALDATA, "index of %u entries exceeds %u", count, NVC_STREAM_MAX_INDEX_ENTRIES);
    size_t size = 8 + (size_t)count * NVC_STREAM_INDEX_ENTRY_SIZE + 4;
    if (len < size) {
        *used = size;
        return NVC_EAGAIN;
    }
    if (nvc_crc32(0, buf, size - 4) != nvc_le32(buf + size - 4))
        return fail(p, NVC_EINVALDATA, "index CRC mismatch");
    nvc_stream_index_entry *e = malloc((count ? count : 1) * sizeof *e);
    if (!e)
        return fail(p, NVC_ENOMEM, "out of memory for an index of %u entries", count);
    uint64_t min_offset = p->have_header ? p->header.header_size : NVC_STREAM_HEADER_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *q = buf + 8 + (size_t)i * NVC_STREAM_INDEX_ENTRY_SIZE;
        e[i].frame_number = nvc_le32(q);
        e[i].offset = nvc_le64(q + 4);
        int ordered = i == 0 || (e[i].frame_number > e[i - 1].frame_number && e[i].offset > e[i - 1].offset);
        if (!ordered || e[i].offset < min_offset || e[i].offset >= index_offset ||
            index_offset - e[i].offset < NVC_STREAM_FRAME_FIXED_SIZE) {
            fail(p, NVC_EINVALDATA, "index entry %u (frame %u at %llu) out of order or out of the file", i,
                 e[i].frame_number, (unsigned long long)e[i].offset);
            free(e);
            return NVC_EINVALDATA;
        }
    }
    idx->count = count;
    idx->entries = e;
    *used = size;
    return 0;
}

size_t nvc_stream_index_bytes(uint32_t count)
{
    return 8 + (size_t)count * NVC_STREAM_INDEX_ENTRY_SIZE + 4 + NVC_STREAM_TRAILER_SIZE;
}

void nvc_stream_write_index(const nvc_stream_index *idx, uint64_t index_offset, uint8_t *out)
{
    memcpy(out, index_magic, 4);
    wr32(out + 4, idx->count);
    uint8_t *q = out + 8;
    for (uint32_t i = 0; i < idx->count; i++, q += NVC_STREAM_INDEX_ENTRY_SIZE) {
        wr32(q, idx->entries[i].frame_number);
        wr32(q + 4, (uint32_t)idx->entries[i].offset);
        wr32(q + 8, (uint32_t)(idx->entries[i].offset >> 32));
    }
    wr32(q, nvc_crc32(0, out, (size_t)(q - out)));
    q += 4;
    wr32(q, (uint32_t)index_offset);
    wr32(q + 4, (uint32_t)(index_offset >> 32));
    wr32(q + 8, nvc_crc32(0, q, 8));
    memcpy(q + 12, trailer_magic, 4);
}
