/*
 * cpu_features.h - what this CPU multiplies natively, asked once where a
 * precision is chosen (bert_set_precision, hierbert-bench, a worker's Hello).
 *
 * Native bf16 means the CPU has AVX512_BF16 (Cooper Lake, Sapphire Rapids and
 * later, AMD Zen 4/5) or AMX-BF16, and the OS saves the AVX-512 state. On any
 * other CPU oneDNN would emulate bf16 with fp32 instructions, slower than our
 * fp32 path: such a run is refused, never run slowly.
 *
 * HB_NO_BF16=1 (any value but "" and "0") forces the answer to "no": the
 * refusal path can be tested on a machine that has bf16.
 */
#ifndef HB_CPU_FEATURES_H
#define HB_CPU_FEATURES_H

#include <stddef.h>

/* 1 if bf16 products run natively here; 0 with a one-line reason in why
 * (why_len bytes; may be NULL). The name of what was found goes in why on
 * success too ("AVX512_BF16", "AMX-BF16"). */
int cpu_native_bf16(char *why, size_t why_len);

#endif
