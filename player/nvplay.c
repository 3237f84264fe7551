/* nvplay: plays a .nvc stream in a window, or decodes it to a file (-o) or to nothing (--null), reporting speed.
 * Without a display it decodes and reports like --null, so `nvplay stream.nvc` works everywhere. */
#include "player/nvplay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "player/output.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nvplay [options] stream.nvc   (\"-\" reads standard input)\n"
            "Plays an nvc stream in a window, or decodes it to a file.\n"
            "  --threads N   decoder threads (default: one per CPU)\n"
            "  --frames N    stop after N frames\n"
            "  --model FILE  the .nvm model the stream was encoded with, if not the one built into libnvc\n"
            "  --loop        start again at the end (seekable input)\n"
            "  --pause       start paused on the first picture\n"
            "  --null        decode as fast as possible without a window and print the speed\n"
            "  -o FILE       write the decoded frames to FILE (format from the name: .y4m .nut .mkv .avi ...;\n"
            "                \"-\" = y4m on standard output)\n"
            "  --help, --version\n"
            "Keys: space pause, s step, left/right previous/next I-frame, f fullscreen, i info overlay,\n"
            "      q / Esc quit. Without a display, nvplay decodes and reports as with --null.\n"
            "Exit status: 0 done, 1 error, 2 bad usage, 3 the stream was damaged (frames were skipped).\n");
}

double nvplay_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int parse_int(const char *s, long long min, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

/* 0: options parsed; 1: --help/--version done; 2: bad usage (message printed). */
static int parse_options(int argc, char **argv, nvplay_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_frames = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--version")) {
            printf("nvplay (nvc) %s\n", nvc_version());
            return 1;
        } else if (!strcmp(a, "--threads") && has_value) {
            if (parse_int(argv[++i], 0, &v) || v > 256) {
                fprintf(stderr, "nvplay: --threads takes a number 0..256, not \"%s\"\n", argv[i]);
                return 2;
            }
            o->threads = (int)v;
        } else if (!strcmp(a, "--frames") && has_value) {
            if (parse_int(argv[++i], 0, &v)) {
                fprintf(stderr, "nvplay: --frames takes a number >= 0, not \"%s\"\n", argv[i]);
                return 2;
            }
            o->max_frames = v;
        } else if (!strcmp(a, "--loop")) {
            o->loop = 1;
        } else if (!strcmp(a, "--pause")) {
            o->pause = 1;
        } else if (!strcmp(a, "--null")) {
            o->null_sink = 1;
        } else if (!strcmp(a, "--model") && has_value) {
            o->model = argv[++i];
        } else if (!strcmp(a, "-o") && has_value) {
            o->output = argv[++i];
        } else if ((a[0] != '-' || !strcmp(a, "-")) && !o->input) {
            o->input = a;
        } else {
            fprintf(stderr, "nvplay: %s option \"%s\" (see nvplay --help)\n",
                    a[0] == '-' ? "unknown or incomplete" : "unexpected", a);
            return 2;
        }
    }
    if (!o->input) {
        fprintf(stderr, "nvplay: no input stream (see nvplay --help)\n");
        return 2;
    }
    if (o->output && o->null_sink) {
        fprintf(stderr, "nvplay: -o and --null exclude each other\n");
        return 2;
    }
    if (o->loop && o->max_frames < 0 && (o->output || o->null_sink)) {
        fprintf(stderr, "nvplay: --loop without a window needs --frames N\n");
        return 2;
    }
    return 0;
}

/* Decodes without a window: every picture goes to the muxer (-o) or nowhere (--null), as fast as possible. */
static int run_headless(nvplay_source *src, const nvplay_options *opt)
{
    const nvc_stream_info *info = source_info(src);
    char msg[320];
    nvplay_output *out = NULL;
    if (opt->output && output_open(&out, opt->output, info, msg, sizeof msg)) {
        fprintf(stderr, "nvplay: %s\n", msg);
        return 1;
    }
    int status = 0;
    int64_t frames = 0;
    uint64_t bytes = 0, decode_us = 0;
    double start = nvplay_now();
    nvplay_frame f;
    while (opt->max_frames < 0 || frames < opt->max_frames) {
        source_pop(src, &f, -1);
        if (f.end) {
            if (f.error) {
                fprintf(stderr, "nvplay: decoding stopped: %s\n", source_error(src));
                status = 1;
            }
            break;
        }
        frames++;
        bytes += f.pic.compressed_size;
        decode_us += (uint64_t)(f.pic.decode_time_us > 0 ? f.pic.decode_time_us : 0);
        if (out && output_write(out, &f.pic, msg, sizeof msg)) {
            fprintf(stderr, "nvplay: %s: %s\n", opt->output, msg);
            status = 1;
            nvc_picture_unref(&f.pic);
            break;
        }
        nvc_picture_unref(&f.pic);
    }
    double secs = nvplay_now() - start;
    if (out && output_close(out, msg, sizeof msg)) {
        fprintf(stderr, "nvplay: %s: %s\n", opt->output, msg);
        status = 1;
    }
    double fps = (double)info->fps_num / info->fps_den;
    int damage = source_damage_count(src);
    fprintf(stderr, "nvplay: %" PRId64 " frames %dx%d in %.2f s: %.1f fps (stream %.3g fps), %.0f kbps, "
                    "decode %.1f ms/frame (all threads)%s",
            frames, info->width, info->height, secs, secs > 0 ? frames / secs : 0.0, fps,
            frames ? bytes * 8.0 * fps / frames / 1000 : 0.0, frames ? decode_us / 1000.0 / frames : 0.0,
            damage ? "" : "\n");
    if (damage)
        fprintf(stderr, ", %d damaged stretch%s skipped\n", damage, damage == 1 ? "" : "es");
    return status ? status : damage ? 3 : 0;
}

int main(int argc, char **argv)
{
    nvplay_options opt;
    int r = parse_options(argc, argv, &opt);
    if (r)
        return r == 1 ? 0 : 2;
    char msg[512];
    nvplay_source *src;
    if (source_open(&src, opt.input, opt.model, opt.threads, opt.loop, msg, sizeof msg)) {
        fprintf(stderr, "nvplay: %s\n", msg);
        return 1;
    }
    if (source_start(src)) {
        fprintf(stderr, "nvplay: cannot start the decode thread\n");
        source_close(src);
        return 1;
    }
    int status = -1;
    if (!opt.output && !opt.null_sink) {
        status = display_run(src, &opt);
        if (status < 0)
            fprintf(stderr, "nvplay: no display available: decoding without a window\n");
    }
    if (status < 0)
        status = run_headless(src, &opt);
    source_close(src);
    return status;
}
