/* nvplay's window: SDL2, pictures uploaded as an IYUV texture (the GPU or SDL converts to RGB, with the
 * stream's matrix and range), shown at the stream's frame rate, scaled with the aspect ratio kept. */
#include <SDL.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "player/font.h"
#include "player/nvplay.h"

enum { STATS = 32 }; /* pictures the overlay's fps and bitrate average over */

typedef struct display {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture;
    const nvc_stream_info *info;
    double frame_duration;     /* seconds */
    nvc_picture shown;         /* the picture on screen (kept for redraws) */
    int have_picture;
    int overlay;
    int paused;
    /* clock: the picture with pts `clock_pts` is due at `clock_start` */
    int clock_valid;
    unsigned clock_timeline;
    double clock_start;
    int64_t clock_pts;
    /* overlay statistics: display times and sizes of the last STATS pictures */
    double shown_at[STATS];
    size_t shown_bytes[STATS];
    int64_t nshown;
    char status[64];           /* a short message in the overlay ("cannot seek", ...) */
    double status_until;
} display;

static int open_window(display *d, const char *title)
{
    if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))
        return -1;
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        fprintf(stderr, "nvplay: SDL: %s\n", SDL_GetError());
        return -1;
    }
    int w = d->info->width, h = d->info->height;
    SDL_Rect usable;
    if (SDL_GetDisplayUsableBounds(0, &usable) == 0 && usable.w > 64 && usable.h > 64 &&
        (w > usable.w || h > usable.h)) { /* too big for the screen: shrink, keeping the aspect ratio */
        double s = SDL_min((double)usable.w / w, (double)usable.h / h);
        w = (int)(w * s);
        h = (int)(h * s);
    }
    d->window = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, w, h, SDL_WINDOW_RESIZABLE);
    if (d->window)
        d->renderer = SDL_CreateRenderer(d->window, -1, 0);
    /* The stream's colour matrix and range decide the YUV->RGB conversion the renderer does. */
    int bt709 = d->info->matrix == 1, bt601 = d->info->matrix == 5 || d->info->matrix == 6;
    SDL_SetYUVConversionMode(d->info->full_range ? SDL_YUV_CONVERSION_JPEG
                             : bt709            ? SDL_YUV_CONVERSION_BT709
                             : bt601            ? SDL_YUV_CONVERSION_BT601
                                                : SDL_YUV_CONVERSION_AUTOMATIC);
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    if (d->renderer)
        d->texture = SDL_CreateTexture(d->renderer, SDL_PIXELFORMAT_IYUV, SDL_TEXTUREACCESS_STREAMING,
                                       d->info->width, d->info->height);
    if (!d->texture) {
        fprintf(stderr, "nvplay: SDL: %s\n", SDL_GetError());
        return -1;
    }
    SDL_SetRenderDrawBlendMode(d->renderer, SDL_BLENDMODE_BLEND);
    return 0;
}

static void close_window(display *d)
{
    if (d->texture)
        SDL_DestroyTexture(d->texture);
    if (d->renderer)
        SDL_DestroyRenderer(d->renderer);
    if (d->window)
        SDL_DestroyWindow(d->window);
    SDL_Quit();
    nvc_picture_unref(&d->shown);
}

static void set_status(display *d, const char *msg)
{
    snprintf(d->status, sizeof d->status, "%s", msg);
    d->status_until = nvplay_now() + 2;
    d->overlay |= 2; /* shown while the message lasts, even with the overlay off */
}

static void draw_overlay(display *d)
{
    char lines[6][64];
    int n = 0;
    const nvc_picture *p = &d->shown;
    int k = (int)SDL_min(d->nshown, (int64_t)STATS);
    double fps = 0, kbps = 0;
    if (k >= 2) {
        int last = (int)((d->nshown - 1) % STATS), first = (int)((d->nshown - k) % STATS);
        double span = d->shown_at[last] - d->shown_at[first];
        fps = span > 0 ? (k - 1) / span : 0;
    }
    if (k >= 1) {
        size_t bytes = 0;
        for (int i = 0; i < k; i++)
            bytes += d->shown_bytes[i];
        kbps = bytes * 8.0 / k / d->frame_duration / 1000;
    }
    snprintf(lines[n++], 64, "FRAME %u %s Q%d%s", p->frame_number, p->frame_type == NVC_PICTURE_I ? "I" : "P",
             p->quality, d->paused ? "  PAUSED" : "");
    snprintf(lines[n++], 64, "FPS %.1f / %.2f", fps, 1 / d->frame_duration);
    snprintf(lines[n++], 64, "BITRATE %.0f KBPS", kbps);
    snprintf(lines[n++], 64, "DECODE %.1f MS", p->decode_time_us / 1000.0);
    snprintf(lines[n++], 64, "%dX%d", d->info->width, d->info->height);
    if (d->status[0] && nvplay_now() < d->status_until)
        snprintf(lines[n++], 64, "%s", d->status);
    else if (!(d->overlay &= 1))
        return; /* the status message expired and the overlay is off */
    if (!(d->overlay & 1)) { /* only the status message */
        memmove(lines[0], lines[n - 1], 64);
        n = 1;
    }
    int out_w, out_h, scale;
    SDL_GetRendererOutputSize(d->renderer, &out_w, &out_h);
    scale = out_h >= 600 ? 3 : 2;
    int line_h = (FONT_H + 3) * scale, box_w = 0;
    for (int i = 0; i < n; i++)
        box_w = SDL_max(box_w, (int)strlen(lines[i]) * (FONT_W + 1) * scale);
    SDL_SetRenderDrawColor(d->renderer, 0, 0, 0, 160);
    SDL_RenderFillRect(d->renderer, &(SDL_Rect){4, 4, box_w + 4 * scale, n * line_h + 3 * scale});
    SDL_SetRenderDrawColor(d->renderer, 255, 255, 255, 255);
    for (int i = 0; i < n; i++)
        font_draw(d->renderer, 4 + 2 * scale, 4 + 2 * scale + i * line_h, scale, lines[i]);
}

static void render(display *d)
{
    SDL_SetRenderDrawColor(d->renderer, 0, 0, 0, 255);
    SDL_RenderClear(d->renderer);
    if (d->have_picture) {
        int out_w, out_h; /* letterbox: the largest rectangle of the picture's shape that fits */
        SDL_GetRendererOutputSize(d->renderer, &out_w, &out_h);
        double s = SDL_min((double)out_w / d->info->width, (double)out_h / d->info->height);
        int w = (int)(d->info->width * s + 0.5), h = (int)(d->info->height * s + 0.5);
        SDL_RenderCopy(d->renderer, d->texture, NULL, &(SDL_Rect){(out_w - w) / 2, (out_h - h) / 2, w, h});
        if (d->overlay)
            draw_overlay(d);
    }
    SDL_RenderPresent(d->renderer);
}

static void show(display *d, nvplay_frame *f)
{
    nvc_picture_unref(&d->shown);
    d->shown = f->pic;
    d->have_picture = 1;
    SDL_UpdateYUVTexture(d->texture, NULL, f->pic.data[0], (int)f->pic.stride[0], f->pic.data[1],
                         (int)f->pic.stride[1], f->pic.data[2], (int)f->pic.stride[2]);
    d->shown_at[d->nshown % STATS] = nvplay_now();
    d->shown_bytes[d->nshown % STATS] = f->pic.compressed_size;
    d->nshown++;
}

/* Seeks to the next (dir > 0) or previous I-frame relative to the picture on screen. */
static void seek_keyframe(display *d, nvplay_source *src, int dir)
{
    const uint32_t *keys;
    size_t n;
    source_keyframes(src, &keys, &n);
    if (!n) {
        set_status(d, "CANNOT SEEK: INPUT IS A PIPE");
        return;
    }
    uint32_t cur = d->have_picture ? d->shown.frame_number : 0;
    int64_t target = -1;
    for (size_t i = 0; i < n; i++) {
        if (dir > 0 && keys[i] > cur) {
            target = keys[i];
            break;
        }
        if (dir < 0 && keys[i] < cur)
            target = keys[i];
    }
    if (target < 0) {
        set_status(d, dir > 0 ? "NO LATER I-FRAME" : "NO EARLIER I-FRAME");
        return;
    }
    source_seek(src, (uint32_t)target);
    d->clock_valid = 0;
}

int display_run(nvplay_source *src, const nvplay_options *opt)
{
    display d = {.info = source_info(src)};
    d.frame_duration = (double)d.info->fps_den / d.info->fps_num;
    char title[256];
    snprintf(title, sizeof title, "nvplay: %s", opt->input);
    if (open_window(&d, title)) {
        close_window(&d);
        return -1;
    }
    int status = 0, quit = 0, redraw = 1;
    d.paused = opt->pause;
    int step = d.paused; /* paused from the start: still show the first picture */
    int64_t frames = 0;
    double last_shown_due = 0;
    while (!quit) {
        double now = nvplay_now();
        const nvplay_frame *head = source_peek(src);
        double wait = 0.010;
        if (opt->max_frames >= 0 && frames >= opt->max_frames) {
            if (now >= last_shown_due + d.frame_duration || frames == 0)
                break; /* the last picture had its time on screen */
        } else if (head && head->end) {
            if (head->error) {
                fprintf(stderr, "nvplay: decoding stopped: %s\n", source_error(src));
                status = 1;
            }
            if (now >= last_shown_due + d.frame_duration)
                break;
        } else if (head && (!d.paused || step)) {
            if (!d.clock_valid || head->timeline != d.clock_timeline) {
                d.clock_valid = 1;
                d.clock_timeline = head->timeline;
                d.clock_start = now;
                d.clock_pts = head->pic.pts;
            }
            double due = d.clock_start + (head->pic.pts - d.clock_pts) * d.frame_duration;
            if (now > due + 0.5) { /* far behind (slow decoding, a stall): resynchronise, don't rush */
                d.clock_start = now;
                d.clock_pts = head->pic.pts;
                due = now;
            }
            if (step || now >= due - 0.001) {
                nvplay_frame f;
                source_pop(src, &f, 0);
                show(&d, &f);
                frames++;
                last_shown_due = due;
                step = 0;
                redraw = 1;
                if (d.paused)
                    d.clock_valid = 0;
                continue;
            }
            wait = due - now;
        }
        if (redraw || d.overlay) {
            render(&d);
            redraw = 0;
        }
        SDL_Event ev;
        int timeout = (int)(SDL_min(wait, 0.010) * 1000);
        if (!SDL_WaitEventTimeout(&ev, timeout > 0 ? timeout : 1))
            continue;
        do {
            if (ev.type == SDL_QUIT)
                quit = 1;
            else if (ev.type == SDL_WINDOWEVENT)
                redraw = 1;
            else if (ev.type == SDL_KEYDOWN) {
                switch (ev.key.keysym.sym) {
                case SDLK_q:
                case SDLK_ESCAPE: quit = 1; break;
                case SDLK_SPACE:
                    d.paused = !d.paused;
                    d.clock_valid = 0; /* restart the clock at the next picture */
                    redraw = 1;
                    break;
                case SDLK_s:
                    d.paused = 1;
                    step = 1;
                    break;
                case SDLK_RIGHT: seek_keyframe(&d, src, +1); step = d.paused; break;
                case SDLK_LEFT: seek_keyframe(&d, src, -1); step = d.paused; break;
                case SDLK_f: {
                    int full = SDL_GetWindowFlags(d.window) & SDL_WINDOW_FULLSCREEN_DESKTOP;
                    SDL_SetWindowFullscreen(d.window, full ? 0 : SDL_WINDOW_FULLSCREEN_DESKTOP);
                    redraw = 1;
                    break;
                }
                case SDLK_i:
                    d.overlay ^= 1;
                    redraw = 1;
                    break;
                default: break;
                }
            }
        } while (SDL_PollEvent(&ev));
    }
    int damage = source_damage_count(src);
    if (damage)
        fprintf(stderr, "nvplay: %d damaged stretch%s skipped\n", damage, damage == 1 ? "" : "es");
    close_window(&d);
    return status ? status : damage ? 3 : 0;
}
