/* Run-time CPU feature detection, dav1d style: kernels are chosen once from these flags.
 * The environment variable NVC_CPU_MASK (or nvc_cpu_set_mask) can remove features, e.g.
 * NVC_CPU_MASK=0 forces the scalar reference kernels everywhere, NVC_CPU_MASK=1 AVX2 without AVX-VNNI. */
#ifndef NVC_CODEC_CPU_H
#define NVC_CODEC_CPU_H

enum nvc_cpu_flag {
    NVC_CPU_AVX2 = 1 << 0,    /* AVX2 + FMA + BMI2, and the OS saves YMM state */
    NVC_CPU_AVXVNNI = 1 << 1, /* AVX-VNNI (VEX vpdpbusd), only together with NVC_CPU_AVX2 */
};

/* Detected flags, masked by NVC_CPU_MASK and by nvc_cpu_set_mask(). */
unsigned nvc_cpu_flags(void);

/* Restrict the flags returned from now on (tests use this to compare scalar and SIMD paths).
 * Not thread-safe with respect to decoders running at the same time. */
void nvc_cpu_set_mask(unsigned mask);

#endif
