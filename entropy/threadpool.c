#include "entropy/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* A worker that has just finished a task spins this long for the next job before it sleeps: a frame's
 * substreams or row bands take well under a millisecond, and waking a sleeping thread through the condition
 * variable costs tens of microseconds each time, which showed as lost 2-thread scaling. */
#define SPIN_NS 50000

typedef struct job {
    nvc_pool_fn fn;
    void *ctx;
    int n;          /* tasks in total */
    int next;       /* next task to hand out */
    int done;       /* tasks finished */
    struct job *next_job;
} job;

struct nvc_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a job was queued, or shutdown */
    pthread_cond_t finished; /* some job completed its last task */
    job *head, *tail;        /* jobs that still have tasks to hand out */
    atomic_int has_work;     /* head != NULL, readable without the lock (spinning workers) */
    int threads;
    int shutdown;
    pthread_t *tid;
};

/* Takes one task from the oldest job with tasks left; caller holds the lock. */
static job *take_task(nvc_pool *p, int *task)
{
    job *j = p->head;
    if (!j)
        return NULL;
    *task = j->next++;
    if (j->next == j->n) { /* fully handed out: unlink */
        p->head = j->next_job;
        if (!p->head)
            p->tail = NULL;
        atomic_store_explicit(&p->has_work, p->head != NULL, memory_order_relaxed);
    }
    return j;
}

static void finish_task(nvc_pool *p, job *j)
{
    if (++j->done == j->n)
        pthread_cond_broadcast(&p->finished);
}

typedef struct {
    nvc_pool *pool;
    int index;
} worker_arg;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Called with the lock held and no task available: spins (lock released) for up to SPIN_NS while no job
 * is queued. Returns with the lock held; the caller looks for a task again. */
static void spin_for_work(nvc_pool *p)
{
    pthread_mutex_unlock(&p->lock);
    const int64_t end = now_ns() + SPIN_NS;
    for (int i = 0; !atomic_load_explicit(&p->has_work, memory_order_relaxed); i++) {
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > end)
            break;
    }
    pthread_mutex_lock(&p->lock);
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    nvc_pool *p = wa->pool;
    const int me = wa->index;
    free(wa);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        int task;
        job *j = take_task(p, &task);
        if (!j && !p->shutdown) {
            spin_for_work(p);
            j = take_task(p, &task);
        }
        while (!j && !p->shutdown) {
            pthread_cond_wait(&p->work, &p->lock);
            j = take_task(p, &task);
        }
        if (!j)
            break;
        pthread_mutex_unlock(&p->lock);
        j->fn(j->ctx, task, me);
        pthread_mutex_lock(&p->lock);
        finish_task(p, j);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

nvc_pool *nvc_pool_create(int threads)
{
    if (threads < 1 || threads > 256)
        return NULL;
    nvc_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->finished, NULL);
    p->tid = calloc((size_t)threads, sizeof(*p->tid));
    if (!p->tid) {
        nvc_pool_destroy(p);
        return NULL;
    }
    for (int i = 1; i < threads; i++) {
        worker_arg *wa = malloc(sizeof(*wa));
        if (!wa || (wa->pool = p, wa->index = i, pthread_create(&p->tid[i], NULL, worker_main, wa))) {
            free(wa);
            p->threads = i; /* only join what started */
            nvc_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void nvc_pool_destroy(nvc_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->finished);
    free(p->tid);
    free(p);
}

int nvc_pool_threads(const nvc_pool *p)
{
    return p ? p->threads : 1;
}

void nvc_pool_run(nvc_pool *p, int n, nvc_pool_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (!p || p->threads == 1 || n == 1) {
        for (int i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    job j = { fn, ctx, n, 0, 0, NULL };
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next_job = &j;
    else
        p->head = &j;
    p->tail = &j;
    atomic_store_explicit(&p->has_work, 1, memory_order_relaxed);
    pthread_cond_broadcast(&p->work);
    /* The caller works on its own job only (so it never blocks on someone else's long task). */
    while (j.next < j.n) {
        int task = j.next++;
        if (j.next == j.n) { /* unlink j from the queue */
            job **pp = &p->head;
            job *prev = NULL;
            while (*pp != &j) {
                prev = *pp;
                pp = &(*pp)->next_job;
            }
            *pp = j.next_job;
            if (p->tail == &j)
                p->tail = prev;
            atomic_store_explicit(&p->has_work, p->head != NULL, memory_order_relaxed);
        }
        pthread_mutex_unlock(&p->lock);
        fn(ctx, task, 0);
        pthread_mutex_lock(&p->lock);
        finish_task(p, &j);
    }
    while (j.done < j.n)
        pthread_cond_wait(&p->finished, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
