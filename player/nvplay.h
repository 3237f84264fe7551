/* nvplay's options and the consumers that take the decoded pictures (player/nvplay.c, player/display.c). */
#ifndef NVC_PLAYER_NVPLAY_H
#define NVC_PLAYER_NVPLAY_H

#include <stdint.h>

#include "player/source.h"

typedef struct nvplay_options {
    const char *input;    /* path or "-" */
    const char *output;   /* -o FILE, or NULL */
    int threads;          /* 0 = automatic */
    int64_t max_frames;   /* --frames N; -1 = all */
    int loop;
    int null_sink;        /* --null */
    int pause;            /* --pause: start paused on the first picture */
    const char *model;    /* --model FILE: a .nvm instead of the model built into libnvc, or NULL */
} nvplay_options;

/* Plays in an SDL window. Returns the exit status, or -1 when no window can be opened (no display): the
 * caller then decodes without one. */
int display_run(nvplay_source *src, const nvplay_options *opt);

/* Seconds on a monotonic clock. */
double nvplay_now(void);

#endif
