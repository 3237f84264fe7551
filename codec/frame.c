/* Frame coding shared by the decoder and the encoder (codec/frame.h). */
#include "codec/frame.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/motion_search.h"
#include "codec/scale_shift.h"
#include "entropy/rans.h"
#include "entropy/ctxplane.h"
#include "entropy/fitted_cdf.h"
#include "nvc/nvc.h"

/* The graphs and tables of each latent kind (names written by tools/train/export.py). */
static const struct {
    const char *hyper_enc, *hyper_dec, *table_blob, *ctx, *what;
    const char *analysis, *exact; /* the int8 analysis graph, the encoder's block analysis blob (or NULL) */
    int analysis_in;              /* packed picture channels the analysis takes */
    const char *basis;            /* the encoder's synthesis basis blob (codec/rdoq.h), or NULL */
} kinds[NVC_LATENT_KINDS] = {
    { "i_hyper_enc", "i_hyper_dec", "i_z_cdf", "i_ctx", "I latent", "i_analysis", "i_analysis_exact", 6,
      "i_synth_basis" },
    { "p_mv_hyper_enc", "p_mv_hyper_dec", "p_mv_z_cdf", "p_mv_ctx", "motion latent", "p_mv_enc", NULL, 14, NULL },
    { "p_res_hyper_enc", "p_res_hyper_dec", "p_res_z_cdf", "p_res_ctx", "residual latent", "p_res_enc",
      "p_res_enc_exact", 12, "p_res_synth_basis" },
};

#define GAUSS_BLOB "gauss_cdf"
#define LATENT_ZP 128   /* latents and hyper-latents: symbol = q - 128 */
#define PICTURE_ZP 128
#define HYPER_DOWN 64   /* luma pixels per hyper-latent element */
#define LATENT_DOWN 16  /* luma pixels per latent element */
#define BLOCK_MV_RANGE 16 /* nvc_block_search's integer range in luma pels (the model trains with 8) */
/* The vector search's second pass (nvc_frame_search) prices a vector at MV_SAD_PER_BIT x the penalty per quarter pel
 * of the first for each bit the model codes it with. The penalty is about sqrt(1 / lambda) SAD units, H.264's motion
 * lambda, i.e. one bit per quarter pel; the model's bits are fewer (a vector at its predicted mean costs little),
 * and 2 was best on training footage (30 frames, q 0..63, BD-rate against one pass: 1x -0.6% / -3.6% (vtest /
 * Megamind), 2x -1.0% / -4.5%, 3x -1.0% / -4.0%, 4x -0.7% / -3.2%, 0.5x +0.3% / -0.8%; a third pass at 2x
 * -0.8% / -5.2%). */
#define MV_SAD_PER_BIT 2
/* The third pass (format 2.3's context-coded vectors) prices each bit of the context code at this fraction of a
 * hyperprior bit: the initial tables overstate what an adapted table charges, and the first passes' neighbours
 * are not the final ones (training footage, 30 frames, against two passes: x0.5 vtest 0.0%, Megamind -2.5%;
 * x0.35 +0.1% / -2.8%; x0.7 -0.1% / -0.8%; x1 +0.8% / +1.1%; session 14). */
#define MV_CONTEXT_PRICE 0.5f
/* The I path's trade-off above I_TOP_QUALITY (tools/train/model.py lmb_i, since run 20): log-linear from lambda(42)
 * to I_LAMBDA_MAX at q63 */
#define I_TOP_QUALITY 42
#define I_LAMBDA_MAX 0.48

#define FAIL(code, ...)                                                                                       \
    do {                                                                                                      \
        if (msg && msg_size)                                                                                  \
            snprintf(msg, msg_size, __VA_ARGS__);                                                             \
        return code;                                                                                          \
    } while (0)

/* ---- model ---------------------------------------------------------------------------------------------- */

static int graph_io_ok(const nvc_net_graph *g, int n_in, const int *in_c, int n_out, const int *out_c)
{
    if (!g || g->n_inputs != n_in || g->n_outputs != n_out)
        return 0;
    for (int i = 0; i < n_in; i++)
        if (g->inputs[i].c != in_c[i])
            return 0;
    for (int i = 0; i < n_out; i++)
        if (out_c[i] >= 0 && g->tensor_c[g->outputs[i].tensor] != out_c[i])
            return 0;
    return 1;
}

void nvc_codec_model_free(nvc_codec_model *m)
{
    nvc_model_free(m->net);
    nvc_cdf_set_free(m->gauss);
    for (int k = 0; k < NVC_LATENT_KINDS; k++) {
        nvc_cdf_set_free(m->hyper[k]);
        nvc_cdf_set_free(m->fitted[k]);
        free(m->fitted_bits[k]);
        nvc_block_analysis_free(&m->exact[k]);
        nvc_synth_basis_free(&m->basis[k]);
    }
    free(m->value_bits);
    memset(m, 0, sizeof *m);
}

/* The context graph of slice s >= 1 of a latent kind: "<prefix><s>". */
static const nvc_net_graph *ctx_graph(const nvc_codec_model *m, int kind, int s, char *name, size_t size)
{
    snprintf(name, size, "%s%d", kinds[kind].ctx, s);
    return nvc_model_graph(m->net, name);
}

/* Channel slices of each latent kind from its context graphs <prefix>1, <prefix>2, ...: graph s takes the
 * decoded channels [0, start[s]) (zp 128) and the hyper-decoder's mean (zp 128) and scale_idx (zp 0) of all
 * channels, and gives the scale_idx of the channels [start[s], start[s + 1]) (zp 0); the last slice ends at the
 * latent's last channel. Without context graphs a latent is one slice. 0, or the name of the bad graph. */
static const char *load_slices(nvc_codec_model *m, char *name, size_t size)
{
    for (int k = 0; k < NVC_LATENT_KINDS; k++) {
        const int cy = m->cy[k];
        int s = 1;
        m->slice_start[k][0] = 0;
        for (const nvc_net_graph *g; (g = ctx_graph(m, k, s, name, size)) != NULL; s++) {
            const int b = g->n_inputs == 3 ? g->inputs[0].c : -1;
            const int n = g->n_outputs == 1 ? g->tensor_c[g->outputs[0].tensor] : -1;
            if (s >= NVC_FRAME_MAX_SLICES || b < 1 || (s > 1 && b != m->slice_start[k][s]) || n < 1 ||
                b + n > cy || g->inputs[0].zp != LATENT_ZP ||
                g->inputs[1].c != cy || g->inputs[1].zp != LATENT_ZP || g->inputs[2].c != cy ||
                g->inputs[2].zp != 0 || g->tensor_zp[g->outputs[0].tensor] != 0)
                return name;
            m->slice_start[k][s] = b;
            m->slice_start[k][s + 1] = b + n;
        }
        if (s > 1 && m->slice_start[k][s] != cy)
            return name;   /* the last context graph must reach the last channel */
        if (ctx_graph(m, k, s + 1, name, size))
            return name;   /* a gap in the numbering: a graph that would be ignored */
        m->nslices[k] = s;
        m->slice_start[k][s] = cy;
    }
    return NULL;
}

/* Entropy tables are blobs in the entropy coder's own serialisation (docs/entropy.md). */
static int load_tables(const nvc_codec_model *m, const char *name, nvc_cdf_set **out, char *tmsg, size_t tsize)
{
    size_t size = 0;
    const uint8_t *blob = nvc_model_blob(m->net, name, &size);
    if (!blob) {
        snprintf(tmsg, tsize, "absent");
        return NVC_EMODEL;
    }
    int err = nvc_cdf_set_deserialize(out, blob, size, tmsg, tsize);
    return err == NVC_ENOMEM ? err : err ? NVC_EMODEL : 0;
}

/* The I latent's block-mean channels (nvc_codec_model.block_means): those of its first slice, up to
 * NVC_CTXPLANE_MAX_CHANNELS, whose synthesis basis varies by at most 1/32 of its largest weight within each packed
 * channel of the block (the shipped model: 0, 1 and 4, the means of Y, U and V; its other channels vary by 2x
 * their largest weight). 0 without a basis (a decoder's load). */
static uint8_t block_mean_channels(const nvc_codec_model *m)
{
    const nvc_synth_basis *b = &m->basis[NVC_LATENT_I];
    const int per = b->r * b->r;
    uint8_t mask = 0;
    for (int k = 0, n = 0; k < b->c && k < m->slice_start[NVC_LATENT_I][1] && k < 8; k++) {
        const int16_t *wk = b->w + (size_t)k * b->n;
        int peak = 0, spread = 0;
        for (int i = 0; i < b->n; i++)
            peak = abs(wk[i]) > peak ? abs(wk[i]) : peak;
        for (int p = 0; p < b->pc; p++) {
            int lo = INT16_MAX, hi = INT16_MIN;
            for (int i = 0; i < per; i++) {
                lo = wk[p * per + i] < lo ? wk[p * per + i] : lo;
                hi = wk[p * per + i] > hi ? wk[p * per + i] : hi;
            }
            spread = hi - lo > spread ? hi - lo : spread;
        }
        if (peak > 0 && spread * 32 <= peak && n < NVC_CTXPLANE_MAX_CHANNELS) {
            mask = (uint8_t)(mask | 1u << k);
            n++;
        }
    }
    return mask;
}

int nvc_codec_model_load(nvc_codec_model *m, const void *data, size_t size, int encoder, char *msg,
                          size_t msg_size)
{
    memset(m, 0, sizeof *m);
    int err = data ? nvc_model_load_memory(data, size, &m->net, msg, msg_size)
                   : nvc_model_load_default(&m->net, msg, msg_size);
    if (err)
        return err;
    const char *bad = NULL, *table = "";
    char tmsg[160] = "";
    for (int k = 0; k < NVC_LATENT_KINDS && !bad; k++) {
        const nvc_net_graph *g = nvc_model_graph(m->net, kinds[k].hyper_dec);
        if (!g || g->n_inputs != 1 || g->n_outputs != 2 || g->inputs[0].zp != LATENT_ZP) {
            bad = kinds[k].hyper_dec;
            break;
        }
        m->cz[k] = g->inputs[0].c;
        m->cy[k] = g->tensor_c[g->outputs[0].tensor];
        if (g->tensor_c[g->outputs[1].tensor] != m->cy[k] || m->cz[k] > NVC_CDF_MAX_TABLES) {
            bad = kinds[k].hyper_dec;
            break;
        }
        table = kinds[k].table_blob;
        if ((err = load_tables(m, table, &m->hyper[k], tmsg, sizeof tmsg)))
            break;
        if (m->hyper[k]->ntables < m->cz[k])
            bad = kinds[k].table_blob;
    }
    char ctx_name[64];
    if (!bad && !err)
        bad = load_slices(m, ctx_name, sizeof ctx_name);
    if (!bad && !err) {
        table = GAUSS_BLOB;
        err = load_tables(m, table, &m->gauss, tmsg, sizeof tmsg);
    }
    if (!bad && !err) {
        const int i_syn_in[] = { m->cy[NVC_LATENT_I] }, pic[] = { 6 };
        const int mv_in[] = { m->cy[NVC_LATENT_MV], 6 }, mv_out[] = { 6, -1 };
        const int res_in[] = { m->cy[NVC_LATENT_RES], 6 };
        if (!graph_io_ok(nvc_model_graph(m->net, "i_synth"), 1, i_syn_in, 1, pic))
            bad = "i_synth";
        else if (!graph_io_ok(nvc_model_graph(m->net, "p_mv_synth"), 2, mv_in, 2, mv_out))
            bad = "p_mv_synth";
        else if (!graph_io_ok(nvc_model_graph(m->net, "p_res_synth"), 2, res_in, 1, pic))
            bad = "p_res_synth";
    }
    if (!bad && !err) {
        const int ia[] = { 6 }, ia_out[] = { m->cy[NVC_LATENT_I] };
        const int mve[] = { 6, 6, 2 }, mve_out[] = { m->cy[NVC_LATENT_MV] };
        const int re[] = { 6, 6 }, re_out[] = { m->cy[NVC_LATENT_RES] };
        m->can_encode = encoder && graph_io_ok(nvc_model_graph(m->net, "i_analysis"), 1, ia, 1, ia_out) &&
                        graph_io_ok(nvc_model_graph(m->net, "p_mv_enc"), 3, mve, 1, mve_out) &&
                        graph_io_ok(nvc_model_graph(m->net, "p_res_enc"), 2, re, 1, re_out);
        const nvc_net_graph *mv_enc = nvc_model_graph(m->net, "p_mv_enc");
        m->block_mv = m->can_encode && !strcmp(mv_enc->inputs[2].name, "block_mv");
        for (int k = 0; k < NVC_LATENT_KINDS; k++) {
            const int hin[] = { m->cy[k] }, hout[] = { m->cz[k] };
            m->can_encode &= graph_io_ok(nvc_model_graph(m->net, kinds[k].hyper_enc), 1, hin, 1, hout);
        }
    }
    for (int k = 0; k < NVC_LATENT_KINDS && !bad && !err && m->can_encode; k++) {
        size_t bsize = 0;
        const uint8_t *blob = kinds[k].exact ? nvc_model_blob(m->net, kinds[k].exact, &bsize) : NULL;
        if (!blob)
            continue;
        table = kinds[k].exact;
        if ((err = nvc_block_analysis_load(&m->exact[k], blob, bsize, tmsg, sizeof tmsg)))
            break;
        const nvc_block_analysis *a = &m->exact[k];
        if (a->c_out != m->cy[k] || a->c_in != kinds[k].analysis_in || a->r * 2 != LATENT_DOWN ||
            a->nq <= NVC_STREAM_MAX_QUALITY) {
            snprintf(tmsg, sizeof tmsg, "%d outputs of %d inputs at r %d, %d qualities", a->c_out, a->c_in, a->r,
                     a->nq);
            err = NVC_EMODEL;
        }
    }
    for (int k = 0; k < NVC_LATENT_KINDS && !bad && !err && m->can_encode; k++) {
        size_t bsize = 0;
        const uint8_t *blob = kinds[k].basis ? nvc_model_blob(m->net, kinds[k].basis, &bsize) : NULL;
        if (!blob)
            continue;
        table = kinds[k].basis;
        if ((err = nvc_synth_basis_load(&m->basis[k], blob, bsize, tmsg, sizeof tmsg)))
            break;
        const nvc_synth_basis *b = &m->basis[k];
        if (b->c != m->cy[k] || b->pc != 6 || b->r * 2 != LATENT_DOWN || b->nq <= NVC_STREAM_MAX_QUALITY) {
            snprintf(tmsg, sizeof tmsg, "%d channels onto %d packed channels at r %d, %d qualities", b->c, b->pc,
                     b->r, b->nq);
            err = NVC_EMODEL;
        }
    }
    if (!bad && !err && m->gauss->ntables == 64) { /* the fitted sets replace a 64-table Gaussian set */
        const struct { int kind; const uint8_t *data; size_t size; } fit[] = {
            { NVC_LATENT_I, nvc_fitted_cdf_i, nvc_fitted_cdf_i_size },
            { NVC_LATENT_RES, nvc_fitted_cdf_res, nvc_fitted_cdf_res_size } };
        for (int i = 0; i < 2 && !err; i++) {
            table = "fitted";
            err = nvc_cdf_set_deserialize(&m->fitted[fit[i].kind], fit[i].data, fit[i].size, tmsg, sizeof tmsg);
            err = err == NVC_ENOMEM ? err : err ? NVC_EMODEL : 0;
            if (!err && m->can_encode && !(m->fitted_bits[fit[i].kind] = nvc_rdoq_bits_table(m->fitted[fit[i].kind])))
                err = NVC_ENOMEM;
        }
    }
    if (!bad && !err && m->can_encode && !(m->value_bits = nvc_rdoq_bits_table(m->gauss)))
        err = NVC_ENOMEM;
    if (!bad && !err && m->can_encode) {
        m->block_means = block_mean_channels(m);
        nvc_ctxplane_class_bits(m->plane_bits);
    }
    if (bad || err) {
        nvc_codec_model_free(m);
        if (err == NVC_ENOMEM)
            FAIL(NVC_ENOMEM, "out of memory loading the model");
        if (bad)
            FAIL(NVC_EMODEL, "model: not a codec model (%s is missing or has the wrong inputs or outputs)", bad);
        FAIL(NVC_EMODEL, "model: a blob (%s) is missing or invalid: %s", table, tmsg);
    }
    m->id = nvc_model_id(m->net);
    m->stream_id = (uint32_t)m->id;
    snprintf(m->name, sizeof m->name, "%016" PRIx64, m->id);
    return 0;
}

/* ---- geometry and substreams ---------------------------------------------------------------------------- */

void nvc_frame_geom_init(nvc_frame_geom *g, int width, int height)
{
    g->width = width;
    g->height = height;
    g->wp = (width + NVC_FRAME_ALIGN - 1) / NVC_FRAME_ALIGN * NVC_FRAME_ALIGN;
    g->hp = (height + NVC_FRAME_ALIGN - 1) / NVC_FRAME_ALIGN * NVC_FRAME_ALIGN;
}

int nvc_frame_split(int n, int channels, int rows, int *tile_rows, int *groups)
{
    if (n < 1 || n > NVC_LATENT_MAX_SUBSTREAMS)
        return NVC_EINVAL;
    int gmax = channels < 8 ? channels : 8;
    for (int gr = gmax < n ? gmax : n; gr >= 1; gr--)
        if (n % gr == 0 && n / gr <= rows) {
            *groups = gr;
            *tile_rows = n / gr;
            return 0;
        }
    return NVC_EINVAL;
}

static int fit_substreams(int n, int channels, int rows)
{
    int tr, gr;
    if (n > NVC_LATENT_MAX_SUBSTREAMS)
        n = NVC_LATENT_MAX_SUBSTREAMS;
    while (n > 1 && nvc_frame_split(n, channels, rows, &tr, &gr))
        n--;
    return n < 1 ? 1 : n;
}

int nvc_frame_slice_substreams(const nvc_codec_model *m, int kind, int n, int s)
{
    const int S = m->nslices[kind], cy = m->cy[kind];
    int before = 0;
    for (int k = 0; k < S - 1; k++) {
        const int c = m->slice_start[kind][k + 1] - m->slice_start[kind][k];
        const int most = n - before - (S - 1 - k); /* leaves one for each slice after k */
        int nk = (int)((int64_t)n * c / cy);
        nk = nk > most ? most : nk < 1 ? 1 : nk;
        if (k == s)
            return nk;
        before += nk;
    }
    return n - before;
}

/* Whether n substreams for y divide among its slices so that each slice's share can be cut (nvc_frame_split). */
static int slices_fit(const nvc_codec_model *m, int kind, int n, int rows)
{
    int tr, gr;
    for (int s = 0; s < m->nslices[kind]; s++) {
        const int c = m->slice_start[kind][s + 1] - m->slice_start[kind][s];
        if (nvc_frame_split(nvc_frame_slice_substreams(m, kind, n, s), c, rows, &tr, &gr))
            return 0;
    }
    return 1;
}

/* The most substreams for y up to n, at least one per slice and at most NVC_LATENT_MAX_SUBSTREAMS, that fit its
 * slices (slices_fit); the slice count itself where none more does. */
static int fitting_substreams(const nvc_codec_model *m, int kind, int n, int rows)
{
    const int S = m->nslices[kind];
    n = n < S ? S : n > NVC_LATENT_MAX_SUBSTREAMS ? NVC_LATENT_MAX_SUBSTREAMS : n;
    while (n > S && !slices_fit(m, kind, n, rows))
        n--;
    return n;
}

void nvc_frame_substreams(const nvc_codec_model *m, const nvc_frame_geom *g, int kind, int requested, int *ny,
                          int *nz)
{
    const int hy = g->hp / LATENT_DOWN, wy = g->wp / LATENT_DOWN, S = m->nslices[kind];
    int n = requested;
    if (n <= 0) { /* automatic: about one substream per 64 Ki symbols, at most 16 */
        const int64_t elements = (int64_t)m->cy[kind] * hy * wy;
        n = (int)((elements + 32768) / 65536);
        n = n < 1 ? 1 : n > 16 ? 16 : n;
        n += S - 1; /* the first slices are small: one more substream each keeps the large last one's share */
    }
    n = fitting_substreams(m, kind, n, hy);
    *ny = n;
    *nz = fit_substreams((n - (S - 1)) / 8, m->cz[kind], g->hp / HYPER_DOWN);
}

/* ---- latents <-> tensors -------------------------------------------------------------------------------- */

/* Conversions between the engine's tensors (HWC uint8) and the entropy coder's planar int16/uint8 arrays, as one
 * pool job over row bands. They sit between network runs and latent coding; on the caller alone they took a few
 * hundred microseconds per 720p latent, long enough for the pool's worker to fall asleep, so the entropy decode
 * that follows started by waking it (tens of microseconds on a VM) and the conversion itself ran on one core. */
typedef struct convert_job {
    const nvc_tensor *sym_src; /* -> symbols[c][y][x] = q - zp */
    int16_t *symbols;
    const nvc_tensor *idx_src; /* -> index[c][y][x] = q - zp, which must be < ntables */
    uint8_t *index;
    int ntables;
    nvc_tensor *dst;           /* <- q = clamp(decoded + LATENT_ZP, 0, 255), a tensor allocated by the caller */
    const int16_t *decoded;
    int h, bands;              /* the tensors of one job have the same height */
    atomic_int bad_index;      /* some index was out of range */
} convert_job;

/* Each row is converted in tiles of CONVERT_TILE pixels, channel by channel: a tile's values of one channel are
 * read from its few cache lines of HWC pixels and written as one contiguous run of the planar array. A plain
 * per-pixel loop wrote a pixel's C values to C different planes, a cache line each: with model v2's 384-channel
 * latents that was 14% of a single-threaded 720p decode (perf, session 8). */
enum { CONVERT_TILE = 32 };

static void convert_band(void *ctx, int band, int worker)
{
    (void)worker;
    convert_job *j = ctx;
    const int y0 = (int)((int64_t)band * j->h / j->bands), y1 = (int)((int64_t)(band + 1) * j->h / j->bands);
    int bad = 0;
    for (int y = y0; y < y1; y++) { /* what the job holds is looked at per row, so each inner loop is a plain one */
        if (j->sym_src) {
            const nvc_tensor *t = j->sym_src;
            const size_t plane = (size_t)t->h * t->w;
            for (int x0 = 0; x0 < t->w; x0 += CONVERT_TILE) {
                const int n = t->w - x0 < CONVERT_TILE ? t->w - x0 : CONVERT_TILE;
                const uint8_t *p = nvc_tensor_px(t, y, x0);
                int16_t *out = j->symbols + (size_t)y * t->w + x0;
                for (int c = 0; c < t->c; c++)
                    for (int i = 0; i < n; i++)
                        out[c * plane + i] = (int16_t)(p[(size_t)i * t->cstride + c] - t->zp);
            }
        }
        if (j->idx_src) {
            const nvc_tensor *t = j->idx_src;
            const size_t plane = (size_t)t->h * t->w;
            for (int x0 = 0; x0 < t->w; x0 += CONVERT_TILE) {
                const int n = t->w - x0 < CONVERT_TILE ? t->w - x0 : CONVERT_TILE;
                const uint8_t *p = nvc_tensor_px(t, y, x0);
                uint8_t *out = j->index + (size_t)y * t->w + x0;
                for (int c = 0; c < t->c; c++)
                    for (int i = 0; i < n; i++) {
                        const int idx = p[(size_t)i * t->cstride + c] - t->zp;
                        bad |= idx < 0 || idx >= j->ntables;
                        out[c * plane + i] = (uint8_t)idx;
                    }
            }
        }
        if (j->dst) {
            nvc_tensor *t = j->dst;
            const size_t plane = (size_t)t->h * t->w;
            for (int x0 = 0; x0 < t->w; x0 += CONVERT_TILE) {
                const int n = t->w - x0 < CONVERT_TILE ? t->w - x0 : CONVERT_TILE;
                uint8_t *p = nvc_tensor_px(t, y, x0);
                const int16_t *in = j->decoded + (size_t)y * t->w + x0;
                for (int c = 0; c < t->c; c++)
                    for (int i = 0; i < n; i++) {
                        const int q = in[c * plane + i] + LATENT_ZP;
                        p[(size_t)i * t->cstride + c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
                    }
            }
        }
    }
    if (bad)
        atomic_store_explicit(&j->bad_index, 1, memory_order_relaxed);
}

/* Runs the conversions one job holds (its unused pairs NULL) on the pool; NVC_EMODEL when an index was >= ntables,
 * else 0. */
static int convert(convert_job *j, nvc_pool *pool)
{
    j->h = (j->sym_src ? j->sym_src : j->idx_src ? j->idx_src : j->dst)->h;
    j->bands = j->h < 2 * nvc_pool_threads(pool) ? j->h : 2 * nvc_pool_threads(pool);
    atomic_init(&j->bad_index, 0);
    nvc_pool_run(pool, j->bands, convert_band, j);
    return atomic_load_explicit(&j->bad_index, memory_order_relaxed) ? NVC_EMODEL : 0;
}

/* A latent tensor (zp 128) from decoded values, clamped to -128..127 (docs/model.md: the decoder reconstructs
 * clamp(v + mean, -128, 127) + 128; what our encoder writes is always in range). */
static int symbols_tensor(const int16_t *v, int c, int h, int w, nvc_pool *pool, nvc_tensor *t)
{
    int err = nvc_tensor_alloc(t, c, h, w, LATENT_ZP);
    if (!err) {
        convert_job j = { .dst = t, .decoded = v };
        convert(&j, pool);
    }
    return err;
}

/* Everything one latent needs in memory while it is coded. */
typedef struct latent_work {
    int cy, hy, wy, cz, hz, wz;
    int16_t *y, *z, *mean;
    uint8_t *index;
    int8_t *shift;           /* nvc_shift_groups(cy) scale shifts (codec/scale_shift.h), 0 without the flag */
    const nvc_cdf_set *set;  /* the tables y is coded with: the Gaussian set, or the kind's fitted set */
    const float *bits;       /* their cost tables (encoder) */
    nvc_tensor hyper_out[2]; /* the hyper-decoder's mean and scale_idx tensors: the context graphs' inputs */
} latent_work;

/* The latent is coded with the kind's fitted set (NVC_FRAME_FITTED_TABLES; the caller checked it exists), and
 * the encoder prices it with that set's cost tables. */
static void use_fitted(latent_work *w, const nvc_codec_model *m, int kind)
{
    w->set = m->fitted[kind];
    w->bits = m->fitted_bits[kind];
}

static void work_free(latent_work *w)
{
    free(w->y);
    free(w->z);
    free(w->mean);
    free(w->index);
    free(w->shift);
    nvc_tensor_release(&w->hyper_out[0]);
    nvc_tensor_release(&w->hyper_out[1]);
}

static int work_alloc(latent_work *w, const nvc_codec_model *m, int kind, const nvc_frame_geom *g)
{
    memset(w, 0, sizeof *w);
    w->cy = m->cy[kind];
    w->set = m->gauss;
    w->bits = m->value_bits;
    w->hy = g->hp / LATENT_DOWN;
    w->wy = g->wp / LATENT_DOWN;
    w->cz = m->cz[kind];
    w->hz = g->hp / HYPER_DOWN;
    w->wz = g->wp / HYPER_DOWN;
    const size_t ny = (size_t)w->cy * w->hy * w->wy, nz = (size_t)w->cz * w->hz * w->wz;
    w->y = malloc(ny * sizeof *w->y);
    w->mean = malloc(ny * sizeof *w->mean);
    w->index = malloc(ny);
    w->z = malloc(nz * sizeof *w->z);
    w->shift = calloc((size_t)nvc_shift_groups(w->cy), 1);
    if (!w->y || !w->mean || !w->index || !w->z || !w->shift) {
        work_free(w);
        return NVC_ENOMEM;
    }
    return 0;
}

/* The hyper-decoder: z symbols -> per-element mean and Gaussian table index of y (both sides run this). */
static int hyper_params(const nvc_codec_model *m, int kind, latent_work *w, int quality, nvc_pool *pool,
                        char *msg, size_t msg_size)
{
    nvc_tensor zt = { 0 }, *out = w->hyper_out;
    int err = symbols_tensor(w->z, w->cz, w->hz, w->wz, pool, &zt);
    if (!err)
        err = nvc_net_run(m->net, kinds[kind].hyper_dec, &zt, 1, out, 2, quality, pool);
    nvc_tensor_release(&zt);
    if (!err && (out[0].h != w->hy || out[0].w != w->wy || out[1].h != w->hy || out[1].w != w->wy))
        err = NVC_EMODEL;
    if (!err) { /* both outputs in one job: the same rows, one pool dispatch */
        convert_job j = { .sym_src = &out[0], .symbols = w->mean, .idx_src = &out[1], .index = w->index,
                          .ntables = m->gauss->ntables };
        err = convert(&j, pool);
    }
    if (err == NVC_ENOMEM)
        FAIL(err, "out of memory in %s", kinds[kind].hyper_dec);
    if (err)
        FAIL(NVC_EMODEL, "model: %s failed or gave unusable entropy parameters", kinds[kind].hyper_dec);
    return 0;
}

/* lanes (entropy/rans.h): to encode, NVC_RANS_LANES_CHOSEN or a count (format 2.2); to decode, what the
 * stream's format says (stream_lanes). */
static nvc_latent z_desc(const nvc_codec_model *m, int kind, const latent_work *w, int lanes)
{
    return (nvc_latent){ .channels = w->cz, .height = w->hz, .width = w->wz, .cdf = m->hyper[kind],
                         .lanes = lanes };
}

/* Where channel slice s of a latent starts in its planar arrays (y, mean, index). */
static size_t slice_offset(const nvc_codec_model *m, int kind, int s, const latent_work *w)
{
    return (size_t)m->slice_start[kind][s] * (size_t)w->hy * (size_t)w->wy;
}

static nvc_latent y_desc(const nvc_codec_model *m, int kind, int s, const latent_work *w, int lanes)
{
    const size_t off = slice_offset(m, kind, s, w);
    return (nvc_latent){ .channels = m->slice_start[kind][s + 1] - m->slice_start[kind][s], .height = w->hy,
                         .width = w->wy, .cdf = w->set, .mean = w->mean + off, .index = w->index + off,
                         .lanes = lanes };
}

/* Slice s >= 1: its table indices from the context graph <prefix><s>, which sees the latent's channels before
 * the slice (w->y, as the decoder has them) and the hyper-decoder's outputs. Both sides run this. */
static int context_indices(const nvc_codec_model *m, int kind, int s, latent_work *w, int quality, nvc_pool *pool,
                           char *msg, size_t msg_size)
{
    const int b = m->slice_start[kind][s], n = m->slice_start[kind][s + 1] - b;
    char name[64];
    ctx_graph(m, kind, s, name, sizeof name);
    nvc_tensor in[3] = { { 0 }, w->hyper_out[0], w->hyper_out[1] }, out = { 0 };
    int err = symbols_tensor(w->y, b, w->hy, w->wy, pool, &in[0]);
    if (!err)
        err = nvc_net_run(m->net, name, in, 3, &out, 1, quality, pool);
    if (!err && (out.c != n || out.h != w->hy || out.w != w->wy))
        err = NVC_EMODEL;
    if (!err) {
        convert_job j = { .idx_src = &out, .index = w->index + slice_offset(m, kind, s, w),
                          .ntables = m->gauss->ntables };
        err = convert(&j, pool);
    }
    nvc_tensor_release(&in[0]);
    nvc_tensor_release(&out);
    if (err == NVC_ENOMEM)
        FAIL(err, "out of memory in %s", name);
    if (err)
        FAIL(NVC_EMODEL, "model: %s failed or gave unusable entropy parameters", name);
    return 0;
}

static int stream_lanes(const nvc_frame_info *f)
{
    return f->lanes_signalled ? NVC_RANS_LANES_CHOSEN : NVC_RANS_LANES_DERIVED;
}

/* ---- block means (I-frames with NVC_FRAME_MEANS_CONTEXT) ------------------------------------------------- */

static int popcount(unsigned v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* The first slice codes the `means` channels with Gaussian table 0 (the narrowest: ~0.0004 bits for the value
 * its mean, which the encoder codes there) whatever the hyper-decoder says; the decoder replaces them. */
static void means_tables(latent_work *w, unsigned means)
{
    const size_t plane = (size_t)w->hy * w->wy;
    for (int k = 0; k < 8; k++)
        if (means >> k & 1)
            memset(w->index + k * plane, 0, plane);
}

/* Copies the channels of `mask` (ascending) between the latent values y (C x h x w) and planes (n x h x w). */
static void move_planes(int16_t *y, int16_t *planes, unsigned mask, int h, int w, int to_latent)
{
    const size_t plane = (size_t)h * w;
    for (int k = 0, n = 0; k < 8; k++)
        if (mask >> k & 1) {
            int16_t *a = y + k * plane, *b = planes + n++ * plane;
            memcpy(to_latent ? a : b, to_latent ? b : a, plane * sizeof *a);
        }
}

/* ---- decoding ------------------------------------------------------------------------------------------- */

/* Decodes substreams first .. first + n - 1 of segment seg as the latent l into out. */
static int decode_segment(nvc_latent *l, const nvc_frame_info *f, unsigned seg, int first, int n, nvc_pool *pool,
                          int16_t *out, const char *what, char *msg, size_t msg_size)
{
    if (nvc_frame_split(n, l->channels, l->height, &l->tile_rows, &l->channel_groups))
        FAIL(NVC_EINVALDATA, "segment %u (%s): %d substreams do not fit a %dx%dx%d latent", seg, what, n,
             l->channels, l->height, l->width);
    const uint8_t *data[NVC_LATENT_MAX_SUBSTREAMS];
    uint32_t size[NVC_LATENT_MAX_SUBSTREAMS];
    for (int k = 0; k < n; k++)
        data[k] = nvc_frame_substream(f, seg, (unsigned)(first + k), &size[k]);
    int err = nvc_latent_decode(l, data, size, n, pool, out);
    if (err == NVC_EINVALDATA)
        FAIL(err, "segment %u (%s): corrupt entropy-coded data", seg, what);
    if (err == NVC_ENOMEM)
        FAIL(err, "out of memory decoding segment %u", seg);
    if (err)
        FAIL(NVC_EMODEL, "segment %u (%s): the model's tables cannot decode it", seg, what);
    return 0;
}

/* The scale shifts of frame f (NVC_FRAME_SCALE_SHIFT) from its last segment into w->shift. */
static int decode_shifts(const nvc_frame_info *f, latent_work *w, char *msg, size_t msg_size)
{
    const unsigned seg = f->nsegments - 1;
    uint32_t size = 0;
    const uint8_t *data = nvc_frame_substream(f, seg, 0, &size);
    if (f->nsubstreams[seg] != 1 || nvc_shift_read(data, size, nvc_shift_groups(w->cy), w->shift))
        FAIL(NVC_EINVALDATA, "%s-frame %u: the scale shifts (segment %u) are not %d codes of -%d..%d in one substream",
             f->type == NVC_FRAME_I ? "I" : "P", f->frame_number, seg, nvc_shift_groups(w->cy), NVC_SHIFT_MAX,
             NVC_SHIFT_MAX);
    return 0;
}

/* counts (nvc_frame_count_symbols): + 1 for each value v (clamped to -128..127) coded with table t of a kind's
 * latent, at counts[(kind * NVC_CDF_MAX_TABLES + t) * 256 + v + 128]; the channels of `means` not counted. */
static void count_symbols(const latent_work *w, int kind, int c0, int c1, unsigned means, uint64_t *counts)
{
    const size_t plane = (size_t)w->hy * w->wy;
    for (int c = c0; c < c1; c++)
        if (c >= 32 || !(means >> c & 1))
            for (size_t i = (size_t)c * plane; i < (size_t)(c + 1) * plane; i++) {
                const int v = w->y[i] - w->mean[i], b = v < -128 ? 0 : v > 127 ? 255 : v + 128;
                counts[((size_t)kind * NVC_CDF_MAX_TABLES + w->index[i]) * 256 + b]++;
            }
}

/* Decodes the latent of segments seg, seg + 1 into *lat. means, planes: the channels of the first slice that
 * segment 2 carries (0 and NULL: none), which replace the slice's after it is decoded. coding: the frame's flags
 * NVC_FRAME_SCALE_SHIFT and NVC_FRAME_FITTED_TABLES where they apply to this latent, else 0. counts: NULL, or
 * count_symbols'. */
static int decode_latent(const nvc_codec_model *m, int kind, const nvc_frame_geom *g, const nvc_frame_info *f,
                         unsigned seg, unsigned means, int16_t *planes, int coding, nvc_pool *pool, nvc_tensor *lat,
                         uint64_t *counts, char *msg, size_t msg_size)
{
    const int shifted = (coding & NVC_FRAME_SCALE_SHIFT) != 0;
    if ((coding & NVC_FRAME_FITTED_TABLES) && !m->fitted[kind])
        FAIL(NVC_EINVALDATA, "frame %u: fitted tables, but the model's Gaussian set has %d tables, not 64",
             f->frame_number, m->gauss->ntables);
    latent_work w;
    if (work_alloc(&w, m, kind, g))
        FAIL(NVC_ENOMEM, "out of memory");
    if (coding & NVC_FRAME_FITTED_TABLES)
        use_fitted(&w, m, kind);
    const int lanes = stream_lanes(f);
    nvc_latent lz = z_desc(m, kind, &w, lanes);
    int err = shifted ? decode_shifts(f, &w, msg, msg_size) : 0;
    if (!err)
        err = decode_segment(&lz, f, seg, 0, (int)f->nsubstreams[seg], pool, w.z, "hyper-latent", msg, msg_size);
    if (!err)
        err = hyper_params(m, kind, &w, f->quality, pool, msg, msg_size);
    if (!err && means)
        means_tables(&w, means);
    const int n = (int)f->nsubstreams[seg + 1];
    if (!err && n < m->nslices[kind]) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "segment %u (%s): %d substreams for %d channel slices", seg + 1,
                     kinds[kind].what, n, m->nslices[kind]);
        err = NVC_EINVALDATA;
    }
    for (int s = 0, first = 0; s < m->nslices[kind] && !err; s++) {
        if (s > 0)
            err = context_indices(m, kind, s, &w, f->quality, pool, msg, msg_size);
        if (!err && shifted)
            nvc_shift_apply(w.index, w.index, m->slice_start[kind][s], m->slice_start[kind][s + 1],
                            (size_t)w.hy * w.wy, means, w.shift, w.set->ntables);
        nvc_latent ly = y_desc(m, kind, s, &w, lanes);
        const int ns = nvc_frame_slice_substreams(m, kind, n, s);
        if (!err)
            err = decode_segment(&ly, f, seg + 1, first, ns, pool, w.y + slice_offset(m, kind, s, &w),
                                 kinds[kind].what, msg, msg_size);
        if (!err && counts)
            count_symbols(&w, kind, m->slice_start[kind][s], m->slice_start[kind][s + 1], means, counts);
        if (!err && s == 0 && means)
            move_planes(w.y, planes, means, w.hy, w.wy, 1);
        first += ns;
    }
    if (!err && (err = symbols_tensor(w.y, w.cy, w.hy, w.wy, pool, lat)) && msg && msg_size)
        snprintf(msg, msg_size, "out of memory");
    work_free(&w);
    return err;
}

/* Segments seg .. seg + n - 1, which a flag leaves out, must be empty: one substream of 0 bytes each. */
static int check_absent(const nvc_frame_info *f, unsigned seg, unsigned n, const char *what, char *msg,
                        size_t msg_size)
{
    for (unsigned s = seg; s < seg + n; s++) {
        uint32_t size = 1;
        nvc_frame_substream(f, s, 0, &size);
        if (f->nsubstreams[s] != 1 || size != 0)
            FAIL(NVC_EINVALDATA, "P-frame %u: flag 0x%02x leaves the %s out, but segment %u is not empty",
                 f->frame_number, f->flags, what, s);
    }
    return 0;
}

/* The values (symbols: value - zero point) of the channels of `mask` (bit c: channel c < 32) of a latent tensor,
 * in ascending order, as planes n x h x w (malloc'ed; NULL on ENOMEM). */
static int16_t *tensor_planes(const nvc_tensor *t, unsigned mask)
{
    int16_t *v = malloc((size_t)popcount(mask) * t->h * t->w * sizeof *v);
    if (v)
        for (int c = 0, n = 0; c < t->c && c < 32; c++) {
            if (!(mask >> c & 1))
                continue;
            for (int i = 0; i < t->h; i++)
                for (int j = 0; j < t->w; j++)
                    v[((size_t)n * t->h + i) * t->w + j] = (int16_t)(t->data[i * t->rstride + j * t->cstride + c] - t->zp);
            n++;
        }
    return v;
}

/* All channels of a motion latent (NVC_CTXPLANE_MAX_CHANNELS at most: vectors_codable). */
static int16_t *tensor_values(const nvc_tensor *t)
{
    return tensor_planes(t, (1u << t->c) - 1);
}

/* Whether the context-adaptive code can carry the model's motion latent (made for block vectors: 2 channels, one
 * vector per 16x16 block; it codes any latent of up to NVC_CTXPLANE_MAX_CHANNELS channels). */
static int vectors_codable(const nvc_codec_model *m)
{
    return m->cy[NVC_LATENT_MV] <= NVC_CTXPLANE_MAX_CHANNELS;
}

/* The c planes of latent positions (g's padded size / 16) that data[0..size), of segment seg (`what` it holds, for
 * messages), codes in the context-adaptive code, into a malloc'ed *v (NULL on failure). */
static int decode_planes(const uint8_t *data, size_t size, int c, const nvc_frame_geom *g, unsigned seg,
                         const char *what, int16_t **v, char *msg, size_t msg_size)
{
    const int h = g->hp / LATENT_DOWN, w = g->wp / LATENT_DOWN;
    if (!(*v = malloc((size_t)c * h * w * sizeof **v)))
        FAIL(NVC_ENOMEM, "out of memory");
    const int err = nvc_ctxplane_decode(data, size, c, h, w, *v);
    if (err) {
        free(*v);
        *v = NULL;
        if (err == NVC_EINVALDATA)
            FAIL(err, "segment %u (%s): corrupt entropy-coded data", seg, what);
        FAIL(err, "out of memory");
    }
    return 0;
}

/* A P-frame with NVC_FRAME_MV_CONTEXT: segment 0 empty, segment 1 one substream of context-coded vectors
 * (entropy/ctxplane.h). */
static int decode_vectors(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f,
                          nvc_pool *pool, nvc_tensor *lat, char *msg, size_t msg_size)
{
    if (!vectors_codable(m))
        FAIL(NVC_EINVALDATA, "P-frame %u: context-coded vectors, but the model's motion latent has %d channels",
             f->frame_number, m->cy[NVC_LATENT_MV]);
    int err = check_absent(f, 0, 1, "motion hyper-latent", msg, msg_size);
    if (err)
        return err;
    if (f->nsubstreams[1] != 1)
        FAIL(NVC_EINVALDATA, "P-frame %u: context-coded vectors in %u substreams, not 1", f->frame_number,
             f->nsubstreams[1]);
    uint32_t size;
    const uint8_t *data = nvc_frame_substream(f, 1, 0, &size);
    const int c = m->cy[NVC_LATENT_MV];
    int16_t *v;
    if ((err = decode_planes(data, size, c, g, 1, "motion vectors", &v, msg, msg_size)))
        return err;
    if ((err = symbols_tensor(v, c, g->hp / LATENT_DOWN, g->wp / LATENT_DOWN, pool, lat)) && msg && msg_size)
        snprintf(msg, msg_size, "out of memory");
    free(v);
    return err;
}

/* An I-frame's segment 2 (NVC_FRAME_MEANS_CONTEXT): one substream, [u8 channel mask][the channels' values in the
 * context-adaptive code]; the mask names 1..NVC_CTXPLANE_MAX_CHANNELS channels of the first slice. *planes:
 * malloc'ed, popcount x hy x wy. */
static int decode_means(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f,
                        unsigned *mask, int16_t **planes, char *msg, size_t msg_size)
{
    *planes = NULL;
    uint32_t size = 0;
    const uint8_t *data = nvc_frame_substream(f, 2, 0, &size);
    if (f->nsubstreams[2] != 1 || size < 1)
        FAIL(NVC_EINVALDATA, "I-frame %u: the block means must be one substream of 1 byte or more", f->frame_number);
    *mask = data[0];
    const int n = popcount(*mask), slice0 = m->slice_start[NVC_LATENT_I][1];
    if (n < 1 || n > NVC_CTXPLANE_MAX_CHANNELS || (slice0 < 8 && *mask >> slice0))
        FAIL(NVC_EINVALDATA, "I-frame %u: block-mean channels 0x%02x (1..%d of the first %d)", f->frame_number,
             *mask, NVC_CTXPLANE_MAX_CHANNELS, slice0);
    return decode_planes(data + 1, size - 1, n, g, 2, "block means", planes, msg, msg_size);
}

static int decode_latents(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f, nvc_pool *pool,
                          nvc_tensor lat[NVC_FRAME_MAX_LATENTS], uint64_t *counts, char *msg, size_t msg_size)
{
    const int coding = f->flags & (NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES);
    const int shifted = (coding & NVC_FRAME_SCALE_SHIFT) != 0;
    const unsigned want = (f->type == NVC_FRAME_I ? (f->flags & NVC_FRAME_MEANS_CONTEXT ? 3 : 2) : 4) + shifted;
    if (f->nsegments != want)
        FAIL(NVC_EINVALDATA, "%s-frame %u has %u segments, the model codes %u", f->type == NVC_FRAME_I ? "I" : "P",
             f->frame_number, f->nsegments, want);
    if (f->type == NVC_FRAME_I) {
        unsigned means = 0;
        int16_t *planes = NULL;
        int err = f->flags & NVC_FRAME_MEANS_CONTEXT ? decode_means(m, g, f, &means, &planes, msg, msg_size) : 0;
        if (!err)
            err = decode_latent(m, NVC_LATENT_I, g, f, 0, means, planes, coding, pool, &lat[0], counts, msg,
                                msg_size);
        free(planes);
        return err;
    }
    int err = f->flags & NVC_FRAME_NO_MOTION    ? check_absent(f, 0, 2, "motion", msg, msg_size)
              : f->flags & NVC_FRAME_MV_CONTEXT ? decode_vectors(m, g, f, pool, &lat[0], msg, msg_size)
                                                : decode_latent(m, NVC_LATENT_MV, g, f, 0, 0, NULL, 0, pool,
                                                                &lat[0], counts, msg, msg_size);
    if (err)
        return err;
    return f->flags & NVC_FRAME_NO_RESIDUAL ? check_absent(f, 2, 2, "residual", msg, msg_size)
                                            : decode_latent(m, NVC_LATENT_RES, g, f, 2, 0, NULL, coding, pool,
                                                            &lat[1], counts, msg, msg_size);
}

int nvc_frame_decode_latents(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f,
                             nvc_pool *pool, nvc_tensor lat[NVC_FRAME_MAX_LATENTS], char *msg, size_t msg_size)
{
    return decode_latents(m, g, f, pool, lat, NULL, msg, msg_size);
}

int nvc_frame_count_symbols(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f,
                            nvc_pool *pool, nvc_tensor lat[NVC_FRAME_MAX_LATENTS], uint64_t *counts, char *msg,
                            size_t msg_size)
{
    return decode_latents(m, g, f, pool, lat, counts, msg, msg_size);
}

/* ---- synthesis ------------------------------------------------------------------------------------------ */

static int run_graph(const nvc_codec_model *m, const char *name, const nvc_tensor *in, int n_in, nvc_tensor *out,
                     int n_out, int quality, nvc_pool *pool, char *msg, size_t msg_size)
{
    int err = nvc_net_run(m->net, name, in, n_in, out, n_out, quality, pool);
    if (err == NVC_ENOMEM)
        FAIL(err, "out of memory running %s", name);
    if (err)
        FAIL(NVC_EMODEL, "model: graph %s failed (%s)", name, nvc_strerror(err));
    return 0;
}

/* p_mv_synth: motion latent + previous reconstruction -> prediction */
static int motion_prediction(const nvc_codec_model *m, int quality, const nvc_tensor *mv_lat,
                             const nvc_tensor *prev, nvc_pool *pool, nvc_tensor *pred, char *msg, size_t msg_size)
{
    const nvc_tensor in[2] = { *mv_lat, *prev };
    nvc_tensor out[2] = { *pred, { 0 } };
    int err = run_graph(m, "p_mv_synth", in, 2, out, 2, quality, pool, msg, msg_size);
    *pred = out[0];
    nvc_tensor_release(&out[1]);
    if (!err && (pred->h != prev->h || pred->w != prev->w))
        FAIL(NVC_EMODEL, "model: p_mv_synth gives a prediction of the wrong size");
    return err;
}

/* The last synthesis graph (i_synth or p_res_synth) into *recon. */
static int final_synthesis(const nvc_codec_model *m, int type, int quality, const nvc_tensor *lat,
                           const nvc_tensor *pred, nvc_pool *pool, nvc_tensor *recon, char *msg, size_t msg_size)
{
    nvc_tensor out = { 0 };
    int err;
    if (type == NVC_FRAME_I)
        err = run_graph(m, "i_synth", lat, 1, &out, 1, quality, pool, msg, msg_size);
    else {
        const nvc_tensor in[2] = { *lat, *pred };
        err = run_graph(m, "p_res_synth", in, 2, &out, 1, quality, pool, msg, msg_size);
    }
    if (!err && (out.h != lat->h * (LATENT_DOWN / 2) || out.w != lat->w * (LATENT_DOWN / 2) || out.zp != PICTURE_ZP)) {
        nvc_tensor_release(&out);
        FAIL(NVC_EMODEL, "model: synthesis gives a picture of the wrong size");
    }
    if (err) {
        nvc_tensor_release(&out);
        return err;
    }
    nvc_tensor_release(recon);
    *recon = out;
    return 0;
}

/* P-frame synthesis. *warped: the warped reference if the caller has made it already (the encoder), else
 * empty; consumed. */
static int p_synthesis(const nvc_codec_model *m, int flags, int quality, const nvc_tensor *lat, nvc_tensor *warped,
                       nvc_pool *pool, nvc_tensor *recon, char *msg, size_t msg_size)
{
    const nvc_tensor *coded = !(flags & NVC_FRAME_NO_MOTION)     ? &lat[0]
                              : !(flags & NVC_FRAME_NO_RESIDUAL) ? &lat[1]
                                                                 : NULL;
    int err = 0;
    if (!recon->data || (coded && (recon->h != coded->h * (LATENT_DOWN / 2) ||
                                         recon->w != coded->w * (LATENT_DOWN / 2)))) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "P-frame without a reference picture of its size");
        err = NVC_EINVAL;
    }
    /* the prediction: the warped reference, or the reference itself (borrowed, not copied) */
    const nvc_tensor *pred = recon;
    if (!err && !(flags & NVC_FRAME_NO_MOTION)) {
        if (!warped->data)
            err = motion_prediction(m, quality, &lat[0], recon, pool, warped, msg, msg_size);
        pred = warped;
    }
    if (!err && !(flags & NVC_FRAME_NO_RESIDUAL))
        err = final_synthesis(m, NVC_FRAME_P, quality, &lat[1], pred, pool, recon, msg, msg_size);
    else if (!err && pred == warped) { /* the reconstruction is the prediction */
        nvc_tensor_release(recon);
        *recon = *warped;
        *warped = (nvc_tensor){ 0 };
    }
    nvc_tensor_release(warped);
    return err;
}

int nvc_frame_synthesize(const nvc_codec_model *m, int type, int flags, int quality, const nvc_tensor *lat,
                         nvc_pool *pool, nvc_tensor *recon, char *msg, size_t msg_size)
{
    if (type == NVC_FRAME_I)
        return final_synthesis(m, type, quality, &lat[0], NULL, pool, recon, msg, msg_size);
    nvc_tensor warped = { 0 };
    return p_synthesis(m, flags, quality, lat, &warped, pool, recon, msg, msg_size);
}

int nvc_frame_unpack(const nvc_tensor *recon, nvc_picture *pic)
{
    uint8_t *const planes[3] = { pic->data[0], pic->data[1], pic->data[2] };
    return nvc_net_unpack_yuv420(recon, planes, pic->stride, pic->width, pic->height);
}

/* ---- encoding ------------------------------------------------------------------------------------------- */

void nvc_frame_coded_free(nvc_frame_coded *c)
{
    for (int s = 0; s < NVC_FRAME_MAX_SEGMENTS; s++)
        nvc_substreams_free(&c->seg[s]);
    memset(c, 0, sizeof *c);
}

/* One segment's substreams from the substreams of its channel slices (in slice order). */
static int join_substreams(nvc_substreams *parts, int n, nvc_substreams *out)
{
    memset(out, 0, sizeof *out);
    int count = 0;
    size_t total = 0;
    for (int s = 0; s < n; s++) {
        count += parts[s].count;
        total += parts[s].total;
    }
    out->data = malloc((size_t)count * sizeof *out->data);
    out->size = malloc((size_t)count * sizeof *out->size);
    out->bytes = malloc(total ? total : 1);
    int err = out->data && out->size && out->bytes ? 0 : NVC_ENOMEM;
    size_t pos = 0;
    for (int s = 0; s < n && !err; s++)
        for (int k = 0; k < parts[s].count; k++) {
            if (parts[s].size[k])
                memcpy(out->bytes + pos, parts[s].data[k], parts[s].size[k]);
            out->data[out->count] = out->bytes + pos;
            out->size[out->count++] = parts[s].size[k];
            pos += parts[s].size[k];
        }
    out->total = pos;
    if (err)
        nvc_substreams_free(out);
    return err;
}

/* The analysis of a latent kind (I or residual): the encoder's block analysis where the model has one, else the
 * int8 graph. */
static int analysis(const nvc_codec_model *m, int kind, const nvc_tensor *in, int n_in, int quality, nvc_pool *pool,
                    nvc_tensor *lat, char *msg, size_t msg_size)
{
    if (!m->exact[kind].c_out)
        return run_graph(m, kinds[kind].analysis, in, n_in, lat, 1, quality, pool, msg, msg_size);
    const int err = nvc_block_analysis_run(&m->exact[kind], in, n_in, quality, pool, lat);
    if (err)
        FAIL(err, "%s analysis failed: %s", kinds[kind].what, nvc_strerror(err));
    return 0;
}

/* The hyper-latent of the analysis output `lat` (hyper-encoder graph) and the entropy parameters the decoder
 * derives from it (hyper-decoder graph): *w (allocated here, work_free it also after a failure) holds the symbols
 * of y and z and the mean and table index of each element of y. */
static int latent_params(const nvc_codec_model *m, int kind, const nvc_frame_geom *g, int quality,
                         const nvc_tensor *lat, nvc_pool *pool, latent_work *w, char *msg, size_t msg_size)
{
    if (work_alloc(w, m, kind, g))
        FAIL(NVC_ENOMEM, "out of memory");
    nvc_tensor zt = { 0 };
    int err = run_graph(m, kinds[kind].hyper_enc, lat, 1, &zt, 1, quality, pool, msg, msg_size);
    if (!err && (zt.h != w->hz || zt.w != w->wz || lat->h != w->hy || lat->w != w->wy)) {
        if (msg && msg_size)
            snprintf(msg, msg_size, "model: %s gives latents of the wrong size", kinds[kind].what);
        err = NVC_EMODEL;
    }
    if (!err) {
        convert_job jz = { .sym_src = &zt, .symbols = w->z }, jy = { .sym_src = lat, .symbols = w->y };
        convert(&jz, pool); /* two jobs: the tensors differ in height */
        convert(&jy, pool);
    }
    nvc_tensor_release(&zt);
    if (!err)
        err = hyper_params(m, kind, w, quality, pool, msg, msg_size);
    return err;
}

/* The rdoq lambda of a latent (codec/rdoq.h), per unit of squared error of one packed sample: the model's
 * lambda(q) * 4 / 6 (the encoder's rd_cost), for the residual latents 4x that. The model's lambda is one frame's
 * trade-off; a P-frame's error is also the next P-frames' prediction (the still parts of a picture are copied
 * along the GOP), so what it saves in bits by adding error is paid back later. Training footage (vtest@200,
 * Megamind@130, 30 frames, q 0..63, BD-rate against plain rounding): residual at 1x +3.3% / -4.6%, 3x -5.2% /
 * -8.4% (with the I latent at 1x), 4x -5.5% / -8.2%, 8x -3.5% / -4.4% (without it); I latent at 1x -1.2% / -1.9%,
 * at 4x -1.1% / -1.8% (alone). */
static double rdoq_lambda(int kind, int quality)
{
    return kind == NVC_LATENT_I ? nvc_frame_i_lambda(quality) * 4.0 / 6.0 : nvc_frame_lambda(quality) * 4.0 / 6.0 * 4.0;
}

/* Entropy-codes the latent w->y (its means and table indices final) in n substreams, its channel slices one after
 * the other (nvc_frame_slice_substreams), into *seg. */
static int code_slices(const nvc_codec_model *m, int kind, const latent_work *w, unsigned means, int n, int lanes,
                       nvc_pool *pool, nvc_substreams *seg)
{
    nvc_substreams parts[NVC_FRAME_MAX_SLICES];
    memset(parts, 0, sizeof parts);
    int err = 0;
    int16_t *first = NULL; /* slice 0 with the `means` channels at their means: the fewest bits (the decoder
                            * replaces them by segment 2's values) */
    if (means) {
        const size_t plane = (size_t)w->hy * w->wy, count = (size_t)m->slice_start[kind][1] * plane;
        if (!(first = malloc(count * sizeof *first)))
            return NVC_ENOMEM;
        memcpy(first, w->y, count * sizeof *first);
        for (int k = 0; k < 8; k++)
            if (means >> k & 1)
                memcpy(first + k * plane, w->mean + k * plane, plane * sizeof *first);
    }
    for (int s = 0; s < m->nslices[kind] && !err; s++) {
        nvc_latent ly = y_desc(m, kind, s, w, lanes);
        nvc_frame_split(nvc_frame_slice_substreams(m, kind, n, s), ly.channels, ly.height, &ly.tile_rows,
                        &ly.channel_groups);
        err = nvc_latent_encode(&ly, s == 0 && first ? first : w->y + slice_offset(m, kind, s, w), pool, &parts[s]);
    }
    free(first);
    if (!err)
        err = join_substreams(parts, m->nslices[kind], seg);
    for (int s = 0; s < m->nslices[kind]; s++)
        nvc_substreams_free(&parts[s]);
    return err;
}

/* The values of the channels of `means` (ascending) of a latent tensor, as symbols (n x h x w, malloc'ed), and
 * those channels of the tensor set to 0 (its zero point). NULL on ENOMEM. */
static int16_t *take_planes(nvc_tensor *t, unsigned means)
{
    int16_t *v = tensor_planes(t, means);
    if (v)
        for (int c = 0; c < t->c && c < 8; c++)
            if (means >> c & 1)
                for (int i = 0; i < t->h; i++)
                    for (int j = 0; j < t->w; j++)
                        t->data[i * t->rstride + j * t->cstride + c] = (uint8_t)t->zp;
    return v;
}

/* *seg := one substream of `size` bytes that owns `bytes` (NULL and 0: an empty one); bytes freed on ENOMEM. */
static int single_substream(nvc_substreams *seg, uint8_t *bytes, size_t size)
{
    memset(seg, 0, sizeof *seg);
    seg->data = malloc(sizeof *seg->data);
    seg->size = malloc(sizeof *seg->size);
    if (!seg->data || !seg->size) {
        free(bytes);
        nvc_substreams_free(seg);
        return NVC_ENOMEM;
    }
    seg->bytes = bytes;
    seg->count = 1;
    seg->data[0] = bytes;
    seg->size[0] = (uint32_t)size;
    seg->total = size;
    return 0;
}

/* Segment 2 of an I-frame with NVC_FRAME_MEANS_CONTEXT: one substream, [u8 means][the planes' code]. */
static int code_means(unsigned means, const int16_t *planes, int h, int w, nvc_substreams *seg)
{
    uint8_t *code, *bytes;
    size_t size;
    int err = nvc_ctxplane_encode(planes, popcount(means), h, w, &code, &size);
    if (err)
        return err == NVC_EINVAL ? NVC_EMODEL : err;
    bytes = malloc(size + 1);
    if (bytes) {
        bytes[0] = (uint8_t)means;
        memcpy(bytes + 1, code, size);
    }
    free(code);
    return bytes ? single_substream(seg, bytes, size + 1) : NVC_ENOMEM;
}

/* Codes the analysis output `lat` into segments seg[0] (z) and seg[1] (y, its channel slices one after the other),
 * and with `means` (a mask of the first slice's channels, I-frames) those channels into seg[2] instead
 * (code_means): the hyper-encoder and the Gaussian coding see them at 0, the decoder replaces them after the first
 * slice; then replaces *lat by the latent the decoder will rebuild from them (through the decoder's own
 * conversion). rdoq_err: NULL, or the error of the reconstruction of `lat` as it is (nvc_rdoq_error): each slice
 * is then optimised (codec/rdoq.h; the `means` channels with the context code's bits, nvc_rdoq_planes) before it
 * is coded. substreams 0 (automatic): y in
 * nvc_frame_substreams' count, or fewer where that leaves substreams of less than NVC_FRAME_SUBSTREAM_MIN_BYTES:
 * each costs its rANS lanes' states (~33 bytes with the 8 lanes of a large substream, entropy/rans.h) whatever
 * it holds, and a low-rate latent is mostly zeros that decode as fast in one substream as in many.
 * fitted: code y with the kind's fitted set (NVC_FRAME_FITTED_TABLES; m->fitted[kind] exists), else the Gaussian
 * set. shift_seg: NULL, or where the scale shifts (codec/scale_shift.h) go when they save more than they cost
 * (each slice's chosen for its values after its RDOQ; count 0 when not used). */
static int encode_latent(const nvc_codec_model *m, int kind, const nvc_frame_geom *g, int quality, int substreams,
                         int lanes, nvc_pool *pool, nvc_tensor *lat, unsigned means, int fitted, nvc_substreams *seg,
                         nvc_substreams *shift_seg, float *rdoq_err, char *msg, size_t msg_size)
{
    latent_work w;
    int16_t *planes = NULL;
    uint8_t *orig = NULL; /* the table indices before the shifts */
    double saved = 0;     /* bits the shifts save */
    if (means && !(planes = take_planes(lat, means)))
        FAIL(NVC_ENOMEM, "out of memory");
    int err = latent_params(m, kind, g, quality, lat, pool, &w, msg, msg_size);
    if (fitted)
        use_fitted(&w, m, kind);
    const size_t plane = (size_t)w.hy * w.wy;
    if (!err && shift_seg && !(orig = malloc((size_t)w.cy * plane)))
        err = NVC_ENOMEM;
    if (!err && means) {
        means_tables(&w, means);
        move_planes(w.y, planes, means, w.hy, w.wy, 1);
    }
    int ny, nz;
    nvc_frame_substreams(m, g, kind, substreams, &ny, &nz);
    nvc_latent lz = z_desc(m, kind, &w, lanes);
    if (!err) {
        nvc_frame_split(nz, lz.channels, lz.height, &lz.tile_rows, &lz.channel_groups);
        err = nvc_latent_encode(&lz, w.z, pool, &seg[0]);
    }
    for (int s = 0; s < m->nslices[kind] && !err; s++) {
        if (s > 0)
            err = context_indices(m, kind, s, &w, quality, pool, msg, msg_size);
        if (!err && rdoq_err) {
            const nvc_rdoq_job j = { .basis = &m->basis[kind], .set = w.set, .bits = w.bits,
                                     .quality = quality, .lambda = rdoq_lambda(kind, quality),
                                     .c0 = m->slice_start[kind][s], .c1 = m->slice_start[kind][s + 1], .skip = means,
                                     .y = w.y,
                                     .mean = w.mean, .index = w.index, .h = w.hy, .w = w.wy, .err = rdoq_err };
            nvc_rdoq_run(&j, pool);
            if (s == 0 && means) /* the block means, priced by the context code (training footage, 30 frames:
                                  * vtest -0.3%, Megamind -0.6%; its bits x2: -0.1% / -0.7%) */
                nvc_rdoq_planes(&j, means, m->plane_bits);
        }
        /* the shifts for the values as optimised with the unshifted tables (choosing them before RDOQ, which then
         * optimises with the shifted tables: training footage vtest -1.9%, Megamind +0.9%; after it: -2.2%,
         * -0.6%; Gaussian set) */
        const int c0 = m->slice_start[kind][s], c1 = m->slice_start[kind][s + 1];
        if (!err && orig) {
            memcpy(orig + c0 * plane, w.index + c0 * plane, (size_t)(c1 - c0) * plane);
            saved += nvc_shift_choose(w.y, w.mean, orig, c0, c1, plane, means, w.bits, w.set, w.shift, pool);
            nvc_shift_apply(w.index, orig, c0, c1, plane, means, w.shift, w.set->ntables);
        }
    }
    if (!err && orig) { /* worth it: the code and its segment's header entry (a count and a size, ~2 bytes) */
        const int n = nvc_shift_groups(w.cy);
        const size_t size = nvc_shift_code_size(w.shift, n);
        uint8_t *bytes = NULL;
        if (saved <= 8.0 * (double)(size + 2))
            memcpy(w.index, orig, (size_t)w.cy * plane);
        else if (!(bytes = malloc(size)))
            err = NVC_ENOMEM;
        else {
            nvc_shift_write(w.shift, n, bytes);
            err = single_substream(shift_seg, bytes, size);
        }
    }
    free(orig);
    if (!err && means) { /* the block means as optimised */
        move_planes(w.y, planes, means, w.hy, w.wy, 0);
        err = code_means(means, planes, w.hy, w.wy, &seg[2]);
    }
    free(planes);
    if (!err)
        err = code_slices(m, kind, &w, means, ny, lanes, pool, &seg[1]);
    if (!err && substreams <= 0) { /* the first slices (small) one substream each, the last what its bytes allow */
        const int n = fitting_substreams(
            m, kind, m->nslices[kind] - 1 + (int)(seg[1].total / NVC_FRAME_SUBSTREAM_MIN_BYTES), w.hy);
        if (n < ny) {
            nvc_substreams_free(&seg[1]);
            err = code_slices(m, kind, &w, means, n, lanes, pool, &seg[1]);
        }
    }
    if (!err)
        err = symbols_tensor(w.y, w.cy, w.hy, w.wy, pool, lat);
    work_free(&w);
    if (err && msg && msg_size && !msg[0])
        snprintf(msg, msg_size, "coding the %s failed: %s", kinds[kind].what, nvc_strerror(err));
    return err;
}

/* A latent left out by a frame flag: its two segments with one empty substream each. */
static int empty_segments(nvc_substreams seg[2])
{
    int err = single_substream(&seg[0], NULL, 0);
    return err ? err : single_substream(&seg[1], NULL, 0);
}

/* Replaces the motion segments seg[0..1] (hyperprior-coded) by the context-adaptive code of the same vectors
 * (entropy/ctxplane.h) where that is fewer bytes; *flags then gets NVC_FRAME_MV_CONTEXT. */
static int vectors_if_smaller(const nvc_codec_model *m, const nvc_tensor *lat, nvc_substreams seg[2], int *flags)
{
    if (!vectors_codable(m))
        return 0;
    int16_t *v = tensor_values(lat);
    if (!v)
        return NVC_ENOMEM;
    uint8_t *data;
    size_t size;
    int err = nvc_ctxplane_encode(v, lat->c, lat->h, lat->w, &data, &size);
    free(v);
    if (err || size >= seg[0].total + seg[1].total) {
        free(data);
        return err == NVC_ENOMEM ? err : 0; /* NVC_EINVAL: values out of range, which no latent here has */
    }
    nvc_substreams_free(&seg[0]);
    nvc_substreams_free(&seg[1]);
    if ((err = single_substream(&seg[0], NULL, 0))) {
        free(data);
        return err;
    }
    if ((err = single_substream(&seg[1], data, size)))
        return err;
    *flags |= NVC_FRAME_MV_CONTEXT;
    return 0;
}

double nvc_frame_lambda(int quality)
{
    return 0.0018 * pow(0.12 / 0.0018, quality / 63.0);
}

double nvc_frame_i_lambda(int quality)
{
    if (quality <= I_TOP_QUALITY)
        return nvc_frame_lambda(quality);
    return nvc_frame_lambda(I_TOP_QUALITY) *
           pow(I_LAMBDA_MAX / nvc_frame_lambda(I_TOP_QUALITY), (quality - I_TOP_QUALITY) / (63.0 - I_TOP_QUALITY));
}

int nvc_frame_mv_penalty(int quality)
{
    return (int)lround(NVC_BLOCK_MV_PENALTY * sqrt(nvc_frame_lambda(16) / nvc_frame_lambda(quality)));
}

/* The block search again with each vector priced by `rate` (NULL: the penalty alone); *search becomes its field. */
static int search_pass(const nvc_tensor *picture, const nvc_tensor *ref, int penalty, const nvc_mv_rate *rate,
                       nvc_pool *pool, nvc_tensor *search)
{
    nvc_tensor next = { 0 };
    int err = nvc_block_search(picture, ref, BLOCK_MV_RANGE, penalty, rate, pool, &next);
    if (!err) {
        nvc_tensor_release(search);
        *search = next;
    }
    return err;
}

/* Pass 2's rate: the (mean, table) each component of the field's latent would be coded with under the model's
 * hyperprior (the decoder's, from the field's own hyper-latent). */
static int hyperprior_pass(const nvc_codec_model *m, const nvc_tensor *picture, const nvc_tensor *ref, int quality,
                           int penalty, nvc_pool *pool, nvc_tensor *search)
{
    const nvc_frame_geom g = { .width = 2 * picture->w, .height = 2 * picture->h, .wp = 2 * picture->w,
                               .hp = 2 * picture->h };
    const nvc_tensor in[3] = { *picture, *ref, *search };
    nvc_tensor lat = { 0 };
    latent_work w;
    memset(&w, 0, sizeof w);
    int err = run_graph(m, "p_mv_enc", in, 3, &lat, 1, quality, pool, NULL, 0);
    if (!err)
        err = latent_params(m, NVC_LATENT_MV, &g, quality, &lat, pool, &w, NULL, 0);
    nvc_tensor_release(&lat);
    if (!err) {
        const nvc_mv_rate rate = { .mean = w.mean, .index = w.index, .bits = m->value_bits,
                                   .sad_per_bit = (float)(MV_SAD_PER_BIT * penalty) };
        err = search_pass(picture, ref, penalty, &rate, pool, search);
    }
    work_free(&w);
    return err;
}

/* Pass 3's rate: each component's bits under the context-adaptive code (entropy/ctxplane.h), as the difference
 * from the prediction its neighbours in the field give, with its class's initial table, x MV_CONTEXT_PRICE. */
static int context_pass(const nvc_codec_model *m, const nvc_tensor *picture, const nvc_tensor *ref, int quality,
                        int penalty, nvc_pool *pool, nvc_tensor *search)
{
    const nvc_tensor in[3] = { *picture, *ref, *search };
    nvc_tensor lat = { 0 };
    int err = run_graph(m, "p_mv_enc", in, 3, &lat, 1, quality, pool, NULL, 0);
    if (err)
        return err;
    const size_t n = (size_t)lat.c * lat.h * lat.w;
    int16_t *v = tensor_values(&lat), *mean = malloc(n * sizeof *mean);
    uint8_t *index = malloc(n);
    if (!v || !mean || !index)
        err = NVC_ENOMEM;
    for (int c = 0; c < lat.c && !err; c++)
        for (int i = 0; i < lat.h; i++)
            for (int j = 0; j < lat.w; j++) {
                const size_t at = ((size_t)c * lat.h + i) * lat.w + j;
                int pred;
                index[at] = (uint8_t)nvc_ctxplane_predict(v, lat.h, lat.w, c, i, j, &pred);
                mean[at] = (int16_t)pred;
            }
    if (!err) {
        const nvc_mv_rate rate = { .mean = mean, .index = index, .bits = m->plane_bits,
                                   .sad_per_bit = (float)(MV_SAD_PER_BIT * penalty) * MV_CONTEXT_PRICE };
        err = search_pass(picture, ref, penalty, &rate, pool, search);
    }
    nvc_tensor_release(&lat);
    free(v);
    free(mean);
    free(index);
    return err;
}

int nvc_frame_search(const nvc_codec_model *m, const nvc_tensor *picture, const nvc_tensor *ref, int quality,
                     nvc_pool *pool, nvc_tensor *search)
{
    if (!m->block_mv)
        return nvc_motion_search(picture, ref, pool, search);
    const int penalty = nvc_frame_mv_penalty(quality);
    int err = nvc_block_search(picture, ref, BLOCK_MV_RANGE, penalty, NULL, pool, search);
    if (!err)
        err = hyperprior_pass(m, picture, ref, quality, penalty, pool, search);
    if (!err && vectors_codable(m))
        err = context_pass(m, picture, ref, quality, penalty, pool, search);
    return err;
}

/* The error of the reconstruction of the analysis output `lat` as it is, for rdoq (codec/rdoq.h): *err NULL
 * where the encoder does not optimise (rdoq 0, or the model has no synthesis basis for the kind). */
static int rdoq_error(const nvc_codec_model *m, int rdoq, int kind, int quality, const nvc_tensor *picture,
                      const nvc_tensor *lat, const nvc_tensor *pred, nvc_pool *pool, float **err, char *msg,
                      size_t msg_size)
{
    *err = NULL;
    if (!rdoq || !m->basis[kind].c)
        return 0;
    nvc_tensor rec = { 0 };
    int e = final_synthesis(m, kind == NVC_LATENT_I ? NVC_FRAME_I : NVC_FRAME_P, quality, lat, pred, pool, &rec, msg,
                            msg_size);
    if (!e && !(*err = nvc_rdoq_error(&m->basis[kind], picture, &rec)))
        e = NVC_ENOMEM;
    nvc_tensor_release(&rec);
    if (e == NVC_ENOMEM)
        FAIL(e, "out of memory");
    return e;
}

int nvc_frame_encode(const nvc_codec_model *m, const nvc_frame_geom *g, int type, int flags, int quality,
                     int substreams, int lanes, int rdoq, const nvc_tensor *picture, nvc_pool *pool,
                     nvc_tensor *recon, nvc_tensor *search, nvc_frame_coded *out, char *msg, size_t msg_size)
{
    memset(out, 0, sizeof *out);
    if (msg && msg_size)
        msg[0] = 0;
    if (!m->can_encode)
        FAIL(NVC_EMODEL, "model: this model has no encoder graphs");
    if ((unsigned)flags & ~NVC_FRAME_FLAGS_DEFINED ||
        (flags & ~(type == NVC_FRAME_I ? NVC_FRAME_FLAGS_I : NVC_FRAME_FLAGS_P)) ||
        ((flags & (NVC_FRAME_MV_CONTEXT | NVC_FRAME_MEANS_CONTEXT | NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES)) &&
         lanes == NVC_FRAME_LANES_LEGACY) ||
        ((flags & NVC_FRAME_MV_CONTEXT) && (flags & NVC_FRAME_NO_MOTION)) ||
        ((flags & (NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES)) && (flags & NVC_FRAME_NO_RESIDUAL)))
        FAIL(NVC_EINVAL, "frame flags 0x%02x are not valid for this frame type", (unsigned)flags);
    if (lanes < NVC_FRAME_LANES_LEGACY || lanes > NVC_RANS_LANES)
        FAIL(NVC_EINVAL, "%d rANS lanes: 0 (the encoder's choice) or 1..%d", lanes, NVC_RANS_LANES);
    out->flags = flags & ~(NVC_FRAME_MV_CONTEXT | NVC_FRAME_SCALE_SHIFT);
    if ((flags & NVC_FRAME_FITTED_TABLES) && !m->fitted[type == NVC_FRAME_I ? NVC_LATENT_I : NVC_LATENT_RES])
        out->flags &= ~NVC_FRAME_FITTED_TABLES; /* a model whose tables they cannot replace: the Gaussian set */
    lanes = lanes == NVC_FRAME_LANES_LEGACY ? NVC_RANS_LANES_DERIVED : lanes ? lanes : NVC_RANS_LANES_CHOSEN;
    nvc_tensor lat[NVC_FRAME_MAX_LATENTS] = { { 0 } }, own_search = { 0 };
    nvc_substreams shifts = { 0 }; /* the scale shifts, if used */
    float *err_i = NULL, *err_res = NULL;
    if (!search)
        search = &own_search;
    int err;
    if (type == NVC_FRAME_I) {
        const unsigned means = flags & NVC_FRAME_MEANS_CONTEXT ? m->block_means : 0;
        out->nsegments = means ? 3 : 2;
        out->flags = (means ? NVC_FRAME_MEANS_CONTEXT : 0) | (out->flags & NVC_FRAME_FITTED_TABLES); /* and
                                                                            * NVC_FRAME_SCALE_SHIFT where used */
        err = analysis(m, NVC_LATENT_I, picture, 1, quality, pool, &lat[0], msg, msg_size);
        if (!err)
            err = rdoq_error(m, rdoq, NVC_LATENT_I, quality, picture, &lat[0], NULL, pool, &err_i, msg, msg_size);
        if (!err)
            err = encode_latent(m, NVC_LATENT_I, g, quality, substreams, lanes, pool, &lat[0], means,
                                !!(out->flags & NVC_FRAME_FITTED_TABLES), &out->seg[0],
                                flags & NVC_FRAME_SCALE_SHIFT ? &shifts : NULL, err_i, msg, msg_size);
    } else {
        out->nsegments = 4;
        nvc_tensor warped = { 0 };
        const nvc_tensor *pred = recon;
        if (flags & NVC_FRAME_NO_MOTION)
            err = empty_segments(&out->seg[0]);
        else {
            err = search->data ? 0 : nvc_frame_search(m, picture, recon, quality, pool, search);
            if (!err) {
                const nvc_tensor in[3] = { *picture, *recon, *search };
                err = run_graph(m, "p_mv_enc", in, 3, &lat[0], 1, quality, pool, msg, msg_size);
            }
            if (!err)
                err = encode_latent(m, NVC_LATENT_MV, g, quality, substreams, lanes, pool, &lat[0], 0, 0,
                                    &out->seg[0], NULL, NULL, msg, msg_size);
            if (!err && (flags & NVC_FRAME_MV_CONTEXT) && (err = vectors_if_smaller(m, &lat[0], &out->seg[0],
                                                                                  &out->flags)) && msg && msg_size)
                snprintf(msg, msg_size, "out of memory");
            if (!err && !(flags & NVC_FRAME_NO_RESIDUAL)) /* the residual encoder's input */
                err = motion_prediction(m, quality, &lat[0], recon, pool, &warped, msg, msg_size);
            pred = &warped;
        }
        if (!err && (flags & NVC_FRAME_NO_RESIDUAL))
            err = empty_segments(&out->seg[2]);
        else if (!err) {
            const nvc_tensor in[2] = { *picture, *pred };
            err = analysis(m, NVC_LATENT_RES, in, 2, quality, pool, &lat[1], msg, msg_size);
            if (!err)
                err = rdoq_error(m, rdoq, NVC_LATENT_RES, quality, picture, &lat[1], pred, pool, &err_res, msg,
                                 msg_size);
            if (!err)
                err = encode_latent(m, NVC_LATENT_RES, g, quality, substreams, lanes, pool, &lat[1], 0,
                                    !!(out->flags & NVC_FRAME_FITTED_TABLES), &out->seg[2],
                                    flags & NVC_FRAME_SCALE_SHIFT ? &shifts : NULL, err_res, msg, msg_size);
        }
        if (!err) /* the reconstruction, by the decoder's own stage 2 */
            err = p_synthesis(m, flags, quality, lat, &warped, pool, recon, msg, msg_size);
        nvc_tensor_release(&warped);
    }
    if (!err && type == NVC_FRAME_I)
        err = final_synthesis(m, type, quality, &lat[0], NULL, pool, recon, msg, msg_size);
    if (shifts.count) { /* the last segment */
        if (!err) {
            out->seg[out->nsegments++] = shifts;
            out->flags |= NVC_FRAME_SCALE_SHIFT;
        } else
            nvc_substreams_free(&shifts);
    }
    for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
        nvc_tensor_release(&lat[k]);
    nvc_tensor_release(&own_search);
    free(err_i);
    free(err_res);
    if (err) {
        nvc_frame_coded_free(out);
        if (msg && msg_size && !msg[0])
            snprintf(msg, msg_size, "encoding failed: %s", nvc_strerror(err));
    }
    return err;
}
