/* A small pthreads pool shared by the entropy decoder and the int8 engine.
 *
 * The only operation is a blocking parallel-for: nvc_pool_run() runs fn(ctx, i, worker) for every
 * i in [0, n) and returns when all have finished. The calling thread works on its own job too, so a
 * pool of T threads has T-1 workers plus the caller, and a pool with 1 thread runs everything inline.
 * Several threads may call nvc_pool_run() on one pool at the same time (e.g. entropy decoding of
 * frame t+1 while the network runs frame t): jobs queue and workers take tasks from the oldest job
 * that has some left. Which thread runs which task is unspecified, so results must never depend on
 * it: `worker` (0..threads-1) is only for choosing per-thread scratch memory. */
#ifndef NVC_ENTROPY_THREADPOOL_H
#define NVC_ENTROPY_THREADPOOL_H

typedef struct nvc_pool nvc_pool;

typedef void (*nvc_pool_fn)(void *ctx, int task, int worker);

/* threads >= 1; returns NULL on failure. */
nvc_pool *nvc_pool_create(int threads);
void nvc_pool_destroy(nvc_pool *pool);
int nvc_pool_threads(const nvc_pool *pool);

/* Runs fn for tasks 0..n-1; a NULL pool runs them inline on the caller (worker 0).
 * With concurrent callers the `worker` index is unique among the threads running tasks at any instant
 * only if each caller passes a distinct pool; scratch should then be per job, not per worker. */
void nvc_pool_run(nvc_pool *pool, int n, nvc_pool_fn fn, void *ctx);

#endif
