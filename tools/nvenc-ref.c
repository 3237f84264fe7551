/* nvenc-ref: the reference encoder. Reads any video libavformat/libavcodec can open, converts it to 8-bit
 * YUV 4:2:0 when needed (libswscale), encodes it with the public encoder API and writes a .nvc with the public
 * writer (temporary file renamed at the end).
 *
 *   nvenc-ref [options] input -o out.nvc
 *
 * Exit status: 0 done, 1 error, 2 bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvc/nvc.h"

typedef struct options {
    const char *input, *output, *recon, *model;
    long quality, gop, substreams, lanes, threads, i_offset, key_refine;
    int quiet, fixed_gop, full_p, plain_rounding, gaussian_tables;
    long frames; /* -1 = all */
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nvenc-ref [options] input -o out.nvc\n"
            "Encodes any video FFmpeg can read (y4m, mp4, mkv, avi, ...) to a .nvc stream.\n"
            "  -o, --output FILE     the .nvc to write (\"-\" = standard output); input \"-\" = standard input\n"
            "  -q, --quality N       0 (smallest) .. 63 (best), default 32\n"
            "      --gop N           at most N frames from one I-frame to the next (1 = all I), default 32;\n"
            "                        a P-frame is coded as an I-frame where that costs less (rate + distortion)\n"
            "      --fixed-gop       an I-frame exactly every N frames (no adaptive I-frames)\n"
            "      --full-p          every P-frame codes motion and residual (by default the encoder may leave\n"
            "                        either or both out where that costs less)\n"
            "      --plain-rounding  latents rounded to the nearest integer (by default a value moves toward\n"
            "                        its mean where the bits saved are worth more than the error added)\n"
            "      --gaussian-tables the latents with the Gaussian table set only (as before format 3.1;\n"
            "                        for fitting the fitted sets: tools/train/fit_tables.sh)\n"
            "      --i-offset N      I-frames at quality q + N (-63..63, clamped to 0..63), default 45\n"
            "      --key-refine N    the first N P-frames after each I-frame at the I-frame's quality (they\n"
            "                        refine the GOP's reference beyond the model's best I-frame) where that\n"
            "                        costs less over the GOP, default 0\n"
            "      --substreams N    entropy substreams per latent (decoder parallelism), 0 = automatic\n"
            "                        (from the picture size, fewer where each would carry < 4 KiB)\n"
            "      --lanes N         rANS lanes per substream, 1..32 (more decode faster, each costs ~3 bytes),\n"
            "                        0 = the encoder's choice (default)\n"
            "      --threads N       worker threads, 0 = one per CPU (default)\n"
            "      --frames N        encode at most N frames\n"
            "      --recon FILE      also write the reconstruction (what a decoder outputs) as .y4m\n"
            "      --model FILE      a .nvm model instead of the one built into libnvc\n"
            "      --quiet           no progress line and no summary\n"
            "      --help, --version\n"
            "The width and height must be even.\n");
}

static int parse_int(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* 0: parsed; 1: --help/--version printed; 2: bad usage (message printed). */
static int parse_args(int argc, char **argv, options *o)
{
    nvc_enc_settings d; /* the library's defaults */
    nvc_enc_default_settings(&d);
    *o = (options){ .quality = d.quality, .gop = d.gop_length, .i_offset = d.i_quality_offset,
                    .key_refine = d.key_refine_frames, .frames = -1 };
    const struct { const char *name, *alias; long lo, hi; long *value; } num[] = {
        { "--quality", "-q", 0, 63, &o->quality },         { "--gop", NULL, 1, 65535, &o->gop },
        { "--substreams", NULL, 0, 1024, &o->substreams }, { "--threads", NULL, 0, 16, &o->threads },
        { "--frames", NULL, 1, INT_MAX, &o->frames },     { "--i-offset", NULL, -63, 63, &o->i_offset },
        { "--lanes", NULL, 0, 32, &o->lanes },            { "--key-refine", NULL, 0, 65535, &o->key_refine },
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            printf("nvenc-ref (nvc) %s\n", nvc_version());
            return 1;
        }
        int *flag = !strcmp(a, "--quiet")       ? &o->quiet
                    : !strcmp(a, "--fixed-gop") ? &o->fixed_gop
                    : !strcmp(a, "--full-p")    ? &o->full_p
                    : !strcmp(a, "--plain-rounding") ? &o->plain_rounding
                    : !strcmp(a, "--gaussian-tables") ? &o->gaussian_tables
                                                : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        const char **str = !strcmp(a, "-o") || !strcmp(a, "--output") ? &o->output
                           : !strcmp(a, "--recon")                   ? &o->recon
                           : !strcmp(a, "--model")                   ? &o->model
                                                                     : NULL;
        int n = -1;
        for (int k = 0; k < (int)(sizeof num / sizeof num[0]); k++)
            if (!strcmp(a, num[k].name) || (num[k].alias && !strcmp(a, num[k].alias)))
                n = k;
        if (str || n >= 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "nvenc-ref: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (str) {
                *str = v;
                continue;
            }
            if (parse_int(v, num[n].lo, num[n].hi, num[n].value)) {
                fprintf(stderr, "nvenc-ref: %s: '%s' is not a number in %ld..%ld\n", a, v, num[n].lo, num[n].hi);
                return 2;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "nvenc-ref: unknown option %s (see --help)\n", a);
            return 2;
        }
        if (o->input) {
            fprintf(stderr, "nvenc-ref: more than one input (%s and %s)\n", o->input, a);
            return 2;
        }
        o->input = a;
    }
    if (!o->input) {
        fprintf(stderr, "nvenc-ref: no input file (see --help)\n");
        return 2;
    }
    if (!o->output) {
        fprintf(stderr, "nvenc-ref: no output: give -o out.nvc\n");
        return 2;
    }
    return 0;
}

/* ---- input through libav -------------------------------------------------------------------------------- */

typedef struct source {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frame;
    int stream, width, height, eof_sent;
    uint8_t *planes[4]; /* libav's 4-entry plane arrays; the 4th is unused */
    int strides[4];
} source;

static void av_msg(const char *what, int err)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, e, sizeof e);
    fprintf(stderr, "nvenc-ref: %s: %s\n", what, e);
}

static void source_close(source *s)
{
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
    sws_freeContext(s->sws);
    av_packet_free(&s->pkt);
    av_frame_free(&s->frame);
    av_freep(&s->planes[0]);
}

static int source_open(source *s, const char *path, nvc_enc_settings *es, int64_t *nframes)
{
    memset(s, 0, sizeof *s);
    int err = avformat_open_input(&s->fmt, strcmp(path, "-") ? path : "pipe:0", NULL, NULL);
    if (err < 0) {
        av_msg(path, err);
        return -1;
    }
    if ((err = avformat_find_stream_info(s->fmt, NULL)) < 0) {
        av_msg(path, err);
        return -1;
    }
    const AVCodec *codec = NULL;
    s->stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (s->stream < 0 || !codec) {
        fprintf(stderr, "nvenc-ref: %s: no video stream that FFmpeg can decode\n", path);
        return -1;
    }
    AVStream *st = s->fmt->streams[s->stream];
    if (!(s->dec = avcodec_alloc_context3(codec)) || avcodec_parameters_to_context(s->dec, st->codecpar) < 0 ||
        (err = avcodec_open2(s->dec, codec, NULL)) < 0) {
        av_msg("cannot open the video decoder", err < 0 ? err : AVERROR(ENOMEM));
        return -1;
    }
    s->width = s->dec->width;
    s->height = s->dec->height;
    if (s->width < 2 || s->height < 2 || (s->width | s->height) & 1) {
        fprintf(stderr,
                "nvenc-ref: %s: %dx%d: width and height must be even (crop first, e.g. ffmpeg -vf "
                "crop=trunc(iw/2)*2:trunc(ih/2)*2)\n",
                path, s->width, s->height);
        return -1;
    }
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    if (fr.num <= 0 || fr.den <= 0 || fr.num > 1000000 || fr.den > 1000000)
        fr = (AVRational){ 25, 1 };
    es->width = s->width;
    es->height = s->height;
    es->fps_num = (unsigned)fr.num;
    es->fps_den = (unsigned)fr.den;
    es->colour_primaries = st->codecpar->color_primaries;
    es->transfer = st->codecpar->color_trc;
    es->matrix = st->codecpar->color_space;
    if (es->colour_primaries < 1 || es->colour_primaries > 255) es->colour_primaries = 2;
    if (es->transfer < 1 || es->transfer > 255) es->transfer = 2;
    if (es->matrix < 0 || es->matrix > 255 || es->matrix == 0) es->matrix = 2;
    es->full_range = st->codecpar->color_range == AVCOL_RANGE_JPEG || s->dec->pix_fmt == AV_PIX_FMT_YUVJ420P;
    *nframes = st->nb_frames > 0 ? st->nb_frames : -1;
    s->pkt = av_packet_alloc();
    s->frame = av_frame_alloc();
    if (!s->pkt || !s->frame || av_image_alloc(s->planes, s->strides, s->width, s->height, AV_PIX_FMT_YUV420P, 64) < 0) {
        fprintf(stderr, "nvenc-ref: out of memory\n");
        return -1;
    }
    return 0;
}

/* Next frame as YUV420P in s->planes: 1, 0 at the end, -1 on error. */
static int source_next(source *s)
{
    for (;;) {
        int err = avcodec_receive_frame(s->dec, s->frame);
        if (err == 0) {
            AVFrame *f = s->frame;
            if (f->width != s->width || f->height != s->height) {
                fprintf(stderr, "nvenc-ref: the input changes size mid-stream (%dx%d -> %dx%d)\n", s->width,
                        s->height, f->width, f->height);
                return -1;
            }
            s->sws = sws_getCachedContext(s->sws, f->width, f->height, f->format, s->width, s->height,
                                          AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                          NULL, NULL, NULL);
            if (!s->sws) {
                fprintf(stderr, "nvenc-ref: cannot convert pixel format %s to yuv420p\n",
                        av_get_pix_fmt_name(f->format));
                return -1;
            }
            if (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P)
                av_image_copy(s->planes, s->strides, (const uint8_t **)f->data, f->linesize, AV_PIX_FMT_YUV420P,
                              s->width, s->height);
            else
                sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, s->planes,
                          s->strides);
            av_frame_unref(f);
            return 1;
        }
        if (err == AVERROR_EOF)
            return 0;
        if (err != AVERROR(EAGAIN)) {
            av_msg("decoding the input", err);
            return -1;
        }
        if (s->eof_sent)
            return 0;
        err = av_read_frame(s->fmt, s->pkt);
        if (err == AVERROR_EOF) {
            s->eof_sent = 1;
            avcodec_send_packet(s->dec, NULL);
            continue;
        }
        if (err < 0) {
            av_msg("reading the input", err);
            return -1;
        }
        if (s->pkt->stream_index == s->stream && (err = avcodec_send_packet(s->dec, s->pkt)) < 0 &&
            err != AVERROR_INVALIDDATA) {
            av_packet_unref(s->pkt);
            av_msg("decoding the input", err);
            return -1;
        }
        av_packet_unref(s->pkt);
    }
}

/* ---- statistics and reconstruction -------------------------------------------------------------------- */

static double sse_plane(const uint8_t *a, ptrdiff_t as, const uint8_t *b, ptrdiff_t bs, int w, int h)
{
    uint64_t sse = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int d = a[y * as + x] - b[y * bs + x];
            sse += (uint64_t)(d * d);
        }
    return (double)sse;
}

/* PSNR over all Y, U and V samples of a frame. */
static double frame_psnr(const source *s, const nvc_picture *r)
{
    double sse = 0;
    for (int p = 0; p < 3; p++) {
        int w = p ? s->width / 2 : s->width, h = p ? s->height / 2 : s->height;
        sse += sse_plane(s->planes[p], s->strides[p], r->data[p], r->stride[p], w, h);
    }
    double n = 1.5 * s->width * s->height;
    return sse == 0 ? 100.0 : 10.0 * log10(255.0 * 255.0 * n / sse);
}

static int write_y4m_frame(FILE *f, const nvc_picture *p)
{
    if (fputs("FRAME\n", f) < 0)
        return -1;
    for (int k = 0; k < 3; k++) {
        int w = k ? p->width / 2 : p->width, h = k ? p->height / 2 : p->height;
        for (int y = 0; y < h; y++)
            if (fwrite(p->data[k] + y * p->stride[k], 1, (size_t)w, f) != (size_t)w)
                return -1;
    }
    return 0;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct stats {
    int64_t frames, bytes;
    double psnr_sum, t0;
} stats;

static void progress(const stats *st, int64_t total, const nvc_enc_settings *es, int final)
{
    double el = seconds() - st->t0, fps = el > 0 ? st->frames / el : 0;
    double dur = (double)st->frames * es->fps_den / es->fps_num;
    double kbps = dur > 0 ? st->bytes * 8.0 / dur / 1000.0 : 0;
    double psnr = st->frames ? st->psnr_sum / st->frames : 0;
    if (final) {
        fprintf(stderr, "\rencoded %" PRId64 " frames in %.2f s (%.2f fps): %" PRId64 " bytes, %.1f kbps, "
                        "%.4f bpp, PSNR(YUV) %.3f dB\n",
                st->frames, el, fps, st->bytes, kbps,
                st->frames ? st->bytes * 8.0 / st->frames / ((double)es->width * es->height) : 0.0, psnr);
        return;
    }
    char eta[32] = "";
    if (total > 0 && fps > 0) {
        int left = (int)((total - st->frames) / fps + 0.5);
        snprintf(eta, sizeof eta, "  ETA %d:%02d", left / 60, left % 60);
    }
    char frames[48];
    if (total > 0)
        snprintf(frames, sizeof frames, "%" PRId64 "/%" PRId64 " (%d%%)", st->frames, total,
                 (int)(100 * st->frames / total));
    else
        snprintf(frames, sizeof frames, "%" PRId64, st->frames);
    fprintf(stderr, "\rframe %s  %.2f fps  %.1f kbps  PSNR %.2f dB%s   ", frames, fps, kbps, psnr, eta);
}

/* ---- main ----------------------------------------------------------------------------------------------- */

/* Ctrl-C / SIGTERM: stop after the current frame and remove the temporary output. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    void *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *size = n > 0 ? (size_t)n : 0;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    options o;
    int r = parse_args(argc, argv, &o);
    if (r)
        return r == 1 ? 0 : 2;
    av_log_set_level(AV_LOG_ERROR);
    nvc_enc_settings es;
    nvc_enc_default_settings(&es);
    es.quality = o.quality;
    es.gop_length = o.gop;
    es.fixed_gop = o.fixed_gop;
    es.full_p_frames = o.full_p;
    es.plain_rounding = o.plain_rounding;
    es.gaussian_tables = o.gaussian_tables;
    es.i_quality_offset = (int)o.i_offset;
    es.key_refine_frames = (int)o.key_refine;
    es.substreams = o.substreams;
    es.entropy_lanes = (int)o.lanes;
    es.n_threads = o.threads;
    void *model = NULL;
    if (o.model) {
        if (!(model = read_file(o.model, &es.model_size))) {
            fprintf(stderr, "nvenc-ref: cannot read the model %s: %s\n", o.model, strerror(errno));
            return 1;
        }
        es.model_data = model;
    }
    source src;
    int64_t total = -1;
    int rc = 1;
    nvc_encoder *enc = NULL;
    nvc_writer *wr = NULL;
    FILE *recon = NULL;
    if (source_open(&src, o.input, &es, &total))
        goto done;
    if (o.frames > 0 && (total < 0 || total > o.frames))
        total = o.frames;
    int err = nvc_enc_open(&enc, &es);
    if (err) {
        fprintf(stderr, "nvenc-ref: cannot create the encoder: %s\n", nvc_strerror(err));
        goto done;
    }
    nvc_stream_info info;
    nvc_enc_get_info(enc, &info);
    char msg[256];
    if ((err = nvc_writer_open(&wr, o.output, &info, msg, sizeof msg))) {
        fprintf(stderr, "nvenc-ref: %s: %s\n", o.output, msg);
        goto done;
    }
    if (o.recon) {
        if (!(recon = fopen(o.recon, "wb"))) {
            fprintf(stderr, "nvenc-ref: %s: %s\n", o.recon, strerror(errno));
            goto done;
        }
        fprintf(recon, "YUV4MPEG2 W%d H%d F%u:%u Ip A1:1 C420jpeg XCOLORRANGE=%s\n", es.width, es.height,
                es.fps_num, es.fps_den, es.full_range ? "FULL" : "LIMITED");
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const int show = !o.quiet && isatty(2);
    stats st = { .t0 = seconds() };
    double last_shown = 0;
    int in_done = 0;
    for (;;) {
        if (interrupted) {
            fprintf(stderr, "\nnvenc-ref: interrupted; %s not written\n", o.output);
            goto done;
        }
        if (!in_done) {
            if (o.frames > 0 && st.frames >= o.frames)
                in_done = 1;
            else {
                int got = source_next(&src);
                if (got < 0)
                    goto done;
                in_done = !got;
            }
            if (!in_done) {
                nvc_picture pic = { .width = src.width, .height = src.height };
                for (int p = 0; p < 3; p++) {
                    pic.data[p] = src.planes[p];
                    pic.stride[p] = src.strides[p];
                }
                err = nvc_enc_send_picture(enc, &pic); /* this encoder never holds more than one packet */
            } else
                err = nvc_enc_send_picture(enc, NULL);
            if (err) {
                fprintf(stderr, "nvenc-ref: encoding failed: %s\n", nvc_enc_get_error(enc));
                goto done;
            }
        }
        nvc_packet pkt;
        nvc_picture rec;
        err = nvc_enc_receive_packet(enc, &pkt, &rec);
        if (err == NVC_EOF)
            break;
        if (err == NVC_EAGAIN)
            continue;
        if (err) {
            fprintf(stderr, "nvenc-ref: encoding failed: %s\n", nvc_enc_get_error(enc));
            goto done;
        }
        st.psnr_sum += frame_psnr(&src, &rec);
        st.bytes += (int64_t)pkt.size;
        st.frames++;
        int werr = recon ? write_y4m_frame(recon, &rec) : 0;
        nvc_picture_unref(&rec);
        if (werr) {
            fprintf(stderr, "nvenc-ref: %s: write error\n", o.recon);
            goto done;
        }
        if ((err = nvc_writer_write(wr, &pkt))) {
            fprintf(stderr, "nvenc-ref: %s: %s\n", o.output, nvc_writer_error(wr));
            goto done;
        }
        if (show && seconds() - last_shown > 0.25) {
            progress(&st, total, &es, 0);
            last_shown = seconds();
        }
    }
    if (st.frames == 0) {
        fprintf(stderr, "nvenc-ref: %s: no frames to encode\n", o.input);
        goto done;
    }
    if (recon && fclose(recon)) {
        recon = NULL;
        fprintf(stderr, "nvenc-ref: %s: write error\n", o.recon);
        goto done;
    }
    recon = NULL;
    if ((err = nvc_writer_close(&wr, msg, sizeof msg))) {
        fprintf(stderr, "nvenc-ref: %s: %s\n", o.output, msg);
        goto done;
    }
    if (!o.quiet) {
        if (show)
            fputs("\r\033[K", stderr);
        progress(&st, total, &es, 1);
    }
    rc = 0;
done:
    if (wr)
        nvc_writer_abort(&wr);
    if (recon)
        fclose(recon);
    nvc_enc_close(&enc);
    source_close(&src);
    free(model);
    return rc;
}
