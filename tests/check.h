/*
 * check.h - the tests' one-line checks (LMDB's CHECK style): on failure print
 * file:line, the expression and a message, and exit 1. Each test prints what
 * it checked with t_ok(), so a green run says what it proved.
 */
#ifndef HB_TEST_CHECK_H
#define HB_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* expr returns 0 on success and fills err (char[HB_ERR_LEN]) on failure */
#define CHECK_OK(expr, err)                                                    \
    do {                                                                       \
        if ((expr) != 0) {                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, (err)); \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define t_ok(...)                                                              \
    do {                                                                       \
        printf("ok - ");                                                       \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
        fflush(stdout);                                                        \
    } while (0)

/* max |a-b| / max |b|: the per-tensor relative error the acceptance uses */
static inline double t_rel_err(const float *a, const double *b, size_t n) {
    double maxdiff = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > maxdiff || isnan(d)) maxdiff = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > maxref) maxref = fabs(b[i]);
    }
    return maxref > 0 ? maxdiff / maxref : maxdiff;
}

#endif
