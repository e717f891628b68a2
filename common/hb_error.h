/*
 * hb_error.h - the error convention every hierbert module shares.
 *
 * A function that can fail returns int (0 ok, -1 failed) and, on failure,
 * writes one line into a caller-supplied `char *err` of HB_ERR_LEN bytes that
 * names what failed and where: the file and line of a dataset, the tensor of
 * a model file, the type of a message. Callers pass the same buffer up; only
 * a program's main() prints it and exits.
 *
 * Header-only on purpose, in common/: store/ and proto/ include it without
 * linking (or reaching into) model/.
 */
#ifndef HB_ERROR_H
#define HB_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define HB_ERR_LEN 512

/* Formats the message into err (if non-NULL) and returns -1, so call sites
 * read `if (bad) return hb_fail(err, "%s: tensor %s: wrong shape", ...);`. */
__attribute__((format(printf, 2, 3))) static inline int hb_fail(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, HB_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Out-of-memory is not an error a caller can handle usefully in a training
 * daemon: report where and abort (llm.c's mallocCheck). */
static inline void *hb_malloc_check_(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "hierbert: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
        abort();
    }
    return p;
}
static inline void *hb_calloc_check_(size_t k, size_t n, const char *file, int line) {
    void *p = calloc(k ? k : 1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "hierbert: out of memory allocating %zu x %zu bytes at %s:%d\n", k, n, file, line);
        abort();
    }
    return p;
}
static inline void *hb_realloc_check_(void *q, size_t n, const char *file, int line) {
    void *p = realloc(q, n ? n : 1);
    if (!p) {
        fprintf(stderr, "hierbert: out of memory reallocating %zu bytes at %s:%d\n", n, file, line);
        abort();
    }
    return p;
}
#define hb_malloc(n) hb_malloc_check_((n), __FILE__, __LINE__)
#define hb_calloc(k, n) hb_calloc_check_((k), (n), __FILE__, __LINE__)
#define hb_realloc(p, n) hb_realloc_check_((p), (n), __FILE__, __LINE__)

#endif
