/* Decoded pictures to a file through libavformat: rawvideo yuv420p in any container that takes it (y4m, nut,
 * mkv, avi, ...; chosen from the file name), timestamps = frame numbers at the stream's frame rate. */
#ifndef NVC_PLAYER_OUTPUT_H
#define NVC_PLAYER_OUTPUT_H

#include <stddef.h>

#include "nvc/nvc.h"

typedef struct nvplay_output nvplay_output;

/* Opens path ("-" = y4m on standard output) for pictures described by *info. 0 or -1 with a message. */
int output_open(nvplay_output **out, const char *path, const nvc_stream_info *info, char *msg, size_t msg_size);
/* Writes one picture at pts = its frame number. 0 or -1 with a message. */
int output_write(nvplay_output *o, const nvc_picture *pic, char *msg, size_t msg_size);
/* Writes the trailer and closes; frees o whatever happens. 0 or -1 with a message. */
int output_close(nvplay_output *o, char *msg, size_t msg_size);

#endif
