/* Coding one frame with the model: the part the decoder and the encoder share, so that the encoder's
 * reconstruction is made by exactly the decoder's code (closed loop: no drift).
 *
 * A frame is a list of latents, each sent as two segments of the .nvc frame (docs/bitstream.md):
 *   I: [i hyper-latent z, i latent y]
 *   P: [motion z, motion y, residual z, residual y]
 * z is coded with the model's factorized per-channel tables (blob <kind>_z_cdf); the hyper-decoder graph turns z
 * into a mean and a Gaussian table index per element of y, which is coded as y - mean with the model's
 * Gaussian set (blob gauss_cdf). With context graphs (<kind>_ctx1, _ctx2, ...), y is coded in channel slices,
 * each with its own substreams of the y segment, and slice s > 0 takes its table indices from <kind>_ctx<s>,
 * which sees the decoded channels of the slices before it and the hyper-decoder's output: entropy-decoded data
 * only, as for the hyper-decoder. Both blobs are table sets in the entropy coder's format (docs/entropy.md). Latent values are
 * the uint8 tensor values minus the zero point 128.
 *
 * Decoding is split in two stages so a threaded decoder can pipeline them:
 *   nvc_frame_decode_latents  entropy decoding and hyper-decoders: needs nothing from earlier frames;
 *   nvc_frame_synthesize      synthesis graphs; a P-frame warps the previous reconstruction.
 * The encoder calls nvc_frame_encode, which runs the analysis graphs, codes the latents and then calls
 * nvc_frame_synthesize itself.
 *
 * Pictures are padded to a multiple of NVC_FRAME_ALIGN luma pixels (edges replicated) for the networks; the
 * reconstruction tensor keeps the padded size (it is the reference of the next P-frame) and is cropped only
 * when unpacked into a picture. */
#ifndef NVC_CODEC_FRAME_H
#define NVC_CODEC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "codec/block_analysis.h"
#include "codec/rdoq.h"
#include "codec/stream.h"
#include "entropy/ctxplane.h"
#include "entropy/cdf.h"
#include "entropy/latent.h"
#include "entropy/threadpool.h"
#include "network/model.h"
#include "network/tensor.h"

#define NVC_FRAME_ALIGN 64        /* luma alignment the graphs need (hyper-latent at 1/64) */
#define NVC_FRAME_MAX_LATENTS 2   /* per frame: I 1, P 2 */
#define NVC_FRAME_MAX_SEGMENTS 5  /* I 2 (3 with NVC_FRAME_MEANS_CONTEXT), P 4; one more with NVC_FRAME_SCALE_SHIFT */
#define NVC_FRAME_MAX_SLICES 8    /* channel slices of one latent (context graphs + 1) */
#define NVC_FRAME_SUBSTREAM_MIN_BYTES 4096 /* automatic substreams: the least a latent's substreams carry each */

enum nvc_latent_kind { NVC_LATENT_I = 0, NVC_LATENT_MV = 1, NVC_LATENT_RES = 2, NVC_LATENT_KINDS = 3 };

/* A loaded model with everything the codec derives from it. Immutable after loading: shared by threads. */
typedef struct nvc_codec_model {
    nvc_model *net;
    nvc_cdf_set *gauss;                     /* Gaussian-conditional tables of every latent y */
    /* format 3.1's fitted sets (entropy/fitted_cdf.h) of the I and residual latents, for frames with
     * NVC_FRAME_FITTED_TABLES; NULL for the motion latent, or where the model's Gaussian set is not 64 tables */
    nvc_cdf_set *fitted[NVC_LATENT_KINDS];
    nvc_cdf_set *hyper[NVC_LATENT_KINDS];   /* factorized tables of each hyper-latent z, one per channel */
    int cy[NVC_LATENT_KINDS], cz[NVC_LATENT_KINDS]; /* channels of y and z */
    int nslices[NVC_LATENT_KINDS];          /* channel slices of y (1: no context graphs) */
    int slice_start[NVC_LATENT_KINDS][NVC_FRAME_MAX_SLICES + 1]; /* slice s: channels [start[s], start[s + 1]) */
    int can_encode;                         /* loaded for encoding, and the analysis graphs are present */
    /* the encoder's block analyses of the I and residual latents (blobs i_analysis_exact, p_res_enc_exact),
     * used instead of the int8 graphs i_analysis and p_res_enc where present (c_out 0: absent) */
    nvc_block_analysis exact[NVC_LATENT_KINDS];
    /* the encoder's synthesis bases of the I and residual latents (blobs i_synth_basis, p_res_synth_basis) for
     * its rate-distortion optimised quantisation (codec/rdoq.h; c 0: absent) */
    nvc_synth_basis basis[NVC_LATENT_KINDS];
    /* the bits of every value of every Gaussian table (nvc_rdoq_bits_table), the encoder's rate estimates (rdoq,
     * the motion search); NULL where the model cannot encode */
    float *value_bits;
    float *fitted_bits[NVC_LATENT_KINDS];  /* the same for the fitted sets (encoder only) */
    int block_mv;                           /* p_mv_enc takes "block_mv" (nvc_block_search), not "search_mv" */
    /* the encoder's block-mean channels of the I latent: bit k = channel k, in the first channel slice, whose
     * synthesis is flat over each packed channel of its block (a mean of Y, U or V); at most
     * NVC_CTXPLANE_MAX_CHANNELS, coded with the context-adaptive code (I-frame flag NVC_FRAME_MEANS_CONTEXT) */
    uint8_t block_means;
    /* the context-adaptive code's bits per class (nvc_ctxplane_class_bits): the encoder's rate estimate for the
     * vectors (the search's third pass) and the block means (RDOQ); encoder only */
    float plane_bits[NVC_CTXPLANE_CLASSES * 256];
    uint64_t id;                            /* the .nvm model id */
    uint32_t stream_id;                     /* what streams carry in their header: the id's low 32 bits */
    char name[NVC_STREAM_MODEL_NAME_LEN + 1]; /* stream header model name: the id in 16 hex digits */
} nvc_codec_model;

/* Loads a .nvm from memory (data == NULL: the model embedded in libnvc) and checks it has every decoder
 * graph with consistent channel counts and the entropy tables. encoder: also the encoder's parts (can_encode
 * where the model has the encoder graphs, and then its encoder-only blobs and cost tables); a decoder passes 0
 * and neither parses nor holds them (a quarter of the load time and ~1.8 MB with the shipped model).
 * 0, or NVC_EMODEL / NVC_ENOMEM / NVC_EUNSUPPORTED with a message. */
int nvc_codec_model_load(nvc_codec_model *m, const void *data, size_t size, int encoder, char *msg,
                         size_t msg_size);
void nvc_codec_model_free(nvc_codec_model *m);

/* Frame geometry: picture size and padded size. */
typedef struct nvc_frame_geom {
    int width, height;   /* picture */
    int wp, hp;          /* padded to NVC_FRAME_ALIGN */
} nvc_frame_geom;

void nvc_frame_geom_init(nvc_frame_geom *g, int width, int height);

/* How a segment of n substreams is cut (entropy/latent.h): channel groups = the largest divisor of n that is
 * at most min(channels, 8) and leaves n / groups <= rows, tile rows = n / groups. 0, or NVC_EINVAL when no
 * split exists (n < 1 or n > channels * rows). The encoder picks n, the decoder reads it from the frame. */
int nvc_frame_split(int n, int channels, int rows, int *tile_rows, int *groups);

/* Decoding stage 1 of frame f (segments checked against the model). lat[0..n) receive the latents as tensors
 * (zero-initialised or earlier tensors). 0; NVC_EINVALDATA for damaged data (message); NVC_EMODEL /
 * NVC_ENOMEM for failures that are not the stream's fault. */
int nvc_frame_decode_latents(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f,
                             nvc_pool *pool, nvc_tensor lat[NVC_FRAME_MAX_LATENTS], char *msg, size_t msg_size);

/* nvc_frame_decode_latents that also counts the Gaussian-conditional values it decodes (statistics for fitting
 * tables: tools/symbol_stats.c): counts[(kind * NVC_CDF_MAX_TABLES + table) * 256 + value + 128] += 1 for each
 * value - mean (clamped to -128..127) of kind's latent coded with that table (the block means of MEANS_CONTEXT
 * not counted); counts has NVC_LATENT_KINDS * NVC_CDF_MAX_TABLES * 256 entries. */
int nvc_frame_count_symbols(const nvc_codec_model *m, const nvc_frame_geom *g, const nvc_frame_info *f,
                            nvc_pool *pool, nvc_tensor lat[NVC_FRAME_MAX_LATENTS], uint64_t *counts, char *msg,
                            size_t msg_size);

/* Decoding stage 2 (also the encoder's reconstruction): runs the synthesis graphs on the latents of a frame of
 * `type`, `flags` (enum nvc_frame_flag: latents left out are not read) and `quality`. *recon: in, the previous
 * reconstruction (P-frames); out, this frame's reconstruction (6 x hp/2 x wp/2 tensor). 0, NVC_EMODEL or
 * NVC_ENOMEM (message). */
int nvc_frame_synthesize(const nvc_codec_model *m, int type, int flags, int quality, const nvc_tensor *lat,
                         nvc_pool *pool, nvc_tensor *recon, char *msg, size_t msg_size);

/* Writes the top-left width x height of a reconstruction into a picture. */
int nvc_frame_unpack(const nvc_tensor *recon, nvc_picture *pic);

/* Encoder: segment substream counts and the coded segments of one frame. */
typedef struct nvc_frame_coded {
    int nsegments;
    int flags; /* the frame header's flags: those asked for, with NVC_FRAME_MV_CONTEXT only where it was used */
    nvc_substreams seg[NVC_FRAME_MAX_SEGMENTS];
} nvc_frame_coded;

void nvc_frame_coded_free(nvc_frame_coded *c);

/* Substreams of the y and z segments for a latent of this geometry: `requested` (0 = automatic by size, plus
 * one per channel slice after the first) for y, fewer for z, each reduced to what the latent's size allows. */
void nvc_frame_substreams(const nvc_codec_model *m, const nvc_frame_geom *g, int kind, int requested, int *ny,
                          int *nz);

/* How many of the n >= S substreams of a y segment belong to its channel slice s of S (docs/codec.md "Frames"):
 * slice s of c_s of the C channels, except the last, gets floor(n * c_s / C), at least 1 and at most what
 * leaves 1 for each later slice; the last gets the rest. */
int nvc_frame_slice_substreams(const nvc_codec_model *m, int kind, int n, int s);

/* Encodes `picture` (packed 6-channel tensor of the padded picture, zp 128) as a frame of `type`, `flags`
 * (enum nvc_frame_flag, P-frames) and `quality` into *out, and updates *recon (the previous reconstruction for
 * a P-frame) to this frame's reconstruction exactly as nvc_frame_decode_latents + nvc_frame_synthesize make it
 * from *out.
 * substreams, lanes: as nvc_enc_settings.substreams and .entropy_lanes, or lanes = NVC_FRAME_LANES_LEGACY: the
 * substream layout of formats 2.0 and 2.1 (for tests of older streams). search: NULL, or the motion search of
 * `picture` against *recon shared by several calls with the same two (the encoder's P-frame candidates): when
 * empty it is made here and kept, else used as it is; the caller releases it. NVC_FRAME_MV_CONTEXT in `flags`
 * (not with NVC_FRAME_NO_MOTION or NVC_FRAME_LANES_LEGACY) allows the context-adaptive code of the vectors
 * (format 2.3, entropy/ctxplane.h): the frame uses it, and out->flags says so, where it is fewer bytes than the
 * hyperprior. NVC_FRAME_MEANS_CONTEXT in `flags` (I-frames) allows the context-adaptive code for the I latent's
 * block means (format 2.3): the frame uses it, and out->flags says so, where the model has block-mean channels.
 * 0, NVC_EMODEL, NVC_ENOMEM or NVC_EINVAL (message). */
#define NVC_FRAME_LANES_LEGACY (-1)
/* The model's rate-distortion trade-off at a quality (0..63), as it was trained (tools/train/model.py lmb):
 * lambda(q) = 0.0018 * (0.12 / 0.0018)^(q / 63), in bits per unit of 255^2 * MSE * luma pixels. An encoder
 * measure only (codec/encoder.c rd_cost); decoders never compute it. */
double nvc_frame_lambda(int quality);
/* The I-frames' trade-off at a quality, as the model's I path was trained (tools/train/model.py lmb_i): lambda(q) up
 * to quality 42, then log-linear to 0.48 at q63 (4x lambda(63): run 20 trained the I path's top qualities for
 * I-frames better than the P path's best, since every P-frame of a still scene inherits the I-frame). */
double nvc_frame_i_lambda(int quality);

/* The block search's penalty at a stream quality: what a vector may cost in SAD, per quarter pel, scaled like a
 * motion lambda, with the square root of lambda(q): NVC_BLOCK_MV_PENALTY * sqrt(lambda(16) / lambda(q)),
 * rounded: 27 at q0, 16 at q16, 9 at q32, 3 at q63. Vectors cost more than they save at low qualities and the
 * prediction matters more at high ones (training footage, 30 frames: Megamind at q63 -3% bytes and +0.4 dB with
 * 4 instead of 16, vtest at q0 -6% bytes for -0.1 dB with 32; session 11). */
int nvc_frame_mv_penalty(int quality);

/* The encoder's motion search of `picture` against `ref` for the model's p_mv_enc graph (codec/motion_search.h): a
 * 2-channel tensor, zp 128, whose 128 in both channels is no motion. For a block-vector model nvc_block_search
 * three times: with the penalty of the frame's quality; with each vector priced at the bits the model's hyperprior
 * would code it with given the first pass's field (its hyper-latent's means and scales: a pan's vectors cost
 * little, a noisy vector in a flat area much); then priced at the context-adaptive code's bits given the second
 * pass's field (format 2.3: each component's difference from its neighbours' median); else nvc_motion_search.
 * What nvc_frame_encode computes when its `search` is empty. */
int nvc_frame_search(const nvc_codec_model *m, const nvc_tensor *picture, const nvc_tensor *ref, int quality,
                     nvc_pool *pool, nvc_tensor *search);
int nvc_frame_encode(const nvc_codec_model *m, const nvc_frame_geom *g, int type, int flags, int quality,
                     int substreams, int lanes, int rdoq, const nvc_tensor *picture, nvc_pool *pool,
                     nvc_tensor *recon, nvc_tensor *search, nvc_frame_coded *out, char *msg, size_t msg_size);

#endif
