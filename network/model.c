/* .nvm loader (docs/nvm.md): every field is bounded and checked before use; a bad, truncated or
 * foreign file gives NVC_EMODEL and a message, never a crash or an unbounded allocation. */
#include "network/model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec/crc32.h"
#include "codec/le.h"
#include "network/tensor_cache.h"
#include "nvc/nvc.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .nvm loader maps little-endian arrays directly"
#endif

#define HEADER_SIZE 64
#define MAX_GRAPH_SECTION (16u << 20)
#define MAX_RAW_DATA (512u << 20)
#define MAX_GRAPHS 64
#define MAX_OPS 4096
#define MAX_IO 64
#define MAX_BLOBS 256
#define MAX_CHANNELS 4096
#define WEIGHT_MAX 64
#define A_MIN (-32768) /* conv2d addend multipliers: int16 */
#define A_MAX 32767
#define M_LIMIT (1 << 30)

typedef struct nvc_blob {
    char name[NVC_NVM_MAX_NAME + 1];
    const uint8_t *data;
    size_t size;
} nvc_blob;

struct nvc_model {
    uint64_t id;
    uint8_t *data; /* raw data section; arrays point into it */
    size_t data_size;
    int n_graphs, n_blobs;
    nvc_net_graph *graphs;
    nvc_blob *blobs;
    nvc_tensor_cache *cache; /* tensor buffers shared by the runs of all graphs */
};

typedef struct reader {
    const uint8_t *p, *end;
    const uint8_t *data; /* raw data section */
    size_t data_size;
    char *msg;
    size_t msg_size;
    int failed;
} reader;

static int fail(reader *r, const char *fmt, ...)
{
    if (!r->failed && r->msg && r->msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->msg, r->msg_size, fmt, ap);
        va_end(ap);
    }
    r->failed = 1;
    return NVC_EMODEL;
}

/* Reads a u32; on overrun sets the failure (and returns 0), so callers check r->failed once per item. */
static uint32_t u32(reader *r)
{
    if (r->failed)
        return 0;
    if (r->end - r->p < 4) {
        fail(r, "model: graph section truncated");
        return 0;
    }
    const uint32_t v = nvc_le32(r->p);
    r->p += 4;
    return v;
}

/* u32 in [lo, hi], or failure naming `what` (and lo, so that a caller may use the value safely). */
static uint32_t u32_in(reader *r, uint32_t lo, uint32_t hi, const char *what)
{
    const uint32_t v = u32(r);
    if (!r->failed && (v < lo || v > hi))
        fail(r, "model: %s = %u outside [%u, %u]", what, v, lo, hi);
    return r->failed ? lo : v;
}

static void name(reader *r, char out[NVC_NVM_MAX_NAME + 1])
{
    out[0] = 0;
    if (r->failed)
        return;
    if (r->end - r->p < 2) {
        fail(r, "model: graph section truncated");
        return;
    }
    const unsigned n = r->p[0] | r->p[1] << 8;
    r->p += 2;
    if (n < 1 || n > NVC_NVM_MAX_NAME || (size_t)(r->end - r->p) < n) {
        fail(r, "model: bad name length %u", n);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        const char ch = (char)r->p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == '-')) {
            fail(r, "model: bad character in a name");
            return;
        }
        out[i] = ch;
    }
    out[n] = 0;
    r->p += n;
}

/* An array reference into the data section: `count` elements of `elem` bytes, aligned to elem. */
static const void *array(reader *r, size_t count, size_t elem, const char *what)
{
    const uint32_t off = u32(r), size = u32(r);
    if (r->failed)
        return NULL;
    if ((size_t)size != count * elem || off % elem || (size_t)off > r->data_size || size > r->data_size - off) {
        fail(r, "model: %s: array of %u bytes at %u does not fit (expected %zu bytes)", what, size, off,
             count * elem);
        return NULL;
    }
    return r->data + off;
}

static int check_requant_table(reader *r, const int32_t *M, const int32_t *S, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (M[i] < 0 || M[i] >= M_LIMIT || S[i] < 1 || S[i] > 62)
            return fail(r, "model: %s: M = %d or S = %d out of range", what, M[i], S[i]);
    return 0;
}

static int check_out_range(reader *r, int zp, int lo, int hi, const char *what)
{
    if (zp < 0 || zp > 255 || lo < 0 || lo > hi || hi > 255)
        return fail(r, "model: %s: zp_out %d, lo %d, hi %d invalid", what, zp, lo, hi);
    return 0;
}

/* Validates one op against docs/nvm.md and derives its output channels and zero point. */
static int read_op(reader *r, nvc_net_graph *g, int index, nvc_net_op *op)
{
    const int avail = g->n_inputs + index; /* tensors an op may read */
    op->type = (int)u32_in(r, 1, NVC_OP_COUNT - 1, "op type");
    op->n_in = (int)u32_in(r, 1, NVC_OP_MAX_IN, "op input count");
    for (int i = 0; i < op->n_in && !r->failed; i++)
        op->in[i] = (int)u32_in(r, 0, (uint32_t)avail - 1, "op input tensor");
    const int rec_c = (int)u32(r), rec_zp = (int)u32(r);
    op->n_params = (int)u32_in(r, 0, NVC_OP_MAX_PARAMS, "op parameter count");
    for (int i = 0; i < op->n_params && !r->failed; i++)
        op->p[i] = (int32_t)u32(r);
    if (r->failed)
        return NVC_EMODEL;
    static const struct { int n_in_min, n_in_max, n_params, n_arrays; } shape[NVC_OP_COUNT] = {
        [NVC_OP_CONV2D] = { 1, 2, 6, 4 },        [NVC_OP_ADD] = { 2, 2, 6, 0 },
        [NVC_OP_SCALE_CHANNELS] = { 1, 1, 4, 2 }, [NVC_OP_CONCAT] = { 2, 16, 0, 0 },
        [NVC_OP_SLICE] = { 1, 1, 2, 0 },          [NVC_OP_DEPTH_TO_SPACE] = { 1, 1, 1, 0 },
        [NVC_OP_SPACE_TO_DEPTH] = { 1, 1, 1, 0 }, [NVC_OP_CLAMP] = { 1, 1, 2, 0 },
        [NVC_OP_UPSAMPLE] = { 1, 1, 2, 0 },       [NVC_OP_WARP] = { 2, 2, 5, 0 },
    };
    const int n_arrays = (int)u32(r);
    if (r->failed)
        return NVC_EMODEL;
    /* a conv2d with an addend (second input) has a fifth array, A */
    const int addend = op->type == NVC_OP_CONV2D && op->n_in == 2;
    if (op->n_in < shape[op->type].n_in_min || op->n_in > shape[op->type].n_in_max ||
        op->n_params != shape[op->type].n_params || n_arrays != shape[op->type].n_arrays + addend)
        return fail(r, "model: op %d (type %d): wrong number of inputs, parameters or arrays", index, op->type);
    const int c0 = g->tensor_c[op->in[0]], zp0 = g->tensor_zp[op->in[0]];
    const int32_t *p = op->p;
    int c = c0, zp = zp0;
    op->lo = 0;
    op->hi = 255;
    switch (op->type) {
    case NVC_OP_CONV2D: {
        op->k = p[0];
        op->stride = p[1];
        op->depthwise = p[2];
        op->zp_out = zp = p[3];
        op->lo = p[4];
        op->hi = p[5];
        if ((op->k != 1 && op->k != 3 && op->k != 5) || (op->stride != 1 && op->stride != 2) ||
            (op->depthwise != 0 && op->depthwise != 1))
            return fail(r, "model: conv2d: k %d, stride %d, depthwise %d invalid", op->k, op->stride, op->depthwise);
        if (check_out_range(r, zp, op->lo, op->hi, "conv2d"))
            return NVC_EMODEL;
        c = rec_c; /* output channels come from the record; checked against the arrays */
        if (c < 1 || c > MAX_CHANNELS || (op->depthwise && c != c0))
            return fail(r, "model: conv2d: %d output channels for %d input channels", c, c0);
        if (addend && g->tensor_c[op->in[1]] != c)
            return fail(r, "model: conv2d: addend of %d channels for %d output channels", g->tensor_c[op->in[1]], c);
        op->c_in = c0;
        const size_t kk = (size_t)(op->depthwise ? 1 : c0) * op->k * op->k;
        op->w = array(r, (size_t)c * kk, 1, "conv2d weights");
        op->bias = array(r, (size_t)c, 4, "conv2d bias");
        op->M = array(r, (size_t)c, 4, "conv2d M");
        op->S = array(r, (size_t)c, 4, "conv2d S");
        op->A = addend ? array(r, (size_t)c, 4, "conv2d A") : NULL;
        if (r->failed)
            return NVC_EMODEL;
        for (size_t i = 0; i < (size_t)c * kk; i++)
            if (op->w[i] < -WEIGHT_MAX || op->w[i] > WEIGHT_MAX)
                return fail(r, "model: conv2d weight %d outside [-64, 64]", op->w[i]);
        int64_t a_max = 0; /* max |A|: the addend term is at most 255 * a_max in magnitude */
        for (int o = 0; addend && o < c; o++) {
            if (op->A[o] < A_MIN || op->A[o] > A_MAX)
                return fail(r, "model: conv2d A %d outside [%d, %d]", op->A[o], A_MIN, A_MAX);
            const int64_t mag = op->A[o] < 0 ? -(int64_t)op->A[o] : op->A[o];
            a_max = mag > a_max ? mag : a_max;
        }
        const int64_t bias_max = INT32_MAX - (int64_t)kk * 255 * WEIGHT_MAX - 255 * a_max;
        for (int o = 0; o < c; o++)
            if (op->bias[o] > bias_max || op->bias[o] < -bias_max)
                return fail(r, "model: conv2d bias %d could overflow the int32 accumulator", op->bias[o]);
        if (check_requant_table(r, op->M, op->S, (size_t)c, "conv2d"))
            return NVC_EMODEL;
        break;
    }
    case NVC_OP_ADD:
        if (g->tensor_c[op->in[1]] != c0)
            return fail(r, "model: add of %d and %d channels", c0, g->tensor_c[op->in[1]]);
        if (p[0] < -32768 || p[0] > 32767 || p[1] < -32768 || p[1] > 32767 || p[2] < 1 || p[2] > 30)
            return fail(r, "model: add: Ma %d, Mb %d or S %d out of range", p[0], p[1], p[2]);
        zp = p[3];
        op->lo = p[4];
        op->hi = p[5];
        if (check_out_range(r, zp, op->lo, op->hi, "add"))
            return NVC_EMODEL;
        break;
    case NVC_OP_SCALE_CHANNELS:
        op->nq = p[0];
        zp = p[1];
        op->lo = p[2];
        op->hi = p[3];
        if (op->nq < 1 || op->nq > 64)
            return fail(r, "model: scale_channels: %d quality rows", op->nq);
        if (check_out_range(r, zp, op->lo, op->hi, "scale_channels"))
            return NVC_EMODEL;
        op->tab_M = array(r, (size_t)op->nq * c0, 4, "scale_channels M");
        op->tab_S = array(r, (size_t)op->nq * c0, 4, "scale_channels S");
        if (r->failed || check_requant_table(r, op->tab_M, op->tab_S, (size_t)op->nq * c0, "scale_channels"))
            return NVC_EMODEL;
        break;
    case NVC_OP_CONCAT:
        c = 0;
        for (int i = 0; i < op->n_in; i++) {
            if (g->tensor_zp[op->in[i]] != zp0)
                return fail(r, "model: concat of tensors with different zero points");
            c += g->tensor_c[op->in[i]];
        }
        break;
    case NVC_OP_SLICE:
        if (p[0] < 0 || p[1] < 1 || p[0] > c0 - p[1])
            return fail(r, "model: slice [%d, +%d) of %d channels", p[0], p[1], c0);
        c = p[1];
        break;
    case NVC_OP_DEPTH_TO_SPACE:
        if (p[0] < 2 || p[0] > 8 || c0 % (p[0] * p[0]))
            return fail(r, "model: depth_to_space by %d of %d channels", p[0], c0);
        c = c0 / (p[0] * p[0]);
        break;
    case NVC_OP_SPACE_TO_DEPTH:
        if (p[0] < 2 || p[0] > 8)
            return fail(r, "model: space_to_depth by %d", p[0]);
        c = c0 * p[0] * p[0];
        break;
    case NVC_OP_CLAMP:
        op->lo = p[0];
        op->hi = p[1];
        if (check_out_range(r, zp, op->lo, op->hi, "clamp"))
            return NVC_EMODEL;
        break;
    case NVC_OP_UPSAMPLE:
        if (p[0] < 1 || p[0] > 16 || (p[1] != 0 && p[1] != 1))
            return fail(r, "model: upsample by %d, mode %d", p[0], p[1]);
        break;
    case NVC_OP_WARP:
        if (c0 != 6 || g->tensor_c[op->in[1]] != 2)
            return fail(r, "model: warp needs a 6-channel picture and a 2-channel motion field");
        if (p[0] < 1 || p[0] > 64 || p[1] < 0 || p[1] >= M_LIMIT || p[2] < 1 || p[2] > 62 || p[3] < 0 ||
            p[3] >= M_LIMIT || p[4] < 1 || p[4] > 62)
            return fail(r, "model: warp parameters out of range");
        break;
    }
    if (c > MAX_CHANNELS)
        return fail(r, "model: op %d makes %d channels", index, c);
    if (c != rec_c || zp != rec_zp)
        return fail(r, "model: op %d: declared %d channels zp %d, derived %d channels zp %d", index, rec_c,
                    rec_zp, c, zp);
    op->c_out = c;
    op->zp_out = zp;
    if (op->type == NVC_OP_CONV2D && !op->depthwise && nvc_conv_pack(op))
        return NVC_ENOMEM;
    return 0;
}

static void graph_free(nvc_net_graph *g)
{
    if (g->ops)
        for (int i = 0; i < g->n_ops; i++)
            nvc_conv_pack_free(&g->ops[i]);
    free(g->inputs);
    free(g->ops);
    free(g->outputs);
    free(g->tensor_c);
    free(g->tensor_zp);
    free(g->last_use);
}

static int read_graph(reader *r, const nvc_model *m, nvc_net_graph *g)
{
    name(r, g->name);
    for (int i = 0; i < m->n_graphs && !r->failed; i++)
        if (&m->graphs[i] != g && !strcmp(m->graphs[i].name, g->name))
            return fail(r, "model: two graphs named %s", g->name);
    g->n_inputs = (int)u32_in(r, 1, MAX_IO, "graph input count");
    if (r->failed)
        return NVC_EMODEL;
    g->inputs = calloc((size_t)g->n_inputs, sizeof(*g->inputs));
    /* tensors: inputs + one per op; n_ops is not known yet, so size for the maximum after reading it */
    if (!g->inputs)
        return NVC_ENOMEM;
    for (int i = 0; i < g->n_inputs && !r->failed; i++) {
        name(r, g->inputs[i].name);
        g->inputs[i].c = (int)u32_in(r, 1, MAX_CHANNELS, "input channels");
        g->inputs[i].zp = (int)u32_in(r, 0, 255, "input zero point");
        for (int j = 0; j < i && !r->failed; j++)
            if (!strcmp(g->inputs[j].name, g->inputs[i].name))
                return fail(r, "model: graph %s: two inputs named %s", g->name, g->inputs[i].name);
    }
    g->n_ops = (int)u32_in(r, 0, MAX_OPS, "op count");
    if (r->failed)
        return NVC_EMODEL;
    g->n_tensors = g->n_inputs + g->n_ops;
    g->ops = calloc((size_t)g->n_ops + 1, sizeof(*g->ops));
    g->tensor_c = calloc((size_t)g->n_tensors, sizeof(int));
    g->tensor_zp = calloc((size_t)g->n_tensors, sizeof(int));
    g->last_use = calloc((size_t)g->n_tensors, sizeof(int));
    if (!g->ops || !g->tensor_c || !g->tensor_zp || !g->last_use)
        return NVC_ENOMEM;
    for (int i = 0; i < g->n_inputs; i++) {
        g->tensor_c[i] = g->inputs[i].c;
        g->tensor_zp[i] = g->inputs[i].zp;
    }
    for (int i = 0; i < g->n_ops; i++) {
        int err = read_op(r, g, i, &g->ops[i]);
        if (err)
            return err;
        g->tensor_c[g->n_inputs + i] = g->ops[i].c_out;
        g->tensor_zp[g->n_inputs + i] = g->ops[i].zp_out;
        for (int j = 0; j < g->ops[i].n_in; j++)
            g->last_use[g->ops[i].in[j]] = i;
    }
    g->n_outputs = (int)u32_in(r, 1, MAX_IO, "graph output count");
    if (r->failed)
        return NVC_EMODEL;
    g->outputs = calloc((size_t)g->n_outputs, sizeof(*g->outputs));
    if (!g->outputs)
        return NVC_ENOMEM;
    for (int i = 0; i < g->n_outputs && !r->failed; i++) {
        name(r, g->outputs[i].name);
        g->outputs[i].tensor = (int)u32_in(r, 0, (uint32_t)g->n_tensors - 1, "output tensor");
        g->outputs[i].c = g->tensor_c[g->outputs[i].tensor];
        g->outputs[i].zp = g->tensor_zp[g->outputs[i].tensor];
        g->last_use[g->outputs[i].tensor] = g->n_ops;
        for (int j = 0; j < i && !r->failed; j++)
            if (!strcmp(g->outputs[j].name, g->outputs[i].name))
                return fail(r, "model: graph %s: two outputs named %s", g->name, g->outputs[i].name);
    }
    return r->failed ? NVC_EMODEL : 0;
}

void nvc_model_free(nvc_model *m)
{
    if (!m)
        return;
    if (m->graphs)
        for (int i = 0; i < m->n_graphs; i++)
            graph_free(&m->graphs[i]);
    free(m->graphs);
    nvc_tensor_cache_free(m->cache);
    free(m->blobs);
    free(m->data);
    free(m);
}

static int load(const uint8_t *buf, size_t size, nvc_model *m, reader *r)
{
    if (size < HEADER_SIZE || memcmp(buf, "NVCMODEL", 8))
        return fail(r, "model: not an .nvm file (bad magic or shorter than its header)");
    const uint32_t version = nvc_le32(buf + 8), hsize = nvc_le32(buf + 12);
    if (version > NVC_NVM_VERSION) {
        fail(r, "model: .nvm format version %u is newer than this library's (%d)", version, NVC_NVM_VERSION);
        return NVC_EUNSUPPORTED;
    }
    if (version != NVC_NVM_VERSION || hsize != HEADER_SIZE)
        return fail(r, "model: .nvm version %u with a %u-byte header is not supported", version, hsize);
    m->id = (uint64_t)nvc_le32(buf + 16) | (uint64_t)nvc_le32(buf + 20) << 32;
    const uint32_t glen = nvc_le32(buf + 24), clen = nvc_le32(buf + 28), rlen = nvc_le32(buf + 32);
    const uint32_t crc = nvc_le32(buf + 36);
    if (glen > MAX_GRAPH_SECTION || rlen > MAX_RAW_DATA)
        return fail(r, "model: section sizes out of bounds (graph %u, data %u bytes)", glen, rlen);
    if ((uint64_t)HEADER_SIZE + glen + clen != size)
        return fail(r, "model: file is %zu bytes, header says %llu (truncated or trailing data)", size,
                    (unsigned long long)HEADER_SIZE + glen + clen);
    for (int i = 40; i < HEADER_SIZE; i++)
        if (buf[i])
            return fail(r, "model: reserved header bytes are not zero");
    if (nvc_crc32(nvc_crc32(0, buf, 36), buf + 40, size - 40) != crc)
        return fail(r, "model: checksum mismatch (corrupt file)");
    const uint8_t *comp = buf + HEADER_SIZE + glen;
    const unsigned long long content = ZSTD_getFrameContentSize(comp, clen);
    if (content != rlen)
        return fail(r, "model: data section is not a zstd frame of %u bytes", rlen);
    m->data = aligned_alloc(64, ((size_t)rlen + 64) & ~(size_t)63);
    if (!m->data)
        return NVC_ENOMEM;
    const size_t got = ZSTD_decompress(m->data, rlen, comp, clen);
    if (ZSTD_isError(got) || got != rlen)
        return fail(r, "model: corrupt zstd data section");
    m->data_size = rlen;
    r->p = buf + HEADER_SIZE;
    r->end = buf + HEADER_SIZE + glen;
    r->data = m->data;
    r->data_size = rlen;
    m->n_blobs = (int)u32_in(r, 0, MAX_BLOBS, "blob count");
    if (r->failed)
        return NVC_EMODEL;
    m->blobs = calloc((size_t)m->n_blobs + 1, sizeof(*m->blobs));
    if (!m->blobs)
        return NVC_ENOMEM;
    for (int i = 0; i < m->n_blobs && !r->failed; i++) {
        name(r, m->blobs[i].name);
        const uint32_t off = u32(r), len = u32(r);
        if (!r->failed && (off > rlen || len > rlen - off))
            return fail(r, "model: blob %s outside the data section", m->blobs[i].name);
        m->blobs[i].data = m->data + off;
        m->blobs[i].size = len;
        for (int j = 0; j < i && !r->failed; j++)
            if (!strcmp(m->blobs[j].name, m->blobs[i].name))
                return fail(r, "model: two blobs named %s", m->blobs[i].name);
    }
    const int n_graphs = (int)u32_in(r, 1, MAX_GRAPHS, "graph count");
    if (r->failed)
        return NVC_EMODEL;
    m->graphs = calloc((size_t)n_graphs, sizeof(*m->graphs));
    if (!m->graphs)
        return NVC_ENOMEM;
    for (int i = 0; i < n_graphs; i++) {
        m->n_graphs = i + 1; /* so that nvc_model_free releases what was read */
        const int err = read_graph(r, m, &m->graphs[i]);
        if (err)
            return err;
    }
    if (r->p != r->end)
        return fail(r, "model: %td unexpected bytes at the end of the graph section", r->end - r->p);
    if (!(m->cache = nvc_tensor_cache_new()))
        return NVC_ENOMEM;
    for (int i = 0; i < n_graphs; i++)
        m->graphs[i].cache = m->cache;
    return 0;
}

int nvc_model_load_memory(const void *data, size_t size, nvc_model **out, char *msg, size_t msg_size)
{
    *out = NULL;
    if (msg && msg_size)
        msg[0] = 0;
    reader r = { .msg = msg, .msg_size = msg_size };
    nvc_model *m = calloc(1, sizeof(*m));
    if (!m)
        return NVC_ENOMEM;
    int err = data ? load(data, size, m, &r) : fail(&r, "model: no data");
    if (err) {
        if (err == NVC_ENOMEM && msg && msg_size && !r.failed)
            snprintf(msg, msg_size, "model: out of memory");
        nvc_model_free(m);
        return err;
    }
    *out = m;
    return 0;
}

int nvc_model_load_file(const char *path, nvc_model **out, char *msg, size_t msg_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "model: cannot open %s: %s", path, strerror(errno));
        return NVC_EIO;
    }
    long size = -1;
    if (!fseek(f, 0, SEEK_END))
        size = ftell(f);
    if (size < 0 || size > (long)NVC_NVM_MAX_FILE || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        if (msg && msg_size)
            snprintf(msg, msg_size, "model: %s: unreadable or larger than 1 GiB", path);
        return size < 0 ? NVC_EIO : NVC_EMODEL;
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return NVC_ENOMEM;
    }
    const size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    int err;
    if (got != (size_t)size) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "model: %s: read error", path);
        err = NVC_EIO;
    } else {
        err = nvc_model_load_memory(buf, (size_t)size, out, msg, msg_size);
    }
    free(buf);
    return err;
}

/* Defined by the build (Makefile): the bytes of models/default.nvm, or nothing (start == end) when the
 * library was built without a default model. */
extern const uint8_t nvc_default_model_start[] __attribute__((visibility("hidden")));
extern const uint8_t nvc_default_model_end[] __attribute__((visibility("hidden")));

int nvc_model_load_default(nvc_model **out, char *msg, size_t msg_size)
{
    const uint8_t *start = nvc_default_model_start, *end = nvc_default_model_end;
    if (end <= start) {
        *out = NULL;
        if (msg && msg_size)
            snprintf(msg, msg_size, "model: no default model is embedded in this build of libnvc");
        return NVC_EMODEL;
    }
    return nvc_model_load_memory(start, (size_t)(end - start), out, msg, msg_size);
}

uint64_t nvc_model_id(const nvc_model *m)
{
    return m->id;
}

const nvc_net_graph *nvc_model_graph(const nvc_model *m, const char *gname)
{
    for (int i = 0; i < m->n_graphs; i++)
        if (!strcmp(m->graphs[i].name, gname))
            return &m->graphs[i];
    return NULL;
}

int nvc_model_num_graphs(const nvc_model *m)
{
    return m->n_graphs;
}

const nvc_net_graph *nvc_model_graph_at(const nvc_model *m, int i)
{
    return i >= 0 && i < m->n_graphs ? &m->graphs[i] : NULL;
}

const uint8_t *nvc_model_blob(const nvc_model *m, const char *bname, size_t *size)
{
    for (int i = 0; i < m->n_blobs; i++)
        if (!strcmp(m->blobs[i].name, bname)) {
            if (size)
                *size = m->blobs[i].size;
            return m->blobs[i].data;
        }
    if (size)
        *size = 0;
    return NULL;
}
