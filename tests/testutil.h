/* Minimal test helpers: CHECK() reports file:line and fails the test (exit 1) at the end;
 * TEST_DONE() prints the count and returns the exit status. */
#ifndef NVC_TESTS_TESTUTIL_H
#define NVC_TESTS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

static int test_failures;
static long test_checks;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        test_checks++;                                                                         \
        if (!(cond)) {                                                                         \
            if (test_failures++ < 20)                                                          \
                fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                     \
    do {                                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                  \
        test_checks++;                                                                         \
        if (va_ != vb_) {                                                                      \
            if (test_failures++ < 20)                                                          \
                fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,\
                        #a, va_, #b, vb_);                                                     \
        }                                                                                      \
    } while (0)

#define TEST_DONE()                                                                            \
    do {                                                                                       \
        printf("%ld checks, %d failed\n", test_checks, test_failures);                         \
        return test_failures ? 1 : 0;                                                          \
    } while (0)

/* Deterministic xorshift64* generator, so failures reproduce. */
static inline unsigned long long test_rand(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

#endif
