/* Cost of the .nvc container on the decode path: CRC-32 throughput, and the time to parse and check one frame
 * (header + payload CRC) of a 720p-like P-frame (4 segments x 16 substreams, 12 KB and 100 KB payloads).
 * Prints medians of 15 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/crc32.h"
#include "codec/stream.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define RUNS 15

/* Builds header + one frame of `payload` bytes in buf; returns the frame's offset. */
static size_t make_frame(uint8_t *buf, size_t payload, nvc_frame_info *f)
{
    nvc_stream_header h = {0};
    h.width = 1280;
    h.height = 720;
    h.fps_num = 30;
    h.fps_den = 1;
    h.colour_primaries = h.transfer = h.matrix = 1;
    h.chroma_format = 1;
    h.bit_depth = 8;
    nvc_stream_write_header(&h, buf, NULL, 0);
    memset(f, 0, sizeof *f);
    f->type = NVC_FRAME_P;
    f->nsegments = 4;
    for (int s = 0; s < 4; s++)
        f->nsubstreams[s] = 16;
    for (int k = 0; k < 64; k++)
        f->substream_size[k] = (uint32_t)(payload / 64);
    uint8_t *frame = buf + NVC_STREAM_HEADER_SIZE;
    size_t len;
    nvc_stream_write_frame_header(NULL, f, 0, frame, NVC_STREAM_FRAME_MAX_HEADER_SIZE, &len, NULL, 0);
    for (size_t i = 0; i < f->payload_size; i++)
        frame[len + i] = (uint8_t)(i * 2654435761u >> 13);
    nvc_stream_write_frame_header(NULL, f, nvc_crc32(0, frame + len, f->payload_size), frame, len, &len, NULL, 0);
    return NVC_STREAM_HEADER_SIZE;
}

int main(void)
{
    size_t big = 8 << 20;
    uint8_t *buf = malloc(big);
    nvc_frame_info *f = malloc(sizeof *f);
    if (!buf || !f)
        return 1;
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    double t[RUNS];
    volatile uint32_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        sink ^= nvc_crc32(0, buf, big);
        t[r] = now() - t0;
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    printf("crc32: %.0f MB/s (median of %d runs over 8 MiB)\n", (double)big / t[RUNS / 2] / 1e6, RUNS);

    static const size_t payloads[] = {12000, 100000};
    for (int p = 0; p < 2; p++) {
        size_t at = make_frame(buf, payloads[p], f);
        nvc_stream_parser parser;
        nvc_stream_parser_init(&parser);
        size_t used;
        if (nvc_stream_parse_header(&parser, buf, at, &used))
            return 1;
        int reps = 2000;
        for (int r = 0; r < RUNS; r++) {
            double t0 = now();
            for (int i = 0; i < reps; i++) {
                nvc_stream_parser_reset_frames(&parser);
                if (nvc_stream_parse_frame(&parser, buf + at, big - at, &used, f) != 0) {
                    fprintf(stderr, "parse failed: %s\n", parser.error);
                    return 1;
                }
            }
            t[r] = (now() - t0) / reps;
        }
        qsort(t, RUNS, sizeof t[0], cmp_double);
        printf("parse+check frame (64 substreams, %zu-byte payload): %.2f us median (%.3f ms per second of "
               "30 fps video)\n", payloads[p], t[RUNS / 2] * 1e6, t[RUNS / 2] * 30 * 1e3);
    }
    free(f);
    free(buf);
    return 0;
}
