/* Public .nvc muxer and demuxer (nvc_writer_*, nvc_reader_*): packets round-trip byte for byte, the header
 * info survives, keyframes and seeking use the index (from the trailer, or by scanning a file without one),
 * damaged and truncated streams are reported and skipped, pipes read but do not seek, bad packets are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/crc32.h"
#include "codec/stream.h"
#include "nvc/nvc.h"
#include "testutil.h"

enum { NFRAMES = 20, GOP = 5, MAXPKT = 4096 };

typedef struct {
    uint8_t data[MAXPKT];
    size_t size;
} packet_bytes;

static packet_bytes packets[NFRAMES];
static nvc_frame_info frame; /* 16 KiB: static */

/* Builds frame `n` (I every GOP frames) with two substreams of random bytes, the way an encoder would. */
static void make_packet(packet_bytes *pb, uint32_t n, unsigned long long *seed)
{
    uint8_t payload[1024];
    uint32_t sizes[2] = {(uint32_t)(test_rand(seed) % 400) + 1, (uint32_t)(test_rand(seed) % 400)};
    uint32_t total = sizes[0] + sizes[1];
    for (uint32_t i = 0; i < total; i++)
        payload[i] = (uint8_t)test_rand(seed);
    memset(&frame, 0, sizeof frame);
    frame.frame_number = n;
    frame.type = n % GOP == 0 ? NVC_FRAME_I : NVC_FRAME_P;
    frame.quality = 20;
    frame.nsegments = 1;
    frame.nsubstreams[0] = 2;
    frame.substream_size[0] = sizes[0];
    frame.substream_size[1] = sizes[1];
    size_t hlen = 0;
    int err = nvc_stream_write_frame_header(NULL, &frame, nvc_crc32(0, payload, total), pb->data, MAXPKT, &hlen, NULL,
                                            0);
    CHECK_EQ_INT(err, 0);
    memcpy(pb->data + hlen, payload, total);
    pb->size = hlen + total;
}

static nvc_stream_info test_info(void)
{
    nvc_stream_info info;
    memset(&info, 0, sizeof info);
    info.width = 352;
    info.height = 288;
    info.fps_num = 30000;
    info.fps_den = 1001;
    info.colour_primaries = info.transfer = info.matrix = 1;
    info.bit_depth = 8;
    info.gop_length = GOP;
    info.frame_count = -1;
    info.model_id = 0x1234abcd;
    strcpy(info.model_name, "test-model");
    return info;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Copies the first `len` bytes of src to dst, flipping byte `flip` (if >= 0). */
static void copy_file(const char *src, const char *dst, long len, long flip)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    CHECK(in && out);
    for (long i = 0; i < len; i++) {
        int c = fgetc(in);
        if (c == EOF)
            break;
        fputc(i == flip ? c ^ 0x40 : c, out);
    }
    fclose(in);
    fclose(out);
}

/* Reads every frame, recording the frame numbers returned and the errors met. */
static int read_all(nvc_reader *r, uint32_t *numbers, int max, int *errors, int check_bytes)
{
    int n = 0;
    nvc_packet pkt;
    *errors = 0;
    for (int guard = 0; guard < 1000; guard++) {
        int err = nvc_reader_read_frame(r, &pkt);
        if (err == NVC_EOF)
            break;
        if (err == NVC_EINVALDATA) {
            CHECK(nvc_reader_error(r)[0] != 0);
            (*errors)++;
            continue;
        }
        CHECK_EQ_INT(err, 0);
        if (err)
            break;
        if (n < max)
            numbers[n] = pkt.frame_number;
        n++;
        CHECK(pkt.frame_number < NFRAMES);
        if (check_bytes && pkt.frame_number < NFRAMES) {
            const packet_bytes *pb = &packets[pkt.frame_number];
            CHECK_EQ_INT(pkt.size, pb->size);
            CHECK(pkt.size == pb->size && memcmp(pkt.data, pb->data, pb->size) == 0);
            CHECK_EQ_INT(pkt.frame_type, pkt.frame_number % GOP ? NVC_PICTURE_P : NVC_PICTURE_I);
        }
    }
    return n;
}

int main(void)
{
    char dir[] = "/tmp/nvc-test-reader-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], damaged[256], truncated[256];
    snprintf(path, sizeof path, "%s/a.nvc", dir);
    snprintf(damaged, sizeof damaged, "%s/damaged.nvc", dir);
    snprintf(truncated, sizeof truncated, "%s/truncated.nvc", dir);
    unsigned long long seed = 42;
    char msg[256];

    /* ---- write ---- */
    nvc_stream_info info = test_info();
    nvc_writer *w = NULL;
    CHECK_EQ_INT(nvc_writer_open(&w, path, &info, msg, sizeof msg), 0);
    long offsets[NFRAMES];
    long pos = NVC_STREAM_HEADER_SIZE;
    for (uint32_t n = 0; n < NFRAMES; n++) {
        make_packet(&packets[n], n, &seed);
        nvc_packet pkt = {.data = packets[n].data, .size = packets[n].size, .frame_number = n};
        CHECK_EQ_INT(nvc_writer_write(w, &pkt), 0);
        offsets[n] = pos;
        pos += (long)packets[n].size;
    }
    /* Refused: a packet with a damaged payload, a cut one, one with trailing bytes, an old frame number. */
    packet_bytes bad = packets[NFRAMES - 1];
    bad.data[bad.size - 1] ^= 1;
    nvc_packet pkt = {.data = bad.data, .size = bad.size};
    CHECK_EQ_INT(nvc_writer_write(w, &pkt), NVC_EINVAL);
    CHECK(nvc_writer_error(w)[0] != 0);
    pkt.data = packets[3].data;
    pkt.size = packets[3].size - 1;
    CHECK_EQ_INT(nvc_writer_write(w, &pkt), NVC_EINVAL);
    pkt.size = packets[3].size + 1;
    CHECK_EQ_INT(nvc_writer_write(w, &pkt), NVC_EINVAL);
    pkt.size = packets[3].size;
    CHECK(nvc_writer_write(w, &pkt) != 0);
    CHECK_EQ_INT(nvc_writer_close(&w, msg, sizeof msg), 0);
    CHECK(w == NULL);

    /* Invalid stream info is refused before anything is created. */
    nvc_stream_info odd = test_info();
    odd.width = 351;
    CHECK(nvc_writer_open(&w, path, &odd, msg, sizeof msg) != 0 && w == NULL);
    odd = test_info();
    odd.full_range = 2;
    CHECK_EQ_INT(nvc_writer_open(&w, path, &odd, msg, sizeof msg), NVC_EINVAL);

    /* ---- read back ---- */
    nvc_reader *r = NULL;
    CHECK_EQ_INT(nvc_reader_open(&r, path, msg, sizeof msg), 0);
    if (!r) {
        fprintf(stderr, "open: %s\n", msg);
        TEST_DONE();
    }
    nvc_stream_info got;
    nvc_reader_info(r, &got);
    CHECK_EQ_INT(got.width, 352);
    CHECK_EQ_INT(got.height, 288);
    CHECK_EQ_INT(got.fps_num, 30000);
    CHECK_EQ_INT(got.fps_den, 1001);
    CHECK_EQ_INT(got.gop_length, GOP);
    CHECK_EQ_INT(got.frame_count, NFRAMES); /* filled in by the writer at close */
    CHECK_EQ_INT(got.model_id, 0x1234abcd);
    CHECK(strcmp(got.model_name, "test-model") == 0);
    CHECK_EQ_INT(got.version_major, NVC_STREAM_VERSION_MAJOR);
    const uint8_t *hdr;
    size_t hdr_size;
    nvc_reader_header(r, &hdr, &hdr_size);
    nvc_stream_parser parser;
    nvc_stream_parser_init(&parser);
    size_t used;
    CHECK_EQ_INT(nvc_stream_parse_header(&parser, hdr, hdr_size, &used), 0);
    CHECK_EQ_INT(used, hdr_size);
    CHECK_EQ_INT(parser.header.frame_count, NFRAMES);

    uint32_t numbers[64];
    int errors;
    CHECK_EQ_INT(read_all(r, numbers, 64, &errors, 1), NFRAMES);
    CHECK_EQ_INT(errors, 0);
    for (int i = 0; i < NFRAMES; i++)
        CHECK_EQ_INT(numbers[i], i);

    const uint32_t *keys;
    size_t nkeys;
    CHECK_EQ_INT(nvc_reader_keyframes(r, &keys, &nkeys), 0);
    CHECK_EQ_INT(nkeys, NFRAMES / GOP);
    for (size_t i = 0; i < nkeys; i++)
        CHECK_EQ_INT(keys[i], i * GOP);
    uint32_t iframe = 99;
    CHECK_EQ_INT(nvc_reader_seek(r, 12, &iframe), 0);
    CHECK_EQ_INT(iframe, 10);
    CHECK_EQ_INT(nvc_reader_read_frame(r, &pkt), 0);
    CHECK_EQ_INT(pkt.frame_number, 10);
    CHECK_EQ_INT(pkt.offset, offsets[10]);
    CHECK(pkt.size == packets[10].size && memcmp(pkt.data, packets[10].data, pkt.size) == 0);
    CHECK_EQ_INT(nvc_reader_seek(r, 4, &iframe), 0); /* backwards */
    CHECK_EQ_INT(iframe, 0);
    CHECK_EQ_INT(nvc_reader_read_frame(r, &pkt), 0);
    CHECK_EQ_INT(pkt.frame_number, 0);
    CHECK_EQ_INT(nvc_reader_seek(r, 1000, &iframe), 0); /* past the end: the last I-frame */
    CHECK_EQ_INT(iframe, 15);
    nvc_reader_close(&r);
    CHECK(r == NULL);
    nvc_reader_close(&r); /* NULL: no-op */

    /* ---- a damaged payload in frame 7: reported once, then frame 8 on ---- */
    long total = file_size(path);
    copy_file(path, damaged, total, offsets[7] + (long)packets[7].size - 2);
    CHECK_EQ_INT(nvc_reader_open(&r, damaged, msg, sizeof msg), 0);
    if (r) {
        int n = read_all(r, numbers, 64, &errors, 1);
        CHECK_EQ_INT(n, NFRAMES - 1);
        CHECK_EQ_INT(errors, 1);
        CHECK_EQ_INT(numbers[6], 6);
        CHECK_EQ_INT(numbers[7], 8);
        nvc_reader_close(&r);
    }

    /* ---- cut inside frame 12, so no index: frames 0..11, an error, the end; keyframes by scanning ---- */
    copy_file(path, truncated, offsets[12] + 30, -1);
    CHECK_EQ_INT(nvc_reader_open(&r, truncated, msg, sizeof msg), 0);
    if (r) {
        CHECK_EQ_INT(nvc_reader_keyframes(r, &keys, &nkeys), 0);
        CHECK_EQ_INT(nkeys, 3);
        CHECK_EQ_INT(read_all(r, numbers, 64, &errors, 1), 12);
        CHECK_EQ_INT(errors, 1);
        CHECK_EQ_INT(nvc_reader_seek(r, 7, &iframe), 0);
        CHECK_EQ_INT(iframe, 5);
        CHECK_EQ_INT(nvc_reader_read_frame(r, &pkt), 0);
        CHECK_EQ_INT(pkt.frame_number, 5);
        nvc_reader_close(&r);
    }

    /* ---- a pipe: reads, cannot seek ---- */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cat %s", path);
    FILE *pipe = popen(cmd, "r");
    CHECK(pipe != NULL);
    CHECK_EQ_INT(nvc_reader_open_file(&r, pipe, msg, sizeof msg), 0);
    if (r) {
        CHECK_EQ_INT(nvc_reader_seek(r, 5, &iframe), NVC_EUNSUPPORTED);
        CHECK(nvc_reader_error(r)[0] != 0);
        CHECK_EQ_INT(nvc_reader_keyframes(r, &keys, &nkeys), NVC_EUNSUPPORTED);
        CHECK_EQ_INT(read_all(r, numbers, 64, &errors, 1), NFRAMES);
        CHECK_EQ_INT(errors, 0);
        nvc_reader_close(&r);
    }
    pclose(pipe);

    /* ---- not a stream / no file ---- */
    FILE *f = fopen(damaged, "wb");
    fputs("this is not a video stream at all, just some text that is long enough for a header......", f);
    fclose(f);
    CHECK_EQ_INT(nvc_reader_open(&r, damaged, msg, sizeof msg), NVC_EINVALDATA);
    CHECK(r == NULL && msg[0] != 0);
    snprintf(cmd, sizeof cmd, "%s/missing.nvc", dir);
    CHECK_EQ_INT(nvc_reader_open(&r, cmd, msg, sizeof msg), NVC_EIO);
    CHECK(strstr(msg, "missing.nvc") != NULL);

    unlink(path);
    unlink(damaged);
    unlink(truncated);
    rmdir(dir);
    TEST_DONE();
}
