/*
 * test_tmpdir.h - a fresh temporary directory per test (under $TMPDIR or
 * /tmp) and its recursive removal, for tests that need files.
 */
#ifndef HB_TEST_TMPDIR_H
#define HB_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void t_tmpdir(char *out, size_t n, const char *tag) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(out, n, "%s/hb-test-%s-XXXXXX", base, tag);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Removes dir and the files in it (store directories are flat). */
static inline void t_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                remove(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

#endif
