/* nvc_example: decodes a .nvc stream and prints the MD5 of every decoded frame, using only the public API
 * (include/nvc/nvc.h) -- the reference for applications. Build outside the tree with
 *     cc nvc_example.c $(pkg-config --cflags --libs nvc)
 * Usage: nvc_example [--threads N] stream.nvc   ("-" reads standard input)
 * Output, one line per frame: "<frame number> <I|P> <md5>", then "total <md5 of all frames>". A frame's MD5
 * covers its Y, U and V planes row by row without padding, exactly the bytes of a yuv420p rawvideo frame, so
 * the lines can be compared with `ffmpeg -i out.y4m -f framemd5 -`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvc/nvc.h"

/* ---- MD5 (RFC 1321), small and self-contained so the example needs nothing but libnvc ---- */
typedef struct {
    uint32_t state[4];
    uint64_t length;
    uint8_t block[64];
} md5_ctx;

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static void md5_compress(uint32_t st[4], const uint8_t *p)
{
    static const uint32_t k[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
        0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
        0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
        0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
        0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
        0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
        0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
    static const int r[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};
    uint32_t m[16], a = st[0], b = st[1], c = st[2], d = st[3];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i / 16;
        if (round == 0) { f = (b & c) | (~b & d); g = i; }
        else if (round == 1) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
        else if (round == 2) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
        else { f = c ^ (b | ~d); g = (7 * i) % 16; }
        uint32_t t = d;
        d = c;
        c = b;
        b += rol(a + f + k[i] + m[g], r[round * 4 + i % 4]);
        a = t;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
}

static void md5_init(md5_ctx *c)
{
    static const uint32_t iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    memcpy(c->state, iv, sizeof iv);
    c->length = 0;
}

static void md5_update(md5_ctx *c, const uint8_t *p, size_t n)
{
    size_t used = c->length % 64;
    c->length += n;
    if (used) {
        size_t take = 64 - used < n ? 64 - used : n;
        memcpy(c->block + used, p, take);
        p += take;
        n -= take;
        if (used + take < 64)
            return;
        md5_compress(c->state, c->block);
    }
    for (; n >= 64; p += 64, n -= 64)
        md5_compress(c->state, p);
    memcpy(c->block, p, n);
}

static void md5_hex(md5_ctx *c, char out[33])
{
    uint64_t bits = c->length * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (c->length % 64 < 56 ? 56 : 120) - c->length % 64;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (8 * i));
    md5_update(c, pad, padlen + 8);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", (c->state[i / 4] >> (8 * (i % 4))) & 0xff);
}

/* ---- decoding ---- */

static void hash_picture(const nvc_picture *pic, md5_ctx *total)
{
    md5_ctx frame;
    md5_init(&frame);
    for (int p = 0; p < 3; p++) {
        int w = p ? pic->width / 2 : pic->width, h = p ? pic->height / 2 : pic->height;
        for (int y = 0; y < h; y++) {
            md5_update(&frame, pic->data[p] + y * pic->stride[p], (size_t)w);
            md5_update(total, pic->data[p] + y * pic->stride[p], (size_t)w);
        }
    }
    char hex[33];
    md5_hex(&frame, hex);
    printf("%" PRIu32 " %c %s\n", pic->frame_number, pic->frame_type == NVC_PICTURE_I ? 'I' : 'P', hex);
}

/* Takes every picture the decoder has ready. Returns 0, NVC_EOF once drained, or a fatal error. */
static int drain(nvc_context *dec, md5_ctx *total, int *damaged)
{
    for (;;) {
        nvc_picture pic;
        int r = nvc_get_picture(dec, &pic);
        if (r == NVC_EAGAIN)
            return 0;
        if (r == NVC_EINVALDATA) { /* the decoder skips to the next I-frame by itself */
            fprintf(stderr, "nvc_example: damaged data: %s\n", nvc_get_error(dec));
            (*damaged)++;
            continue;
        }
        if (r)
            return r;
        hash_picture(&pic, total);
        nvc_picture_unref(&pic);
    }
}

/* Sends all of buf, taking pictures whenever the decoder is full. */
static int send_all(nvc_context *dec, const uint8_t *buf, size_t size, md5_ctx *total, int *damaged)
{
    size_t done = 0;
    while (done < size) {
        size_t n;
        int r = nvc_send_data(dec, buf + done, size - done, &n);
        done += n;
        if (r && r != NVC_EAGAIN)
            return r;
        if ((r = drain(dec, total, damaged)))
            return r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!path && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "usage: nvc_example [--threads N] stream.nvc   (libnvc %s)\n", nvc_version());
        return 2;
    }

    char msg[256];
    nvc_reader *rd;
    int r = nvc_reader_open(&rd, path, msg, sizeof msg);
    if (r) {
        fprintf(stderr, "nvc_example: %s: %s\n", path, msg);
        return 1;
    }
    nvc_settings s;
    nvc_default_settings(&s);
    s.n_threads = threads;
    nvc_context *dec;
    if ((r = nvc_open(&dec, &s))) {
        fprintf(stderr, "nvc_example: cannot create a decoder: %s\n", nvc_strerror(r));
        nvc_reader_close(&rd);
        return 1;
    }

    md5_ctx total;
    md5_init(&total);
    int damaged = 0;
    const uint8_t *hdr;
    size_t hdr_size;
    nvc_reader_header(rd, &hdr, &hdr_size);
    r = send_all(dec, hdr, hdr_size, &total, &damaged);
    while (!r) {
        nvc_packet pkt;
        int rr = nvc_reader_read_frame(rd, &pkt);
        if (rr == NVC_EOF)
            break;
        if (rr == NVC_EINVALDATA) {
            /* The reader continues at the next intact frame; the decoder is told about the gap: it returns the
             * pictures before it, then waits for the next I-frame. */
            fprintf(stderr, "nvc_example: damaged stream: %s\n", nvc_reader_error(rd));
            damaged++;
            nvc_send_data(dec, NULL, 0, NULL);
            if ((r = drain(dec, &total, &damaged)) == NVC_EOF)
                r = 0;
            nvc_flush(dec);
            continue;
        }
        if (rr) {
            fprintf(stderr, "nvc_example: %s\n", nvc_reader_error(rd));
            r = rr;
            break;
        }
        r = send_all(dec, pkt.data, pkt.size, &total, &damaged);
    }
    if (!r) { /* end of input: take the pictures still in flight */
        nvc_send_data(dec, NULL, 0, NULL);
        r = drain(dec, &total, &damaged);
    }
    if (r && r != NVC_EOF)
        fprintf(stderr, "nvc_example: decoding failed: %s: %s\n", nvc_strerror(r), nvc_get_error(dec));
    else {
        char hex[33];
        md5_hex(&total, hex);
        printf("total %s\n", hex);
    }
    nvc_close(&dec);
    nvc_reader_close(&rd);
    return (r && r != NVC_EOF) || damaged ? 1 : 0;
}
