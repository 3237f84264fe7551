/* The thread pool runs every task exactly once, for any thread count, with concurrent callers. */
#include "entropy/threadpool.h"
#include "tests/testutil.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    atomic_int hits[1000];
} counts;

static void bump(void *ctx, int task, int worker)
{
    counts *c = ctx;
    (void)worker;
    atomic_fetch_add(&c->hits[task], 1);
}

typedef struct {
    nvc_pool *pool;
    counts c;
} caller_arg;

static void *caller(void *arg)
{
    caller_arg *a = arg;
    for (int rep = 0; rep < 20; rep++)
        nvc_pool_run(a->pool, 1000, bump, &a->c);
    return NULL;
}

int main(void)
{
    for (int threads = 1; threads <= 8; threads *= 2) {
        nvc_pool *p = nvc_pool_create(threads);
        CHECK(p != NULL);
        CHECK(nvc_pool_threads(p) == threads);
        static counts c;
        for (int i = 0; i < 1000; i++)
            atomic_store(&c.hits[i], 0);
        for (int n = 0; n <= 1000; n += 250)
            nvc_pool_run(p, n, bump, &c);
        /* tasks 0..249 ran 4 times (n=250,500,750,1000), 250..499 three times, ... */
        for (int i = 0; i < 1000; i++)
            CHECK(atomic_load(&c.hits[i]) == 4 - i / 250);

        /* two callers at once on one pool */
        static caller_arg a[2];
        pthread_t t[2];
        for (int k = 0; k < 2; k++) {
            a[k].pool = p;
            for (int i = 0; i < 1000; i++)
                atomic_store(&a[k].c.hits[i], 0);
            CHECK(pthread_create(&t[k], NULL, caller, &a[k]) == 0);
        }
        for (int k = 0; k < 2; k++)
            pthread_join(t[k], NULL);
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < 1000; i++)
                CHECK(atomic_load(&a[k].c.hits[i]) == 20);
        nvc_pool_destroy(p);
    }
    CHECK(nvc_pool_create(0) == NULL);
    nvc_pool_run(NULL, 3, bump, &(counts){0}); /* inline */
    TEST_DONE();
}
