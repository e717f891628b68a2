/*
 * fuzz_dataset_folder.c - a one-folder-per-class --train directory. Byte 0
 * picks the ingest options (fuzz_dataset.h); the rest is a list of entries
 * separated by "\n%%\n", each "PATH\nCONTENT": PATH "label/file" makes a
 * document, "label/" an empty class folder, "name" a top-level file (to be
 * ignored), names beginning with '.' are hidden. Names are cut to 24
 * characters of [A-Za-z0-9._ -] (the rest become '_'), so an entry stays
 * inside the tree.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>

#include "fuzz_dataset.h"

static int s_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p) && errno != ENOENT ? -1 : 0;
}

/* Removes path and everything under it (no shell: a harness runs it per input). */
static void s_rmtree(const char *path) {
    if (nftw(path, s_rm_one, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT) abort();
}

static void s_clean_name(char *out, const uint8_t *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < 24; i++) {
        char ch = (char)p[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                 ch == '_' || ch == '-' || ch == ' ';
        out[k++] = ok ? ch : '_';
    }
    out[k] = 0;
    if (!strcmp(out, ".") || !strcmp(out, "..") || !k) snprintf(out, 25, "x%zu", k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char root[600];
    snprintf(root, sizeof root, "%s/ds", fz_dir());
    s_rmtree(root);
    if (mkdir(root, 0700)) abort();
    const uint8_t *p = data + 1, *end = data + size;
    for (int n_entries = 0; p < end && n_entries < 32; n_entries++) {
        size_t n1, n2;
        const uint8_t *next = fz_split(p, (size_t)(end - p), "\n%%\n", &n1, &n2);
        size_t pl, cl;
        const uint8_t *content = fz_split(p, n1, "\n", &pl, &cl);
        const uint8_t *slash = memchr(p, '/', pl);
        char a[32], b[32], path[800];
        if (slash) {
            s_clean_name(a, p, (size_t)(slash - p));
            snprintf(path, sizeof path, "%s/%s", root, a);
            if (mkdir(path, 0700) && errno != EEXIST) abort(); /* a file of that name: the entry is skipped below */
            size_t bn = pl - (size_t)(slash - p) - 1;
            if (bn) {
                s_clean_name(b, slash + 1, bn);
                snprintf(path, sizeof path, "%s/%s/%s", root, a, b);
            } else {
                path[0] = 0;
            }
        } else {
            s_clean_name(a, p, pl);
            snprintf(path, sizeof path, "%s/%s", root, a);
        }
        if (path[0]) {
            struct stat st;
            if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
                FILE *f = fopen(path, "wb"); /* NULL: "a" is a file, "a/b" cannot be: skipped */
                if (f) {
                    if (cl) fwrite(content, 1, cl, f);
                    fclose(f);
                }
            }
        }
        p = n2 ? next : end;
    }
    fzd_ingest(root, data[0]);
    return 0;
}
