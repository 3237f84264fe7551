/* The engine's tensor buffer cache (network/tensor_cache.h): borders, reuse and its size rule, the
 * memory bound, tensors outliving the cache, concurrent use; and of network/tensor.h, nvc_tensor_alloc's
 * mapped buffers and the YUV420 pack/unpack round trip. */
#include <pthread.h>
#include <string.h>

#include "network/tensor_cache.h"
#include "nvc/nvc.h"
#include "testutil.h"

/* Every border byte (all channels of the cstride, 2 pixels around) equals zp. */
static int border_ok(const nvc_tensor *t)
{
    for (int y = -NVC_TENSOR_BORDER; y < t->h + NVC_TENSOR_BORDER; y++)
        for (int x = -NVC_TENSOR_BORDER; x < t->w + NVC_TENSOR_BORDER; x++) {
            if (y >= 0 && y < t->h && x >= 0 && x < t->w)
                continue;
            const uint8_t *px = t->data + (ptrdiff_t)y * t->rstride + (ptrdiff_t)x * t->cstride;
            for (int c = 0; c < t->cstride; c++)
                if (px[c] != t->zp)
                    return 0;
        }
    return 1;
}

static void fill_interior(nvc_tensor *t, int v)
{
    for (int y = 0; y < t->h; y++)
        memset(nvc_tensor_px(t, y, 0), v, (size_t)t->w * (size_t)t->cstride);
}

static int interior_is(const nvc_tensor *t, int v)
{
    for (int y = 0; y < t->h; y++)
        for (size_t i = 0; i < (size_t)t->w * (size_t)t->cstride; i++)
            if (nvc_tensor_px(t, y, 0)[i] != v)
                return 0;
    return 1;
}

static void test_reuse_and_borders(void)
{
    nvc_tensor_cache *cache = nvc_tensor_cache_new();
    CHECK(cache != NULL);
    nvc_tensor t = { 0 };
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &t, 20, 30, 50, 7), 0);
    CHECK(t.c == 20 && t.h == 30 && t.w == 50 && t.zp == 7 && t.cstride == 32 && t.cache == cache);
    CHECK(border_ok(&t));
    fill_interior(&t, 200);
    /* garbage in the border of a returned buffer must not survive the next get */
    memset(t.buf, 99, t.buf_size);
    uint8_t *const first = t.buf;
    nvc_tensor_release(&t);
    CHECK(t.buf == NULL && t.cache == NULL);
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &t, 20, 30, 50, 3), 0); /* same size: the same buffer */
    CHECK(t.buf == first);
    CHECK(border_ok(&t));
    nvc_tensor_release(&t);
    /* a slightly smaller tensor reuses it; one needing less than half of it does not */
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &t, 16, 40, 50, 1), 0);
    CHECK(t.buf == first && border_ok(&t) && t.cstride == 16);
    nvc_tensor_release(&t);
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &t, 16, 10, 10, 1), 0);
    CHECK(t.buf != first && border_ok(&t));
    nvc_tensor u = { 0 };
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &u, 20, 30, 50, 9), 0); /* t still holds its own buffer */
    CHECK(u.buf == first && u.buf != t.buf);
    /* get on a tensor that holds one returns it first */
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &u, 20, 30, 50, 9), 0);
    CHECK(u.buf == first);
    /* errors like nvc_tensor_alloc */
    nvc_tensor bad = { 0 };
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &bad, 0, 4, 4, 0), NVC_EINVAL);
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &bad, 4, 4, 4, 256), NVC_EINVAL);
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &bad, 4096, NVC_TENSOR_MAX_DIM, NVC_TENSOR_MAX_DIM, 0), NVC_ENOMEM);
    CHECK(bad.buf == NULL);
    size_t held, lent, peak;
    nvc_tensor_cache_stats(cache, &held, &lent, &peak);
    CHECK_EQ_INT(lent, t.buf_size + u.buf_size);
    nvc_tensor_release(&t);
    nvc_tensor_release(&u);
    nvc_tensor_cache_stats(cache, &held, &lent, &peak);
    CHECK_EQ_INT(lent, 0);
    /* without a cache: a fresh buffer, freed on release */
    CHECK_EQ_INT(nvc_tensor_cache_get(NULL, &t, 6, 9, 11, 128), 0);
    CHECK(t.cache == NULL && border_ok(&t));
    nvc_tensor_release(&t);
    nvc_tensor_cache_free(cache);
}

/* Kept + lent bytes stay within 1.25 x the peak lent; the oldest big buffers survive small ones. */
static void test_bound(void)
{
    nvc_tensor_cache *cache = nvc_tensor_cache_new();
    enum { N = 6 };
    nvc_tensor t[N] = { { 0 } };
    for (int i = 0; i < N; i++) /* peak: six 64x64x64 tensors */
        CHECK_EQ_INT(nvc_tensor_cache_get(cache, &t[i], 64, 64, 64, 0), 0);
    const size_t one = t[0].buf_size;
    for (int i = 0; i < N; i++)
        nvc_tensor_release(&t[i]);
    size_t held, lent, peak;
    nvc_tensor_cache_stats(cache, &held, &lent, &peak);
    CHECK_EQ_INT(peak, N * one);
    CHECK_EQ_INT(held, N * one); /* all kept: the next run needs them */
    unsigned long long seed = 5;
    for (int round = 0; round < 200; round++) {
        const int k = 1 + (int)(test_rand(&seed) % N);
        for (int i = 0; i < k; i++) {
            const int c = 1 + (int)(test_rand(&seed) % 64), h = 1 + (int)(test_rand(&seed) % 64);
            CHECK_EQ_INT(nvc_tensor_cache_get(cache, &t[i], c, h, 64, i), 0);
            CHECK(border_ok(&t[i]));
        }
        for (int i = 0; i < k; i++) {
            nvc_tensor_release(&t[i]);
            nvc_tensor_cache_stats(cache, &held, &lent, &peak);
            CHECK(held + lent <= peak + peak / 4);
        }
    }
    nvc_tensor_cache_free(cache);
}

/* A tensor from the cache may be released after its owner freed the cache (ASan checks the rest). */
static void test_orphan(void)
{
    nvc_tensor_cache *cache = nvc_tensor_cache_new();
    nvc_tensor a = { 0 }, b = { 0 };
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &a, 32, 100, 100, 5), 0);
    CHECK_EQ_INT(nvc_tensor_cache_get(cache, &b, 8, 10, 10, 5), 0);
    nvc_tensor_release(&b); /* kept by the cache: freed with it */
    nvc_tensor_cache_free(cache);
    fill_interior(&a, 1);
    nvc_tensor_release(&a); /* the last tensor: frees the cache itself */
    CHECK(a.buf == NULL);
}

typedef struct worker {
    nvc_tensor_cache *cache;
    int id, ok;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    unsigned long long seed = 77 + (unsigned long long)w->id;
    nvc_tensor t[3] = { { 0 } };
    w->ok = 1;
    for (int it = 0; it < 300; it++) {
        const int i = (int)(test_rand(&seed) % 3);
        const int c = 1 + (int)(test_rand(&seed) % 48), h = 1 + (int)(test_rand(&seed) % 40);
        if (t[i].buf && !interior_is(&t[i], (w->id * 3 + i) & 255)) /* nobody else wrote into it */
            w->ok = 0;
        if (nvc_tensor_cache_get(w->cache, &t[i], c, h, 70, w->id) || !border_ok(&t[i]))
            w->ok = 0;
        fill_interior(&t[i], (w->id * 3 + i) & 255);
    }
    for (int i = 0; i < 3; i++)
        nvc_tensor_release(&t[i]);
    return NULL;
}

static void test_threads(void)
{
    nvc_tensor_cache *cache = nvc_tensor_cache_new();
    enum { T = 4 };
    pthread_t tid[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){ cache, i, 0 };
        CHECK_EQ_INT(pthread_create(&tid[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(tid[i], NULL);
        CHECK(w[i].ok);
    }
    size_t held, lent, peak;
    nvc_tensor_cache_stats(cache, &held, &lent, &peak);
    CHECK_EQ_INT(lent, 0);
    nvc_tensor_cache_free(cache);
}

/* nvc_tensor_alloc still sets every byte, whether the buffer is mapped (large) or allocated (small). */
static void test_alloc(void)
{
    const int sizes[2][3] = { { 3, 5, 7 }, { 64, 200, 300 } };
    for (int s = 0; s < 2; s++) {
        nvc_tensor t = { 0 };
        CHECK_EQ_INT(nvc_tensor_alloc(&t, sizes[s][0], sizes[s][1], sizes[s][2], 77), 0);
        int all = 1;
        for (size_t i = 0; i < t.buf_size; i++)
            all &= t.buf[i] == 77;
        CHECK(all && ((uintptr_t)t.buf & 63) == 0 && t.cache == NULL);
        CHECK(t.buf_size >= nvc_tensor_buf_size(t.c, t.h, t.w));
        nvc_tensor_release(&t);
    }
    CHECK_EQ_INT(nvc_tensor_buf_size(0, 1, 1), 0);
    CHECK_EQ_INT(nvc_tensor_buf_size(4096, NVC_TENSOR_MAX_DIM, NVC_TENSOR_MAX_DIM), 0);
}

/* pack then unpack gives the picture back, for sizes with and without padding; unpack writes exactly
 * w x h (and w/2 x h/2 chroma) and nothing around. */
static void test_yuv_roundtrip(void)
{
    const int sizes[3][4] = { { 2, 2, 2, 2 }, { 10, 6, 16, 8 }, { 30, 14, 64, 64 } }; /* w, h, wp, hp */
    unsigned long long seed = 9;
    for (int s = 0; s < 3; s++) {
        const int w = sizes[s][0], h = sizes[s][1], stride = w + 5;
        uint8_t *src[3], *dst[3];
        const ptrdiff_t strides[3] = { stride, stride, stride };
        for (int p = 0; p < 3; p++) {
            src[p] = malloc((size_t)stride * h);
            dst[p] = malloc((size_t)stride * h);
            for (int i = 0; i < stride * h; i++) {
                src[p][i] = (uint8_t)test_rand(&seed);
                dst[p][i] = 0xEE;
            }
        }
        nvc_tensor t = { 0 };
        CHECK_EQ_INT(nvc_net_pack_yuv420(&t, (const uint8_t *const *)src, strides, w, h, sizes[s][2], sizes[s][3]), 0);
        CHECK_EQ_INT(nvc_net_unpack_yuv420(&t, dst, strides, w, h), 0);
        int same = 1;
        for (int p = 0; p < 3; p++) {
            const int pw = p ? w / 2 : w, ph = p ? h / 2 : h;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < stride; x++) {
                    const uint8_t want = (y < ph && x < pw) ? src[p][y * stride + x] : 0xEE;
                    same &= dst[p][y * stride + x] == want;
                }
            free(src[p]);
            free(dst[p]);
        }
        CHECK(same);
        nvc_tensor_release(&t);
    }
}

int main(void)
{
    test_yuv_roundtrip();
    test_reuse_and_borders();
    test_bound();
    test_orphan();
    test_threads();
    test_alloc();
    TEST_DONE();
}
