/*
 * fuzz_util.h - what the libFuzzer harnesses share: most of hierbert's
 * parsers take a path, so an input is written to a file of a private
 * per-process directory (on tmpfs when /dev/shm exists) and the parser is
 * handed that path. The directory is removed at exit.
 */
#ifndef HB_FUZZ_UTIL_H
#define HB_FUZZ_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir_[256];

static void fz_cleanup_(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir_);
    if (fz_dir_[0] && system(cmd)) {
    }
}

/* The private directory (made on first use). */
static inline const char *fz_dir(void) {
    if (!fz_dir_[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        snprintf(fz_dir_, sizeof fz_dir_, "%s/hbfuzz.XXXXXX", base);
        if (!mkdtemp(fz_dir_)) abort();
        atexit(fz_cleanup_);
    }
    return fz_dir_;
}

/* Writes data[0..n) to fz_dir()/name; returns the path (a static buffer). */
static inline const char *fz_write(const char *name, const void *data, size_t n) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
    return path;
}

/* Splits data at the first occurrence of sep: [0, *n1) and (after sep) the rest. */
static inline const uint8_t *fz_split(const uint8_t *data, size_t size, const char *sep, size_t *n1, size_t *n2) {
    size_t k = strlen(sep);
    for (size_t i = 0; i + k <= size; i++)
        if (!memcmp(data + i, sep, k)) {
            *n1 = i;
            *n2 = size - i - k;
            return data + i + k;
        }
    *n1 = size;
    *n2 = 0;
    return data + size;
}

#endif
