/* The public decoder (include/nvc/nvc.h): input buffering and frame parsing on the caller's thread, frame
 * decoding in two pipelined stages (codec/frame.h), pictures out in stream order.
 *
 * Jobs. Every parsed frame becomes a job in a ring, in stream order; a damage marker (a frame the parser
 * rejected, or a truncated end) is a job too, so that damage is reported by nvc_get_picture in order. At
 * most max_frame_delay frames are in flight (parsed and not yet returned); that bounds memory.
 *
 * Stages. A: entropy decoding and hyper-decoders (no dependence on earlier frames). B: synthesis, which for
 * P-frames needs the previous reconstruction, so B runs strictly in order and owns the reference. With
 * n_threads > 1 one thread runs stage A and another stage B, both spreading their work over a shared pool,
 * so frame t+1's entropy decoding overlaps frame t's network. With n_threads == 1 nvc_get_picture runs both
 * stages of the oldest frame on the caller's thread.
 *
 * Damage. The parser side drops P-frames while it waits for an I-frame (after open, a flush or damage);
 * stage B drops P-frames whose reference is missing because an earlier frame failed. Only the first failure
 * of a run of damage is reported; the next picture returned has damaged = 1. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec/frame.h"
#include "codec/log.h"
#include "codec/picture.h"
#include "codec/stream.h"
#include "codec/stream_info.h"
#include "nvc/nvc.h"

#define MAX_THREADS 16
#define RESYNC_CHUNK 65536

enum job_kind { JOB_FRAME, JOB_DAMAGE };

typedef struct dec_job {
    int kind;
    uint8_t *bytes;          /* the frame (header and payload), owned */
    size_t size;
    nvc_frame_info *fi;      /* parsed header; payload points into bytes */
    nvc_tensor lat[NVC_FRAME_MAX_LATENTS];
    int err;                 /* 0, or why the frame gave no picture */
    int silent;              /* no picture and nothing to report (dropped, or damage already reported) */
    char msg[256];
    nvc_picture pic;
    int64_t time_us;
} dec_job;

typedef struct stage_worker {
    nvc_context *c;
    void (*run)(nvc_context *c, dec_job *j);
    uint64_t *done;          /* jobs this stage finished */
    const uint64_t *ready;   /* jobs the stage before it finished */
    pthread_t thread;
} stage_worker;

struct nvc_context {
    nvc_settings s;
    nvc_codec_model model;
    nvc_pool *pool;
    int n_threads, delay;

    /* caller side: input */
    nvc_stream_parser parser;
    int have_header;
    nvc_frame_geom geom;
    uint8_t *buf;
    size_t len, cap;
    int resync;              /* looking for the next frame sync marker */
    int at_index;            /* the index was reached: the remaining input is ignored */
    int need_iframe;         /* P-frames are dropped until an I-frame */
    int in_damage;           /* damage was reported and no I-frame was parsed since */
    int seeking;             /* flushed, no frame parsed since: the data may start anywhere */
    int eof;                 /* the application signalled the end of input */
    int input_done;          /* ... and every buffered byte has been parsed */
    nvc_frame_info *parse_fi;

    /* jobs: ring of `ring` slots; seq s lives at jobs[s % ring] */
    dec_job *jobs;
    int ring;
    uint64_t submitted, ent_done, syn_done, returned;
    int frames_in_flight;    /* JOB_FRAME jobs submitted and not returned */

    /* threads */
    int threaded, stop;
    stage_worker stage[2];   /* [0] entropy + hyper-decoders, [1] synthesis */
    pthread_mutex_t lock;
    pthread_cond_t cond;

    /* stage B state */
    nvc_tensor ref;
    int ref_ok;              /* ref is the previous frame's reconstruction */
    int ref_damaged;         /* the reference was lost to damage (a failure then is not reported again) */

    /* caller side: output */
    int damage_pending;      /* the next picture gets damaged = 1 */
    int fatal;
    char error[320];
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_error(nvc_context *c, int level, const char *m)
{
    snprintf(c->error, sizeof c->error, "%s", m);
    nvc_log(c->s.logger, c->s.logger_cookie, level, "%s", m);
}

/* ---- stages ------------------------------------------------------------------------------------------- */

static void stage_entropy(nvc_context *c, dec_job *j)
{
    if (j->kind != JOB_FRAME)
        return;
    const int64_t t0 = now_us();
    j->err = nvc_frame_decode_latents(&c->model, &c->geom, j->fi, c->pool, j->lat, j->msg, sizeof j->msg);
    j->time_us += now_us() - t0;
}

static void stage_synthesis(nvc_context *c, dec_job *j)
{
    const int64_t t0 = now_us();
    if (j->kind == JOB_DAMAGE || j->err) {
        /* the reference is gone; report unless this continues a damage already reported */
        j->silent = c->ref_damaged && j->err == NVC_EINVALDATA;
        c->ref_ok = 0;
        c->ref_damaged = 1;
    } else if (j->fi->type == NVC_FRAME_P && !c->ref_ok) {
        j->silent = 1; /* its reference was lost: dropped with the damage that lost it */
    } else {
        j->err = nvc_frame_synthesize(&c->model, j->fi->type, j->fi->flags, j->fi->quality, j->lat, c->pool,
                                      &c->ref, j->msg, sizeof j->msg);
        if (!j->err && (j->err = nvc_picture_alloc(&j->pic, c->geom.width, c->geom.height)))
            snprintf(j->msg, sizeof j->msg, "out of memory for a picture");
        if (!j->err)
            j->err = nvc_frame_unpack(&c->ref, &j->pic);
        c->ref_ok = !j->err;
        if (!j->err) {
            c->ref_damaged = 0;
            j->pic.pts = j->fi->frame_number;
            j->pic.frame_number = j->fi->frame_number;
            j->pic.frame_type = j->fi->type == NVC_FRAME_I ? NVC_PICTURE_I : NVC_PICTURE_P;
            j->pic.quality = j->fi->quality;
            j->pic.compressed_size = j->size;
        }
    }
    for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
        nvc_tensor_release(&j->lat[k]);
    j->time_us += now_us() - t0;
    j->pic.decode_time_us = j->time_us;
}

/* The body of both stage threads: stage `st` runs jobs from its own counter up to the counter of the stage
 * before it (submitted frames for entropy, entropy-done frames for synthesis). */
static void *stage_thread(void *arg)
{
    stage_worker *st = arg;
    nvc_context *c = st->c;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        if (*st->done == *st->ready) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        dec_job *j = &c->jobs[*st->done % (uint64_t)c->ring];
        pthread_mutex_unlock(&c->lock);
        st->run(c, j);
        pthread_mutex_lock(&c->lock);
        (*st->done)++;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void lock(nvc_context *c)
{
    if (c->threaded)
        pthread_mutex_lock(&c->lock);
}

static void unlock(nvc_context *c)
{
    if (c->threaded)
        pthread_mutex_unlock(&c->lock);
}

/* ---- jobs --------------------------------------------------------------------------------------------- */

static void job_clear(dec_job *j)
{
    free(j->bytes);
    for (int k = 0; k < NVC_FRAME_MAX_LATENTS; k++)
        nvc_tensor_release(&j->lat[k]);
    nvc_picture_unref(&j->pic);
    nvc_frame_info *fi = j->fi;
    memset(j, 0, sizeof *j);
    j->fi = fi;
}

/* The caller owns slot `submitted` until it publishes it. */
static dec_job *next_slot(nvc_context *c)
{
    dec_job *j = &c->jobs[c->submitted % (uint64_t)c->ring];
    job_clear(j);
    return j;
}

static void submit(nvc_context *c, dec_job *j)
{
    lock(c);
    if (j->kind == JOB_FRAME)
        c->frames_in_flight++;
    c->submitted++;
    if (c->threaded)
        pthread_cond_broadcast(&c->cond);
    unlock(c);
}

static void submit_damage(nvc_context *c, const char *why)
{
    if (c->in_damage)
        return; /* already reported: frames up to the next I-frame are dropped anyway */
    dec_job *j = next_slot(c);
    j->kind = JOB_DAMAGE;
    j->err = NVC_EINVALDATA;
    snprintf(j->msg, sizeof j->msg, "%s", why);
    c->in_damage = 1;
    submit(c, j);
}

/* ---- input -------------------------------------------------------------------------------------------- */

static int reserve(nvc_context *c, size_t need)
{
    if (need <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(c->buf, cap);
    if (!b)
        return NVC_ENOMEM;
    c->buf = b;
    c->cap = cap;
    return 0;
}

static void drop_front(nvc_context *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static int accept_header(nvc_context *c)
{
    const nvc_stream_header *h = &c->parser.header;
    nvc_frame_geom_init(&c->geom, h->width, h->height);
    c->have_header = 1; /* nvc_get_stream_info works even when the model is the wrong one */
    if (h->model_id != c->model.stream_id) {
        char m[256];
        snprintf(m, sizeof m, "the stream needs model %08x (%s), the loaded model is %08x (%s)",
                 (unsigned)h->model_id, h->model_name, (unsigned)c->model.stream_id, c->model.name);
        set_error(c, NVC_LOG_ERROR, m);
        return c->fatal = NVC_EMODEL;
    }
    return 0;
}

/* One step of input processing on the buffered bytes. Returns 0 (progress made), 1 (needs `*want` more
 * bytes in the buffer), 2 (queue full), or a fatal error. */
static size_t more(size_t need, size_t have)
{
    return need > have ? need - have : 1;
}

static int parse_step(nvc_context *c, size_t *want)
{
    size_t used = 0;
    int r;
    if (c->len == 0 && !c->at_index) { /* (the parsers are not given an empty buffer) */
        if (!c->have_header || c->frames_in_flight < c->delay || c->resync) {
            *want = c->resync ? RESYNC_CHUNK : NVC_STREAM_FRAME_FIXED_SIZE;
            return 1;
        }
        return 2;
    }
    if (!c->have_header) {
        r = nvc_stream_parse_header(&c->parser, c->buf, c->len, &used);
        if (r == NVC_EAGAIN) {
            *want = more(used, c->len);
            return 1;
        }
        if (r) {
            set_error(c, NVC_LOG_ERROR, c->parser.error);
            return c->fatal = r;
        }
        drop_front(c, used);
        return accept_header(c);
    }
    if (c->at_index) {
        c->len = 0;
        *want = SIZE_MAX;
        return 1;
    }
    if (c->resync) {
        size_t off = 0;
        r = nvc_stream_find_sync(&c->parser, c->buf, c->len, &off);
        drop_front(c, off);
        if (r == 0) {
            c->resync = 0;
            return 0;
        }
        *want = RESYNC_CHUNK;
        return 1;
    }
    if (c->frames_in_flight >= c->delay)
        return 2;
    nvc_frame_info *fi = c->parse_fi;
    r = nvc_stream_parse_frame(&c->parser, c->buf, c->len, &used, fi);
    if (r == NVC_EAGAIN) {
        *want = more(used, c->len);
        return 1;
    }
    if (r == NVC_EOF) {
        c->at_index = 1;
        return 0;
    }
    if (r) { /* damaged frame: report, then look for the next sync marker after its first byte */
        if (!c->seeking) /* data sent after a flush may start anywhere: find a frame without complaint */
            submit_damage(c, c->parser.error);
        c->need_iframe = 1;
        c->resync = 1;
        nvc_stream_parser_reset_frames(&c->parser);
        drop_front(c, 1);
        return 0;
    }
    if (fi->type == NVC_FRAME_P && c->need_iframe) {
        drop_front(c, used);
        c->seeking = 0;
        return 0;
    }
    c->seeking = 0;
    if (fi->type == NVC_FRAME_I)
        c->in_damage = 0;
    c->need_iframe = 0;
    dec_job *j = next_slot(c);
    j->kind = JOB_FRAME;
    j->size = used;
    const size_t payload_offset = (size_t)(fi->payload - c->buf);
    if (used == c->len) { /* the usual case: hand the buffer over */
        j->bytes = c->buf;
        c->buf = NULL;
        c->len = c->cap = 0;
    } else {
        if (!(j->bytes = malloc(used)))
            return c->fatal = NVC_ENOMEM;
        memcpy(j->bytes, c->buf, used);
        drop_front(c, used);
    }
    memcpy(j->fi, fi, sizeof *fi);
    j->fi->payload = j->bytes + payload_offset;
    submit(c, j);
    return 0;
}

/* After the end of input: parses what is buffered as far as the queue allows (called again as pictures free
 * slots); once all of it is parsed, bytes left over are a truncated frame. */
static int drain_input(nvc_context *c)
{
    while (!c->input_done) {
        size_t want;
        int r = parse_step(c, &want);
        if (r < 0)
            return r;
        if (r == 2)
            return 0;
        if (r == 1) {
            if (c->have_header && !c->at_index && !c->resync && c->len > 0)
                submit_damage(c, "the stream ends in the middle of a frame");
            c->len = 0;
            c->input_done = 1;
        }
    }
    return 0;
}

int nvc_send_data(nvc_context *c, const uint8_t *data, size_t size, size_t *consumed)
{
    if (consumed)
        *consumed = 0;
    if (!c || (!data && size))
        return NVC_EINVAL;
    if (c->fatal)
        return c->fatal;
    if (!data) {
        c->eof = 1;
        return drain_input(c);
    }
    if (c->eof) {
        snprintf(c->error, sizeof c->error, "data sent after the end of input (call nvc_flush first)");
        return NVC_EINVAL;
    }
    size_t done = 0;
    for (;;) {
        size_t want = 0;
        int r = parse_step(c, &want);
        if (r < 0) {
            if (consumed)
                *consumed = done;
            return r;
        }
        if (r == 2) {
            if (consumed)
                *consumed = done;
            return done == size ? 0 : NVC_EAGAIN;
        }
        if (r == 1) {
            if (done == size)
                break;
            size_t n = size - done < want ? size - done : want;
            if (c->at_index) { /* bytes after the index start: ignored */
                done = size;
                break;
            }
            if (reserve(c, c->len + n)) {
                set_error(c, NVC_LOG_ERROR, "out of memory buffering the input");
                return c->fatal = NVC_ENOMEM;
            }
            memcpy(c->buf + c->len, data + done, n);
            c->len += n;
            done += n;
        }
    }
    if (consumed)
        *consumed = done;
    return 0;
}

/* ---- output ------------------------------------------------------------------------------------------- */

int nvc_get_picture(nvc_context *c, nvc_picture *pic)
{
    if (!c || !pic)
        return NVC_EINVAL;
    memset(pic, 0, sizeof *pic);
    for (;;) {
        if (c->fatal)
            return c->fatal;
        if (c->eof) {
            int r = drain_input(c);
            if (r)
                return r;
        }
        lock(c);
        if (c->returned == c->submitted) {
            unlock(c);
            return c->eof ? NVC_EOF : NVC_EAGAIN;
        }
        dec_job *j = &c->jobs[c->returned % (uint64_t)c->ring];
        const int may_wait = c->eof || c->frames_in_flight >= c->delay || j->kind != JOB_FRAME;
        if (c->threaded) {
            if (c->syn_done <= c->returned && !may_wait) {
                unlock(c);
                return NVC_EAGAIN;
            }
            while (c->syn_done <= c->returned)
                pthread_cond_wait(&c->cond, &c->lock);
        } else {
            if (!may_wait)
                return NVC_EAGAIN;
            stage_entropy(c, j);
            c->ent_done++;
            stage_synthesis(c, j);
            c->syn_done++;
        }
        c->returned++;
        if (j->kind == JOB_FRAME)
            c->frames_in_flight--;
        unlock(c);
        if (j->silent) {
            job_clear(j);
            continue;
        }
        if (j->err) {
            const int err = j->err;
            set_error(c, err == NVC_EINVALDATA ? NVC_LOG_WARNING : NVC_LOG_ERROR, j->msg);
            job_clear(j);
            if (err != NVC_EINVALDATA)
                return c->fatal = err;
            c->damage_pending = 1;
            return err;
        }
        *pic = j->pic;
        memset(&j->pic, 0, sizeof j->pic);
        pic->damaged = c->damage_pending;
        c->damage_pending = 0;
        job_clear(j);
        return 0;
    }
}

int nvc_get_stream_info(const nvc_context *c, nvc_stream_info *info)
{
    if (!c || !info)
        return NVC_EINVAL;
    if (!c->have_header)
        return NVC_EAGAIN;
    nvc_stream_info_from_header(info, &c->parser.header);
    return 0;
}

const char *nvc_get_error(const nvc_context *c)
{
    return c ? c->error : "";
}

void nvc_flush(nvc_context *c)
{
    if (!c)
        return;
    lock(c);
    if (c->threaded)
        while (c->syn_done != c->submitted)
            pthread_cond_wait(&c->cond, &c->lock);
    for (uint64_t s = c->returned; s < c->submitted; s++)
        job_clear(&c->jobs[s % (uint64_t)c->ring]);
    c->ent_done = c->syn_done = c->returned = c->submitted;
    c->frames_in_flight = 0;
    c->ref_ok = c->ref_damaged = 0;
    unlock(c);
    c->len = 0;
    c->resync = c->at_index = c->eof = c->input_done = c->in_damage = c->damage_pending = 0;
    c->need_iframe = 1;
    c->seeking = 1;
    nvc_stream_parser_reset_frames(&c->parser);
}

/* ---- open / close ------------------------------------------------------------------------------------- */

void nvc_close(nvc_context **pc)
{
    if (!pc || !*pc)
        return;
    nvc_context *c = *pc;
    if (c->threaded) {
        pthread_mutex_lock(&c->lock);
        c->stop = 1;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->stage[0].thread, NULL);
        pthread_join(c->stage[1].thread, NULL);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
    }
    if (c->jobs)
        for (int i = 0; i < c->ring; i++) {
            job_clear(&c->jobs[i]);
            free(c->jobs[i].fi);
        }
    free(c->jobs);
    free(c->parse_fi);
    free(c->buf);
    nvc_tensor_release(&c->ref);
    nvc_pool_destroy(c->pool);
    nvc_codec_model_free(&c->model);
    free(c);
    *pc = NULL;
}

int nvc_open(nvc_context **out, const nvc_settings *s)
{
    if (!out)
        return NVC_EINVAL;
    *out = NULL;
    if (!s || s->n_threads < 0 || s->max_frame_delay < 0 || (s->model_data && !s->model_size))
        return NVC_EINVAL;
    nvc_context *c = calloc(1, sizeof *c);
    if (!c)
        return NVC_ENOMEM;
    c->s = *s;
    int n = s->n_threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    }
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    c->n_threads = n;
    c->delay = s->max_frame_delay ? s->max_frame_delay : n > 1 ? 2 : 1;
    if (c->delay > 64)
        c->delay = 64;
    c->ring = 2 * c->delay + 2; /* frames plus at most one damage marker before each frame and at the end */
    char msg[256] = "";
    int err = nvc_codec_model_load(&c->model, s->model_data, s->model_size, 0, msg, sizeof msg);
    if (err) {
        nvc_log(s->logger, s->logger_cookie, NVC_LOG_ERROR, "%s", msg);
        free(c);
        return err;
    }
    nvc_stream_parser_init(&c->parser);
    c->need_iframe = 1;
    c->jobs = calloc((size_t)c->ring, sizeof *c->jobs);
    c->parse_fi = malloc(sizeof *c->parse_fi);
    err = c->jobs && c->parse_fi ? 0 : NVC_ENOMEM;
    for (int i = 0; i < c->ring && !err; i++)
        if (!(c->jobs[i].fi = malloc(sizeof *c->jobs[i].fi)))
            err = NVC_ENOMEM;
    if (!err && n > 1 && !(c->pool = nvc_pool_create(n)))
        err = NVC_ENOMEM;
    if (!err && n > 1) {
        if (pthread_mutex_init(&c->lock, NULL) || pthread_cond_init(&c->cond, NULL))
            err = NVC_ENOMEM;
        else {
            c->stage[0] = (stage_worker){ c, stage_entropy, &c->ent_done, &c->submitted, 0 };
            c->stage[1] = (stage_worker){ c, stage_synthesis, &c->syn_done, &c->ent_done, 0 };
            if (pthread_create(&c->stage[0].thread, NULL, stage_thread, &c->stage[0]))
                err = NVC_ENOMEM;
            else if (pthread_create(&c->stage[1].thread, NULL, stage_thread, &c->stage[1])) {
                pthread_mutex_lock(&c->lock);
                c->stop = 1;
                pthread_cond_broadcast(&c->cond);
                pthread_mutex_unlock(&c->lock);
                pthread_join(c->stage[0].thread, NULL);
                err = NVC_ENOMEM;
            } else
                c->threaded = 1;
        }
    }
    if (err) {
        nvc_log(s->logger, s->logger_cookie, NVC_LOG_ERROR, "cannot create the decoder: %s", nvc_strerror(err));
        nvc_close(&c);
        return err;
    }
    *out = c;
    return 0;
}
