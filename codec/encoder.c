/* The public encoder (include/nvc/nvc.h). Each picture is coded when it is sent (codec/frame.h), on the
 * caller's thread with the work of each step spread over the encoder's pool; its reference for the next
 * P-frame is the reconstruction made by the decoder's own synthesis code. One packet is held at a time. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/crc32.h"
#include "codec/frame.h"
#include "codec/log.h"
#include "codec/picture.h"
#include "codec/stream.h"
#include "entropy/rans.h"
#include "nvc/nvc.h"

#define MAX_THREADS 16

struct nvc_encoder {
    nvc_enc_settings s;
    nvc_codec_model model;
    nvc_pool *pool;
    nvc_frame_geom geom;
    nvc_tensor picture, recon;  /* the picture being coded; the reference, then this frame's reconstruction */
    nvc_tensor ref, alt;        /* while choosing: a copy of the reference, a candidate's reconstruction */
    uint32_t frames;          /* pictures coded so far */
    uint32_t since_key;       /* frames since the last I-frame */
    nvc_frame_info *fi;
    uint8_t *packet;          /* the pending packet's bytes */
    size_t packet_cap;
    nvc_packet pending;
    nvc_picture pending_recon;
    int have_packet, flushed, fatal;
    int refining;             /* the frame being coded is a refinement (key_refine_frames): frame_quality */
    char error[320];
};

static int fail(nvc_encoder *e, int err, const char *m)
{
    snprintf(e->error, sizeof e->error, "%s", m);
    nvc_log(e->s.logger, e->s.logger_cookie, NVC_LOG_ERROR, "%s", m);
    return err;
}

static const char *check_settings(const nvc_enc_settings *s)
{
    if (s->width < 2 || s->height < 2 || s->width > NVC_STREAM_MAX_DIM || s->height > NVC_STREAM_MAX_DIM ||
        (s->width | s->height) & 1 || (uint64_t)s->width * s->height > NVC_STREAM_MAX_PIXELS)
        return "width and height must be even, 2..8192, at most 8192x4352 pixels";
    if (s->fps_num < 1 || s->fps_den < 1 || s->fps_num > 1000000 || s->fps_den > 1000000)
        return "frame rate terms must be 1..1000000";
    if (s->quality < 0 || s->quality > NVC_STREAM_MAX_QUALITY)
        return "quality must be 0..63";
    if (s->gop_length < 0 || s->gop_length > 65535)
        return "GOP length must be 0..65535";
    if (s->fixed_gop < 0 || s->fixed_gop > 1)
        return "fixed_gop must be 0 or 1";
    if (s->full_p_frames < 0 || s->full_p_frames > 1)
        return "full_p_frames must be 0 or 1";
    if (s->plain_rounding < 0 || s->plain_rounding > 1)
        return "plain_rounding must be 0 or 1";
    if (s->gaussian_tables < 0 || s->gaussian_tables > 1)
        return "gaussian_tables must be 0 or 1";
    if (s->i_quality_offset < -NVC_STREAM_MAX_QUALITY || s->i_quality_offset > NVC_STREAM_MAX_QUALITY)
        return "i_quality_offset must be -63..63";
    if (s->key_refine_frames < 0 || s->key_refine_frames > 65535)
        return "key_refine_frames must be 0..65535";
    if (s->entropy_lanes < 0 || s->entropy_lanes > NVC_RANS_LANES)
        return "entropy_lanes must be 0..32";
    if (s->substreams < 0 || s->substreams > NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT)
        return "substreams must be 0..1024";
    if (s->n_threads < 0 || (s->model_data && !s->model_size))
        return "invalid thread count or model";
    if (s->colour_primaries < 0 || s->colour_primaries > 255 || s->transfer < 0 || s->transfer > 255 ||
        s->matrix < 0 || s->matrix > 255 || s->full_range < 0 || s->full_range > 1)
        return "invalid colour description";
    return NULL;
}

void nvc_enc_close(nvc_encoder **pe)
{
    if (!pe || !*pe)
        return;
    nvc_encoder *e = *pe;
    nvc_picture_unref(&e->pending_recon);
    nvc_tensor_release(&e->picture);
    nvc_tensor_release(&e->recon);
    nvc_tensor_release(&e->alt);
    nvc_tensor_release(&e->ref);
    free(e->fi);
    free(e->packet);
    nvc_pool_destroy(e->pool);
    nvc_codec_model_free(&e->model);
    free(e);
    *pe = NULL;
}

int nvc_enc_open(nvc_encoder **out, const nvc_enc_settings *s)
{
    if (!out)
        return NVC_EINVAL;
    *out = NULL;
    if (!s)
        return NVC_EINVAL;
    const char *bad = check_settings(s);
    if (bad) {
        nvc_log(s->logger, s->logger_cookie, NVC_LOG_ERROR, "encoder settings: %s", bad);
        return NVC_EINVAL;
    }
    nvc_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return NVC_ENOMEM;
    e->s = *s;
    char msg[256] = "";
    int err = nvc_codec_model_load(&e->model, s->model_data, s->model_size, 1, msg, sizeof msg);
    if (!err && !e->model.can_encode) {
        snprintf(msg, sizeof msg, "model: this model has no encoder graphs");
        err = NVC_EMODEL;
    }
    if (err) {
        nvc_log(s->logger, s->logger_cookie, NVC_LOG_ERROR, "%s", msg);
        nvc_enc_close(&e);
        return err;
    }
    int n = s->n_threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    }
    n = n > MAX_THREADS ? MAX_THREADS : n;
    nvc_frame_geom_init(&e->geom, s->width, s->height);
    e->fi = malloc(sizeof *e->fi);
    if (!e->fi || (n > 1 && !(e->pool = nvc_pool_create(n)))) {
        nvc_enc_close(&e);
        return NVC_ENOMEM;
    }
    *out = e;
    return 0;
}

void nvc_enc_get_info(const nvc_encoder *e, nvc_stream_info *info)
{
    memset(info, 0, sizeof *info);
    if (!e)
        return;
    info->width = e->s.width;
    info->height = e->s.height;
    info->fps_num = e->s.fps_num;
    info->fps_den = e->s.fps_den;
    info->colour_primaries = e->s.colour_primaries;
    info->transfer = e->s.transfer;
    info->matrix = e->s.matrix;
    info->full_range = e->s.full_range;
    info->bit_depth = 8;
    info->gop_length = e->s.gop_length;
    info->frame_count = -1;
    info->model_id = e->model.stream_id;
    memcpy(info->model_name, e->model.name, sizeof info->model_name);
    info->version_major = NVC_STREAM_VERSION_MAJOR;
    info->version_minor = NVC_STREAM_VERSION_MINOR;
}

/* The quality the current frame is coded at as this type: I-frames and the refinement P-frames after them at
 * quality + i_quality_offset (clamped), other P-frames at quality. */
static int frame_quality(const nvc_encoder *e, int type)
{
    if (type != NVC_FRAME_I && !e->refining)
        return e->s.quality;
    const int q = e->s.quality + e->s.i_quality_offset;
    return q < 0 ? 0 : q > NVC_STREAM_MAX_QUALITY ? NVC_STREAM_MAX_QUALITY : q;
}

/* A candidate's flags with the format 2.3 context codes and 3.1 scale shifts and fitted tables allowed: an
 * I-frame's block means (used where the model has them), a P-frame's vectors if it codes motion (used where
 * shorter than the hyperprior), the scale shifts of the I latent or of a P-frame's residual (used where they save
 * more than they cost), the fitted tables for those latents (unless gaussian_tables; used where the model's
 * Gaussian set is the 64 tables they replace; nvc_frame_encode). */
static int with_context(const nvc_encoder *e, int type, int flags)
{
    if (!e->s.gaussian_tables)
        flags |= NVC_FRAME_FITTED_TABLES; /* dropped below where the residual is left out */
    if (type == NVC_FRAME_I)
        return flags | NVC_FRAME_MEANS_CONTEXT | NVC_FRAME_SCALE_SHIFT;
    if (!(flags & NVC_FRAME_NO_MOTION))
        flags |= NVC_FRAME_MV_CONTEXT;
    return flags & NVC_FRAME_NO_RESIDUAL ? flags & ~NVC_FRAME_FITTED_TABLES : flags | NVC_FRAME_SCALE_SHIFT;
}

/* Lays out the coded segments as one frame (header + payload) in e->packet. */
static int make_packet(nvc_encoder *e, int type, const nvc_frame_coded *fc)
{
    nvc_frame_info *f = e->fi;
    memset(f, 0, sizeof *f);
    f->type = (uint8_t)type;
    f->flags = (uint8_t)fc->flags;
    f->lanes_signalled = 1;
    f->quality = (uint8_t)frame_quality(e, type);
    f->frame_number = e->frames;
    f->nsegments = (uint32_t)fc->nsegments;
    size_t payload = 0, k = 0;
    for (int s = 0; s < fc->nsegments; s++) {
        f->nsubstreams[s] = (uint32_t)fc->seg[s].count;
        for (int i = 0; i < fc->seg[s].count; i++)
            f->substream_size[k++] = fc->seg[s].size[i];
        payload += fc->seg[s].total;
    }
    if (payload > NVC_STREAM_MAX_FRAME_BYTES)
        return fail(e, NVC_EINVAL, "a coded frame exceeds the format's 64 MiB limit");
    const size_t need = NVC_STREAM_FRAME_MAX_HEADER_SIZE + payload;
    if (need > e->packet_cap) {
        uint8_t *p = realloc(e->packet, need);
        if (!p)
            return fail(e, NVC_ENOMEM, "out of memory for a packet");
        e->packet = p;
        e->packet_cap = need;
    }
    /* payload first, after room for the largest header; then the header right before it */
    uint8_t *pl = e->packet + NVC_STREAM_FRAME_MAX_HEADER_SIZE, *w = pl;
    for (int s = 0; s < fc->nsegments; s++)
        for (int i = 0; i < fc->seg[s].count; i++) {
            if (fc->seg[s].size[i])
                memcpy(w, fc->seg[s].data[i], fc->seg[s].size[i]);
            w += fc->seg[s].size[i];
        }
    uint8_t hdr[NVC_STREAM_FRAME_MAX_HEADER_SIZE];
    size_t hlen = 0;
    char msg[256] = "";
    int err = nvc_stream_write_frame_header(NULL, f, nvc_crc32(0, pl, payload), hdr, sizeof hdr, &hlen, msg,
                                            sizeof msg);
    if (err)
        return fail(e, err, msg);
    uint8_t *start = pl - hlen;
    memcpy(start, hdr, hlen);
    e->pending = (nvc_packet){ .data = start, .size = hlen + payload, .frame_number = f->frame_number,
                               .frame_type = type == NVC_FRAME_I ? NVC_PICTURE_I : NVC_PICTURE_P, .offset = -1 };
    return 0;
}

/* The training objective of the model (tools/train/model.py, train.py) for one coded frame, in bits:
 * bits + lambda(q) * 255^2 * MSE * luma_pixels with MSE = (4 MSE_Y + MSE_U + MSE_V) / 6 on [0, 1] samples.
 * Over the packed picture (4 luma phases + U + V per position, 8-bit samples) that is
 * bits + lambda(q) * SSE * 4 / 6 (the padding outside the picture excluded), lambda(q) = nvc_frame_lambda(q)
 * (codec/frame.h), q the stream's quality. An encoder decision only: decoders never compute it.
 *
 * still, future (a refinement decision, key_refine_frames): the distortion of the still part of the picture,
 * where the motion search `still` found no motion, counts `future` more times: the frames up to the next
 * I-frame predict it by copying, so what this frame spends there is seen again in each of them (an estimate:
 * it assumes what is still now stays still). Without it (still NULL) the measure is this frame's alone. */
static double rd_cost(const nvc_encoder *e, const nvc_tensor *recon, const nvc_frame_coded *fc,
                      const nvc_tensor *still, int future)
{
    double bits = 0;
    for (int s = 0; s < fc->nsegments; s++)
        bits += 8.0 * (double)fc->seg[s].total;
    uint64_t sse = 0, sse_still = 0;
    const int h = e->geom.height / 2, w = e->geom.width / 2;
    const int cell = still ? e->picture.h / still->h : 1; /* packed pels per search cell, each way */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *a = nvc_tensor_px(&e->picture, y, x), *b = nvc_tensor_px(recon, y, x);
            uint64_t d2 = 0;
            for (int c = 0; c < 6; c++) {
                const int d = a[c] - b[c];
                d2 += (uint64_t)(d * d);
            }
            sse += d2;
            if (still) {
                const uint8_t *v = nvc_tensor_px(still, y / cell, x / cell);
                if (v[0] == still->zp && v[1] == still->zp)
                    sse_still += d2;
            }
        }
    return bits + nvc_frame_lambda(e->s.quality) * ((double)sse + (double)future * (double)sse_still) * 4.0 / 6.0;
}

/* A frame due to be a P-frame: codes every candidate (P with motion and residual, without motion, without
 * residual, without both; I unless fixed_gop; only the first if full_p_frames) from the same reference and keeps
 * the one of least rd_cost in *fc and e->recon. A frame due to be a refinement (`due`) codes the P candidates at
 * both its qualities and keeps the least rd_cost over the GOP (rd_cost's `future`); e->refining then says which
 * it is. */
static int choose_frame(nvc_encoder *e, int due, int *type, nvc_frame_coded *fc, char *msg,
                        size_t msg_size)
{
    static const struct { int type, flags; } cand[] = {
        { NVC_FRAME_P, 0 },
        { NVC_FRAME_P, NVC_FRAME_NO_MOTION },
        { NVC_FRAME_P, NVC_FRAME_NO_RESIDUAL },
        { NVC_FRAME_P, NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL },
        { NVC_FRAME_I, 0 },
    };
    const int passes = due && frame_quality(e, NVC_FRAME_I) > e->s.quality ? 2 : 1; /* a refinement refines */
    int err = nvc_tensor_copy(&e->ref, &e->recon);
    if (err) {
        snprintf(msg, msg_size, "out of memory");
        return err;
    }
    nvc_tensor search = { 0 }; /* one motion search for the candidates with motion: same picture, same reference */
    int future = 0;
    if (passes == 2) { /* the frames after this one up to the next I-frame (at most 32 without one) */
        const int gop = e->s.gop_length ? e->s.gop_length : 32;
        future = gop - 1 - (int)e->since_key > 0 ? gop - 1 - (int)e->since_key : 0;
        if ((err = nvc_frame_search(&e->model, &e->picture, &e->ref, e->s.quality, e->pool, &search))) {
            snprintf(msg, msg_size, "motion search failed: %s", nvc_strerror(err));
            return err;
        }
    }
    double best = 0;
    int have = 0, best_refining = 0;
    for (int pass = 0; pass < passes && !err; pass++) {
        e->refining = pass;
        for (size_t k = 0; k < sizeof cand / sizeof cand[0] && !err; k++) {
            /* the refinement pass: only the candidates with a residual (the others refine nothing), no I-frame
             * (the same at both) */
            if ((cand[k].type == NVC_FRAME_I && (e->s.fixed_gop || pass)) || (cand[k].flags && e->s.full_p_frames) ||
                (pass && (cand[k].flags & NVC_FRAME_NO_RESIDUAL)))
                continue;
            nvc_frame_coded c;
            /* a P candidate starts from the reference; an I-frame reads none (its synthesis replaces e->alt) */
            if (cand[k].type == NVC_FRAME_P && (err = nvc_tensor_copy(&e->alt, &e->ref))) {
                snprintf(msg, msg_size, "out of memory");
                break;
            }
            err = nvc_frame_encode(&e->model, &e->geom, cand[k].type, with_context(e, cand[k].type, cand[k].flags),
                                   frame_quality(e, cand[k].type),
                                   e->s.substreams, e->s.entropy_lanes, !e->s.plain_rounding, &e->picture, e->pool,
                                   &e->alt, &search, &c,
                                   msg, msg_size);
            if (err)
                break;
            const double cost = rd_cost(e, &e->alt, &c, passes == 2 ? &search : NULL, future);
            if (!have || cost < best) {
                if (have)
                    nvc_frame_coded_free(fc);
                *fc = c;
                *type = cand[k].type;
                nvc_tensor t = e->recon;
                e->recon = e->alt;
                e->alt = t;
                best = cost;
                best_refining = pass;
                have = 1;
            } else
                nvc_frame_coded_free(&c);
        }
    }
    e->refining = best_refining;
    nvc_tensor_release(&search);
    if (err && have)
        nvc_frame_coded_free(fc);
    return err;
}

int nvc_enc_send_picture(nvc_encoder *e, const nvc_picture *pic)
{
    if (!e)
        return NVC_EINVAL;
    if (e->fatal)
        return e->fatal;
    if (!pic) {
        e->flushed = 1;
        return 0;
    }
    if (e->flushed)
        return fail(e, NVC_EINVAL, "picture sent after the end of input");
    if (e->have_packet)
        return NVC_EAGAIN;
    if (pic->width != e->s.width || pic->height != e->s.height || !pic->data[0] || !pic->data[1] || !pic->data[2])
        return fail(e, NVC_EINVAL, "the picture's size differs from the encoder's");
    if (e->frames == UINT32_MAX - 1)
        return fail(e, NVC_EINVAL, "too many frames");
    const uint8_t *const planes[3] = { pic->data[0], pic->data[1], pic->data[2] };
    int err = nvc_net_pack_yuv420(&e->picture, planes, pic->stride, e->geom.width, e->geom.height, e->geom.wp,
                                  e->geom.hp);
    if (err)
        return e->fatal = fail(e, err, "cannot pack the picture");
    const uint32_t gop = (uint32_t)e->s.gop_length;
    int type = e->frames == 0 || (gop && e->since_key >= gop) ? NVC_FRAME_I : NVC_FRAME_P;
    const int refine_due = type == NVC_FRAME_P && e->since_key <= (uint32_t)e->s.key_refine_frames;
    e->refining = 0;
    nvc_frame_coded fc;
    char msg[256] = "";
    if (type == NVC_FRAME_I || (e->s.fixed_gop && e->s.full_p_frames && !refine_due))
        err = nvc_frame_encode(&e->model, &e->geom, type, with_context(e, type, 0),
                               frame_quality(e, type), e->s.substreams,
                               e->s.entropy_lanes, !e->s.plain_rounding, &e->picture, e->pool, &e->recon, NULL,
                               &fc, msg, sizeof msg);
    else
        err = choose_frame(e, refine_due, &type, &fc, msg, sizeof msg);
    if (err)
        return e->fatal = fail(e, err, msg);
    e->since_key = type == NVC_FRAME_I ? 1 : e->since_key + 1;
    err = make_packet(e, type, &fc);
    nvc_frame_coded_free(&fc);
    if (!err && (err = nvc_picture_alloc(&e->pending_recon, e->geom.width, e->geom.height)) == 0)
        err = nvc_frame_unpack(&e->recon, &e->pending_recon);
    if (err) {
        nvc_picture_unref(&e->pending_recon);
        return e->fatal = e->error[0] ? err : fail(e, err, "cannot make the reconstruction");
    }
    nvc_picture *r = &e->pending_recon;
    r->pts = r->frame_number = e->frames;
    r->frame_type = type == NVC_FRAME_I ? NVC_PICTURE_I : NVC_PICTURE_P;
    r->quality = frame_quality(e, type);
    r->compressed_size = e->pending.size;
    e->frames++;
    e->have_packet = 1;
    return 0;
}

int nvc_enc_receive_packet(nvc_encoder *e, nvc_packet *pkt, nvc_picture *recon)
{
    if (!e || !pkt)
        return NVC_EINVAL;
    if (recon)
        memset(recon, 0, sizeof *recon);
    if (e->fatal)
        return e->fatal;
    if (!e->have_packet)
        return e->flushed ? NVC_EOF : NVC_EAGAIN;
    *pkt = e->pending;
    if (recon) {
        *recon = e->pending_recon;
        memset(&e->pending_recon, 0, sizeof e->pending_recon);
    } else
        nvc_picture_unref(&e->pending_recon);
    e->have_packet = 0;
    return 0;
}

const char *nvc_enc_get_error(const nvc_encoder *e)
{
    return e ? e->error : "";
}
