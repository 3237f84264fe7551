/* A cache of tensor buffers shared by the runs of one model's graphs (each model owns one).
 *
 * Why: a graph run needs several multi-megabyte tensors. Allocating and clearing them anew every run
 * costs page faults and memset time, and freeing them to the C library leaves them in its per-thread
 * arenas (a 720p decoder's resident memory grew by tens of megabytes that way). The cache hands the
 * buffers of dead tensors, and of tensors the caller releases (graph outputs remember their cache), to
 * the next tensor of a fitting size, in the same run or a later one, on any thread.
 *
 * Bounded: the bytes it keeps plus the bytes lent out (tensors alive now) never exceed 1.25 x the most
 * that was ever lent out at once, so the memory of the engine's tensors stays near the high-water mark
 * of what its callers needed simultaneously (plus what a size mismatch costs until the next return). At most
 * NVC_TENSOR_CACHE_MAX buffers are kept, the least recently returned go first, and a buffer is only
 * reused for a tensor that needs at least half of it.
 *
 * Thread-safe: any number of runs on any threads may get and return buffers at the same time (one
 * mutex, a few operations per op). A buffer belongs to one tensor between get and return. */
#ifndef NVC_NETWORK_TENSOR_CACHE_H
#define NVC_NETWORK_TENSOR_CACHE_H

#include "network/tensor.h"

#define NVC_TENSOR_CACHE_MAX 16

typedef struct nvc_tensor_cache nvc_tensor_cache;

/* NULL when out of memory. */
nvc_tensor_cache *nvc_tensor_cache_new(void);
/* The owner (the model) is done with the cache: its buffers are freed now, and the cache itself when
 * the last tensor lent from it is released (tensors may outlive the model). NULL is ignored. */
void nvc_tensor_cache_free(nvc_tensor_cache *cache);

/* Makes t (zero-initialised or holding a tensor, which is released first) a c x h x w tensor with zero
 * point zp whose BORDER is zp; its interior and channel padding are unspecified (old contents): for op
 * outputs, which the kernels write completely. t remembers the cache; nvc_tensor_release(t) returns the
 * buffer. cache may be NULL (a fresh buffer, freed on release). Returns 0, NVC_EINVAL or NVC_ENOMEM
 * like nvc_tensor_alloc. */
int nvc_tensor_cache_get(nvc_tensor_cache *cache, nvc_tensor *t, int c, int h, int w, int zp);
/* Bytes kept now, lent out now, and the most ever lent out at once (for tests and tuning). */
void nvc_tensor_cache_stats(nvc_tensor_cache *cache, size_t *held, size_t *lent, size_t *peak_lent);
/* Returns t's buffer to t->cache (nvc_tensor_release calls this) and zeroes t. */
void nvc_tensor_cache_put(nvc_tensor *t);

#endif
