/* .nvc reader on a FILE*: buffered frame reading, resynchronisation, the I-frame index and seeking.
 * Memory stays bounded by what the file really holds: the buffer grows (doubling) only once it is full of
 * bytes actually read, so a header that claims a huge frame in a short file costs nothing. */
#include "codec/stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct nvc_stream_file {
    FILE *fp;
    int own_fp;
    int seekable;
    int io_eof;        /* the FILE reached its end */
    nvc_stream_parser parser;
    uint8_t *buf;
    size_t cap, start, end; /* buf[start..end) holds the file bytes from offset pos on */
    uint64_t pos;           /* offsets count from the stream's first byte ... */
    uint64_t base;          /* ... which is at this file offset (a stream may start inside a file) */
    nvc_stream_index index;
    int have_index, index_from_trailer;
    int expect_iframe;      /* after a seek: the next frame must be this index entry's I-frame */
    uint32_t expect_number;
    char error[256];
};

static int sf_fail(nvc_stream_file *sf, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sf_fail(nvc_stream_file *sf, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sf->error, sizeof sf->error, fmt, ap);
    va_end(ap);
    return err;
}

static size_t avail(const nvc_stream_file *sf) { return sf->end - sf->start; }

/* Makes at least `need` bytes available from pos on. 0, NVC_EOF (the file ends first; what it had is
 * buffered), NVC_EIO or NVC_ENOMEM. */
static int fill(nvc_stream_file *sf, size_t need)
{
    if (avail(sf) >= need)
        return 0;
    if (sf->start) {
        memmove(sf->buf, sf->buf + sf->start, avail(sf));
        sf->end -= sf->start;
        sf->start = 0;
    }
    while (sf->end < need) {
        if (sf->io_eof)
            return NVC_EOF;
        if (sf->end == sf->cap) {
            size_t cap = sf->cap ? sf->cap * 2 : 65536;
            uint8_t *b = realloc(sf->buf, cap);
            if (!b)
                return sf_fail(sf, NVC_ENOMEM, "out of memory");
            sf->buf = b;
            sf->cap = cap;
        }
        size_t want = (need < sf->cap ? need : sf->cap) - sf->end;
        size_t n = fread(sf->buf + sf->end, 1, want, sf->fp);
        sf->end += n;
        if (n < want) {
            if (ferror(sf->fp))
                return sf_fail(sf, NVC_EIO, "read error: %s", strerror(errno));
            sf->io_eof = 1;
        }
    }
    return 0;
}

static void consume(nvc_stream_file *sf, size_t n)
{
    sf->start += n;
    sf->pos += n;
}

/* Moves the read position to `offset` (seekable files only), dropping the buffer. */
static int reposition(nvc_stream_file *sf, uint64_t offset)
{
    if (fseeko(sf->fp, (off_t)(sf->base + offset), SEEK_SET) != 0)
        return sf_fail(sf, NVC_EIO, "seek to %llu failed: %s", (unsigned long long)offset, strerror(errno));
    clearerr(sf->fp);
    sf->io_eof = 0;
    sf->start = sf->end = 0;
    sf->pos = offset;
    return 0;
}

int nvc_stream_file_open_fp(nvc_stream_file **out, FILE *fp, char *msg, size_t msg_size)
{
    *out = NULL;
    nvc_stream_file *sf = calloc(1, sizeof *sf);
    if (!sf) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "out of memory");
        return NVC_ENOMEM;
    }
    sf->fp = fp;
    struct stat st;
    off_t start = ftello(fp);
    sf->seekable = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && start >= 0;
    sf->base = sf->seekable ? (uint64_t)start : 0;
    nvc_stream_parser_init(&sf->parser);
    int err;
    for (size_t need = 8;;) {
        int fe = fill(sf, need);
        if (fe && fe != NVC_EOF) {
            err = fe;
            break;
        }
        size_t used;
        err = nvc_stream_parse_header(&sf->parser, sf->buf + sf->start, avail(sf), &used);
        if (err == NVC_EAGAIN && fe == NVC_EOF) {
            err = sf_fail(sf, NVC_EINVALDATA, "file ends inside the stream header (%zu of %zu bytes)", avail(sf), used);
            break;
        }
        if (err == NVC_EAGAIN) {
            need = used;
            continue;
        }
        if (err)
            sf_fail(sf, err, "%s", sf->parser.error);
        else
            consume(sf, used);
        break;
    }
    if (err) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "%s", sf->error);
        sf->fp = NULL; /* the caller keeps its FILE */
        nvc_stream_file_close(sf);
        return err;
    }
    *out = sf;
    return 0;
}

int nvc_stream_file_open(nvc_stream_file **out, const char *path, char *msg, size_t msg_size)
{
    *out = NULL;
    int use_stdin = strcmp(path, "-") == 0;
    FILE *fp = use_stdin ? stdin : fopen(path, "rb");
    if (!fp) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "%s: %s", path, strerror(errno));
        return NVC_EIO;
    }
    int err = nvc_stream_file_open_fp(out, fp, msg, msg_size);
    if (err) {
        if (!use_stdin)
            fclose(fp);
        return err;
    }
    (*out)->own_fp = !use_stdin;
    return 0;
}

void nvc_stream_file_close(nvc_stream_file *sf)
{
    if (!sf)
        return;
    if (sf->own_fp && sf->fp)
        fclose(sf->fp);
    nvc_stream_index_free(&sf->index);
    free(sf->buf);
    free(sf);
}

const nvc_stream_header *nvc_stream_file_header(const nvc_stream_file *sf) { return &sf->parser.header; }
const char *nvc_stream_file_error(const nvc_stream_file *sf) { return sf->error; }

int nvc_stream_file_next_frame(nvc_stream_file *sf, nvc_frame_info *f, uint64_t *offset)
{
    sf->error[0] = 0;
    int fe = fill(sf, 4);
    if (fe == NVC_EOF && avail(sf) == 0)
        return NVC_EOF; /* clean end of a stream without index (e.g. a live stream) */
    for (;;) {
        if (fe && fe != NVC_EOF)
            return fe;
        size_t used;
        int err = nvc_stream_parse_frame(&sf->parser, sf->buf + sf->start, avail(sf), &used, f);
        if (err == NVC_EAGAIN && fe == NVC_EOF)
            return sf_fail(sf, NVC_EINVALDATA, "truncated frame at offset %llu: %zu bytes needed, %zu left",
                           (unsigned long long)sf->pos, used, avail(sf));
        if (err == NVC_EAGAIN) {
            fe = fill(sf, used);
            continue;
        }
        if (err == NVC_EOF)
            return NVC_EOF;
        if (err)
            return sf_fail(sf, err, "at offset %llu: %s", (unsigned long long)sf->pos, sf->parser.error);
        if (sf->expect_iframe && (f->type != NVC_FRAME_I || f->frame_number != sf->expect_number)) {
            sf->expect_iframe = 0;
            return sf_fail(sf, NVC_EINVALDATA, "index points at I-frame %u, found %s-frame %u", sf->expect_number,
                           f->type == NVC_FRAME_I ? "an I" : "a P", f->frame_number);
        }
        sf->expect_iframe = 0;
        if (offset)
            *offset = sf->pos;
        consume(sf, used);
        return 0;
    }
}

int nvc_stream_file_resync(nvc_stream_file *sf, uint64_t *skipped)
{
    uint64_t from = sf->pos;
    sf->error[0] = 0;
    if (avail(sf))
        consume(sf, 1); /* the damaged frame's first byte */
    for (;;) {
        int fe = fill(sf, avail(sf) + 65536);
        if (fe && fe != NVC_EOF)
            return fe;
        size_t off;
        int err = nvc_stream_find_sync(&sf->parser, sf->buf + sf->start, avail(sf), &off);
        consume(sf, off);
        if (err == 0) {
            nvc_stream_parser_reset_frames(&sf->parser);
            break;
        }
        if (err != NVC_EAGAIN)
            return sf_fail(sf, err, "%s", sf->parser.error);
        if (fe == NVC_EOF) {
            if (avail(sf) < 4) { /* nothing left that could hold a frame */
                consume(sf, avail(sf));
                err = NVC_EOF;
                break;
            }
            if (off == 0) /* a candidate cut off by the end of the file is no frame */
                consume(sf, 1);
        }
    }
    if (skipped)
        *skipped = sf->pos - from;
    return avail(sf) ? 0 : NVC_EOF;
}

/* Reads exactly n bytes at offset into buf (seekable files). */
static int read_at(nvc_stream_file *sf, uint64_t offset, void *buf, size_t n)
{
    if (fseeko(sf->fp, (off_t)(sf->base + offset), SEEK_SET) != 0 || fread(buf, 1, n, sf->fp) != n)
        return NVC_EIO;
    return 0;
}

/* The index from the trailer: 0, or an error when the file has none or it is damaged. */
static int load_index_from_trailer(nvc_stream_file *sf, uint64_t file_size)
{
    uint8_t trailer[NVC_STREAM_TRAILER_SIZE];
    uint64_t index_offset;
    if (file_size < (uint64_t)sf->parser.header.header_size + NVC_STREAM_TRAILER_SIZE)
        return NVC_EINVALDATA;
    if (read_at(sf, file_size - NVC_STREAM_TRAILER_SIZE, trailer, sizeof trailer))
        return NVC_EIO;
    int err = nvc_stream_parse_trailer(&sf->parser, trailer, &index_offset);
    if (err)
        return err;
    if (index_offset < sf->parser.header.header_size || index_offset > file_size - NVC_STREAM_TRAILER_SIZE)
        return NVC_EINVALDATA;
    uint64_t chunk = file_size - NVC_STREAM_TRAILER_SIZE - index_offset;
    if (chunk > 12 + (uint64_t)NVC_STREAM_MAX_INDEX_ENTRIES * NVC_STREAM_INDEX_ENTRY_SIZE)
        return NVC_EINVALDATA;
    uint8_t *b = malloc(chunk ? chunk : 1);
    if (!b)
        return NVC_ENOMEM;
    size_t used = 0;
    err = read_at(sf, index_offset, b, chunk);
    if (!err)
        err = nvc_stream_parse_index(&sf->parser, b, chunk, index_offset, &used, &sf->index);
    free(b);
    if (!err && used != chunk) {
        nvc_stream_index_free(&sf->index);
        err = NVC_EINVALDATA;
    }
    if (err == NVC_EAGAIN)
        err = NVC_EINVALDATA;
    return err;
}

/* Builds the index by walking the frame headers (payloads are skipped, not read); stops at the index, the
 * end, or the first damaged frame header. */
static int build_index_by_scan(nvc_stream_file *sf)
{
    nvc_frame_info *f = malloc(sizeof *f);
    if (!f)
        return sf_fail(sf, NVC_ENOMEM, "out of memory");
    nvc_stream_parser scan = sf->parser;
    nvc_stream_index *idx = &sf->index;
    uint32_t cap = 0;
    int err = reposition(sf, sf->parser.header.header_size);
    while (!err) {
        int fe = fill(sf, 22);
        if (fe && fe != NVC_EOF) {
            err = fe;
            break;
        }
        size_t need;
        int pe = nvc_stream_parse_frame_header(&scan, sf->buf + sf->start, avail(sf), &need, f);
        while (pe == NVC_EAGAIN && !fe) { /* the header's length is learnt in steps */
            fe = fill(sf, need);
            pe = nvc_stream_parse_frame_header(&scan, sf->buf + sf->start, avail(sf), &need, f);
        }
        if (fe && fe != NVC_EOF) {
            err = fe;
            break;
        }
        if (pe)
            break; /* index marker, end of file or damage: the index covers what came before */
        if (f->type == NVC_FRAME_I && (!idx->count || f->frame_number > idx->entries[idx->count - 1].frame_number)) {
            if (idx->count == cap) {
                if (cap >= NVC_STREAM_MAX_INDEX_ENTRIES)
                    break;
                cap = cap ? cap * 2 : 64;
                nvc_stream_index_entry *e = realloc(idx->entries, cap * sizeof *e);
                if (!e) {
                    err = sf_fail(sf, NVC_ENOMEM, "out of memory");
                    break;
                }
                idx->entries = e;
            }
            idx->entries[idx->count].frame_number = f->frame_number;
            idx->entries[idx->count].offset = sf->pos;
            idx->count++;
        }
        err = reposition(sf, sf->pos + f->header_size + f->payload_size);
    }
    free(f);
    return err;
}

int nvc_stream_file_index(nvc_stream_file *sf, const nvc_stream_index **idx, int *from_trailer)
{
    sf->error[0] = 0;
    if (!sf->seekable)
        return sf_fail(sf, NVC_EUNSUPPORTED, "input is not seekable: no index");
    if (!sf->have_index) {
        uint64_t pos = sf->pos;
        struct stat st;
        if (fstat(fileno(sf->fp), &st) != 0)
            return sf_fail(sf, NVC_EIO, "stat failed: %s", strerror(errno));
        char saved[sizeof sf->parser.error];
        memcpy(saved, sf->parser.error, sizeof saved);
        uint64_t size = (uint64_t)st.st_size > sf->base ? (uint64_t)st.st_size - sf->base : 0;
        int err = load_index_from_trailer(sf, size);
        sf->index_from_trailer = !err;
        if (err == NVC_EIO || err == NVC_ENOMEM)
            return sf_fail(sf, err, "reading the index failed");
        if (err)
            err = build_index_by_scan(sf); /* no trailer (unfinished file) or a damaged one */
        memcpy(sf->parser.error, saved, sizeof saved);
        int rerr = reposition(sf, pos);
        if (err || rerr)
            return err ? err : rerr;
        sf->have_index = 1;
    }
    *idx = &sf->index;
    if (from_trailer)
        *from_trailer = sf->index_from_trailer;
    return 0;
}

int nvc_stream_file_seek(nvc_stream_file *sf, uint32_t frame_number, uint32_t *iframe)
{
    const nvc_stream_index *idx;
    int err = nvc_stream_file_index(sf, &idx, NULL);
    if (err)
        return err;
    uint32_t lo = 0, hi = idx->count; /* first entry with frame_number > target */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (idx->entries[mid].frame_number <= frame_number)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return sf_fail(sf, NVC_EINVAL, "no I-frame at or before frame %u", frame_number);
    const nvc_stream_index_entry *e = &idx->entries[lo - 1];
    err = reposition(sf, e->offset);
    if (err)
        return err;
    nvc_stream_parser_reset_frames(&sf->parser);
    sf->expect_iframe = 1;
    sf->expect_number = e->frame_number;
    if (iframe)
        *iframe = e->frame_number;
    return 0;
}
