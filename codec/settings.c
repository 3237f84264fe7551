/* Default settings of the public decoder and encoder (include/nvc/nvc.h). */
#include <string.h>

#include "codec/log.h"
#include "nvc/nvc.h"

void nvc_default_settings(nvc_settings *s)
{
    memset(s, 0, sizeof *s);
    s->logger = nvc_log_stderr;
}

void nvc_enc_default_settings(nvc_enc_settings *s)
{
    memset(s, 0, sizeof *s);
    s->fps_num = 25;
    s->fps_den = 1;
    s->colour_primaries = 1; /* BT.709 */
    s->transfer = 1;
    s->matrix = 1;
    s->full_range = 0;
    s->quality = 32;
    s->gop_length = 32;
    s->i_quality_offset = 45;
    s->key_refine_frames = 0;
    s->logger = nvc_log_stderr;
}
