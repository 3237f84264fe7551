/* PLACEHOLDER until the decoder driver (codec/decoder.c) lands: DELETE THIS FILE in the commit that adds it
 * (the two would define the same symbols and the shared library would fail to link, which is on purpose).
 *
 * The public decoder API is declared in include/nvc/nvc.h; until the driver exists, nvc_open() says honestly
 * that there is no decoder (NVC_EUNSUPPORTED), so the example and the player build and report it. Nothing here
 * pretends to decode. */
#include <stddef.h>

#include "codec/log.h"
#include "nvc/nvc.h"

static const char not_built[] = "this libnvc has no decoder yet (codec/decoder.c is not written)";

int nvc_open(nvc_context **out, const nvc_settings *s)
{
    if (out)
        *out = NULL;
    if (s)
        nvc_log(s->logger, s->logger_cookie, NVC_LOG_ERROR, "%s", not_built);
    return NVC_EUNSUPPORTED;
}

/* nvc_open never succeeds, so no context exists to call these on. */
int nvc_send_data(nvc_context *c, const uint8_t *data, size_t size, size_t *consumed)
{
    if (consumed)
        *consumed = 0;
    return NVC_EINVAL;
}
int nvc_get_picture(nvc_context *c, nvc_picture *pic) { return NVC_EINVAL; }
int nvc_get_stream_info(const nvc_context *c, nvc_stream_info *info) { return NVC_EINVAL; }
void nvc_flush(nvc_context *c) {}
const char *nvc_get_error(const nvc_context *c) { return not_built; }
void nvc_close(nvc_context **c)
{
    if (c)
        *c = NULL;
}
