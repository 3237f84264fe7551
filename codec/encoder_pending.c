/* PLACEHOLDER until the encoder driver (codec/encoder.c) lands: DELETE THIS FILE in the commit that adds it
 * (the two would define the same symbols and the shared library would fail to link, which is on purpose).
 * nvc_enc_open() reports that there is no encoder (NVC_EUNSUPPORTED); nothing here pretends to encode. */
#include <stddef.h>
#include <string.h>

#include "codec/log.h"
#include "nvc/nvc.h"

static const char not_built[] = "this libnvc has no encoder yet (codec/encoder.c is not written)";

int nvc_enc_open(nvc_encoder **out, const nvc_enc_settings *s)
{
    if (out)
        *out = NULL;
    if (s)
        nvc_log(s->logger, s->logger_cookie, NVC_LOG_ERROR, "%s", not_built);
    return NVC_EUNSUPPORTED;
}

/* nvc_enc_open never succeeds, so no encoder exists to call these on. */
void nvc_enc_get_info(const nvc_encoder *e, nvc_stream_info *info) { memset(info, 0, sizeof *info); }
int nvc_enc_send_picture(nvc_encoder *e, const nvc_picture *pic) { return NVC_EINVAL; }
int nvc_enc_receive_packet(nvc_encoder *e, nvc_packet *pkt, nvc_picture *recon) { return NVC_EINVAL; }
const char *nvc_enc_get_error(const nvc_encoder *e) { return not_built; }
void nvc_enc_close(nvc_encoder **e)
{
    if (e)
        *e = NULL;
}
