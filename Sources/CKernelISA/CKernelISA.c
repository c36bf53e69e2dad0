#include "CKernelISA.h"
#include <string.h>

#ifndef RNN_DIST_TARGET_CPU_NAME
#define RNN_DIST_TARGET_CPU_NAME "unknown"
#endif

const char *ckernelisa_target_cpu(void) { return RNN_DIST_TARGET_CPU_NAME; }

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

// XCR0: which register states the OS saves on a context switch. Inline assembly rather than
// _xgetbv, which needs -mxsave on this file.
static unsigned long long xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static int os_saves_ymm(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE)) return 0;
    return (xcr0() & 0x6) == 0x6;            // SSE and AVX state
}

int ckernelisa_cpu_avx2_fma(void) {
    unsigned int a, b, c, d;
    if (!os_saves_ymm()) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_FMA) || !(c & bit_AVX)) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX2) != 0;
}

int ckernelisa_cpu_avx512f(void) {
    unsigned int a, b, c, d;
    if (!ckernelisa_cpu_avx2_fma()) return 0;
    if ((xcr0() & 0xE6) != 0xE6) return 0;   // + opmask, upper ZMM0-15, ZMM16-31 state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX512F) != 0;
}

const char *ckernelisa_cpu_name(void) {
    static char name[49];
    unsigned int regs[12];
    if (name[0]) return name;
    if (__get_cpuid_max(0x80000000, 0) < 0x80000004) return "";
    for (unsigned int i = 0; i < 3; i++)
        __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    memcpy(name, regs, 48);
    name[48] = 0;
    return name;
}

#else

int ckernelisa_cpu_avx2_fma(void) { return 0; }
int ckernelisa_cpu_avx512f(void) { return 0; }
const char *ckernelisa_cpu_name(void) { return ""; }

#endif
