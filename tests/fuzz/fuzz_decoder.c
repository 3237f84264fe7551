/* libFuzzer target for the decoder behind the container's CRCs: the input is turned into a valid-looking stream
 * (a 64x64 or 200x136 header for the model, then frames whose type, flags (every one the format defines, in the
 * combinations it allows), quality, segment and substream counts and substream bytes come from the input, with
 * correct CRCs), which the public decoder decodes
 * with 1 or 2 threads in chunks. Garbage latents must give pictures or NVC_EINVALDATA -- never a crash, a hang or a fatal error.
 * The model: $NVC_FUZZ_MODEL, else models/default.nvm (the fuzz build links no embedded model).
 * Build and run: make fuzz-run (run from the repository root). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32.h"
#include "codec/frame.h"
#include "codec/stream.h"
#include "nvc/nvc.h"

static uint8_t *model;
static size_t model_size;
static nvc_codec_model info;
static nvc_frame_info frame;
static uint8_t stream[1 << 20];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *path = getenv("NVC_FUZZ_MODEL");
    FILE *f = fopen(path ? path : "models/default.nvm", "rb");
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && (model = malloc((size_t)n)) && fseek(f, 0, SEEK_SET) == 0 &&
            fread(model, 1, (size_t)n, f) == (size_t)n)
            model_size = (size_t)n;
    }
    if (f)
        fclose(f);
    char msg[256];
    if (!model_size || nvc_codec_model_load(&info, model, model_size, 0, msg, sizeof msg)) {
        fprintf(stderr, "fuzz_decoder: skipped: needs a model (NVC_FUZZ_MODEL or models/default.nvm)\n");
        exit(0);
    }
    return 0;
}

static uint8_t take(const uint8_t **d, size_t *n)
{
    if (!*n)
        return 0;
    (*n)--;
    return *(*d)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int big = take(&data, &size) & 1;
    nvc_stream_header h = { .width = big ? 200 : 64, .height = big ? 136 : 64, .fps_num = 25, .fps_den = 1,
                            .colour_primaries = 1, .transfer = 1, .matrix = 1, .chroma_format = 1,
                            .bit_depth = 8, .frame_count = NVC_STREAM_FRAME_COUNT_UNKNOWN,
                            .model_id = info.stream_id };
    size_t len = NVC_STREAM_HEADER_SIZE;
    if (nvc_stream_write_header(&h, stream, NULL, 0))
        abort();
    for (uint32_t number = 0; size > 0 && number < 6; number++) {
        memset(&frame, 0, sizeof frame);
        const uint8_t kind = take(&data, &size);
        frame.type = kind & 1;
        /* flags (left-out segments as given): the P-frame kinds, context-coded vectors or block means, scale
         * shifts, fitted tables; the segments they imply */
        unsigned fl = (unsigned)kind >> 1 & (frame.type ? NVC_FRAME_FLAGS_P : NVC_FRAME_FLAGS_I);
        if (fl & NVC_FRAME_NO_MOTION)
            fl &= ~(unsigned)NVC_FRAME_MV_CONTEXT;
        if (fl & NVC_FRAME_NO_RESIDUAL)
            fl &= ~(unsigned)(NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES);
        frame.flags = (uint8_t)fl;
        frame.quality = take(&data, &size) & 63;
        frame.frame_number = number;
        frame.nsegments = (frame.type ? 4 : 2 + !!(fl & NVC_FRAME_MEANS_CONTEXT)) + !!(fl & NVC_FRAME_SCALE_SHIFT);
        if (take(&data, &size) == 0xFF)
            frame.nsegments = 1 + take(&data, &size) % NVC_STREAM_MAX_SEGMENTS;
        uint32_t k = 0;
        for (uint32_t s = 0; s < frame.nsegments; s++) {
            frame.nsubstreams[s] = 1 + take(&data, &size) % 6;
            for (uint32_t i = 0; i < frame.nsubstreams[s]; i++, k++) {
                uint32_t n = take(&data, &size);
                n = n < 200 ? n : 200 + (n - 200) * 64;
                frame.substream_size[k] = n < size ? (uint32_t)n : (uint32_t)size;
                size -= frame.substream_size[k];
                data += frame.substream_size[k];
            }
        }
        /* payload: the substream bytes just consumed, in order */
        size_t payload = 0;
        for (uint32_t i = 0; i < k; i++)
            payload += frame.substream_size[i];
        size_t hlen;
        uint8_t hdr[NVC_STREAM_FRAME_MAX_HEADER_SIZE];
        if (len + sizeof hdr + payload > sizeof stream)
            break;
        const uint8_t *pl = data - payload;
        if (nvc_stream_write_frame_header(NULL, &frame, nvc_crc32(0, pl, payload), hdr, sizeof hdr, &hlen, NULL, 0))
            break;
        memcpy(stream + len, hdr, hlen);
        memcpy(stream + len + hlen, pl, payload);
        len += hlen + payload;
    }
    nvc_settings s;
    nvc_default_settings(&s);
    s.logger = NULL;
    s.n_threads = 1 + (int)(len & 1);
    s.model_data = model;
    s.model_size = model_size;
    nvc_context *d;
    if (nvc_open(&d, &s))
        abort();
    size_t pos = 0, used;
    nvc_picture pic;
    int r = 0;
    while (pos < len) {
        size_t chunk = len - pos < 777 ? len - pos : 777;
        r = nvc_send_data(d, stream + pos, chunk, &used);
        pos += used;
        if (r && r != NVC_EAGAIN)
            abort();
        while ((r = nvc_get_picture(d, &pic)) == 0 || r == NVC_EINVALDATA)
            nvc_picture_unref(&pic);
        if (r != NVC_EAGAIN)
            abort();
    }
    nvc_send_data(d, NULL, 0, NULL);
    while ((r = nvc_get_picture(d, &pic)) == 0 || r == NVC_EINVALDATA)
        nvc_picture_unref(&pic);
    if (r != NVC_EOF)
        abort();
    nvc_close(&d);
    return 0;
}
