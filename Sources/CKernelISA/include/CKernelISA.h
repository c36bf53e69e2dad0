#ifndef CKERNELISA_H
#define CKERNELISA_H

// What the kernels were compiled for and what the CPU running them has. No stable API: the
// Swift side (Kernels/CPUFeatures.swift) wraps each function, so no name here leaks further.

// Compile time. These are inline on purpose: a function in a header is compiled by the module
// that imports it, with that module's target (Swift's -target-cpu reaches its Clang importer),
// so they report the features the Swift kernels were compiled with. A .c file of this target
// is compiled separately, for baseline x86-64, and could not tell.
static inline int ckernelisa_compiled_avx512f(void) {
#if defined(__AVX512F__)
    return 1;
#else
    return 0;
#endif
}

static inline int ckernelisa_compiled_avx2_fma(void) {
#if defined(__AVX2__) && defined(__FMA__)
    return 1;
#else
    return 0;
#endif
}

static inline int ckernelisa_compiled_fma(void) {
#if defined(__FMA__) || defined(__aarch64__)
    return 1;
#else
    return 0;
#endif
}

static inline int ckernelisa_compiled_neon(void) {
#if defined(__ARM_NEON) || defined(__aarch64__)
    return 1;
#else
    return 0;
#endif
}

// Run time: cpuid, and xgetbv for whether the OS saves the wide registers (a CPU with AVX-512
// under an OS or hypervisor that does not enable its state must not run it). 0 off x86.
int ckernelisa_cpu_avx512f(void);
int ckernelisa_cpu_avx2_fma(void);

// The CPU model string from cpuid (brand), or "" where there is none; and the target CPU the
// build was asked for (Package.swift's RNN_DIST_TARGET_CPU, after its psABI-level mapping).
const char *ckernelisa_cpu_name(void);
const char *ckernelisa_target_cpu(void);

// A hint to bring the cache line holding `address` into every cache level: prefetcht0 on x86,
// prfm on AArch64. Plain Swift has no way to say it; inline like the functions above, so that
// it compiles to the one instruction where a kernel calls it. It never faults, whatever the
// address.
static inline void ckernelisa_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

// The same hint for the outer levels only (prefetcht1 on x86: L2 and beyond, not L1), for data
// needed a few hundred microseconds later that must not evict what L1 holds now.
static inline void ckernelisa_prefetch_outer(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

// √ of each lane, one square-root instruction per register: Swift's SIMD `squareRoot()` goes
// lane by lane through the C library's `sqrtf` (with its errno check). Clang's vector types
// of 4, 8 and 16 floats are Swift's SIMD4/8/16<Float>.
typedef float ckernelisa_float4 __attribute__((ext_vector_type(4)));
typedef float ckernelisa_float8 __attribute__((ext_vector_type(8)));
typedef float ckernelisa_float16 __attribute__((ext_vector_type(16)));
static inline ckernelisa_float4 ckernelisa_sqrt4(ckernelisa_float4 x) { return __builtin_elementwise_sqrt(x); }
static inline ckernelisa_float8 ckernelisa_sqrt8(ckernelisa_float8 x) { return __builtin_elementwise_sqrt(x); }
static inline ckernelisa_float16 ckernelisa_sqrt16(ckernelisa_float16 x) { return __builtin_elementwise_sqrt(x); }

#endif
