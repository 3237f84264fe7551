/* Graph interpreter: runs ops in order, each split into bands of output rows on the thread pool.
 * Every output pixel is computed by one kernel call from inputs that are complete, so the result does
 * not depend on the number of threads or on how rows are banded. */
#include <stdlib.h>
#include <string.h>

#include "network/model.h"
#include "network/tensor_cache.h"
#include "nvc/nvc.h"

/* Output size of op from its inputs' sizes, or NVC_EINVAL when the graph cannot take them. */
static int op_out_size(const nvc_net_op *op, const int *th, const int *tw, int *h, int *w)
{
    const int h0 = th[op->in[0]], w0 = tw[op->in[0]], r = op->p[0];
    switch (op->type) {
    case NVC_OP_CONV2D:
        *h = (h0 - 1) / op->stride + 1;
        *w = (w0 - 1) / op->stride + 1;
        /* the addend is read at each output pixel: it must have the output's size */
        if (op->n_in == 2 && (th[op->in[1]] != *h || tw[op->in[1]] != *w))
            return NVC_EINVAL;
        return 0;
    case NVC_OP_ADD:
    case NVC_OP_CONCAT:
        for (int i = 1; i < op->n_in; i++)
            if (th[op->in[i]] != h0 || tw[op->in[i]] != w0)
                return NVC_EINVAL;
        break;
    case NVC_OP_DEPTH_TO_SPACE:
    case NVC_OP_UPSAMPLE:
        if (h0 > NVC_TENSOR_MAX_DIM / r || w0 > NVC_TENSOR_MAX_DIM / r)
            return NVC_EINVAL;
        *h = h0 * r;
        *w = w0 * r;
        return 0;
    case NVC_OP_SPACE_TO_DEPTH:
        if (h0 % r || w0 % r)
            return NVC_EINVAL;
        *h = h0 / r;
        *w = w0 / r;
        return 0;
    case NVC_OP_WARP:
        if ((int64_t)th[op->in[1]] * r != 2 * (int64_t)h0 || (int64_t)tw[op->in[1]] * r != 2 * (int64_t)w0)
            return NVC_EINVAL;
        break;
    }
    *h = h0;
    *w = w0;
    return 0;
}

static int64_t op_macs(const nvc_net_op *op, int h, int w)
{
    if (op->type != NVC_OP_CONV2D)
        return 0;
    return (int64_t)h * w * op->c_out * (op->depthwise ? 1 : op->c_in) * op->k * op->k;
}

int64_t nvc_net_graph_cost(const nvc_net_graph *g, const int *in_h, const int *in_w, int64_t *bytes)
{
    int *th = malloc(sizeof(int) * (size_t)g->n_tensors), *tw = malloc(sizeof(int) * (size_t)g->n_tensors);
    int64_t macs = 0, total = 0;
    if (!th || !tw)
        macs = -1;
    for (int i = 0; i < g->n_inputs && macs >= 0; i++) {
        th[i] = in_h[i];
        tw[i] = in_w[i];
        if (th[i] < 1 || tw[i] < 1 || th[i] > NVC_TENSOR_MAX_DIM || tw[i] > NVC_TENSOR_MAX_DIM)
            macs = -1;
    }
    for (int i = 0; i < g->n_ops && macs >= 0; i++) {
        const int t = g->n_inputs + i;
        if (op_out_size(&g->ops[i], th, tw, &th[t], &tw[t])) {
            macs = -1;
            break;
        }
        macs += op_macs(&g->ops[i], th[t], tw[t]);
        total += (int64_t)(th[t] + 2 * NVC_TENSOR_BORDER) * (tw[t] + 2 * NVC_TENSOR_BORDER) *
                 ((g->ops[i].c_out + 15) & ~15);
    }
    free(th);
    free(tw);
    if (bytes)
        *bytes = macs < 0 ? -1 : total;
    return macs;
}

typedef struct band_job {
    const nvc_net_dsp *dsp;
    nvc_op_args args;
    int rows_per_task;
    uint8_t *scratch; /* scratch_size bytes per task */
    size_t scratch_size;
} band_job;

static void band_task(void *ctx, int task, int worker)
{
    const band_job *j = ctx;
    const int y0 = task * j->rows_per_task;
    int y1 = y0 + j->rows_per_task;
    if (y1 > j->args.out->h)
        y1 = j->args.out->h;
    nvc_op_args args = j->args;
    args.scratch = j->scratch ? j->scratch + (size_t)task * j->scratch_size : NULL;
    j->dsp->rows[args.op->type](&args, y0, y1);
}

int nvc_net_run_op(const nvc_net_op *op, const nvc_tensor *const *in, nvc_tensor *out, int quality,
                   nvc_pool *pool)
{
    band_job job = { .dsp = nvc_net_dsp_get(), .args = { .op = op, .out = out, .quality = quality } };
    int32_t *motion = NULL;
    for (int j = 0; j < op->n_in; j++)
        job.args.in[j] = in[j];
    if (op->type == NVC_OP_WARP) {
        const nvc_tensor *m = in[1];
        motion = malloc(sizeof(int32_t) * 2 * (size_t)m->h * m->w);
        if (!motion)
            return NVC_ENOMEM;
        nvc_warp_motion(op, m, motion);
        job.args.motion = motion;
    }
    /* a few bands per thread balance uneven progress; one band when running alone */
    const int threads = nvc_pool_threads(pool), h = out->h;
    const int tasks = threads > 1 ? (h < 4 * threads ? h : 4 * threads) : 1;
    job.rows_per_task = (h + tasks - 1) / tasks;
    const int n_tasks = (h + job.rows_per_task - 1) / job.rows_per_task;
    job.scratch_size = (nvc_op_scratch_size(op, in) + 63) & ~(size_t)63;
    if (job.scratch_size && !(job.scratch = malloc(job.scratch_size * (size_t)n_tasks))) {
        free(motion);
        return NVC_ENOMEM;
    }
    nvc_pool_run(pool, n_tasks, band_task, &job);
    free(job.scratch);
    free(motion);
    return 0;
}

int nvc_net_op_conv2d(nvc_net_op *op, int c_in, int c_out, int k, int stride, int depthwise, const int8_t *w,
                      const int32_t *bias, const int32_t *M, const int32_t *S, const int32_t *A, int zp_out, int lo,
                      int hi)
{
    memset(op, 0, sizeof(*op));
    if (c_in < 1 || c_out < 1 || c_in > 4096 || c_out > 4096 || (k != 1 && k != 3 && k != 5) ||
        (stride != 1 && stride != 2) || (depthwise && c_in != c_out) || zp_out < 0 || zp_out > 255 || lo < 0 ||
        lo > hi || hi > 255)
        return NVC_EINVAL;
    op->type = NVC_OP_CONV2D;
    op->n_in = A ? 2 : 1;
    op->c_in = c_in;
    op->c_out = c_out;
    op->k = k;
    op->stride = stride;
    op->depthwise = depthwise;
    op->w = w;
    op->bias = bias;
    op->M = M;
    op->S = S;
    op->A = A;
    op->zp_out = zp_out;
    op->lo = lo;
    op->hi = hi;
    op->n_params = 6;
    const int32_t p[6] = { k, stride, depthwise, zp_out, lo, hi };
    memcpy(op->p, p, sizeof(p));
    return depthwise ? 0 : nvc_conv_pack(op);
}

static int copy_tensor(nvc_tensor *dst, const nvc_tensor *src)
{
    const int err = nvc_tensor_alloc(dst, src->c, src->h, src->w, src->zp);
    if (!err)
        memcpy(dst->buf, src->buf, (size_t)(src->h + 2 * NVC_TENSOR_BORDER) * (size_t)src->rstride);
    return err;
}

int nvc_net_run_graph(const nvc_net_graph *g, const nvc_tensor *inputs, int n_inputs, nvc_tensor *outputs,
                      int n_outputs, int quality, nvc_pool *pool)
{
    if (n_inputs != g->n_inputs || n_outputs != g->n_outputs || quality < 0 || quality > 63)
        return NVC_EINVAL;
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i].c != g->inputs[i].c || inputs[i].zp != g->inputs[i].zp || !inputs[i].data)
            return NVC_EINVAL;
    nvc_tensor *vals = calloc((size_t)g->n_tensors, sizeof(*vals));
    const nvc_tensor **t = calloc((size_t)g->n_tensors, sizeof(*t));
    int *th = calloc((size_t)g->n_tensors, sizeof(int)), *tw = calloc((size_t)g->n_tensors, sizeof(int));
    int err = (!vals || !t || !th || !tw) ? NVC_ENOMEM : 0;
    for (int i = 0; i < n_inputs && !err; i++) {
        t[i] = &inputs[i];
        th[i] = inputs[i].h;
        tw[i] = inputs[i].w;
    }
    for (int i = 0; i < g->n_ops && !err; i++) {
        const nvc_net_op *op = &g->ops[i];
        const int id = g->n_inputs + i;
        if ((err = op_out_size(op, th, tw, &th[id], &tw[id])))
            break;
        if (op->type == NVC_OP_SCALE_CHANNELS && op->nq > 1 && quality >= op->nq) {
            err = NVC_EINVAL;
            break;
        }
        const int a = op->in[0];
        if (op->type == NVC_OP_ADD && a >= g->n_inputs && g->last_use[a] == i && vals[a].buf &&
            vals[a].c == op->c_out && vals[a].h == th[id] && vals[a].w == tw[id] && vals[a].zp == op->zp_out) {
            /* add is elementwise (each output byte from the same position of its inputs, read before it is
             * written) and nothing reads its first input afterwards: write over that input. Saves a tensor the
             * size of the picture where two paths are summed into the output (the synthesis graphs). */
            vals[id] = vals[a];
            memset(&vals[a], 0, sizeof(vals[a]));
            t[a] = &vals[id];
        } else if ((err = nvc_tensor_cache_get(g->cache, &vals[id], op->c_out, th[id], tw[id], op->zp_out)))
            break; /* the kernels write the whole interior: only the border needs setting */
        t[id] = &vals[id];
        const nvc_tensor *ins[NVC_OP_MAX_IN];
        for (int j = 0; j < op->n_in; j++)
            ins[j] = t[op->in[j]];
        if ((err = nvc_net_run_op(op, ins, &vals[id], quality, pool)))
            break;
        for (int j = 0; j < op->n_in; j++) { /* recycle what no later op or output needs */
            const int in = op->in[j];
            if (in >= g->n_inputs && g->last_use[in] == i)
                nvc_tensor_release(&vals[in]);
        }
    }
    for (int j = 0; j < n_outputs && !err; j++) {
        const int id = g->outputs[j].tensor;
        nvc_tensor_release(&outputs[j]);
        if (id >= g->n_inputs && vals[id].buf) { /* move */
            outputs[j] = vals[id];
            memset(&vals[id], 0, sizeof(vals[id]));
        } else { /* a graph input, or a tensor named by two outputs */
            const nvc_tensor *src = id < g->n_inputs ? &inputs[id] : NULL;
            for (int k = 0; k < j && !src; k++)
                if (g->outputs[k].tensor == id)
                    src = &outputs[k];
            err = copy_tensor(&outputs[j], src);
        }
    }
    if (vals)
        for (int i = 0; i < g->n_tensors; i++)
            nvc_tensor_release(&vals[i]);
    free(vals);
    free(t);
    free(th);
    free(tw);
    return err;
}

int nvc_net_run(const nvc_model *m, const char *graph, const nvc_tensor *inputs, int n_inputs,
                nvc_tensor *outputs, int n_outputs, int quality, nvc_pool *pool)
{
    const nvc_net_graph *g = nvc_model_graph(m, graph);
    return g ? nvc_net_run_graph(g, inputs, n_inputs, outputs, n_outputs, quality, pool) : NVC_EMODEL;
}
