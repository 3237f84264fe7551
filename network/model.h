/* Models (.nvm files, docs/nvm.md) and running their graphs (docs/engine.md).
 *
 *   nvc_model *m;
 *   char msg[256];
 *   if (nvc_model_load_file("model.nvm", &m, msg, sizeof(msg)) < 0) { puts(msg); ... }
 *   nvc_tensor in[1] = {0}, out[2] = {0};
 *   nvc_tensor_alloc(&in[0], c, h, w, zp);  ... fill in[0] through nvc_tensor_px() ...
 *   int err = nvc_net_run(m, "i_dec", in, 1, out, 2, quality, pool);
 *   ... use out[0], out[1] ...; nvc_tensor_release(&out[i]) ...; nvc_model_free(m);
 *
 * A loaded model is immutable: any number of threads may run its graphs at the same time. */
#ifndef NVC_NETWORK_MODEL_H
#define NVC_NETWORK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "entropy/threadpool.h"
#include "network/ops.h"
#include "network/tensor.h"

#define NVC_NVM_VERSION 1
#define NVC_NVM_MAX_NAME 255
#define NVC_NVM_MAX_FILE (1u << 30)

typedef struct nvc_net_io {
    char name[NVC_NVM_MAX_NAME + 1];
    int c, zp;  /* inputs */
    int tensor; /* outputs */
} nvc_net_io;

typedef struct nvc_net_graph {
    char name[NVC_NVM_MAX_NAME + 1];
    int n_inputs, n_ops, n_outputs, n_tensors;
    nvc_net_io *inputs;
    nvc_net_op *ops;
    nvc_net_io *outputs;
    int *tensor_c, *tensor_zp; /* [n_tensors] */
    int *last_use;             /* [n_tensors]: last op reading it; n_ops for graph outputs */
    struct nvc_tensor_cache *cache; /* the model's buffer cache (network/tensor_cache.h), NULL for none */
} nvc_net_graph;

typedef struct nvc_model nvc_model;

/* Load and validate a model. On failure returns NVC_EMODEL (bad, truncated or foreign file),
 * NVC_EUNSUPPORTED (newer format version), NVC_ENOMEM or NVC_EIO, sets *out to NULL and writes a
 * one-line reason to msg (if msg_size > 0). The memory variant copies what it needs. */
int nvc_model_load_memory(const void *data, size_t size, nvc_model **out, char *msg, size_t msg_size);
int nvc_model_load_file(const char *path, nvc_model **out, char *msg, size_t msg_size);
/* The model embedded in libnvc (models/default.nvm at build time); NVC_EMODEL if there is none. */
int nvc_model_load_default(nvc_model **out, char *msg, size_t msg_size);
void nvc_model_free(nvc_model *m);

uint64_t nvc_model_id(const nvc_model *m);
const nvc_net_graph *nvc_model_graph(const nvc_model *m, const char *name); /* NULL if absent */
int nvc_model_num_graphs(const nvc_model *m);
const nvc_net_graph *nvc_model_graph_at(const nvc_model *m, int i); /* 0 <= i < nvc_model_num_graphs */
/* A metadata blob by name (NULL if absent); *size gets its length. */
const uint8_t *nvc_model_blob(const nvc_model *m, const char *name, size_t *size);

/* Runs a graph: inputs[i] in declaration order (their c and zp must match the declaration), quality
 * 0..63 (for scale_channels). outputs[j] (declaration order) must be zero-initialised or hold earlier
 * tensors; they are replaced. pool may be NULL (runs on the caller). The result is the same for any
 * pool size and backend. Returns 0, NVC_EINVAL (wrong inputs or sizes the graph cannot take),
 * NVC_EMODEL (no such graph) or NVC_ENOMEM. */
int nvc_net_run(const nvc_model *m, const char *graph, const nvc_tensor *inputs, int n_inputs,
                nvc_tensor *outputs, int n_outputs, int quality, nvc_pool *pool);
int nvc_net_run_graph(const nvc_net_graph *g, const nvc_tensor *inputs, int n_inputs, nvc_tensor *outputs,
                      int n_outputs, int quality, nvc_pool *pool);

/* Runs one op into out (already allocated with the op's output size and zero point). Used by the
 * interpreter, and directly by tests and benchmarks. */
int nvc_net_run_op(const nvc_net_op *op, const nvc_tensor *const *in, nvc_tensor *out, int quality,
                   nvc_pool *pool);
/* Makes a conv2d op from arrays the caller keeps alive (tests, benchmarks); packs the weights, which
 * nvc_conv_pack_free() releases. A non-NULL A ([c_out]) makes a conv with an addend, its second input.
 * Values are not range-checked here (the loader does that). */
int nvc_net_op_conv2d(nvc_net_op *op, int c_in, int c_out, int k, int stride, int depthwise, const int8_t *w,
                      const int32_t *bias, const int32_t *M, const int32_t *S, const int32_t *A, int zp_out, int lo,
                      int hi);

/* Multiply-accumulates of one run of g at these input sizes, -1 if the graph cannot take them; *bytes
 * (if not NULL) gets the sum of all its tensors' sizes, a bound on the memory a run needs. */
int64_t nvc_net_graph_cost(const nvc_net_graph *g, const int *in_h, const int *in_w, int64_t *bytes);

#endif
