/* End to end through the public API: encode a small real clip (tests/data/vtest_144x80.y4m, cut from OpenCV's
 * vtest.avi; 144x80 is not a multiple of the networks' 64-pixel alignment), decode it, and require the decoder's
 * output to equal the encoder's reconstruction bit for bit with 1, 2 and 4 threads, any chunking of the input,
 * frame delays 1..3, and SIMD off (the encoder's bytes must not change either). Then damaged, truncated and
 * wrong-model streams, flush, EAGAIN, and settings the encoder must reject.
 * The model: $NVC_TEST_MODEL, else models/default.nvm, else the one embedded in libnvc; with none: SKIP. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "codec/crc32.h"
#include "codec/frame.h"
#include "codec/motion_search.h"
#include "codec/stream.h"
#include "codec/stream_info.h"
#include "nvc/nvc.h"
#include "testutil.h"

#define CLIP "tests/data/vtest_144x80.y4m"
#define W 144
#define H 80
#define NFRAMES 5
#define FRAME_BYTES (W * H * 3 / 2)

static uint8_t clip[NFRAMES][FRAME_BYTES];
static void *model_data;
static size_t model_size;

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *size = n;
    return b;
}

static int load_clip(void)
{
    size_t size;
    uint8_t *y4m = read_all(CLIP, &size);
    if (!y4m)
        return -1;
    const uint8_t *p = memchr(y4m, '\n', size);
    for (int i = 0; i < NFRAMES && p; i++) {
        p++;
        if ((size_t)(p - y4m) + 6 + FRAME_BYTES > size || memcmp(p, "FRAME\n", 6)) {
            p = NULL;
            break;
        }
        memcpy(clip[i], p + 6, FRAME_BYTES);
        p += 6 + FRAME_BYTES - 1;
    }
    free(y4m);
    return p ? 0 : -1;
}

/* ---- a coded stream in memory ---- */
typedef struct coded {
    uint8_t *bytes;
    size_t size;
    size_t frame_offset[NFRAMES + 1]; /* frame k at [frame_offset[k], frame_offset[k+1]) */
    uint8_t recon[NFRAMES][FRAME_BYTES];
    int n_intra;                      /* I-frames (adaptive GOP) */
    int n_due, n_refine;              /* P-frames that may be refinements (key_refine_frames), those that are */
    int n_kind[4];                    /* P-frames by their header flags (enum nvc_frame_flag) */
    int n_fitted;                     /* frames with NVC_FRAME_FITTED_TABLES */
} coded;

static void append(coded *c, const void *p, size_t n)
{
    c->bytes = realloc(c->bytes, c->size + n);
    memcpy(c->bytes + c->size, p, n);
    c->size += n;
}

static void copy_picture(uint8_t *dst, const nvc_picture *p)
{
    for (int k = 0; k < 3; k++) {
        int w = k ? p->width / 2 : p->width, h = k ? p->height / 2 : p->height;
        for (int y = 0; y < h; y++, dst += w)
            memcpy(dst, p->data[k] + y * p->stride[k], (size_t)w);
    }
}

/* 1: an I-frame exactly every gop frames (the tests check the frame types); 0: adaptive I-frames */
static int enc_fixed_gop = 1;
static int enc_full_p = 0;   /* nvc_enc_settings.full_p_frames */
static int enc_static = 0;   /* every picture is the clip's first: a still scene */
static int enc_key_refine = 0; /* nvc_enc_settings.key_refine_frames */
static int enc_i_offset = 45; /* nvc_enc_settings.i_quality_offset */
static int enc_gaussian = 0;  /* nvc_enc_settings.gaussian_tables */

static int encode(coded *c, int quality, int gop, int substreams, int threads, uint32_t model_id_xor)
{
    memset(c, 0, sizeof *c);
    nvc_enc_settings s;
    nvc_enc_default_settings(&s);
    s.width = W;
    s.height = H;
    s.fps_num = 10;
    s.quality = quality;
    s.gop_length = gop;
    s.fixed_gop = enc_fixed_gop;
    s.full_p_frames = enc_full_p;
    s.key_refine_frames = enc_key_refine;
    s.i_quality_offset = enc_i_offset;
    s.gaussian_tables = enc_gaussian;
    s.substreams = substreams;
    s.n_threads = threads;
    s.model_data = model_data;
    s.model_size = model_size;
    nvc_encoder *e;
    int err = nvc_enc_open(&e, &s);
    CHECK_EQ_INT(err, 0);
    if (err)
        return err;
    nvc_stream_info info;
    nvc_enc_get_info(e, &info);
    info.model_id ^= model_id_xor;
    nvc_stream_header h;
    uint8_t hdr[NVC_STREAM_HEADER_SIZE];
    CHECK_EQ_INT(nvc_stream_header_from_info(&h, &info, NULL, 0), 0);
    CHECK_EQ_INT(nvc_stream_write_header(&h, hdr, NULL, 0), 0);
    append(c, hdr, sizeof hdr);
    int since_key = 0;
    for (int i = 0; i <= NFRAMES; i++) {
        nvc_picture pic = { .width = W, .height = H };
        pic.data[0] = clip[i < NFRAMES && !enc_static ? i : 0];
        pic.data[1] = pic.data[0] + W * H;
        pic.data[2] = pic.data[1] + W * H / 4;
        pic.stride[0] = W;
        pic.stride[1] = pic.stride[2] = W / 2;
        CHECK_EQ_INT(nvc_enc_send_picture(e, i < NFRAMES ? &pic : NULL), 0);
        if (i < NFRAMES) /* one packet at a time: a second picture must wait */
            CHECK_EQ_INT(nvc_enc_send_picture(e, &pic), NVC_EAGAIN);
        nvc_packet pkt;
        nvc_picture rec;
        err = nvc_enc_receive_packet(e, &pkt, &rec);
        if (i == NFRAMES) {
            CHECK_EQ_INT(err, NVC_EOF);
            break;
        }
        CHECK_EQ_INT(err, 0);
        if (err)
            break;
        /* the first key_refine_frames P-frames after an I-frame may be refinements, at the I-frames' quality */
        const int qi = quality + s.i_quality_offset, qk = qi > 63 ? 63 : qi < 0 ? 0 : qi;
        const int due = pkt.frame_type == NVC_PICTURE_P && since_key <= s.key_refine_frames;
        const int refining = due && pkt.size > 7 && pkt.data[7] == qk;
        if (enc_fixed_gop)
            CHECK_EQ_INT(pkt.frame_type, (i == 0 || (gop && i % gop == 0)) ? NVC_PICTURE_I : NVC_PICTURE_P);
        else { /* the first frame and one at least every gop frames are I; others may be */
            if (i == 0 || (gop && since_key >= gop))
                CHECK_EQ_INT(pkt.frame_type, NVC_PICTURE_I);
            c->n_intra += pkt.frame_type == NVC_PICTURE_I;
        }
        since_key = pkt.frame_type == NVC_PICTURE_I ? 1 : since_key + 1;
        c->n_due += due;
        c->n_refine += refining;
        CHECK_EQ_INT(rec.frame_type, pkt.frame_type);
        CHECK_EQ_INT(rec.width, W);
        if (pkt.frame_type == NVC_PICTURE_P && pkt.size > 8)
            c->n_kind[pkt.data[8] & 3]++; /* frame header byte 8: flags (docs/bitstream.md, 3.x layout) */
        c->n_fitted += pkt.size > 8 && (pkt.data[8] & NVC_FRAME_FITTED_TABLES);
        /* frame header byte 7: quality; I-frames and refinements at quality + i_quality_offset, clamped */
        const int want_q = pkt.frame_type == NVC_PICTURE_P && !refining ? quality : qk;
        CHECK_EQ_INT(pkt.size > 7 ? pkt.data[7] : -1, want_q);
        CHECK_EQ_INT(rec.quality, want_q);
        c->frame_offset[i] = c->size;
        append(c, pkt.data, pkt.size);
        copy_picture(c->recon[i], &rec);
        nvc_picture_unref(&rec);
    }
    c->frame_offset[NFRAMES] = c->size;
    nvc_enc_close(&e);
    return err == NVC_EOF ? 0 : err;
}

/* ---- decoding ---- */
typedef struct decoded {
    int n;                          /* pictures */
    uint32_t number[16];
    int damaged[16];
    uint8_t pic[16][FRAME_BYTES];
    int errors;                     /* NVC_EINVALDATA results */
    int last_err;
    char msg[256];
} decoded;

static void take_pictures(nvc_context *d, decoded *o, int drain)
{
    for (;;) {
        nvc_picture p;
        int r = nvc_get_picture(d, &p);
        if (r == 0) {
            CHECK_EQ_INT(p.width, W);
            CHECK_EQ_INT(p.height, H);
            if (o->n < 16) {
                o->number[o->n] = p.frame_number;
                o->damaged[o->n] = p.damaged;
                copy_picture(o->pic[o->n], &p);
            }
            o->n++;
            nvc_picture_unref(&p);
        } else if (r == NVC_EINVALDATA) {
            o->errors++;
            snprintf(o->msg, sizeof o->msg, "%s", nvc_get_error(d));
            CHECK(o->msg[0] != 0);
        } else {
            if (drain)
                CHECK_EQ_INT(r, NVC_EOF);
            else
                CHECK(r == NVC_EAGAIN);
            o->last_err = r;
            return;
        }
    }
}

/* Feeds bytes in chunks of 1..max_chunk (pseudo-random), honouring EAGAIN. 0 or the first fatal error. */
static int feed(nvc_context *d, const uint8_t *b, size_t size, size_t max_chunk, unsigned long long *seed,
                decoded *o)
{
    size_t pos = 0;
    while (pos < size) {
        size_t n = 1 + (size_t)(test_rand(seed) % max_chunk);
        if (n > size - pos)
            n = size - pos;
        size_t done = 0, used;
        while (done < n) {
            int r = nvc_send_data(d, b + pos + done, n - done, &used);
            done += used;
            if (r != 0 && r != NVC_EAGAIN)
                return r;
            if (r == NVC_EAGAIN)
                CHECK(used < n - done + used);
            take_pictures(d, o, 0);
        }
        pos += n;
    }
    return 0;
}

static nvc_context *open_decoder(int threads, int delay)
{
    nvc_settings s;
    nvc_default_settings(&s);
    s.n_threads = threads;
    s.max_frame_delay = delay;
    s.model_data = model_data;
    s.model_size = model_size;
    s.logger = NULL;
    nvc_context *d = NULL;
    CHECK_EQ_INT(nvc_open(&d, &s), 0);
    return d;
}

static void decode(const uint8_t *b, size_t size, int threads, int delay, size_t max_chunk, decoded *o)
{
    memset(o, 0, sizeof *o);
    nvc_context *d = open_decoder(threads, delay);
    if (!d)
        return;
    unsigned long long seed = 0x1234567ull + (unsigned)threads * 77 + max_chunk;
    int r = feed(d, b, size, max_chunk, &seed, o);
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(nvc_send_data(d, NULL, 0, NULL), 0);
    take_pictures(d, o, 1);
    CHECK_EQ_INT(nvc_get_picture(d, &(nvc_picture){ 0 }), NVC_EOF);
    nvc_close(&d);
    CHECK(d == NULL);
}

static void check_all_frames(const coded *c, const decoded *o, const char *what)
{
    CHECK_EQ_INT(o->n, NFRAMES);
    CHECK_EQ_INT(o->errors, 0);
    int same = o->n == NFRAMES;
    for (int i = 0; i < NFRAMES && i < o->n; i++) {
        same &= o->number[i] == (uint32_t)i && !o->damaged[i];
        same &= !memcmp(o->pic[i], c->recon[i], FRAME_BYTES);
    }
    if (!same)
        fprintf(stderr, "decoder output != encoder reconstruction (%s)\n", what);
    CHECK(same);
}

/* Decodes c with 1 thread (5000-byte chunks) and with 2 threads (delay 2, 333-byte chunks) and checks both
 * against the encoder's reconstruction. */
static void check_decodes(const coded *c, decoded *o, const char *what)
{
    char label[128];
    decode(c->bytes, c->size, 1, 0, 5000, o);
    snprintf(label, sizeof label, "%s, 1 thread", what);
    check_all_frames(c, o, label);
    decode(c->bytes, c->size, 2, 2, 333, o);
    snprintf(label, sizeof label, "%s, 2 threads", what);
    check_all_frames(c, o, label);
}

/* ---- tests ---- */

static void test_round_trip(void)
{
    static coded c, c_scalar;
    static decoded o;
    CHECK_EQ_INT(encode(&c, 40, 3, 0, 1, 0), 0);
    /* the reconstruction is a picture of the clip, not noise: PSNR above 20 dB */
    double sse = 0;
    for (int i = 0; i < NFRAMES; i++)
        for (int k = 0; k < FRAME_BYTES; k++)
            sse += (double)(c.recon[i][k] - clip[i][k]) * (c.recon[i][k] - clip[i][k]);
    CHECK(sse < (double)NFRAMES * FRAME_BYTES * 255 * 255 / 100.0);

    const int threads[] = { 1, 2, 4 };
    for (int t = 0; t < 3; t++) {
        decode(c.bytes, c.size, threads[t], 0, 5000, &o);
        check_all_frames(&c, &o, "threads");
    }
    decode(c.bytes, c.size, 2, 1, 7, &o);   /* tiny chunks, lowest latency */
    check_all_frames(&c, &o, "2 threads, delay 1, 7-byte chunks");
    decode(c.bytes, c.size, 4, 3, c.size, &o);
    check_all_frames(&c, &o, "4 threads, delay 3, big chunks");
    decode(c.bytes, c.size, 1, 2, 300, &o);
    check_all_frames(&c, &o, "1 thread, delay 2");

    /* SIMD off: the same stream bytes and the same pictures */
    nvc_cpu_set_mask(0);
    CHECK_EQ_INT(encode(&c_scalar, 40, 3, 0, 2, 0), 0);
    CHECK(c_scalar.size == c.size && !memcmp(c_scalar.bytes, c.bytes, c.size));
    decode(c.bytes, c.size, 2, 0, 5000, &o);
    check_all_frames(&c, &o, "SIMD off");
    nvc_cpu_set_mask(~0u);
    free(c_scalar.bytes);

    /* more substreams, another quality and GOP: still the encoder's reconstruction; more substreams than the
     * default show in the frame headers */
    CHECK_EQ_INT(encode(&c_scalar, 10, 2, 4, 2, 0), 0);
    decode(c_scalar.bytes, c_scalar.size, 4, 0, 999, &o);
    check_all_frames(&c_scalar, &o, "4 substreams, q10, gop 2");
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    size_t used;
    static nvc_frame_info fi;
    CHECK_EQ_INT(nvc_stream_parse_header(&p, c_scalar.bytes, c_scalar.size, &used), 0);
    CHECK_EQ_INT(nvc_stream_parse_frame(&p, c_scalar.bytes + used, c_scalar.size - used, &used, &fi), 0);
    /* an I-frame with its block means in segment 2, the fitted tables, and scale shifts in segment 3 where the
     * encoder found them worth it */
    CHECK_EQ_INT(fi.flags & ~NVC_FRAME_SCALE_SHIFT, NVC_FRAME_MEANS_CONTEXT | NVC_FRAME_FITTED_TABLES);
    CHECK_EQ_INT(fi.nsegments, 3 + !!(fi.flags & NVC_FRAME_SCALE_SHIFT));
    CHECK_EQ_INT(fi.nsubstreams[1], 4);
    CHECK(c_scalar.n_fitted >= 1);
    free(c_scalar.bytes);
    /* the same with the Gaussian set (gaussian_tables): no frame uses the fitted sets, and the decoder still gives
     * the encoder's reconstruction */
    enc_gaussian = 1;
    CHECK_EQ_INT(encode(&c_scalar, 10, 2, 4, 2, 0), 0);
    enc_gaussian = 0;
    CHECK_EQ_INT(c_scalar.n_fitted, 0);
    decode(c_scalar.bytes, c_scalar.size, 2, 0, 999, &o);
    check_all_frames(&c_scalar, &o, "Gaussian tables, q10, gop 2");
    free(c_scalar.bytes);

    /* ---- damage: a flipped payload byte in frame 1 (P): frame 0, one error, frame 2 dropped (its
     * reference is lost), frames 3 (I, damaged = 1) and 4 intact ---- */
    static coded bad;
    bad = c;
    bad.bytes = malloc(c.size);
    memcpy(bad.bytes, c.bytes, c.size);
    bad.bytes[c.frame_offset[2] - 3] ^= 0x10;
    for (int t = 1; t <= 2; t++) {
        decode(bad.bytes, bad.size, t, 0, 4096, &o);
        CHECK_EQ_INT(o.errors, 1);
        CHECK_EQ_INT(o.n, 3);
        CHECK(o.number[0] == 0 && o.number[1] == 3 && o.number[2] == 4);
        CHECK(!o.damaged[0] && o.damaged[1] && !o.damaged[2]);
        CHECK(!memcmp(o.pic[0], c.recon[0], FRAME_BYTES) && !memcmp(o.pic[1], c.recon[3], FRAME_BYTES) &&
              !memcmp(o.pic[2], c.recon[4], FRAME_BYTES));
    }
    /* a damaged frame header (sync marker) of frame 3: frames 0..2, one error, nothing after (4 is a P) */
    memcpy(bad.bytes, c.bytes, c.size);
    bad.bytes[c.frame_offset[3] + 1] ^= 0xFF;
    decode(bad.bytes, bad.size, 2, 0, 100000, &o);
    CHECK_EQ_INT(o.errors, 1);
    CHECK_EQ_INT(o.n, 3);
    /* truncated in the middle of the last frame */
    decode(c.bytes, c.frame_offset[4] + 20, 2, 0, 333, &o);
    CHECK_EQ_INT(o.errors, 1);
    CHECK_EQ_INT(o.n, 4);
    decode(c.bytes, c.frame_offset[4] + 20, 1, 0, 100000, &o);
    CHECK_EQ_INT(o.errors, 1);
    CHECK_EQ_INT(o.n, 4);
    /* random damage anywhere after the header never crashes or hangs and never gives a wrong picture of an
     * intact frame number... at least, every picture it gives for a frame number equals the reconstruction
     * unless that frame's own bytes were hit (its CRC then fails, so it is never output) */
    unsigned long long seed = 99;
    for (int round = 0; round < 8; round++) {
        memcpy(bad.bytes, c.bytes, c.size);
        for (int k = 0; k < 3; k++)
            bad.bytes[NVC_STREAM_HEADER_SIZE + test_rand(&seed) % (c.size - NVC_STREAM_HEADER_SIZE)] ^=
                (uint8_t)(1 + test_rand(&seed) % 255);
        decode(bad.bytes, bad.size, 1 + round % 3, 0, 1 + test_rand(&seed) % 3000, &o);
        for (int i = 0; i < o.n && i < 16; i++)
            CHECK(o.number[i] < NFRAMES && !memcmp(o.pic[i], c.recon[o.number[i]], FRAME_BYTES));
    }
    free(bad.bytes);

    /* ---- flush: decode frames 0..1, flush, resume at the I-frame 3 ---- */
    for (int t = 1; t <= 2; t++) {
        memset(&o, 0, sizeof o);
        nvc_context *d = open_decoder(t, 0);
        seed = 5;
        CHECK_EQ_INT(feed(d, c.bytes, c.frame_offset[2], 50, &seed, &o), 0);
        nvc_flush(d);
        int before = o.n;
        CHECK_EQ_INT(feed(d, c.bytes + c.frame_offset[3], c.size - c.frame_offset[3], 50, &seed, &o), 0);
        CHECK_EQ_INT(nvc_send_data(d, NULL, 0, NULL), 0);
        take_pictures(d, &o, 1);
        CHECK_EQ_INT(o.n - before, 2);
        CHECK(o.number[o.n - 2] == 3 && o.number[o.n - 1] == 4 &&
              !memcmp(o.pic[o.n - 1], c.recon[4], FRAME_BYTES));
        /* after a flush the data may start in the middle of a frame: skipped to the next frame without an error */
        nvc_flush(d);
        memset(&o, 0, sizeof o);
        CHECK_EQ_INT(feed(d, c.bytes + c.frame_offset[1] + 5, c.size - c.frame_offset[1] - 5, 300, &seed, &o), 0);
        CHECK_EQ_INT(nvc_send_data(d, NULL, 0, NULL), 0);
        take_pictures(d, &o, 1);
        CHECK_EQ_INT(o.errors, 0);
        CHECK_EQ_INT(o.n, 2);
        CHECK(o.number[0] == 3 && !memcmp(o.pic[0], c.recon[3], FRAME_BYTES));
        /* after flush, P-frames before an I-frame are dropped silently */
        nvc_flush(d);
        memset(&o, 0, sizeof o);
        CHECK_EQ_INT(feed(d, c.bytes + c.frame_offset[1], c.size - c.frame_offset[1], 5000, &seed, &o), 0);
        CHECK_EQ_INT(nvc_send_data(d, NULL, 0, NULL), 0);
        take_pictures(d, &o, 1);
        CHECK_EQ_INT(o.errors, 0);
        CHECK_EQ_INT(o.n, 2);
        nvc_close(&d);
    }

    /* ---- EAGAIN: delay 1 without threads takes one frame, then asks for get_picture ---- */
    {
        nvc_context *d = open_decoder(1, 1);
        size_t taken;
        nvc_picture pic;
        CHECK_EQ_INT(nvc_get_stream_info(d, &(nvc_stream_info){ 0 }), NVC_EAGAIN);
        CHECK_EQ_INT(nvc_get_picture(d, &pic), NVC_EAGAIN);
        CHECK_EQ_INT(nvc_send_data(d, c.bytes, c.size, &taken), NVC_EAGAIN);
        CHECK_EQ_INT(taken, c.frame_offset[1]);
        nvc_stream_info info;
        CHECK_EQ_INT(nvc_get_stream_info(d, &info), 0);
        CHECK(info.width == W && info.height == H);
        CHECK_EQ_INT(nvc_get_picture(d, &pic), 0);
        CHECK_EQ_INT(pic.frame_type, NVC_PICTURE_I);
        CHECK_EQ_INT(pic.compressed_size, c.frame_offset[1] - c.frame_offset[0]);
        nvc_picture_unref(&pic);
        CHECK_EQ_INT(nvc_get_picture(d, &pic), NVC_EAGAIN);
        nvc_close(&d);
    }
    free(c.bytes);
}

/* Adaptive I-frames (the default): each due P-frame is also coded as an I-frame and the cheaper in rate +
 * lambda * distortion is kept. Whatever is chosen (encode() checks the first frame and at least every gop-th
 * are I), the decoder outputs exactly the encoder's reconstruction, with any thread count. */
static void test_adaptive_gop(void)
{
    static coded c;
    static decoded o;
    enc_fixed_gop = 0;
    const int gops[] = { 0, 4 }, qualities[] = { 8, 56 };
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(encode(&c, qualities[k], gops[k], 0, 2, 0), 0);
        CHECK(c.n_intra >= 1 && c.n_intra <= NFRAMES);
        printf("adaptive GOP (gop %d, q%d): %d of %d frames coded as I\n", gops[k], qualities[k], c.n_intra, NFRAMES);
        check_decodes(&c, &o, "adaptive GOP");
        free(c.bytes);
    }
    enc_fixed_gop = 1;
}

/* Refinement P-frames (key_refine_frames): each of the first N P-frames after an I-frame is coded at the
 * I-frames' quality where that costs less over the GOP, else at the stream's quality (encode() checks every
 * frame's quality in its header and reconstruction), and decodes bit-exactly. In a still scene with a long GOP
 * the refinement is what the rest of the GOP copies, and is chosen where the P path can still add to the I-frame:
 * at an I quality of 42 or less, where both paths were trained at the same lambda (above it the I path is trained
 * for better pictures than the P path's best, run 20, and at q32 + 45 no refinement was chosen); with N = 0 there
 * is none. */
static void test_key_refine(void)
{
    static coded c;
    static decoded o;
    const int refine[] = { 0, 3, 1 }, gop[] = { 4, 2, 0 }, still[] = { 0, 0, 1 }, due[] = { 0, 2, 1 };
    const int quality[] = { 8, 8, 24 }, i_offset[] = { 45, 45, 10 };
    for (int k = 0; k < 3; k++) {
        enc_key_refine = refine[k];
        enc_i_offset = i_offset[k];
        enc_static = still[k];
        enc_fixed_gop = gop[k] > 0;
        CHECK_EQ_INT(encode(&c, quality[k], gop[k], 0, 2, 0), 0);
        CHECK_EQ_INT(c.n_due, due[k]);
        CHECK(c.n_refine <= c.n_due);
        if (still[k])
            CHECK_EQ_INT(c.n_refine, 1);
        printf("key refinement (N %d, gop %d, q%d%s): %d of %d due frames refined\n", refine[k], gop[k],
               quality[k], still[k] ? ", still scene" : "", c.n_refine, c.n_due);
        check_decodes(&c, &o, "key refinement");
        free(c.bytes);
    }
    enc_key_refine = 0;
    enc_i_offset = 45;
    enc_static = 0;
    enc_fixed_gop = 1;
}

/* A frame info for the decoder's stage 1 on forged layouts: `nseg` segments of one substream each (sizes 0) over
 * `payload`. */
static void forged_frame(nvc_frame_info *f, int type, unsigned nseg, const uint8_t *payload)
{
    memset(f, 0, sizeof *f);
    f->payload = payload;
    f->type = (uint8_t)type;
    f->nsegments = nseg;
    f->total_substreams = nseg;
    for (unsigned s = 0; s < nseg; s++) {
        f->nsubstreams[s] = 1;
        f->first_substream[s] = s;
    }
}

/* P-frames that leave out their motion, their residual or both: chosen where they cost less, decoded exactly
 * as the encoder reconstructed them, never used with full_p_frames; and a flagged-off latent whose segments
 * are not empty is damage. */
static void test_p_modes(void)
{
    static coded c;
    static decoded o;
    enc_static = 1; /* a still scene: after the first frame, nothing changes */
    CHECK_EQ_INT(encode(&c, 8, 0, 0, 2, 0), 0);
    printf("still scene q8: P-frames %d full, %d without motion, %d without residual, %d repeats\n", c.n_kind[0],
           c.n_kind[1], c.n_kind[2], c.n_kind[3]);
    CHECK(c.n_kind[3] >= 1);
    CHECK(c.size < c.frame_offset[1] + (NFRAMES - 1) * 200); /* repeats: a frame header each */
    check_decodes(&c, &o, "still scene");
    free(c.bytes);
    enc_full_p = 1;
    CHECK_EQ_INT(encode(&c, 8, 0, 0, 2, 0), 0);
    CHECK_EQ_INT(c.n_kind[0], NFRAMES - 1);
    free(c.bytes);
    enc_full_p = 0;
    enc_static = 0;
    for (int q = 0; q <= 63; q += 63) { /* the real clip at both ends of the quality range */
        CHECK_EQ_INT(encode(&c, q, 0, 0, 2, 0), 0);
        printf("clip q%d: P-frames %d full, %d without motion, %d without residual, %d repeats\n", q, c.n_kind[0],
               c.n_kind[1], c.n_kind[2], c.n_kind[3]);
        decode(c.bytes, c.size, 2, 1, 777, &o);
        check_all_frames(&c, &o, "adaptive P-frames");
        free(c.bytes);
    }

    nvc_codec_model m;
    char msg[256];
    CHECK_EQ_INT(nvc_codec_model_load(&m, model_data, model_size, 1, msg, sizeof msg), 0);
    nvc_frame_geom g;
    nvc_frame_geom_init(&g, W, H);
    nvc_frame_info *f = calloc(1, sizeof *f);

    /* Every flag combination, forced (the encoder above picks what it likes): the frame through the writer, the
     * parser and both decoder stages gives the encoder's reconstruction; in format 2.3 with the vectors
     * context-coded where that is smaller (it is, on this clip), in 2.3 with the hyperprior (2.2's coding) and
     * in the substream layout of 2.1 with a 2.1 stream header (how older streams decode). */
    nvc_tensor pic[2] = { { 0 } }, ref = { 0 }, enc = { 0 }, dec = { 0 };
    for (int i = 0; i < 2; i++) {
        const uint8_t *const planes[3] = { clip[i], clip[i] + W * H, clip[i] + W * H * 5 / 4 };
        const ptrdiff_t strides[3] = { W, W / 2, W / 2 };
        CHECK_EQ_INT(nvc_net_pack_yuv420(&pic[i], planes, strides, W, H, g.wp, g.hp), 0);
    }
    nvc_frame_coded fc;
    CHECK_EQ_INT(nvc_frame_encode(&m, &g, NVC_FRAME_I, 0, 20, 0, 0, 1, &pic[0], NULL, &ref, NULL, &fc, msg, sizeof msg), 0);
    nvc_frame_coded_free(&fc);
    nvc_stream_parser parser;
    nvc_stream_parser_init(&parser);
    parser.have_header = 1;
    CHECK_EQ_INT(m.block_means, 0x13); /* the shipped model's means of Y, U, V: I latent channels 0, 1, 4 */
    size_t i_bytes[2] = { 0, 0 };
    for (int run = 0; run < 14; run++) {
        /* P-frames, mode 0: context-coded vectors allowed, 1: not, 2: format 2.1; I-frames (runs 12, 13): the
         * block means context-coded or not */
        const int mode = run / 4, legacy = mode == 2, type = run >= 12 ? NVC_FRAME_I : NVC_FRAME_P;
        const int flags = type == NVC_FRAME_I ? 0 : run % 4, with_mv = !(flags & NVC_FRAME_NO_MOTION);
        const int allow = type == NVC_FRAME_I ? (run == 13 ? NVC_FRAME_MEANS_CONTEXT : 0)
                                              : mode == 0 && with_mv ? NVC_FRAME_MV_CONTEXT : 0;
        parser.header.version_major = legacy ? 2 : NVC_STREAM_VERSION_MAJOR;
        parser.header.version_minor = legacy ? 1 : NVC_STREAM_VERSION_MINOR;
        CHECK_EQ_INT(nvc_tensor_copy(&enc, &ref), 0);
        CHECK_EQ_INT(nvc_frame_encode(&m, &g, type, flags | allow, 20, 0, legacy ? NVC_FRAME_LANES_LEGACY : 0,
                                      1, &pic[1], NULL, &enc, NULL, &fc, msg, sizeof msg), 0);
        CHECK_EQ_INT(fc.flags, flags | allow);
        if (allow == NVC_FRAME_MV_CONTEXT) /* the vectors: segment 0 empty, segment 1 one substream */
            CHECK(fc.seg[0].count == 1 && fc.seg[0].total == 0 && fc.seg[1].count == 1 && fc.seg[1].total > 0);
        CHECK_EQ_INT(fc.nsegments, type == NVC_FRAME_P ? 4 : allow ? 3 : 2);
        if (type == NVC_FRAME_I) { /* segment 2: [channel mask][code] */
            for (int sg = 0; sg < fc.nsegments; sg++)
                i_bytes[run - 12] += fc.seg[sg].total;
            if (allow)
                CHECK(fc.seg[2].count == 1 && fc.seg[2].total > 1 && fc.seg[2].data[0][0] == 0x13);
        }
        memset(f, 0, sizeof *f);
        f->type = (uint8_t)type;
        f->flags = (uint8_t)fc.flags;
        f->quality = 20;
        f->nsegments = (uint32_t)fc.nsegments;
        static uint8_t frame[1 << 16];
        size_t payload = 0, k = 0, hlen = 0;
        uint8_t *body = frame + NVC_STREAM_FRAME_MAX_HEADER_SIZE;
        for (int sg = 0; sg < fc.nsegments; sg++) {
            f->nsubstreams[sg] = (uint32_t)fc.seg[sg].count;
            for (int i = 0; i < fc.seg[sg].count; i++) {
                f->substream_size[k++] = fc.seg[sg].size[i];
                if (fc.seg[sg].size[i]) /* a left-out segment's empty substream has no data pointer */
                    memcpy(body + payload, fc.seg[sg].data[i], fc.seg[sg].size[i]);
                payload += fc.seg[sg].size[i];
            }
        }
        uint8_t hdr[NVC_STREAM_FRAME_MAX_HEADER_SIZE];
        CHECK_EQ_INT(nvc_stream_write_frame_header(&parser.header, f, nvc_crc32(0, body, payload), hdr, sizeof hdr, &hlen, msg,
                                                   sizeof msg), 0);
        memcpy(body - hlen, hdr, hlen);
        size_t used = 0;
        CHECK_EQ_INT(nvc_stream_parse_frame(&parser, body - hlen, hlen + payload, &used, f), 0);
        CHECK_EQ_INT(f->flags, fc.flags);
        CHECK_EQ_INT(f->lanes_signalled, !legacy);
        nvc_tensor lat[NVC_FRAME_MAX_LATENTS] = { { 0 } };
        CHECK_EQ_INT(nvc_tensor_copy(&dec, &ref), 0);
        CHECK_EQ_INT(nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg), 0);
        CHECK_EQ_INT(nvc_frame_synthesize(&m, type, fc.flags, 20, lat, NULL, &dec, msg, sizeof msg), 0);
        CHECK(nvc_tensor_same(&enc, &dec));
        if (type == NVC_FRAME_P)
            CHECK(nvc_tensor_same(&ref, &dec) == (flags == 3)); /* only a repeat repeats */
        for (int i = 0; i < NVC_FRAME_MAX_LATENTS; i++)
            nvc_tensor_release(&lat[i]);
        nvc_frame_coded_free(&fc);
        parser.have_frame = 0;
    }
    printf("I-frame q20: %zu bytes, %zu with the block means context-coded\n", i_bytes[0], i_bytes[1]);
    CHECK(i_bytes[1] < i_bytes[0]);
    nvc_tensor_release(&pic[0]);
    nvc_tensor_release(&pic[1]);
    nvc_tensor_release(&ref);
    nvc_tensor_release(&enc);
    nvc_tensor_release(&dec);

    /* stage 1 of the decoder on forged layouts: a flagged-off latent's segments must be one empty substream */
    static const uint8_t bytes[8] = { 0 };
    forged_frame(f, NVC_FRAME_P, 4, bytes);
    for (int bad = 0; bad < 3; bad++) {
        f->flags = bad == 2 ? NVC_FRAME_NO_RESIDUAL : NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL;
        f->nsubstreams[bad == 2 ? 3 : 0] = bad == 1 ? 2 : 1;
        f->total_substreams = bad == 1 ? 5 : 4;
        for (int k = 0; k < 5; k++) {
            f->substream_size[k] = bad == 0 && k == 0 ? 1 : 0;
            f->substream_offset[k] = 0;
        }
        for (int s = 1; s < 4; s++)
            f->first_substream[s] = f->first_substream[s - 1] + f->nsubstreams[s - 1];
        if (bad == 2) /* the motion latent is coded (garbage here), the residual's last segment not empty */
            f->substream_size[3] = 1;
        nvc_tensor lat[NVC_FRAME_MAX_LATENTS] = { { 0 } };
        const int err = nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg);
        CHECK_EQ_INT(err, NVC_EINVALDATA);
        for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
            nvc_tensor_release(&lat[k]);
        f->nsubstreams[0] = f->nsubstreams[3] = 1;
    }
    /* both left out and empty: nothing to decode */
    f->flags = NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL;
    for (int k = 0; k < 4; k++)
        f->substream_size[k] = 0;
    for (int s = 0; s < 4; s++)
        f->first_substream[s] = (uint32_t)s;
    nvc_tensor lat[NVC_FRAME_MAX_LATENTS] = { { 0 } };
    CHECK_EQ_INT(nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg), 0);
    /* block means (2.3): segment 2 one substream of [mask of 1..4 channels of the first slice][valid data] */
    static const uint8_t forged[][5] = { { 0 }, { 0x13, 0, 0, 0, 0 }, { 0x0F | 0x10, 0, 0, 1, 0 },
                                         { 0x00, 0, 0, 1, 0 }, { 0x13, 0, 0, 1, 0 } };
    static const char *const why[] = { "1 byte or more", "corrupt", "block-mean channels", "block-mean channels",
                                       "corrupt" };
    for (int bad = 0; bad < 5; bad++) {
        forged_frame(f, NVC_FRAME_I, 3, forged[bad]);
        f->flags = NVC_FRAME_MEANS_CONTEXT;
        f->substream_size[2] = bad == 0 ? 0 : 5; /* 2, 3: five channels, none; 1, 4: a state below L, one
                                                  * that cannot end at L */
        CHECK_EQ_INT(nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg), NVC_EINVALDATA);
        CHECK(strstr(msg, why[bad]) != NULL);
        for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
            nvc_tensor_release(&lat[k]);
    }
    f->nsegments = 2; /* the flag needs the third segment */
    CHECK_EQ_INT(nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg), NVC_EINVALDATA);
    forged_frame(f, NVC_FRAME_P, 4, bytes);
    /* context-coded vectors (2.3): segment 0 must be one empty substream, segment 1 one substream of valid data */
    for (int bad = 0; bad < 3; bad++) {
        f->flags = NVC_FRAME_MV_CONTEXT | NVC_FRAME_NO_RESIDUAL;
        f->nsubstreams[1] = bad == 1 ? 2 : 1;
        f->total_substreams = bad == 1 ? 5 : 4;
        for (int k = 0; k < 5; k++) {
            f->substream_size[k] = (bad == 0 && k == 0) || k == 1 ? 4 : 0; /* four zero bytes: a state below L */
            f->substream_offset[k] = 0;
        }
        for (int s = 1; s < 4; s++)
            f->first_substream[s] = f->first_substream[s - 1] + f->nsubstreams[s - 1];
        CHECK_EQ_INT(nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg), NVC_EINVALDATA);
        CHECK(strstr(msg, bad == 0 ? "not empty" : bad == 1 ? "2 substreams" : "corrupt") != NULL);
        for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
            nvc_tensor_release(&lat[k]);
    }
    free(f);
    nvc_codec_model_free(&m);
}

static void test_wrong_model(void)
{
    static coded c;
    CHECK_EQ_INT(encode(&c, 30, 1, 0, 1, 0x5A5A5A5Au), 0);
    for (int t = 1; t <= 2; t++) {
        nvc_context *d = open_decoder(t, 0);
        size_t used;
        CHECK_EQ_INT(nvc_send_data(d, c.bytes, c.size, &used), NVC_EMODEL);
        const char *m = nvc_get_error(d);
        char want[16];
        nvc_stream_parser p;
        nvc_stream_parser_init(&p);
        CHECK_EQ_INT(nvc_stream_parse_header(&p, c.bytes, c.size, &used), 0);
        snprintf(want, sizeof want, "%08x", (unsigned)p.header.model_id);
        CHECK(strstr(m, want) != NULL);
        snprintf(want, sizeof want, "%08x", (unsigned)(p.header.model_id ^ 0x5A5A5A5Au));
        CHECK(strstr(m, want) != NULL);
        CHECK_EQ_INT(nvc_send_data(d, c.bytes, 10, &used), NVC_EMODEL);
        nvc_stream_info si;
        CHECK_EQ_INT(nvc_get_stream_info(d, &si), 0); /* the header is known: an application can name the model */
        CHECK_EQ_INT(si.model_id, p.header.model_id);
        CHECK_EQ_INT(nvc_get_picture(d, &(nvc_picture){ 0 }), NVC_EMODEL);
        nvc_close(&d);
    }
    free(c.bytes);
    /* not a .nvc at all */
    nvc_context *d = open_decoder(1, 0);
    static const uint8_t junk[100] = "this is not an nvc stream, just some bytes";
    CHECK_EQ_INT(nvc_send_data(d, junk, sizeof junk, NULL), NVC_EINVALDATA);
    nvc_close(&d);
}

static void test_settings(void)
{
    nvc_enc_settings s;
    nvc_enc_default_settings(&s);
    s.model_data = model_data;
    s.model_size = model_size;
    s.logger = NULL;
    nvc_encoder *e = (nvc_encoder *)&s;
    const int bad[][2] = { { 145, 80 }, { 144, 81 }, { 0, 80 }, { 8194, 64 } };
    for (int i = 0; i < 4; i++) {
        s.width = bad[i][0];
        s.height = bad[i][1];
        CHECK_EQ_INT(nvc_enc_open(&e, &s), NVC_EINVAL);
        CHECK(e == NULL);
    }
    s.width = 64;
    s.height = 64;
    s.quality = 64;
    CHECK_EQ_INT(nvc_enc_open(&e, &s), NVC_EINVAL);
    s.quality = 10;
    /* smallest size: 2x2 pads to one 64x64 block */
    s.width = s.height = 2;
    CHECK_EQ_INT(nvc_enc_open(&e, &s), 0);
    uint8_t px[6] = { 10, 20, 30, 40, 128, 128 };
    nvc_picture pic = { .data = { px, px + 4, px + 5 }, .stride = { 2, 1, 1 }, .width = 2, .height = 2 };
    CHECK_EQ_INT(nvc_enc_send_picture(e, &pic), 0);
    nvc_packet pkt;
    CHECK_EQ_INT(nvc_enc_receive_packet(e, &pkt, NULL), 0);
    CHECK(pkt.size > 0);
    pic.width = 4;
    CHECK_EQ_INT(nvc_enc_send_picture(e, &pic), NVC_EINVAL);
    nvc_enc_close(&e);
    /* the decoder rejects nonsense settings and a bad model */
    nvc_settings ds;
    nvc_default_settings(&ds);
    ds.logger = NULL;
    nvc_context *d;
    ds.n_threads = -1;
    CHECK_EQ_INT(nvc_open(&d, &ds), NVC_EINVAL);
    ds.n_threads = 1;
    static const uint8_t junk[64] = "NVCMODEL";
    ds.model_data = junk;
    ds.model_size = sizeof junk;
    CHECK_EQ_INT(nvc_open(&d, &ds), NVC_EMODEL);
    CHECK(d == NULL);
}

/* The normative substream split (docs/codec.md): largest divisor of n that is <= min(C, 8) with n / g <= rows. */
static void test_split(void)
{
    static const int cases[][5] = { /* n, C, rows -> tile_rows, groups (0, 0 = no split) */
        { 1, 64, 5, 1, 1 }, { 6, 64, 3, 1, 6 }, { 16, 64, 48, 2, 8 }, { 16, 64, 1, 0, 0 }, { 7, 4, 10, 7, 1 },
        { 7, 4, 6, 0, 0 }, { 12, 3, 4, 4, 3 }, { 1024, 64, 128, 128, 8 }, { 1025, 64, 1000, 0, 0 }, { 0, 8, 8, 0, 0 },
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        int tr = 0, gr = 0;
        const int err = nvc_frame_split(cases[i][0], cases[i][1], cases[i][2], &tr, &gr);
        CHECK_EQ_INT(err, cases[i][3] ? 0 : NVC_EINVAL);
        if (cases[i][3]) {
            CHECK_EQ_INT(tr, cases[i][3]);
            CHECK_EQ_INT(gr, cases[i][4]);
        }
    }
}

/* nvc_block_search on real texture (the clip's first frame) moved by a known quarter-pel vector with the search's
 * own bilinear rule: nearly every block's vector costs at most what the true one does (SAD 0 plus its penalty;
 * the coarse-to-fine refinement can miss it), most are the true one (not all: flat blocks); the pool's size does
 * not change the result. */
static int qpel_sample(const uint8_t *y, int w, int h, int x, int yy, int vx, int vy)
{
    const int ix = 4 * x + vx, iy = 4 * yy + vy;
    const int x0 = (ix - ((ix % 4 + 4) % 4)) / 4, y0 = (iy - ((iy % 4 + 4) % 4)) / 4;
    const int fx = ix - 4 * x0, fy = iy - 4 * y0;
#define CL(v, n) ((v) < 0 ? 0 : (v) >= (n) ? (n) - 1 : (v))
    const int a = y[CL(y0, h) * w + CL(x0, w)], b = y[CL(y0, h) * w + CL(x0 + 1, w)];
    const int c = y[CL(y0 + 1, h) * w + CL(x0, w)], d = y[CL(y0 + 1, h) * w + CL(x0 + 1, w)];
#undef CL
    return ((4 - fx) * (4 - fy) * a + fx * (4 - fy) * b + (4 - fx) * fy * c + fx * fy * d + 8) >> 4;
}

static void packed_from_luma(nvc_tensor *t, const uint8_t *y, int w, int h)
{
    for (int i = 0; i < h / 2; i++)
        for (int j = 0; j < w / 2; j++) {
            uint8_t *px = nvc_tensor_px(t, i, j);
            for (int ph = 0; ph < 4; ph++)
                px[ph] = y[(2 * i + ph / 2) * w + 2 * j + ph % 2];
            px[4] = px[5] = 128;
        }
}

static void test_block_search(void)
{
    const int w = 144, h = 80, vx = 13, vy = -6; /* 3.25 pels right, 1.5 up */
    static uint8_t moved[W * H];
    for (int yy = 0; yy < h; yy++)
        for (int x = 0; x < w; x++)
            moved[yy * w + x] = (uint8_t)qpel_sample(clip[0], w, h, x, yy, vx, vy);
    nvc_tensor ref = { 0 }, cur = { 0 }, out[2] = { { 0 }, { 0 } };
    CHECK(!nvc_tensor_alloc(&ref, 6, h / 2, w / 2, 128) && !nvc_tensor_alloc(&cur, 6, h / 2, w / 2, 128));
    packed_from_luma(&ref, clip[0], w, h);
    packed_from_luma(&cur, moved, w, h);
    nvc_pool *pool = nvc_pool_create(3);
    CHECK(pool != NULL);
    CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, NVC_BLOCK_MV_PENALTY, NULL, NULL, &out[0]), 0);
    CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, NVC_BLOCK_MV_PENALTY, NULL, pool, &out[1]), 0);
    CHECK_EQ_INT(out[0].h, h / 16);
    CHECK_EQ_INT(out[0].w, w / 16);
    int exact = 0, optimal = 0, n = 0;
    for (int by = 0; by < h / 16; by++)
        for (int bx = 0; bx < w / 16; bx++, n++) {
            const uint8_t *o = nvc_tensor_px(&out[0], by, bx);
            CHECK(!memcmp(o, nvc_tensor_px(&out[1], by, bx), 2));
            const int fx = o[0] - 128, fy = o[1] - 128;
            int sad = 0;
            for (int yy = 16 * by; yy < 16 * by + 16; yy++)
                for (int x = 16 * bx; x < 16 * bx + 16; x++)
                    sad += abs(moved[yy * w + x] - qpel_sample(clip[0], w, h, x, yy, fx, fy));
            optimal += sad + NVC_BLOCK_MV_PENALTY * (abs(fx) + abs(fy)) <= NVC_BLOCK_MV_PENALTY * (abs(vx) + abs(vy));
            exact += fx == vx && fy == vy;
        }
    printf("block search: %d of %d blocks found the true vector, %d one at least as cheap\n", exact, n, optimal);
    CHECK(exact * 10 >= n * 8 && optimal * 10 >= n * 9);
    /* a rate model: at 0 SAD units per bit the search is the plain SAD search (penalty 0); where bits dominate,
     * every block takes its predicted mean; the same on 1 and 3 threads */
    {
        const int nb = (h / 16) * (w / 16);
        int16_t mean[2 * 45];
        uint8_t index[2 * 45];
        float bits[2 * 256];
        for (int v = 0; v < 256; v++) {
            bits[v] = 60.f * (float)abs(v - 128);       /* 60 or 40 bits per quarter pel from the mean: at 1024 SAD */
            bits[256 + v] = 40.f * (float)abs(v - 128); /* units per bit more than any SAD difference */
        }
        CHECK(nb <= 45);
        for (int i = 0; i < 2 * nb; i++) {
            mean[i] = (int16_t)(i < nb ? -5 + i % 3 : 7 - i % 4);
            index[i] = (uint8_t)(i % 2);
        }
        nvc_mv_rate rate = { .mean = mean, .index = index, .bits = bits, .sad_per_bit = 0.f };
        nvc_tensor plain = { 0 };
        CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, 0, NULL, NULL, &plain), 0);
        CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, NVC_BLOCK_MV_PENALTY, &rate, NULL, &out[0]), 0);
        int same = 1;
        for (int by = 0; by < h / 16; by++)
            for (int bx = 0; bx < w / 16; bx++)
                same &= !memcmp(nvc_tensor_px(&plain, by, bx), nvc_tensor_px(&out[0], by, bx), 2);
        CHECK(same);
        rate.sad_per_bit = 1024.f;
        CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, 0, &rate, NULL, &out[0]), 0);
        CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, 0, &rate, pool, &out[1]), 0);
        int at_mean = 1;
        for (int by = 0; by < h / 16; by++)
            for (int bx = 0; bx < w / 16; bx++) {
                const uint8_t *o = nvc_tensor_px(&out[0], by, bx);
                const int i = by * (w / 16) + bx;
                at_mean &= o[0] - 128 == mean[i] && o[1] - 128 == mean[nb + i];
                at_mean &= !memcmp(o, nvc_tensor_px(&out[1], by, bx), 2);
            }
        CHECK(at_mean);
        rate.sad_per_bit = 1025.f;
        CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, 0, &rate, NULL, &out[0]), NVC_EINVAL);
        nvc_tensor_release(&plain);
    }
    CHECK_EQ_INT(nvc_block_search(&cur, &ref, 0, NVC_BLOCK_MV_PENALTY, NULL, NULL, &out[0]), NVC_EINVAL);
    CHECK_EQ_INT(nvc_block_search(&cur, &ref, 8, -1, NULL, NULL, &out[0]), NVC_EINVAL);
    /* the encoder's penalty: the training's at q16, falling with the square root of lambda(q) */
    CHECK_EQ_INT(nvc_frame_mv_penalty(16), NVC_BLOCK_MV_PENALTY);
    CHECK_EQ_INT(nvc_frame_mv_penalty(0), 27);
    CHECK_EQ_INT(nvc_frame_mv_penalty(32), 9);
    CHECK_EQ_INT(nvc_frame_mv_penalty(63), 3);
    CHECK_EQ_INT(nvc_block_search(&cur, &ref, NVC_BLOCK_MV_MAX_RANGE + 1, NVC_BLOCK_MV_PENALTY, NULL, NULL, &out[0]), NVC_EINVAL);
    nvc_pool_destroy(pool);
    nvc_tensor_release(&ref);
    nvc_tensor_release(&cur);
    nvc_tensor_release(&out[0]);
    nvc_tensor_release(&out[1]);
}

int main(void)
{
    test_split();
    if (load_clip()) {
        fprintf(stderr, "cannot read %s\n", CLIP);
        return 1;
    }
    test_block_search();
    const char *path = getenv("NVC_TEST_MODEL");
    if (path && *path) {
        if (!(model_data = read_all(path, &model_size))) {
            fprintf(stderr, "cannot read NVC_TEST_MODEL=%s\n", path);
            return 1;
        }
    } else
        model_data = read_all("models/default.nvm", &model_size);
    nvc_codec_model m;
    char msg[256];
    if (nvc_codec_model_load(&m, model_data, model_size, 1, msg, sizeof msg)) {
        printf("SKIP: no usable model (NVC_TEST_MODEL, models/default.nvm, embedded): %s\n", msg);
        free(model_data);
        return 77;
    }
    nvc_codec_model_free(&m);
    test_round_trip();
    test_adaptive_gop();
    test_key_refine();
    test_p_modes();
    test_wrong_model();
    test_settings();
    free(model_data);
    TEST_DONE();
}
