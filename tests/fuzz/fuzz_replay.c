/*
 * fuzz_replay.c - main() for a harness built without libFuzzer: runs
 * LLVMFuzzerTestOneInput once per file named on the command line (a
 * directory: every file in it), so the seed corpora and the inputs of fixed
 * crashes run in the normal suite under the normal compiler. Prints how many
 * inputs ran; a crash is the harness's own abort or a sanitizer's report.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz-replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    /* a copy of exactly n bytes: ASan sees a read past the input */
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

int main(int argc, char **argv) {
    long runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) continue; /* a harness without regressions has no regress/ dir */
        if (!S_ISDIR(st.st_mode)) {
            if (s_run_file(argv[i])) return 1;
            runs++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, alphasort);
        for (int k = 0; k < n; k++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], names[k]->d_name);
            if (names[k]->d_name[0] != '.' && !stat(p, &st) && S_ISREG(st.st_mode)) {
                if (s_run_file(p)) return 1;
                runs++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("%s: %ld inputs replayed, none crashed\n", argv[0], runs);
    return 0;
}
