/* libFuzzer target for the .nvc reader: the memory parser as the library decoder drives it (with
 * resynchronisation after damage), the trailer and index, and the FILE reader on a seekable in-memory file
 * (index, seek, resync). Every frame the parser accepts must re-serialise to the very same header bytes.
 * Build and run: make fuzz-run (seeds: tests/fuzz/corpus/fuzz_stream, written by test_stream --write-corpus). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec/stream.h"

static nvc_frame_info frame, again;
static uint8_t rewritten[NVC_STREAM_FRAME_MAX_HEADER_SIZE];

static void parse_memory(const uint8_t *data, size_t size)
{
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    size_t used, pos;
    if (nvc_stream_parse_header(&p, data, size, &used))
        return;
    pos = used;
    for (int guard = 0; pos < size && guard < 100000; guard++) {
        int err = nvc_stream_parse_frame(&p, data + pos, size - pos, &used, &frame);
        if (err == NVC_EOF)
            break;
        if (err == 0) {
            if (used < frame.header_size || frame.payload != data + pos + frame.header_size)
                abort();
            const nvc_stream_header *h = &p.header;
            if ((h->version_major == 2 && h->version_minor <= 3) ||
                (h->version_major == NVC_STREAM_VERSION_MAJOR && h->version_minor == NVC_STREAM_VERSION_MINOR)) {
                size_t len;
                again = frame;
                if (nvc_stream_write_frame_header(h, &again, frame.payload_crc, rewritten, sizeof rewritten, &len,
                                                  NULL, 0) != 0 ||
                    len != frame.header_size || memcmp(rewritten, data + pos, len) != 0)
                    abort(); /* the parser accepted something the writer would not produce */
            }
            for (uint32_t s = 0; s < frame.nsegments; s++)
                for (uint32_t i = 0; i < frame.nsubstreams[s]; i++) {
                    uint32_t n;
                    const uint8_t *b = nvc_frame_substream(&frame, s, i, &n);
                    if (!b || b < data || b + n > data + size)
                        abort();
                }
            pos += used;
            continue;
        }
        /* Damaged or cut off by the end of the input: resynchronise (a candidate the input ends inside fails
         * the next round and the search goes on from its second byte). */
        size_t off;
        nvc_stream_find_sync(&p, data + pos + 1, size - pos - 1, &off);
        pos += 1 + off;
    }
    if (size >= NVC_STREAM_TRAILER_SIZE) {
        uint64_t io;
        if (nvc_stream_parse_trailer(&p, data + size - NVC_STREAM_TRAILER_SIZE, &io) == 0 && io < size) {
            nvc_stream_index idx;
            if (nvc_stream_parse_index(&p, data + io, size - io, io, &used, &idx) == 0)
                nvc_stream_index_free(&idx);
        }
    }
}

static void read_file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_stream", 0);
    if (fd < 0)
        return;
    FILE *fp = NULL;
    if (write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0 || !(fp = fdopen(fd, "rb"))) {
        close(fd);
        return;
    }
    nvc_stream_file *sf;
    if (nvc_stream_file_open_fp(&sf, fp, NULL, 0) == 0) {
        int frames = 0;
        for (int guard = 0; guard < 100000; guard++) {
            int err = nvc_stream_file_next_frame(sf, &frame, NULL);
            if (err == 0) {
                frames++;
                continue;
            }
            if (err != NVC_EINVALDATA || nvc_stream_file_resync(sf, NULL) != 0)
                break;
        }
        const nvc_stream_index *idx;
        if (nvc_stream_file_index(sf, &idx, NULL) == 0 && idx->count) {
            uint32_t iframe;
            uint32_t target = idx->entries[idx->count / 2].frame_number + (uint32_t)frames;
            if (nvc_stream_file_seek(sf, target, &iframe) == 0)
                nvc_stream_file_next_frame(sf, &frame, NULL);
        }
        nvc_stream_file_close(sf);
    }
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_memory(data, size);
    read_file(data, size);
    return 0;
}
