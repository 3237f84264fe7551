/* libFuzzer target for the .nvm loader and the interpreter: the input is a model file whose checksum is
 * recomputed first (so mutations reach the validator instead of stopping at the CRC); a model that
 * loads is run on small inputs, skipping runs whose cost (MACs, memory) exceeds a small budget.
 * Seeds: tests/fuzz/corpus/fuzz_nvm/ (tools/train/nvcint.py --make-tiny). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/crc32.h"
#include "network/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size >= 64) {
        const uint32_t crc = nvc_crc32(nvc_crc32(0, buf, 36), buf + 40, size - 40);
        for (int i = 0; i < 4; i++)
            buf[36 + i] = (uint8_t)(crc >> (8 * i));
    }
    nvc_model *m = NULL;
    char msg[256];
    if (nvc_model_load_memory(buf, size, &m, msg, sizeof(msg)) == 0) {
        /* every graph, inputs of 8x8 (6 or 3 channels) or 4x4 (others) */
        for (int gi = 0; gi < nvc_model_num_graphs(m); gi++) {
            const nvc_net_graph *g = nvc_model_graph_at(m, gi);
            nvc_tensor in[64] = { { 0 } }, out[64] = { { 0 } };
            int hs[64], ws[64];
            for (int i = 0; i < g->n_inputs; i++) {
                hs[i] = ws[i] = g->inputs[i].c == 6 || g->inputs[i].c == 3 ? 8 : 4;
                nvc_tensor_alloc(&in[i], g->inputs[i].c, hs[i], ws[i], g->inputs[i].zp);
            }
            int64_t bytes;
            const int64_t macs = nvc_net_graph_cost(g, hs, ws, &bytes);
            if (macs >= 0 && macs < 20000000 && bytes < (32 << 20))
                nvc_net_run_graph(g, in, g->n_inputs, out, g->n_outputs, 1, NULL);
            for (int i = 0; i < 64; i++) {
                nvc_tensor_release(&in[i]);
                nvc_tensor_release(&out[i]);
            }
        }
        nvc_model_free(m);
    }
    free(buf);
    return 0;
}
