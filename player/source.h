/* Where nvplay's pictures come from: a .nvc file (or stdin) demuxed by nvc_reader, decoded by libnvc on a
 * decode thread that runs ahead of the consumer and fills a small queue. The decode thread handles seeking
 * (to an I-frame, flushing the decoder), looping, and damage (reported, decoding resumes at the next I-frame).
 * The consumer (window, muxer or null sink) runs on the main thread. */
#ifndef NVC_PLAYER_SOURCE_H
#define NVC_PLAYER_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "nvc/nvc.h"

typedef struct nvplay_source nvplay_source;

/* One queue entry: a picture, or the end of the stream (end != 0: pic is empty, error != 0 when decoding
 * stopped on a fatal error whose message source_error() gives). */
typedef struct nvplay_frame {
    nvc_picture pic;
    unsigned timeline;  /* changes after a seek or a loop: the player restarts its clock */
    int end;
    int error;
} nvplay_frame;

/* Opens the stream, creates the decoder (with the .nvm file model_path, or the model built into libnvc when
 * NULL) and sends it the header, so a wrong model or a stream of a later version fails here, before any window
 * opens. Returns 0, or an nvc error code with a message. */
int source_open(nvplay_source **out, const char *path, const char *model_path, int threads, int loop, char *msg,
                size_t msg_size);
/* Starts the decode thread. */
int source_start(nvplay_source *s);
const nvc_stream_info *source_info(const nvplay_source *s);

/* The I-frame numbers (NULL/0 when the input cannot seek, e.g. a pipe). */
void source_keyframes(const nvplay_source *s, const uint32_t **numbers, size_t *count);

/* Takes the next entry: waits up to timeout_ms (-1 = forever) for one. 1: got one (the caller owns f->pic),
 * 0: none yet. */
int source_pop(nvplay_source *s, nvplay_frame *f, int timeout_ms);
/* The next entry without taking it (NULL if none); valid until the next pop or seek. */
const nvplay_frame *source_peek(nvplay_source *s);

/* Asks the decode thread to go to the I-frame at or before frame_number; queued pictures are dropped now. */
void source_seek(nvplay_source *s, uint32_t frame_number);

/* Damaged stretches met so far, and the message of a fatal error. */
int source_damage_count(nvplay_source *s);
const char *source_error(nvplay_source *s);

/* Stops the decode thread and frees everything (queued pictures included). */
void source_close(nvplay_source *s);

#endif
