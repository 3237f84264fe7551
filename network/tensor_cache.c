#include "network/tensor_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nvc/nvc.h"

typedef struct cached_buf {
    uint8_t *buf;
    size_t size;
} cached_buf;

struct nvc_tensor_cache {
    pthread_mutex_t lock;
    int n;                                 /* buffers kept */
    cached_buf bufs[NVC_TENSOR_CACHE_MAX + 1]; /* oldest first; one over the limit during a put */
    size_t held;                           /* their bytes */
    size_t lent, peak_lent;                /* bytes of live tensors from this cache: now, at most */
    size_t n_lent;                         /* number of live tensors from this cache */
    int orphaned;                          /* nvc_tensor_cache_free was called */
};

nvc_tensor_cache *nvc_tensor_cache_new(void)
{
    nvc_tensor_cache *c = calloc(1, sizeof(*c));
    if (c && pthread_mutex_init(&c->lock, NULL)) {
        free(c);
        c = NULL;
    }
    return c;
}

static void destroy(nvc_tensor_cache *c)
{
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Takes the kept buffers out (under the lock) into out[], returns how many. */
static int take_all(nvc_tensor_cache *c, cached_buf *out)
{
    const int n = c->n;
    memcpy(out, c->bufs, sizeof(cached_buf) * (size_t)n);
    c->n = 0;
    c->held = 0;
    return n;
}

void nvc_tensor_cache_free(nvc_tensor_cache *cache)
{
    if (!cache)
        return;
    cached_buf freed[NVC_TENSOR_CACHE_MAX];
    pthread_mutex_lock(&cache->lock);
    const int n = take_all(cache, freed);
    cache->orphaned = 1;
    const int last = cache->n_lent == 0;
    pthread_mutex_unlock(&cache->lock);
    for (int i = 0; i < n; i++)
        nvc_tensor_buf_free(freed[i].buf, freed[i].size);
    if (last)
        destroy(cache);
}

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds fill what a tensor from the cache leaves unspecified with a byte that changes from
 * one tensor to the next, so that `make SAN=1 check` (conformance MD5s, encoder == decoder, the C/AVX2
 * equality tests) catches any kernel that does not write its whole output or reads channel padding. */
static void poison(nvc_tensor *t)
{
    static _Atomic unsigned counter;
    memset(t->buf, (int)(0x5b + 0x25 * counter++) & 255, t->buf_size);
}
#else
static void poison(nvc_tensor *t)
{
    (void)t;
}
#endif

int nvc_tensor_cache_get(nvc_tensor_cache *cache, nvc_tensor *t, int c, int h, int w, int zp)
{
    nvc_tensor_release(t);
    if (zp < 0 || zp > 255)
        return NVC_EINVAL;
    const size_t need = nvc_tensor_buf_size(c, h, w);
    if (!need) {
        nvc_tensor tmp = { 0 };
        return nvc_tensor_alloc(&tmp, c, h, w, zp); /* the same error as nvc_tensor_alloc */
    }
    if (cache) { /* best fit among buffers of need .. 2 * need bytes */
        pthread_mutex_lock(&cache->lock);
        int best = -1;
        for (int i = 0; i < cache->n; i++)
            if (cache->bufs[i].size >= need && cache->bufs[i].size / 2 <= need &&
                (best < 0 || cache->bufs[i].size < cache->bufs[best].size))
                best = i;
        if (best >= 0) {
            t->buf = cache->bufs[best].buf;
            t->buf_size = cache->bufs[best].size;
            cache->held -= t->buf_size;
            cache->n--;
            memmove(&cache->bufs[best], &cache->bufs[best + 1], sizeof(cached_buf) * (size_t)(cache->n - best));
        }
        pthread_mutex_unlock(&cache->lock);
    }
    if (!t->buf) {
        if (!(t->buf = nvc_tensor_buf_new(need)))
            return NVC_ENOMEM;
        t->buf_size = need;
    }
    if (cache) {
        pthread_mutex_lock(&cache->lock);
        cache->lent += t->buf_size;
        cache->n_lent++;
        if (cache->peak_lent < cache->lent)
            cache->peak_lent = cache->lent;
        pthread_mutex_unlock(&cache->lock);
        t->cache = cache;
    }
    poison(t);
    nvc_tensor_shape(t, c, h, w, zp);
    nvc_tensor_fill_border(t);
    return 0;
}

void nvc_tensor_cache_put(nvc_tensor *t)
{
    nvc_tensor_cache *cache = t->cache;
    cached_buf freed[NVC_TENSOR_CACHE_MAX + 2];
    int n_freed = 0, last = 0;
    if (!cache) {
        freed[n_freed++] = (cached_buf){ t->buf, t->buf_size };
    } else {
        pthread_mutex_lock(&cache->lock);
        cache->lent -= t->buf_size;
        cache->n_lent--;
        if (cache->orphaned) {
            freed[n_freed++] = (cached_buf){ t->buf, t->buf_size };
            last = cache->n_lent == 0;
        } else {
            /* keep it, then drop the smallest buffers (the cheapest to make again) while over the bounds;
             * the slack keeps the buffers of the next run through the moments of peak use (without it a
             * 720p decoder took 10x more page faults, with it fewer than the C library's allocator) */
            cache->bufs[cache->n++] = (cached_buf){ t->buf, t->buf_size };
            cache->held += t->buf_size;
            while (cache->n > NVC_TENSOR_CACHE_MAX || cache->held + cache->lent > cache->peak_lent + cache->peak_lent / 4) {
                int smallest = 0;
                for (int i = 1; i < cache->n; i++)
                    if (cache->bufs[i].size < cache->bufs[smallest].size)
                        smallest = i;
                freed[n_freed++] = cache->bufs[smallest];
                cache->held -= cache->bufs[smallest].size;
                cache->n--;
                memmove(&cache->bufs[smallest], &cache->bufs[smallest + 1],
                        sizeof(cached_buf) * (size_t)(cache->n - smallest));
            }
        }
        pthread_mutex_unlock(&cache->lock);
    }
    for (int i = 0; i < n_freed; i++) /* outside the lock */
        nvc_tensor_buf_free(freed[i].buf, freed[i].size);
    if (last)
        destroy(cache);
    memset(t, 0, sizeof(*t));
}

void nvc_tensor_cache_stats(nvc_tensor_cache *cache, size_t *held, size_t *lent, size_t *peak_lent)
{
    pthread_mutex_lock(&cache->lock);
    *held = cache->held;
    *lent = cache->lent;
    *peak_lent = cache->peak_lent;
    pthread_mutex_unlock(&cache->lock);
}
