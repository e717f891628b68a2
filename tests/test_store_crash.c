/*
 * test_store_crash.c - kill -9 during a write transaction loses nothing that
 * was committed, and shows no partial batch.
 *
 * A child process writes batches of documents (3 MB each) through a
 * store_writer; it tells the parent through a pipe "B k" just before
 * committing batch k and "C k" once the commit returned. The parent sends
 * SIGKILL shortly after a "B" (so the child is inside the commit: pages being
 * written, fsync pending), reopens the store, and checks that every batch the
 * child reported committed is there bit-exact, and that the stored documents
 * are whole batches only. Three rounds (HB_LONG=1: 40, with varied kill
 * delays), each child continuing the same store; at least one kill must have
 * landed inside a commit (that batch then absent), or the test did not test.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store.h"
#include "test_tmpdir.h"

enum { DOCS_PER_BATCH = 32, CHUNKS = 12, DIM = 768 };

static float s_val(uint32_t d, uint32_t c, uint32_t j) {
    return (float)((d * 31u + c * 7u + j) % 4093u) * 0.25f - 7.0f;
}

static void s_child(const char *dir, int fd, int first_batch) {
    char err[HB_ERR_LEN];
    store_env *s;
    if (store_open(&s, dir, NULL, err) != 0) {
        fprintf(stderr, "child: %s\n", err);
        _exit(2);
    }
    store_writer *w = store_writer_new(s, 100000);
    float *buf = malloc(sizeof(float) * CHUNKS * DIM);
    for (int b = first_batch;; b++) {
        for (int i = 0; i < DOCS_PER_BATCH; i++) {
            uint32_t d = (uint32_t)(b * DOCS_PER_BATCH + i);
            for (uint32_t c = 0; c < CHUNKS; c++)
                for (uint32_t j = 0; j < DIM; j++) buf[c * DIM + j] = s_val(d, c, j);
            char doc[32];
            snprintf(doc, sizeof doc, "%08u", d);
            if (store_writer_put_emb(w, "crash", doc, 1, 0, CHUNKS, DIM, buf, err) != 0) _exit(3);
        }
        dprintf(fd, "B %d\n", b);
        if (store_writer_commit(w, err) != 0) {
            fprintf(stderr, "child: %s\n", err);
            _exit(4);
        }
        dprintf(fd, "C %d\n", b);
    }
}

int main(void) {
    char err[HB_ERR_LEN] = "";
    char dir[256];
    t_tmpdir(dir, sizeof dir, "crash");
    int committed = -1; /* highest batch the children reported committed */
    int next_batch = 0, mid_tx = 0;
    const int rounds = getenv("HB_LONG") && atoi(getenv("HB_LONG")) > 0 ? 40 : 3;
    for (int round = 0; round < rounds; round++) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            close(p[0]);
            s_child(dir, p[1], next_batch);
        }
        close(p[1]);
        FILE *f = fdopen(p[0], "r");
        char line[64];
        int target = next_batch + 2 + round % 7, killed_in = -1;
        while (fgets(line, sizeof line, f)) {
            int k;
            if (sscanf(line, "C %d", &k) == 1) committed = k;
            if (sscanf(line, "B %d", &k) == 1 && k >= target) {
                struct timespec ts = {0, 100000L * (1 + round % 8)}; /* 0.1..0.8 ms into the commit */
                nanosleep(&ts, NULL);
                kill(pid, SIGKILL);
                killed_in = k;
                break;
            }
        }
        /* drain: the child may have run ahead of our reading (a loaded
         * machine), so the batch being committed at the kill is the last
         * "B" it wrote, and a "C" may have been written before the kill */
        while (fgets(line, sizeof line, f)) {
            int k;
            if (sscanf(line, "C %d", &k) == 1) committed = k;
            if (sscanf(line, "B %d", &k) == 1) killed_in = k;
        }
        fclose(f);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child must die by SIGKILL (status %d)", status);
        CHECK(killed_in >= 0, "child never reached batch %d", target);

        store_env *s;
        CHECK_OK(store_open(&s, dir, NULL, err), err);
        long n = store_count(s, STORE_DB_EMB, "crash", err);
        CHECK(n >= 0, "%s", err);
        CHECK(n % DOCS_PER_BATCH == 0, "round %d: %ld documents stored: a partial batch is visible", round, n);
        long batches = n / DOCS_PER_BATCH;
        CHECK(batches >= committed + 1, "round %d: %ld batches stored but %d were reported committed", round, batches,
              committed + 1);
        CHECK(batches <= killed_in + 1, "round %d: %ld batches stored, only %d were begun", round, batches,
              killed_in + 1);
        store_emb e = {0};
        long wrong = 0;
        for (long d = 0; d < n; d++) {
            char doc[32];
            snprintf(doc, sizeof doc, "%08ld", d);
            CHECK(store_emb_get(s, "crash", doc, &e, err) == 0, "round %d: %s missing: %s", round, doc, err);
            CHECK(e.n_chunks == CHUNKS && e.dim == DIM && e.label == 1, "round %d: %s header", round, doc);
            for (uint32_t c = 0; c < CHUNKS; c++)
                for (uint32_t j = 0; j < DIM; j++) wrong += e.data[c * DIM + j] != s_val((uint32_t)d, c, j);
        }
        CHECK(wrong == 0, "round %d: %ld wrong floats", round, wrong);
        store_emb_free(&e);
        store_close(&s);
        mid_tx += batches == killed_in; /* the batch being committed vanished whole */
        t_ok("round %d: SIGKILL while committing batch %d%s; %ld whole batches stored bit-exact, all %d reported "
             "committed among them",
             round, killed_in,
             batches == killed_in ? " (mid-transaction: that batch is absent)" : " (its commit had finished)", batches,
             committed + 1);
        next_batch = (int)batches;
        committed = (int)batches - 1;
    }
    CHECK(mid_tx >= 1, "no kill landed inside a commit in %d rounds: the test proved nothing", rounds);
    t_ok("%d of %d kills landed inside a write transaction", mid_tx, rounds);
    t_rmtree(dir);
    return 0;
}
