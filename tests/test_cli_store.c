/*
 * test_cli_store.c - `hierbert store stats|dump|verify`: on a store with two
 * jobs the stats count each job's documents and embeddings, dump shows keys
 * and headers (values with --values), verify passes; after one embedding is
 * corrupted and one has a NaN, verify exits 1 naming both keys; bad usage
 * exits 2 and a missing directory 1, each with a one-line reason.
 */
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "store.h"
#include "test_tmpdir.h"

/* Runs the CLI, capturing stdout+stderr into out; returns the exit code. */
static int s_run(char *out, size_t n, const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/cli/hierbert store %s 2>&1", HB_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    CHECK(p, "popen %s", cmd);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
    char err[HB_ERR_LEN] = "", dir[256], args[512];
    static char out[1 << 20];
    t_tmpdir(dir, sizeof dir, "cli");
    store_env *s;
    CHECK_OK(store_open(&s, dir, NULL, err), err);
    store_writer *w = store_writer_new(s, 16);
    float x[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5f};
    uint32_t lens[3] = {2, 1, 1};
    int32_t toks[4] = {101, 5, 102, 7};
    for (int d = 0; d < 5; d++) {
        char doc[16];
        snprintf(doc, sizeof doc, "doc%d", d);
        CHECK_OK(store_writer_put_doc(w, "alpha", doc, d % 2, 0, 3, lens, toks, err), err);
        if (d < 3) CHECK_OK(store_writer_put_emb(w, "alpha", doc, d % 2, 0, 3, 4, x, err), err);
    }
    CHECK_OK(store_writer_put_emb(w, "beta", "only", 1, 2, 3, 4, x, err), err);
    CHECK_OK(store_writer_commit(w, err), err);
    CHECK_OK(store_job_put(s, "alpha", "{\"state\":\"HEAD\"}", 16, err), err);
    CHECK_OK(store_result_put(s, "alpha", "{\"doc_accuracy\":0.9}", err), err);

    snprintf(args, sizeof args, "stats %s", dir);
    CHECK(s_run(out, sizeof out, args) == 0, "stats failed:\n%s", out);
    CHECK(strstr(out, "entries_emb:4") && strstr(out, "job:alpha record:yes result:yes docs:5 embedded:3") &&
              strstr(out, "job:beta record:no result:no docs:0 embedded:1") && strstr(out, "map_used:"),
          "stats output:\n%s", out);
    t_ok("stats: per-db entries, map use, and per job docs/embedded (alpha 5/3, beta 0/1)");

    snprintf(args, sizeof args, "dump %s --job alpha", dir);
    CHECK(s_run(out, sizeof out, args) == 0, "dump failed:\n%s", out);
    CHECK(strstr(out, "emb/alpha/doc2  label:0 split:0 chunks:3 dim:4") && strstr(out, "docs/alpha/doc4") &&
              strstr(out, "jobs/alpha  bytes:16") && !strstr(out, "beta"),
          "dump output:\n%s", out);
    snprintf(args, sizeof args, "dump %s --job beta --values", dir);
    CHECK(s_run(out, sizeof out, args) == 0 && strstr(out, "chunk 2: 9 10 11 12.5"), "dump --values:\n%s", out);
    t_ok("dump: keys and headers, limited to a job; --values prints the vectors");

    snprintf(args, sizeof args, "verify %s", dir);
    CHECK(s_run(out, sizeof out, args) == 0 && strstr(out, "verified 12 values") && strstr(out, "0 problems"),
          "verify of a good store:\n%s", out);
    t_ok("verify of a good store: %.*s", (int)strcspn(out, "\n"), out);

    /* corrupt one value (truncated) and put a NaN into another */
    size_t good = store_emb_encoded_size(3, 4);
    unsigned char *v = malloc(good);
    store_emb_encode(v, 0, 0, 3, 4, x);
    CHECK_OK(store_writer_put_raw(w, STORE_DB_EMB, "alpha/doc1", 10, v, good - 3, err), err);
    x[5] = NAN;
    CHECK_OK(store_writer_put_emb(w, "beta", "only", 1, 2, 3, 4, x, err), err);
    CHECK_OK(store_writer_commit(w, err), err);
    store_writer_destroy(&w);
    store_close(&s);
    CHECK(s_run(out, sizeof out, args) == 1, "verify must fail:\n%s", out);
    CHECK(strstr(out, "emb/alpha/doc1") && strstr(out, "emb/beta/only: 1 non-finite") && strstr(out, "2 problems"),
          "verify output:\n%s", out);
    printf("%s", out);
    t_ok("verify of a damaged store exits 1 naming the truncated and the NaN values");

    CHECK(s_run(out, sizeof out, "frobnicate /tmp") == 2 && strstr(out, "unknown action"), "%s", out);
    snprintf(args, sizeof args, "stats %s/nope", dir);
    CHECK(s_run(out, sizeof out, args) == 1 && strstr(out, "nope"), "%s", out);
    t_ok("a missing directory exits 1: %.*s", (int)strcspn(out, "\n"), out);
    CHECK(s_run(out, sizeof out, "--help") == 0 && strstr(out, "usage: hierbert store"), "%s", out);
    t_ok("an unknown action exits 2, --help 0");
    free(v);
    t_rmtree(dir);
    return 0;
}
