/* .nvc writer for the encoder: header, frames, then index + trailer at close. The file is written under a
 * temporary name beside the destination and renamed only when complete, so a crash or an error never leaves a
 * half-written file under the final name. */
#include "codec/stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/crc32.h"
#include "codec/le.h"

struct nvc_stream_writer {
    FILE *fp;
    int to_stdout;
    char *path, *tmp_path;
    nvc_stream_header header;
    uint64_t pos;            /* bytes written so far */
    uint32_t frames;
    int have_frame;
    uint32_t last_frame_number;
    nvc_stream_index index;
    uint32_t index_cap;
    int failed;              /* a write failed: only abort/close remain */
    uint8_t frame_header[NVC_STREAM_FRAME_MAX_HEADER_SIZE];
    char error[256];
};

static int w_fail(nvc_stream_writer *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int w_fail(nvc_stream_writer *w, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
    return err;
}

static int w_write(nvc_stream_writer *w, const void *buf, size_t n)
{
    if (n && fwrite(buf, 1, n, w->fp) != n) {
        w->failed = 1;
        return w_fail(w, NVC_EIO, "write to %s failed: %s", w->to_stdout ? "stdout" : w->tmp_path, strerror(errno));
    }
    w->pos += n;
    return 0;
}

static void writer_free(nvc_stream_writer *w)
{
    nvc_stream_index_free(&w->index);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

void nvc_stream_writer_abort(nvc_stream_writer *w)
{
    if (!w)
        return;
    if (!w->to_stdout && w->fp) {
        fclose(w->fp);
        unlink(w->tmp_path);
    }
    writer_free(w);
}

const char *nvc_stream_writer_error(const nvc_stream_writer *w) { return w->error; }

int nvc_stream_writer_open(nvc_stream_writer **out, const char *path, const nvc_stream_header *h, char *msg,
                           size_t msg_size)
{
    *out = NULL;
    uint8_t hdr[NVC_STREAM_HEADER_SIZE];
    int err = nvc_stream_write_header(h, hdr, msg, msg_size);
    if (err)
        return err;
    nvc_stream_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->tmp_path = malloc(strlen(path) + 16))) {
        if (w)
            writer_free(w);
        if (msg && msg_size)
            snprintf(msg, msg_size, "out of memory");
        return NVC_ENOMEM;
    }
    w->header = *h;
    w->header.version_major = nvc_le16(hdr + 8); /* what was written: the frames follow that layout */
    w->header.version_minor = nvc_le16(hdr + 10);
    w->to_stdout = strcmp(path, "-") == 0;
    if (w->to_stdout) {
        w->fp = stdout;
        strcpy(w->tmp_path, "stdout");
    } else {
        sprintf(w->tmp_path, "%s.tmp-XXXXXX", path);
        int fd = mkstemp(w->tmp_path);
        if (fd < 0 || fchmod(fd, 0644) != 0 || !(w->fp = fdopen(fd, "wb"))) {
            if (msg && msg_size)
                snprintf(msg, msg_size, "cannot create %s: %s", w->tmp_path, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(w->tmp_path);
            }
            writer_free(w);
            return NVC_EIO;
        }
    }
    err = w_write(w, hdr, sizeof hdr);
    if (err) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "%s", w->error);
        nvc_stream_writer_abort(w);
        return err;
    }
    *out = w;
    return 0;
}

int nvc_stream_writer_frame(nvc_stream_writer *w, nvc_frame_info *f, const uint8_t *const *data)
{
    if (w->failed)
        return w_fail(w, NVC_EIO, "an earlier write failed");
    if (!w->have_frame && f->type != NVC_FRAME_I)
        return w_fail(w, NVC_EINVAL, "the first frame must be an I-frame");
    if (w->have_frame && f->frame_number <= w->last_frame_number)
        return w_fail(w, NVC_EINVAL, "frame number %u after %u: frame numbers must increase", f->frame_number,
                      w->last_frame_number);
    if (w->frames >= NVC_STREAM_FRAME_COUNT_UNKNOWN - 1)
        return w_fail(w, NVC_EINVAL, "too many frames");
    size_t len;
    /* First pass validates and lays out the frame (the CRC needs the substream count), second writes the CRC. */
    int err = nvc_stream_write_frame_header(&w->header, f, 0, w->frame_header, sizeof w->frame_header, &len, w->error,
                                            sizeof w->error);
    if (err)
        return err;
    uint32_t crc = 0;
    for (uint32_t k = 0; k < f->total_substreams; k++) {
        if (f->substream_size[k] && !data[k])
            return w_fail(w, NVC_EINVAL, "substream %u: no data for %u bytes", k, f->substream_size[k]);
        crc = nvc_crc32(crc, data[k], f->substream_size[k]);
    }
    nvc_stream_write_frame_header(&w->header, f, crc, w->frame_header, sizeof w->frame_header, &len, NULL, 0);
    if (f->type == NVC_FRAME_I) {
        if (w->index.count == w->index_cap) {
            if (w->index_cap >= NVC_STREAM_MAX_INDEX_ENTRIES)
                return w_fail(w, NVC_EINVAL, "more than %u I-frames", NVC_STREAM_MAX_INDEX_ENTRIES);
            uint32_t cap = w->index_cap ? w->index_cap * 2 : 64;
            nvc_stream_index_entry *e = realloc(w->index.entries, cap * sizeof *e);
            if (!e)
                return w_fail(w, NVC_ENOMEM, "out of memory");
            w->index.entries = e;
            w->index_cap = cap;
        }
        w->index.entries[w->index.count].frame_number = f->frame_number;
        w->index.entries[w->index.count].offset = w->pos;
        w->index.count++;
    }
    err = w_write(w, w->frame_header, len);
    for (uint32_t k = 0; !err && k < f->total_substreams; k++)
        err = w_write(w, data[k], f->substream_size[k]);
    if (err)
        return err;
    w->have_frame = 1;
    w->last_frame_number = f->frame_number;
    w->frames++;
    return 0;
}

static int finish(nvc_stream_writer *w)
{
    if (w->failed)
        return w_fail(w, NVC_EIO, "an earlier write failed");
    size_t n = nvc_stream_index_bytes(w->index.count);
    uint8_t *b = malloc(n);
    if (!b)
        return w_fail(w, NVC_ENOMEM, "out of memory");
    nvc_stream_write_index(&w->index, w->pos, b);
    int err = w_write(w, b, n);
    free(b);
    if (err)
        return err;
    if (!w->to_stdout) {
        uint8_t hdr[NVC_STREAM_HEADER_SIZE];
        w->header.frame_count = w->frames;
        nvc_stream_write_header(&w->header, hdr, NULL, 0);
        if (fseeko(w->fp, 0, SEEK_SET) != 0 || fwrite(hdr, 1, sizeof hdr, w->fp) != sizeof hdr)
            return w_fail(w, NVC_EIO, "rewriting the header of %s failed: %s", w->tmp_path, strerror(errno));
    }
    if (fflush(w->fp) != 0 || (!w->to_stdout && fsync(fileno(w->fp)) != 0))
        return w_fail(w, NVC_EIO, "flushing %s failed: %s", w->tmp_path, strerror(errno));
    return 0;
}

int nvc_stream_writer_close(nvc_stream_writer *w, char *msg, size_t msg_size)
{
    int err = finish(w);
    if (!err && !w->to_stdout) {
        FILE *fp = w->fp;
        w->fp = NULL;
        if (fclose(fp) != 0)
            err = w_fail(w, NVC_EIO, "closing %s failed: %s", w->tmp_path, strerror(errno));
        else if (rename(w->tmp_path, w->path) != 0)
            err = w_fail(w, NVC_EIO, "renaming %s to %s failed: %s", w->tmp_path, w->path, strerror(errno));
        if (err)
            unlink(w->tmp_path);
    }
    if (err && msg && msg_size)
        snprintf(msg, msg_size, "%s", w->error);
    if (err)
        nvc_stream_writer_abort(w);
    else
        writer_free(w);
    return err;
}
