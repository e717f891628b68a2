/*
 * checkpoint.c - TRAIN checkpoints: everything needed to resume a job's
 * training where it stood (parameters, AdamW moments, round, step, epoch,
 * position in the epoch, the seed that generates every epoch's order and
 * every dropout stream, validation history).
 *
 * File: magic "HBCKPT01", a little-endian header, the float arrays, and an
 * FNV-1a 64 checksum of all preceding bytes (version 2: of their 8-byte
 * little-endian words, each part's tail bytes one by one - 8x fewer
 * multiplies than version 1's byte-wise hash, which took most of the write
 * time of a large model; version 1 files are still read; version 3 adds
 * the slice count and the running epoch's loss sums after the header, what
 * a resumed job needs to replay to the same bits). Written to
 * path.tmp, fsync'ed, renamed over path, and the directory fsync'ed: a
 * reader sees the old checkpoint or the new one, never a torn file.
 * coord_checkpoint_start writes on a thread of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord.h"
#include "hb_log.h"

#define CK_MAGIC "HBCKPT01"

typedef struct {
    char magic[8];
    uint32_t version, has_moments;
    uint64_t job_id, round, seed, numel;
    int64_t step, step_in_epoch;
    int32_t epoch, epochs;
} ck_header;

/* version 3: after the header, before the arrays */
typedef struct {
    int32_t n_slices, n_shards; /* (n_shards: 0 in files before it) */
    int64_t samples_done;
    double epoch_loss_sum, epoch_loss_n;
} ck_header3;

#define CK_VERSION 3u

static uint64_t s_fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* version 2: FNV-1a over the part's 8-byte words (little-endian), then its tail */
static uint64_t s_fnv_words(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    size_t nw = n / 8;
    for (size_t i = 0; i < nw; i++) {
        uint64_t w;
        memcpy(&w, b + 8 * i, 8);
        h ^= w;
        h *= 0x100000001b3ull;
    }
    return s_fnv(h, b + 8 * nw, n - 8 * nw);
}

static uint64_t s_hash(uint32_t version, uint64_t h, const void *p, size_t n) {
    return version >= 2 ? s_fnv_words(h, p, n) : s_fnv(h, p, n);
}

static int s_write_all(int fd, const void *p, size_t n, uint64_t *h) {
    *h = s_fnv_words(*h, p, n);
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int coord_checkpoint_write(const char *path, const coord_checkpoint *ck, char *err) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0) return hb_fail(err, "checkpoint %s: %s", tmp, strerror(errno));
    ck_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CK_MAGIC, 8);
    h.version = CK_VERSION;
    h.has_moments = ck->m != NULL;
    h.job_id = ck->job_id;
    h.round = ck->round;
    h.seed = ck->seed;
    h.numel = ck->numel;
    h.step = ck->step;
    h.step_in_epoch = ck->step_in_epoch;
    h.epoch = ck->epoch;
    h.epochs = ck->epochs;
    ck_header3 h3 = {.n_slices = ck->n_slices,
                     .n_shards = ck->n_shards,
                     .samples_done = ck->samples_done,
                     .epoch_loss_sum = ck->epoch_loss_sum,
                     .epoch_loss_n = ck->epoch_loss_n};
    uint64_t sum = 0xcbf29ce484222325ull;
    size_t fb = ck->numel * sizeof(float);
    int bad = s_write_all(fd, &h, sizeof h, &sum) || s_write_all(fd, &h3, sizeof h3, &sum) ||
              s_write_all(fd, ck->params, fb, &sum) ||
              (ck->m && (s_write_all(fd, ck->m, fb, &sum) || s_write_all(fd, ck->v, fb, &sum))) ||
              s_write_all(fd, ck->val_acc, (size_t)ck->epochs * sizeof(double), &sum);
    uint64_t final = sum;
    if (!bad) bad = s_write_all(fd, &final, sizeof final, &sum);
    if (bad || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return hb_fail(err, "checkpoint %s: write: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return hb_fail(err, "checkpoint %s: rename: %s", path, strerror(e));
    }
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int s_read_all(FILE *f, void *p, size_t n, uint64_t *h, uint32_t version) {
    if (fread(p, 1, n, f) != n) return -1;
    *h = s_hash(version, *h, p, n);
    return 0;
}

int coord_checkpoint_read(const char *path, coord_checkpoint *ck, char *err) {
    memset(ck, 0, sizeof *ck);
    FILE *f = fopen(path, "rb");
    if (!f) return hb_fail(err, "checkpoint %s: %s", path, strerror(errno));
    ck_header h;
    uint64_t sum = 0xcbf29ce484222325ull;
    if (fread(&h, 1, sizeof h, f) != sizeof h) {
        fclose(f);
        return hb_fail(err, "checkpoint %s: truncated header", path);
    }
    if (memcmp(h.magic, CK_MAGIC, 8) || h.version < 1 || h.version > CK_VERSION) {
        fclose(f);
        return hb_fail(err,
                       "checkpoint %s: not a hierbert checkpoint of version 1..%u (magic/version mismatch: written "
                       "by another hierbert? delete it to restart the job from scratch)",
                       path, CK_VERSION);
    }
    sum = s_hash(h.version, sum, &h, sizeof h);
    if (h.numel == 0 || h.numel > PROTO_MAX_NUMEL || h.epochs < 0 || h.epochs > 100000) {
        fclose(f);
        return hb_fail(err, "checkpoint %s: implausible header (numel %llu, epochs %d)", path,
                       (unsigned long long)h.numel, h.epochs);
    }
    /* the size the header implies, before allocating for it: a truncated or
     * corrupt header must not cost gigabytes (found by fuzz_checkpoint) */
    struct stat st;
    ck_header3 h3;
    memset(&h3, 0, sizeof h3);
    uint64_t want = sizeof h + (h.version >= 3 ? sizeof h3 : 0) + (uint64_t)h.numel * sizeof(float) * (h.has_moments ? 3 : 1) +
                    (uint64_t)h.epochs * sizeof(double) + sizeof(uint64_t);
    if (fstat(fileno(f), &st) || (uint64_t)st.st_size != want) {
        fclose(f);
        return hb_fail(err, "checkpoint %s: %lld bytes, its header says %llu: truncated or corrupt", path,
                       (long long)st.st_size, (unsigned long long)want);
    }
    ck->job_id = h.job_id;
    ck->round = h.round;
    ck->seed = h.seed;
    ck->numel = h.numel;
    ck->step = h.step;
    ck->step_in_epoch = h.step_in_epoch;
    ck->epoch = h.epoch;
    ck->epochs = h.epochs;
    if (h.version >= 3 && s_read_all(f, &h3, sizeof h3, &sum, h.version)) {
        fclose(f);
        return hb_fail(err, "checkpoint %s: truncated", path);
    }
    if (h3.n_slices < 0 || h3.n_slices > COORD_MAX_TASKS || h3.n_shards < 0 || h3.n_shards > COORD_MAX_TASKS) {
        fclose(f);
        return hb_fail(err, "checkpoint %s: implausible slice or shard count %d, %d", path, h3.n_slices,
                       h3.n_shards);
    }
    ck->n_slices = h3.n_slices;
    ck->n_shards = h3.n_shards;
    ck->samples_done = (long)h3.samples_done;
    ck->epoch_loss_sum = h3.epoch_loss_sum;
    ck->epoch_loss_n = h3.epoch_loss_n;
    size_t fb = h.numel * sizeof(float);
    ck->params = hb_malloc(fb);
    if (h.has_moments) {
        ck->m = hb_malloc(fb);
        ck->v = hb_malloc(fb);
    }
    ck->val_acc = hb_calloc((size_t)h.epochs + 1, sizeof(double));
    uint64_t stored = 0, computed;
    int bad =
        s_read_all(f, ck->params, fb, &sum, h.version) ||
        (h.has_moments && (s_read_all(f, ck->m, fb, &sum, h.version) || s_read_all(f, ck->v, fb, &sum, h.version))) ||
        s_read_all(f, ck->val_acc, (size_t)h.epochs * sizeof(double), &sum, h.version);
    computed = sum;
    if (!bad) bad = fread(&stored, 1, sizeof stored, f) != sizeof stored;
    fclose(f);
    if (bad || stored != computed) {
        coord_checkpoint_free(ck);
        return hb_fail(err, "checkpoint %s: %s", path, bad ? "truncated" : "checksum mismatch (corrupt file)");
    }
    return 0;
}

struct coord_ckpt_writer {
    pthread_t tid;
    atomic_int done;
    int rc;
    char path[1200], err[HB_ERR_LEN];
    coord_checkpoint ck; /* val_acc owned (a copy), the rest borrowed */
    long long t0_ms, t1_ms;
};

static void *s_writer_main(void *arg) {
    coord_ckpt_writer *w = arg;
    w->rc = coord_checkpoint_write(w->path, &w->ck, w->err);
    w->t1_ms = hb_now_ms();
    atomic_store(&w->done, 1);
    return NULL;
}

int coord_checkpoint_start(coord_ckpt_writer **out, const char *path, const coord_checkpoint *ck, char *err) {
    coord_ckpt_writer *w = hb_calloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->ck = *ck;
    w->ck.val_acc = hb_calloc((size_t)ck->epochs + 1, sizeof(double));
    memcpy(w->ck.val_acc, ck->val_acc, (size_t)ck->epochs * sizeof(double));
    w->t0_ms = hb_now_ms();
    int e = pthread_create(&w->tid, NULL, s_writer_main, w);
    if (e) {
        free(w->ck.val_acc);
        free(w);
        return hb_fail(err, "checkpoint %s: no writer thread: %s", path, strerror(e));
    }
    *out = w;
    return 0;
}

int coord_checkpoint_join(coord_ckpt_writer **wp, int wait, int *rc, char *err, long long *ms, uint64_t *round) {
    coord_ckpt_writer *w = *wp;
    if (!w) return 0;
    if (!wait && !atomic_load(&w->done)) return 0;
    pthread_join(w->tid, NULL);
    *rc = w->rc;
    snprintf(err, HB_ERR_LEN, "%s", w->err);
    *ms = w->t1_ms - w->t0_ms;
    *round = w->ck.round;
    free(w->ck.val_acc);
    free(w);
    *wp = NULL;
    return 1;
}

void coord_checkpoint_free(coord_checkpoint *ck) {
    free(ck->params);
    free(ck->m);
    free(ck->v);
    free(ck->val_acc);
    memset(ck, 0, sizeof *ck);
}

void coord_job_dir(const coord *c, uint64_t id, char *out, size_t n) {
    snprintf(out, n, "%s/jobs/%06llu", c->cfg.data_dir, (unsigned long long)id);
}
