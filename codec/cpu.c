#include "codec/cpu.h"

#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma)
        return 0;
    /* XGETBV: the OS must save XMM and YMM state, or AVX instructions fault. */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6)
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
    if (!avx2 || !bmi2)
        return 0;
    unsigned flags = NVC_CPU_AVX2;
    if (a >= 1) { /* leaf 7 subleaf 1, EAX bit 4: AVX-VNNI (its state is the YMM state checked above) */
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 4) & 1)
            flags |= NVC_CPU_AVXVNNI;
    }
    return flags;
}
#else
static unsigned detect(void) { return 0; }
#endif

static unsigned user_mask = ~0u;

unsigned nvc_cpu_flags(void)
{
    static int init;
    static unsigned flags;
    if (!init) { /* benign race: every thread computes the same value */
        unsigned f = detect();
        const char *env = getenv("NVC_CPU_MASK");
        if (env && *env)
            f &= (unsigned)strtoul(env, NULL, 0);
        flags = f;
        init = 1;
    }
    return flags & user_mask;
}

void nvc_cpu_set_mask(unsigned mask)
{
    user_mask = mask;
}
