#include "player/source.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { QUEUE_SIZE = 4 }; /* decoded pictures ready ahead of display: ~130 ms at 30 fps, ~5.5 MB at 720p */

/* Result of the decode thread's steps besides success: stop what you are doing, because a seek or quit came
 * in (INTERRUPTED) or decoding cannot continue (fatal nvc error codes are passed through). */
enum { INTERRUPTED = 1 };

struct nvplay_source {
    nvc_reader *reader;
    void *model;             /* the --model file's bytes, alive until the decoder is closed */
    size_t model_size;
    nvc_context *dec;
    nvc_stream_info info;
    const uint32_t *keyframes;
    size_t nkeyframes;
    int loop;

    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t changed;  /* queue or requests changed */
    nvplay_frame queue[QUEUE_SIZE];
    int head, count;
    int quit;
    int seek_pending;
    uint32_t seek_target;
    unsigned timeline;       /* decode thread only */
    int damage;              /* under lock */
    char error[320];         /* set once, under lock, before the final end entry */
};

/* An nvc_log_callback that keeps the message in its cookie (a char[256]). */
static void keep_message(void *cookie, int level, const char *message)
{
    (void)level;
    snprintf(cookie, 256, "%s", message);
}

static void report(const char *what, const char *detail) { fprintf(stderr, "nvplay: %s: %s\n", what, detail); }

/* The whole file in memory (NULL with errno set when it cannot be read; an empty file gives a 1-byte buffer and
 * size 0, which the decoder then rejects as a model). Models are a few MB: no size limit beyond malloc's. */
static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    void *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n ? (size_t)n : 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        errno = EIO;
    }
    fclose(f);
    *size = n > 0 ? (size_t)n : 0;
    return buf;
}

int source_open(nvplay_source **out, const char *path, const char *model_path, int threads, int loop, char *msg,
                size_t msg_size)
{
    *out = NULL;
    nvplay_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(msg, msg_size, "out of memory");
        return NVC_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &attr);
    pthread_condattr_destroy(&attr);
    s->loop = loop;
    char rmsg[256];
    int err = nvc_reader_open(&s->reader, path, rmsg, sizeof rmsg);
    if (err) {
        snprintf(msg, msg_size, "%s%s", rmsg,
                 err == NVC_EUNSUPPORTED ? " (the stream was made by another version of nvc)" : "");
        source_close(s);
        return err;
    }
    nvc_reader_info(s->reader, &s->info);
    if (nvc_reader_keyframes(s->reader, &s->keyframes, &s->nkeyframes) != 0)
        s->keyframes = NULL, s->nkeyframes = 0; /* a pipe: no seeking */

    nvc_settings set;
    nvc_default_settings(&set);
    set.n_threads = threads;
    if (model_path) {
        if (!(s->model = read_file(model_path, &s->model_size))) {
            snprintf(msg, msg_size, "cannot read the model %s: %s", model_path, strerror(errno));
            source_close(s);
            return NVC_EINVAL;
        }
        set.model_data = s->model;
        set.model_size = s->model_size;
    }
    set.logger = NULL; /* errors are reported by nvplay itself, with context */
    if ((err = nvc_open(&s->dec, &set))) {
        snprintf(msg, msg_size, "cannot create a decoder: %s%s%s", nvc_strerror(err), s->dec ? ": " : "",
                 s->dec ? nvc_get_error(s->dec) : "");
        if (err == NVC_EMODEL && model_path) {
            /* what is wrong with it: the library logs it while opening; open again (no decoder exists, no worker
             * thread runs) with a logger that keeps the message */
            char detail[256] = "";
            nvc_context *again = NULL;
            set.logger = keep_message;
            set.logger_cookie = detail;
            if (!nvc_open(&again, &set))
                nvc_close(&again);
            snprintf(msg, msg_size, "cannot create a decoder: %s is not a usable .nvm model%s%s", model_path,
                     detail[0] ? ": " : "", detail);
        }
        if (err == NVC_EUNSUPPORTED && !s->dec)
            snprintf(msg, msg_size, "cannot create a decoder: this libnvc %s has no working decoder", nvc_version());
        source_close(s);
        return err;
    }
    const uint8_t *hdr;
    size_t hdr_size, used = 0;
    nvc_reader_header(s->reader, &hdr, &hdr_size);
    err = nvc_send_data(s->dec, hdr, hdr_size, &used);
    if (err == NVC_EMODEL)
        snprintf(msg, msg_size, "%s: this stream needs model \"%s\" (id %08x), which is not the %s: %s (--model "
                 "FILE loads another .nvm)", path, s->info.model_name, (unsigned)s->info.model_id,
                 model_path ? "model given" : "model built into this nvc", nvc_get_error(s->dec));
    else if (err == NVC_EUNSUPPORTED)
        snprintf(msg, msg_size, "%s: %s (the stream was made by another version of nvc)", path,
                 nvc_get_error(s->dec));
    else if (err || used != hdr_size)
        snprintf(msg, msg_size, "%s: the decoder refused the stream header: %s", path,
                 err ? nvc_get_error(s->dec) : "not all consumed");
    if (err || used != hdr_size) {
        source_close(s);
        return err ? err : NVC_EINVALDATA;
    }
    *out = s;
    return 0;
}

const nvc_stream_info *source_info(const nvplay_source *s) { return &s->info; }

void source_keyframes(const nvplay_source *s, const uint32_t **numbers, size_t *count)
{
    *numbers = s->keyframes;
    *count = s->nkeyframes;
}

/* Queues an entry, waiting while the queue is full. INTERRUPTED (entry dropped) when a seek or quit came. */
static int push(nvplay_source *s, nvplay_frame *f)
{
    f->timeline = s->timeline;
    pthread_mutex_lock(&s->lock);
    while (s->count == QUEUE_SIZE && !s->quit && !s->seek_pending)
        pthread_cond_wait(&s->changed, &s->lock);
    int interrupted = s->quit || s->seek_pending;
    if (!interrupted) {
        s->queue[(s->head + s->count) % QUEUE_SIZE] = *f;
        s->count++;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    if (interrupted)
        nvc_picture_unref(&f->pic);
    return interrupted ? INTERRUPTED : 0;
}

/* Moves the decoder's ready pictures to the queue. Returns 0 when it wants more data, NVC_EOF when drained
 * after the end of input, INTERRUPTED, or a fatal error. */
static int take_pictures(nvplay_source *s)
{
    for (;;) {
        nvplay_frame f = {0};
        int err = nvc_get_picture(s->dec, &f.pic);
        if (err == NVC_EAGAIN)
            return 0;
        if (err == NVC_EINVALDATA) {
            report("damaged frame (skipping to the next I-frame)", nvc_get_error(s->dec));
            pthread_mutex_lock(&s->lock);
            s->damage++;
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        if (err)
            return err;
        if ((err = push(s, &f)))
            return err;
    }
}

static int send_packet(nvplay_source *s, const uint8_t *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        size_t n = 0;
        int err = nvc_send_data(s->dec, data + done, size - done, &n);
        done += n;
        if (err && err != NVC_EAGAIN)
            return err;
        if ((err = take_pictures(s)))
            return err;
    }
    return 0;
}

/* Ends the input and hands over every picture still in the decoder. */
static int drain(nvplay_source *s)
{
    nvc_send_data(s->dec, NULL, 0, NULL);
    int err = take_pictures(s);
    return err == 0 ? NVC_EAGAIN /* cannot happen after the end of input */ : err;
}

/* One frame of input: read, send, pass pictures on. NVC_EOF when the stream and the decoder are done. */
static int decode_step(nvplay_source *s)
{
    nvc_packet pkt;
    int err = nvc_reader_read_frame(s->reader, &pkt);
    if (err == NVC_EINVALDATA) {
        /* The reader skips to the next intact frame; the decoder returns what came before the gap, then
         * resumes at the next I-frame. */
        report("damaged stream (skipping to the next I-frame)", nvc_reader_error(s->reader));
        pthread_mutex_lock(&s->lock);
        s->damage++;
        pthread_mutex_unlock(&s->lock);
        err = drain(s);
        nvc_flush(s->dec);
        return err == NVC_EOF ? 0 : err;
    }
    if (err == NVC_EOF)
        return drain(s);
    if (err) {
        report("read error", nvc_reader_error(s->reader));
        return err;
    }
    return send_packet(s, pkt.data, pkt.size);
}

static void *decode_thread(void *arg)
{
    nvplay_source *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int quit = s->quit, seek = s->seek_pending;
        uint32_t target = s->seek_target;
        s->seek_pending = 0;
        pthread_mutex_unlock(&s->lock);
        if (quit)
            break;
        if (seek) {
            uint32_t iframe;
            if (nvc_reader_seek(s->reader, target, &iframe) != 0)
                report("seek failed", nvc_reader_error(s->reader));
            nvc_flush(s->dec);
            s->timeline++;
        }
        int err = decode_step(s);
        if (err == 0 || err == INTERRUPTED)
            continue;
        if (err == NVC_EOF && s->loop && s->nkeyframes) {
            if (nvc_reader_seek(s->reader, 0, NULL) == 0) {
                nvc_flush(s->dec);
                s->timeline++;
                continue;
            }
        }
        nvplay_frame end = {.end = 1, .error = err == NVC_EOF ? 0 : err};
        if (end.error) {
            pthread_mutex_lock(&s->lock);
            snprintf(s->error, sizeof s->error, "%s: %s", nvc_strerror(err), nvc_get_error(s->dec));
            pthread_mutex_unlock(&s->lock);
        }
        if (push(s, &end) == INTERRUPTED)
            continue; /* a seek came: the stream goes on */
        /* Done: wait for a seek (the window stays open) or the end. */
        pthread_mutex_lock(&s->lock);
        while (!s->quit && !s->seek_pending)
            pthread_cond_wait(&s->changed, &s->lock);
        pthread_mutex_unlock(&s->lock);
        if (end.error)
            break;
    }
    return NULL;
}

int source_start(nvplay_source *s)
{
    if (pthread_create(&s->thread, NULL, decode_thread, s) != 0)
        return NVC_ENOMEM;
    s->started = 1;
    return 0;
}

int source_pop(nvplay_source *s, nvplay_frame *f, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
    }
    pthread_mutex_lock(&s->lock);
    while (!s->count && timeout_ms != 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->changed, &s->lock);
        else if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    int got = s->count > 0;
    if (got) {
        *f = s->queue[s->head];
        s->head = (s->head + 1) % QUEUE_SIZE;
        s->count--;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return got;
}

const nvplay_frame *source_peek(nvplay_source *s)
{
    pthread_mutex_lock(&s->lock);
    const nvplay_frame *f = s->count ? &s->queue[s->head] : NULL;
    pthread_mutex_unlock(&s->lock);
    return f; /* only the consumer removes entries, so it stays valid until the consumer's next pop/seek */
}

static void drop_queue(nvplay_source *s)
{
    for (; s->count; s->count--, s->head = (s->head + 1) % QUEUE_SIZE)
        nvc_picture_unref(&s->queue[s->head].pic);
}

void source_seek(nvplay_source *s, uint32_t frame_number)
{
    pthread_mutex_lock(&s->lock);
    s->seek_pending = 1;
    s->seek_target = frame_number;
    drop_queue(s);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

int source_damage_count(nvplay_source *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->damage;
    pthread_mutex_unlock(&s->lock);
    return n;
}

const char *source_error(nvplay_source *s) { return s->error; }

void source_close(nvplay_source *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->quit = 1;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    drop_queue(s);
    nvc_close(&s->dec);
    free(s->model);
    nvc_reader_close(&s->reader);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
