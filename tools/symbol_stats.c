/* symbol_stats: how often each value is coded with each Gaussian table, per latent kind, over .nvc streams made
 * with the built-in model: the statistics tools/train/fit_tables.py fits format 3.1's fitted table sets to
 * (docs/entropy.md, "Fitted tables").
 *   symbol_stats STREAM.nvc... > counts.txt
 * Prints one line per nonzero count: "kind table value count" (kind 0 the I latent, 1 the motion latent where
 * hyperprior-coded, 2 the residual latent; value = latent - mean, clamped to -128..127), summed over the streams.
 * Exit status: 0, 1 on an error (a damaged stream, another model), 2 usage. */
#include <stdio.h>
#include <stdlib.h>

#include "codec/frame.h"
#include "codec/stream.h"
#include "nvc/nvc.h"

static int count_stream(const nvc_codec_model *m, const char *path, uint64_t *counts)
{
    char msg[256] = "";
    nvc_stream_file *sf;
    if (nvc_stream_file_open(&sf, path, msg, sizeof msg)) {
        fprintf(stderr, "symbol_stats: %s: %s\n", path, msg);
        return 1;
    }
    const nvc_stream_header *h = nvc_stream_file_header(sf);
    if (h->model_id != m->stream_id) {
        fprintf(stderr, "symbol_stats: %s: made with model %08x, the built-in model is %08x\n", path,
                (unsigned)h->model_id, (unsigned)m->stream_id);
        nvc_stream_file_close(sf);
        return 1;
    }
    nvc_frame_geom g;
    nvc_frame_geom_init(&g, h->width, h->height);
    nvc_frame_info *f = malloc(sizeof *f);
    int err = f ? 0 : NVC_ENOMEM;
    while (!err && (err = nvc_stream_file_next_frame(sf, f, NULL)) == 0) {
        nvc_tensor lat[NVC_FRAME_MAX_LATENTS] = { { 0 } };
        err = nvc_frame_count_symbols(m, &g, f, NULL, lat, counts, msg, sizeof msg);
        for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
            nvc_tensor_release(&lat[k]);
    }
    if (err != NVC_EOF)
        fprintf(stderr, "symbol_stats: %s: %s\n", path, msg[0] ? msg : nvc_stream_file_error(sf));
    free(f);
    nvc_stream_file_close(sf);
    return err != NVC_EOF;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: symbol_stats STREAM.nvc... > counts.txt\n");
        return 2;
    }
    nvc_codec_model m;
    char msg[256] = "";
    if (nvc_codec_model_load(&m, NULL, 0, 0, msg, sizeof msg)) {
        fprintf(stderr, "symbol_stats: %s\n", msg);
        return 1;
    }
    const size_t n = (size_t)NVC_LATENT_KINDS * NVC_CDF_MAX_TABLES * 256;
    uint64_t *counts = calloc(n, sizeof *counts);
    int status = counts ? 0 : 1;
    for (int i = 1; i < argc && !status; i++)
        status = count_stream(&m, argv[i], counts);
    for (size_t i = 0; i < n && !status; i++)
        if (counts[i])
            printf("%d %d %d %llu\n", (int)(i / (NVC_CDF_MAX_TABLES * 256)), (int)(i / 256 % NVC_CDF_MAX_TABLES),
                   (int)(i % 256) - 128, (unsigned long long)counts[i]);
    free(counts);
    nvc_codec_model_free(&m);
    return status;
}
