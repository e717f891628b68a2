/*
 * cpu_features.c - cpuid/xgetbv checks for native bf16 (see cpu_features.h).
 * x86-64 only: elsewhere the answer is "no" with that reason.
 */
#include "cpu_features.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HB_X86 1
#endif

static int s_say(char *why, size_t n, int r, const char *msg) {
    if (why && n) snprintf(why, n, "%s", msg);
    return r;
}

int cpu_native_bf16(char *why, size_t n) {
    const char *off = getenv("HB_NO_BF16");
    if (off && *off && strcmp(off, "0") != 0)
        return s_say(why, n, 0, "native bf16 disabled by HB_NO_BF16 (unset it to use AVX512_BF16/AMX-BF16)");
#ifdef HB_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
        return s_say(why, n, 0, "this CPU has no native bf16 (no OSXSAVE: the OS does not report saved vector state)");
    /* XCR0: SSE, AVX and the three AVX-512 state components saved by the OS */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const int os_avx512 = (lo & 0xE6u) == 0xE6u;
    if (__get_cpuid_max(0, NULL) < 7)
        return s_say(why, n, 0, "this CPU has no native bf16 (cpuid leaf 7 absent: neither AVX512_BF16 nor AMX-BF16)");
    __cpuid_count(7, 0, a, b, c, d);
    const int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, avx512f = (b >> 16) & 1;
    const unsigned max_sub = a;
    int avx512_bf16 = 0;
    if (max_sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        avx512_bf16 = (a >> 5) & 1;
    }
    /* AMX tile state: XCR0 bits 17 and 18 (oneDNN asks the kernel for permission itself) */
    if (amx_bf16 && amx_tile && (lo & 0x60000u) == 0x60000u) return s_say(why, n, 1, "AMX-BF16");
    if (avx512_bf16 && avx512f && os_avx512) return s_say(why, n, 1, "AVX512_BF16");
    if (avx512_bf16 || amx_bf16)
        return s_say(why, n, 0, "this CPU has bf16 instructions but the OS does not save their vector state");
    return s_say(why, n, 0,
                 "this CPU has no native bf16 (neither AVX512_BF16 nor AMX-BF16): emulated bf16 would be slower "
                 "than fp32");
#else
    return s_say(why, n, 0, "native bf16 is checked on x86-64 only (AVX512_BF16 or AMX-BF16)");
#endif
}
