/* Conversion between the stream format's header (codec/stream.h) and the public nvc_stream_info, shared by
 * the reader, the writer and the decoder/encoder drivers. */
#ifndef NVC_CODEC_STREAM_INFO_H
#define NVC_CODEC_STREAM_INFO_H

#include "codec/stream.h"
#include "nvc/nvc.h"

void nvc_stream_info_from_header(nvc_stream_info *info, const nvc_stream_header *h);

/* Builds a header from *info (range-checked here for what does not fit the header's fields; the stream
 * writer validates the rest). 0 or NVC_EINVAL with a message. */
int nvc_stream_header_from_info(nvc_stream_header *h, const nvc_stream_info *info, char *msg, size_t msg_size);

#endif
