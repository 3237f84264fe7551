/* End-to-end codec benchmark (`make bench`): on a real clip (default: the first 60 frames of OpenCV's
 * Megamind.avi, 720x528), encode with the public API (q 32, GOP 32) twice -- as nvenc-ref does by default, and
 * with every P-frame coding motion and residual (the decoder's worst case) -- then for each
 *   - decode fps with 1 and 2 threads (public API, stream in memory, median of RUNS runs),
 *   - the single-thread split: entropy stage (substream decoding + hyper-decoder graphs), synthesis graphs,
 *     and the rest (parsing, picture output) = public-API time minus both,
 *   - peak RSS of a fresh process decoding the stream with 2 threads,
 *   - FFmpeg's H.264 decode (x264 medium, no B-frames, GOP 32, the nvc stream's bitrate) of the same frames,
 *     timed in this process with libavcodec and 1 and 2 threads, and the ratio.
 * Usage: bench_codec [clip [frames]]   (needs ffmpeg with libx264 for the H.264 part; skips it otherwise) */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec/frame.h"
#include "codec/stream.h"
#include "nvc/nvc.h"

#define RUNS 5
#define DEFAULT_CLIP "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"

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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

typedef struct buffer {
    uint8_t *data;
    size_t size, cap;
} buffer;

static void append(buffer *b, const void *p, size_t n)
{
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        if (!(b->data = realloc(b->data, b->cap))) {
            fprintf(stderr, "bench_codec: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

/* ---- nvc decoding through the public API ---- */
static int decode_all(const uint8_t *s, size_t size, int threads)
{
    nvc_settings st;
    nvc_default_settings(&st);
    st.n_threads = threads;
    nvc_context *d;
    if (nvc_open(&d, &st))
        return -1;
    int n = 0;
    size_t pos = 0, used;
    nvc_picture p;
    while (pos < size) {
        int r = nvc_send_data(d, s + pos, size - pos, &used);
        pos += used;
        if (r && r != NVC_EAGAIN)
            break;
        while (nvc_get_picture(d, &p) == 0) {
            n++;
            nvc_picture_unref(&p);
        }
    }
    nvc_send_data(d, NULL, 0, NULL);
    int r;
    while ((r = nvc_get_picture(d, &p)) != NVC_EOF && r != NVC_EAGAIN) {
        if (r)
            break;
        n++;
        nvc_picture_unref(&p);
    }
    nvc_close(&d);
    return n;
}

/* Single-thread stage split with the decoder's internal frame functions. */
static void stage_split(const uint8_t *s, size_t size, double *t_entropy, double *t_synth)
{
    nvc_codec_model m;
    char msg[256];
    *t_entropy = *t_synth = 0;
    if (nvc_codec_model_load(&m, NULL, 0, 0, msg, sizeof msg))
        return;
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    size_t used, pos = 0;
    nvc_frame_info *f = malloc(sizeof *f);
    nvc_tensor lat[NVC_FRAME_MAX_LATENTS] = { { 0 } }, recon = { 0 };
    if (f && nvc_stream_parse_header(&p, s, size, &used) == 0) {
        nvc_frame_geom g;
        nvc_frame_geom_init(&g, p.header.width, p.header.height);
        pos = used;
        while (nvc_stream_parse_frame(&p, s + pos, size - pos, &used, f) == 0) {
            pos += used;
            double t0 = now();
            if (nvc_frame_decode_latents(&m, &g, f, NULL, lat, msg, sizeof msg))
                break;
            double t1 = now();
            if (nvc_frame_synthesize(&m, f->type, f->flags, f->quality, lat, NULL, &recon, msg, sizeof msg))
                break;
            *t_entropy += t1 - t0;
            *t_synth += now() - t1;
        }
    }
    for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
        nvc_tensor_release(&lat[k]);
    nvc_tensor_release(&recon);
    free(f);
    nvc_codec_model_free(&m);
}

/* ---- H.264 decoding with libavcodec ---- */
static double h264_fps(const char *path, int threads, int *frames)
{
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0 || avformat_find_stream_info(fmt, NULL) < 0)
        return 0;
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    AVPacket **pk = NULL;
    int npk = 0;
    AVPacket *pkt = av_packet_alloc();
    while (si >= 0 && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == si) {
            pk = realloc(pk, sizeof *pk * (size_t)(npk + 1));
            pk[npk++] = av_packet_clone(pkt);
        }
        av_packet_unref(pkt);
    }
    double best[RUNS];
    int runs = 0;
    AVFrame *fr = av_frame_alloc();
    for (int r = 0; r < RUNS && si >= 0; r++) {
        AVCodecContext *c = avcodec_alloc_context3(codec);
        avcodec_parameters_to_context(c, fmt->streams[si]->codecpar);
        c->thread_count = threads;
        c->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
        if (avcodec_open2(c, codec, NULL) < 0) {
            avcodec_free_context(&c);
            break;
        }
        int n = 0;
        double t0 = now();
        for (int i = 0; i <= npk; i++) {
            avcodec_send_packet(c, i < npk ? pk[i] : NULL);
            while (avcodec_receive_frame(c, fr) == 0) {
                n++;
                av_frame_unref(fr);
            }
        }
        best[runs++] = n / (now() - t0);
        *frames = n;
        avcodec_free_context(&c);
    }
    av_frame_free(&fr);
    for (int i = 0; i < npk; i++)
        av_packet_free(&pk[i]);
    free(pk);
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return runs ? median(best, runs) : 0;
}

/* A field of /proc/self/status in kB (VmRSS: now, VmHWM: the peak so far), 0 if unreadable. */
static long status_kb(const char *field)
{
    char line[256];
    long kb = 0;
    const size_t n = strlen(field);
    FILE *st = fopen("/proc/self/status", "r");
    while (st && fgets(line, sizeof line, st))
        if (!strncmp(line, field, n) && line[n] == ':')
            kb = atol(line + n + 1);
    if (st)
        fclose(st);
    return kb;
}

/* Child mode: decode a file with 2 threads (for its peak RSS). Prints "<peak kB> <kB before the decoder>":
 * VmHWM belongs to this process image (ru_maxrss would also count the parent's memory at spawn); the resident
 * size before opening the decoder is this program, its libraries (FFmpeg included: this benchmark links it) and
 * the stream in memory, which a player has too, whatever the decoder. */
static int child_decode(const char *path)
{
    FILE *f = fopen(path, "rb");
    buffer b = { 0 };
    uint8_t chunk[65536];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        append(&b, chunk, n);
    if (f)
        fclose(f);
    const long before = status_kb("VmRSS");
    int frames = decode_all(b.data, b.size, 2);
    free(b.data);
    printf("%ld %ld\n", status_kb("VmHWM"), before);
    return frames > 0 ? 0 : 1;
}

/* Encodes the frames (q 32, GOP 32, 2 threads; full: fixed GOP and every P-frame with motion and residual) into
 * the file `path` and reads it back into *out. 0, or 1 with a message printed. */
static int encode_stream(const buffer *raw, int nframes, int w, int h, int full, const char *path, double *fps,
                         buffer *out)
{
    nvc_enc_settings es;
    nvc_enc_default_settings(&es);
    es.width = w;
    es.height = h;
    es.fps_num = 24;
    es.quality = 32;
    es.gop_length = 32;
    es.fixed_gop = full;
    es.full_p_frames = full;
    es.n_threads = 2;
    nvc_encoder *e;
    if (nvc_enc_open(&e, &es)) {
        printf("bench_codec: skipped (no encoder model in libnvc)\n");
        return 1;
    }
    nvc_stream_info info;
    nvc_enc_get_info(e, &info);
    nvc_writer *wr;
    char msg[256];
    if (nvc_writer_open(&wr, path, &info, msg, sizeof msg)) {
        printf("bench_codec: %s\n", msg);
        nvc_enc_close(&e);
        return 1;
    }
    const size_t fsize = (size_t)w * h * 3 / 2;
    double t0 = now();
    for (int i = 0; i < nframes; i++) {
        uint8_t *y = raw->data + (size_t)i * fsize;
        nvc_picture pic = { .data = { y, y + w * h, y + w * h + w * h / 4 }, .stride = { w, w / 2, w / 2 },
                            .width = w, .height = h };
        nvc_packet pkt;
        if (nvc_enc_send_picture(e, &pic) || nvc_enc_receive_packet(e, &pkt, NULL) || nvc_writer_write(wr, &pkt)) {
            printf("bench_codec: encoding failed: %s\n", nvc_enc_get_error(e));
            nvc_enc_close(&e);
            nvc_writer_abort(&wr); /* no half-written stream left behind */
            return 1;
        }
    }
    *fps = nframes / (now() - t0);
    nvc_enc_close(&e);
    if (nvc_writer_close(&wr, msg, sizeof msg)) {
        printf("bench_codec: %s\n", msg);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    uint8_t chunk[65536];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        append(out, chunk, n);
    if (f)
        fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--decode-child"))
        return child_decode(argv[2]);
    const char *clip = argc > 1 ? argv[1] : DEFAULT_CLIP;
    int max_frames = argc > 2 ? atoi(argv[2]) : 60;
    char cmd[2048], path[512], tmp[] = "/tmp/nvc-bench-XXXXXX";
    if (access(clip, R_OK) || system("command -v ffmpeg >/dev/null") != 0 || !mkdtemp(tmp)) {
        printf("bench_codec: skipped (needs %s and ffmpeg)\n", clip);
        return 0;
    }
    /* the frames, as raw yuv420p through the ffmpeg command line */
    AVFormatContext *fmt = NULL;
    int w = 0, h = 0;
    if (avformat_open_input(&fmt, clip, NULL, NULL) == 0 && avformat_find_stream_info(fmt, NULL) >= 0) {
        int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        if (si >= 0) {
            w = fmt->streams[si]->codecpar->width & ~1;
            h = fmt->streams[si]->codecpar->height & ~1;
        }
    }
    avformat_close_input(&fmt);
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -loglevel error -i '%s' -frames:v %d -vf crop=%d:%d:0:0 -f rawvideo "
             "-pix_fmt yuv420p -", clip, max_frames, w, h);
    FILE *in = w && h ? popen(cmd, "r") : NULL;
    const size_t fsize = (size_t)w * h * 3 / 2;
    buffer raw = { 0 };
    uint8_t *frame = malloc(fsize ? fsize : 1);
    int nframes = 0;
    while (in && fread(frame, 1, fsize, in) == fsize) {
        append(&raw, frame, fsize);
        nframes++;
    }
    if (in)
        pclose(in);
    free(frame);
    if (!nframes) {
        printf("bench_codec: skipped (cannot read frames from %s)\n", clip);
        return 0;
    }

    /* Two streams of the same frames: as nvenc-ref codes by default (adaptive I-frames, P-frames that leave out
     * motion and/or residual where that is cheaper: less decoding work on still content), and with every
     * P-frame coding motion and residual at a fixed GOP (the decoder's worst case, which the speed goal is
     * about). Peak RSS and the H.264 comparison use the full one. */
    buffer s[2] = { { 0 }, { 0 } };
    double kbps[2], fps[2][2] = { { 0 } }; /* [full-P stream][threads - 1] */
    for (int full = 0; full < 2; full++) {
        double enc_fps;
        snprintf(path, sizeof path, "%s/clip%d.nvc", tmp, full);
        if (encode_stream(&raw, nframes, w, h, full, path, &enc_fps, &s[full]))
            return 1;
        kbps[full] = s[full].size * 8.0 / (nframes / 24.0) / 1000.0;
        printf("%s stream (%s):\n", full ? "full-P" : "default",
               full ? "fixed GOP, every P-frame with motion and residual"
                    : "adaptive I-frames and P-frame kinds, as nvenc-ref codes");
        printf("clip         %s: %d frames %dx%d, nvc q32 GOP 32: %.0f kbps at 24 fps\n", clip, nframes, w, h,
               kbps[full]);
        printf("encode       %.2f fps (2 threads)\n", enc_fps);
        for (int t = 1; t <= 2; t++) {
            double v[RUNS];
            for (int r = 0; r < RUNS; r++) {
                double a = now();
                int got = decode_all(s[full].data, s[full].size, t);
                v[r] = got == nframes ? nframes / (now() - a) : 0;
            }
            fps[full][t - 1] = median(v, RUNS);
            printf("decode       %d thread%s: %.1f fps (median of %d)\n", t, t > 1 ? "s" : "", fps[full][t - 1],
                   RUNS);
        }
        /* medians over RUNS runs like the totals: a single (cold) run made "other" come out negative */
        double tev[RUNS], tsv[RUNS];
        for (int r = 0; r < RUNS; r++)
            stage_split(s[full].data, s[full].size, &tev[r], &tsv[r]);
        const double te = median(tev, RUNS), ts = median(tsv, RUNS);
        const double total = 1000.0 / fps[full][0], ent = te * 1000 / nframes, syn = ts * 1000 / nframes;
        printf("split        1 thread, ms/frame: entropy + hyper-decoders %.2f, synthesis networks %.2f, other "
               "%.2f\n", ent, syn, total - ent - syn);
    }

    /* peak RSS of a fresh process decoding the full-P stream */
    char self[256];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = 0;
    snprintf(cmd, sizeof cmd, "'%s' --decode-child '%s/clip1.nvc'", self, tmp);
    FILE *child = sl > 0 ? popen(cmd, "r") : NULL;
    long kb = 0, kb0 = 0;
    if (child && fscanf(child, "%ld %ld", &kb, &kb0) == 2 && pclose(child) == 0)
        printf("peak RSS     %.1f MB (a process decoding the full-P stream with 2 threads), %.1f MB of it before the "
               "decoder was opened (the program, its libraries and the stream), the decoder %.1f MB\n",
               kb / 1024.0, kb0 / 1024.0, (kb - kb0) / 1024.0);
    else if (child)
        pclose(child);

    /* H.264 reference */
    snprintf(path, sizeof path, "%s/clip.yuv", tmp);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(raw.data, 1, raw.size, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -loglevel error -y -f rawvideo -pix_fmt yuv420p -s %dx%d -r 24 -i "
             "%s/clip.yuv -c:v libx264 -preset medium -bf 0 -g 32 -b:v %.0fk %s/clip.mp4", w, h, tmp, kbps[1], tmp);
    if (system(cmd) == 0) {
        snprintf(path, sizeof path, "%s/clip.mp4", tmp);
        for (int t = 1; t <= 2; t++) {
            int hf = 0;
            double hfps = h264_fps(path, t, &hf);
            printf("H.264        x264 medium at %.0f kbps, FFmpeg decode %d thread%s: %.1f fps; nvc (full-P) / H.264 "
                   "speed %.3f\n", kbps[1], t, t > 1 ? "s" : "", hfps, hfps > 0 ? fps[1][t - 1] / hfps : 0);
        }
    } else
        printf("H.264        skipped (ffmpeg without libx264)\n");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_codec: could not remove %s\n", tmp);
    free(raw.data);
    free(s[0].data);
    free(s[1].data);
    return 0;
}
