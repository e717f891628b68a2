/* jobs.c - the job queue, each job's state machine, job records on disk, and
 * the Submit / Cancel / List handlers (see coord.h). */
#include <dirent.h>
#include <zmq.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "hb_log.h"
#include "hfdir.h"
#include "labels.h"

static const char *s_names[] = {"QUEUED", "INGEST", "TRAIN", "EMBED", "HEAD", "DONE", "FAILED", "CANCELLED"};

const char *job_state_name(job_state s) {
    return (unsigned)s < 8 ? s_names[s] : "UNKNOWN";
}
int job_state_final(job_state s) {
    return s == JOB_DONE || s == JOB_FAILED || s == JOB_CANCELLED;
}

static int s_state_from_name(const char *n) {
    for (int i = 0; i < 8; i++)
        if (!strcmp(n, s_names[i])) return i;
    return -1;
}

static double s_unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

coord_job *coord_job_find(coord *c, uint64_t id) {
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i]->id == id) return c->jobs[i];
    return NULL;
}

static void s_release(coord_job *j) {
    coord_train_release(j); /* (before the buffers its checkpoint write reads) */
    coord_phases_release(j);
    coord_corpus_free(&j->corpus);
    j->have_corpus = 0;
    bert_destroy(&j->model);
    free(j->adam_m);
    free(j->adam_v);
    j->adam_m = j->adam_v = NULL;
    free(j->order);
    j->order = NULL;
    coord_train_free_buffers(j);
}

void coord_job_free(coord_job **jp) {
    coord_job *j = *jp;
    if (!j) return;
    s_release(j);
    if (j->submit) hierbert__submit__free_unpacked(j->submit, NULL);
    free(j->plan.cuts);
    shard_map_free(&j->plan.map);
    free(j->val_acc);
    free(j->train_loss);
    free(j);
    *jp = NULL;
}

/* ------------------------------------------------------------------------ */
/* history: when the job entered each phase and each epoch's training loss
 * (the dashboard's timeline and loss chart), kept in the job record */

void coord_job_epoch_loss(coord_job *j, int e, double loss) {
    if (e < 0 || e >= j->epochs) return;
    if (!j->train_loss) {
        j->train_loss = hb_malloc((size_t)j->epochs * sizeof(double));
        for (int k = 0; k < j->epochs; k++) j->train_loss[k] = -1;
    }
    j->train_loss[e] = loss;
}

void coord_job_history_json(const coord_job *j, void *obj) {
    json_t *o = obj, *pt = json_object();
    for (int s = 0; s < 8; s++)
        if (j->phase_t[s]) json_object_set_new(pt, s_names[s], json_real(j->phase_t[s]));
    json_object_set_new(o, "phase_t", pt);
    json_t *tl = json_array();
    for (int e = 0; j->train_loss && e < j->epochs; e++)
        json_array_append_new(tl, j->train_loss[e] >= 0 ? json_real(j->train_loss[e]) : json_null());
    json_object_set_new(o, "train_loss", tl);
}

/* records before the history have none: the timeline then starts at TRAIN */
static void s_history_get(coord_job *j, json_t *o) {
    json_t *pt = json_object_get(o, "phase_t"), *tl = json_object_get(o, "train_loss");
    for (int s = 0; s < 8; s++) j->phase_t[s] = json_real_value(json_object_get(pt, s_names[s]));
    if (j->epochs > 0 && json_is_array(tl) && json_array_size(tl) == (size_t)j->epochs)
        for (int e = 0; e < j->epochs; e++) {
            json_t *v = json_array_get(tl, (size_t)e);
            coord_job_epoch_loss(j, e, json_is_number(v) ? json_number_value(v) : -1);
        }
}

/* ------------------------------------------------------------------------ */
/* records: one JSON value per job in the store's jobs database (the Submit
 * request inside as hex of its protobuf bytes); checkpoints and labels.json
 * in jobs/NNNNNN/ beside it */

static void s_job_key(uint64_t id, char *out, size_t n) {
    snprintf(out, n, "%llu", (unsigned long long)id);
}

int coord_job_save(coord *c, coord_job *j, char *err) {
    char dir[1100], key[32];
    coord_job_dir(c, j->id, dir, sizeof dir);
    if (mkdir(dir, 0750) && errno != EEXIST) return hb_fail(err, "mkdir %s: %s", dir, strerror(errno));
    size_t n = hierbert__submit__get_packed_size(j->submit);
    uint8_t *buf = hb_malloc(n);
    hierbert__submit__pack(j->submit, buf);
    char *hex = hb_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", buf[i]);
    hex[2 * n] = 0;
    free(buf);
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:f, s:f, s:f, s:i, s:i, s:s}", "id", (json_int_t)j->id, "state",
                  job_state_name(j->state), "name", j->name, "error", j->error, "submitted", j->submitted, "started",
                  j->started, "finished", j->finished, "vocab_size", j->vocab_size, "pad_id", j->pad_id, "submit", hex);
    free(hex);
    json_t *acc = json_array();
    for (int e = 0; j->val_acc && e < j->epochs; e++) json_array_append_new(acc, json_real(j->val_acc[e]));
    json_object_set_new(o, "val_acc", acc);
    json_object_set_new(o, "last_loss", json_real(j->last_loss));
    /* TRAIN's counters: status shows them for a finished job after a restart too */
    json_object_set_new(o, "train", json_pack("{s:I, s:I, s:I, s:i}", "step", (json_int_t)j->step, "total_steps",
                                              (json_int_t)j->total_steps, "round", (json_int_t)j->round, "epoch",
                                              j->epoch));
    coord_job_history_json(j, o);
    if (j->n_counts[0] >= 0) {
        json_t *cn = json_array();
        for (int k = 0; k < COORD_N_COUNTS; k++) json_array_append_new(cn, json_integer(j->n_counts[k]));
        json_object_set_new(o, "counts", cn);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    s_job_key(j->id, key, sizeof key);
    int rc = store_job_put(c->store, key, s, strlen(s), err);
    free(s);
    return rc;
}

void coord_job_set_state(coord *c, coord_job *j, job_state s, const char *error) {
    job_state old = j->state;
    j->state = s;
    if ((unsigned)s < 8 && !j->phase_t[s]) j->phase_t[s] = s_unix_now();
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    if (s == JOB_TRAIN && !j->started) j->started = s_unix_now();
    if (job_state_final(s)) {
        j->finished = s_unix_now();
        s_release(j);
        if (c->active >= 0 && c->jobs[c->active] == j) c->active = -1;
    }
    char err[HB_ERR_LEN];
    if (coord_job_save(c, j, err)) hb_log(c->who, "error", "job %llu record: %s", (unsigned long long)j->id, err);
    hb_log(c->who, s == JOB_FAILED ? "warn" : "info", "job %llu: %s -> %s%s%s", (unsigned long long)j->id,
           job_state_name(old), job_state_name(s), error ? ": " : "", error ? error : "");
    coord_publish_job(c, j, "state");
}

static coord_job *s_job_new(coord *c, uint64_t id, const Hierbert__Submit *s) {
    coord_job *j = hb_calloc(1, sizeof *j);
    j->id = id;
    for (int k = 0; k < COORD_N_COUNTS; k++) j->n_counts[k] = -1;
    /* own a copy of the request: pack and unpack */
    size_t n = hierbert__submit__get_packed_size(s);
    uint8_t *buf = hb_malloc(n);
    hierbert__submit__pack(s, buf);
    j->submit = hierbert__submit__unpack(NULL, n, buf);
    free(buf);
    if (s->name[0])
        snprintf(j->name, sizeof j->name, "%s", s->name);
    else if (s->synthetic)
        snprintf(j->name, sizeof j->name, "synthetic-%u", s->synthetic);
    else {
        const char *b = strrchr(s->train_path, '/');
        snprintf(j->name, sizeof j->name, "%s", b ? b + 1 : s->train_path);
    }
    j->order_epoch = -1;
    (void)c;
    return j;
}

static int s_add_job(coord *c, coord_job *j) {
    if (c->n_jobs == COORD_MAX_JOBS || c->n_jobs >= c->cfg.max_jobs) {
        /* forget the oldest finished record */
        int k = -1;
        for (int i = 0; i < c->n_jobs && k < 0; i++)
            if (job_state_final(c->jobs[i]->state)) k = i;
        if (k < 0) return -1;
        coord_job_free(&c->jobs[k]);
        memmove(&c->jobs[k], &c->jobs[k + 1], (size_t)(c->n_jobs - k - 1) * sizeof c->jobs[0]);
        c->n_jobs--;
        if (c->active > k) c->active--;
    }
    c->jobs[c->n_jobs++] = j;
    return 0;
}

/* The job's documents in memory, from the store. */
static int s_load_corpus(coord *c, coord_job *j, char *err) {
    char dir[1100], key[32];
    coord_job_dir(c, j->id, dir, sizeof dir);
    s_job_key(j->id, key, sizeof key);
    int L = j->submit->seq_len ? (int)j->submit->seq_len : 128;
    if (coord_corpus_load(&j->corpus, c->store, key, dir, L, j->vocab_size, j->pad_id, err)) return -1;
    if (j->corpus.train.n == 0) {
        coord_corpus_free(&j->corpus);
        return hb_fail(err, "%s: no training documents", j->submit->train_path[0] ? j->submit->train_path : "dataset");
    }
    j->have_corpus = 1;
    const coord_corpus *k = &j->corpus;
    long long n[COORD_N_COUNTS] = {(long long)k->train.n_docs, (long long)k->train.n, (long long)k->val.n_docs, (long long)k->val.n,
                      (long long)k->test.n_docs, (long long)k->test.n, k->num_classes};
    memcpy(j->n_counts, n, sizeof n);
    return 0;
}

static int s_hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

typedef struct {
    uint64_t ids[COORD_MAX_JOBS];
    int n;
} s_idlist;

static int s_collect(const char *key, void *ctx) {
    s_idlist *l = ctx;
    char *end;
    unsigned long long id = strtoull(key, &end, 10);
    if (!*end && id > 0 && l->n < COORD_MAX_JOBS) l->ids[l->n++] = id;
    return 0;
}

int coord_jobs_load(coord *c, char *err) {
    s_idlist *l = hb_calloc(1, sizeof *l);
    if (store_each_id(c->store, STORE_DB_JOBS, NULL, s_collect, l, err) < 0) {
        free(l);
        return -1;
    }
    /* ascending ids: submission order */
    for (int a = 1; a < l->n; a++)
        for (int b = a; b > 0 && l->ids[b - 1] > l->ids[b]; b--) {
            uint64_t t = l->ids[b];
            l->ids[b] = l->ids[b - 1];
            l->ids[b - 1] = t;
        }
    for (int i = 0; i < l->n; i++) {
        char key[32], *rec = NULL;
        size_t len = 0;
        s_job_key(l->ids[i], key, sizeof key);
        if (store_job_get(c->store, key, &rec, &len, err) != 0) continue;
        json_error_t je;
        json_t *o = json_loadb(rec, len, 0, &je);
        free(rec);
        const char *st = "QUEUED", *er = "", *nm = NULL, *hex = NULL;
        double sub = 0, sta = 0, fin = 0, loss = 0;
        int vocab = 0, pad = 0; /* records older than pad_id: 0, what they padded with */
        json_t *acc = NULL;
        if (!o || json_unpack(o, "{s?s, s?s, s?s, s?F, s?F, s?F, s?F, s?o, s?i, s?i, s:s}", "state", &st, "error", &er,
                              "name", &nm, "submitted", &sub, "started", &sta, "finished", &fin, "last_loss", &loss,
                              "val_acc", &acc, "vocab_size", &vocab, "pad_id", &pad, "submit", &hex)) {
            hb_log(c->who, "warn", "store: job %s: unreadable record: skipped", key);
            if (o) json_decref(o);
            continue;
        }
        size_t hn = strlen(hex) / 2;
        uint8_t *buf = hb_malloc(hn + 1);
        int bad = strlen(hex) % 2 != 0;
        for (size_t k = 0; k < hn && !bad; k++) {
            int hi = s_hexval(hex[2 * k]), lo = s_hexval(hex[2 * k + 1]);
            bad = hi < 0 || lo < 0;
            buf[k] = (uint8_t)(hi * 16 + lo);
        }
        Hierbert__Submit *s = bad ? NULL : hierbert__submit__unpack(NULL, hn, buf);
        free(buf);
        if (!s) {
            hb_log(c->who, "warn", "store: job %s: unreadable Submit in its record: skipped", key);
            json_decref(o);
            continue;
        }
        coord_job *j = s_job_new(c, l->ids[i], s);
        hierbert__submit__free_unpacked(s, NULL);
        int state = s_state_from_name(st);
        j->state = state < 0 ? JOB_QUEUED : (job_state)state;
        snprintf(j->error, sizeof j->error, "%s", er);
        if (nm) snprintf(j->name, sizeof j->name, "%s", nm);
        j->submitted = sub;
        j->started = sta;
        j->finished = fin;
        j->last_loss = loss;
        json_t *tr = json_object_get(o, "train"); /* records before it have none */
        if (json_is_object(tr)) {
            j->step = (long)json_integer_value(json_object_get(tr, "step"));
            j->total_steps = (long)json_integer_value(json_object_get(tr, "total_steps"));
            j->round = (uint64_t)json_integer_value(json_object_get(tr, "round"));
            j->epoch = (int)json_integer_value(json_object_get(tr, "epoch"));
        }
        j->vocab_size = vocab;
        j->pad_id = pad;
        if (acc && json_is_array(acc) && json_array_size(acc) > 0) {
            j->epochs = (int)json_array_size(acc);
            j->val_acc = hb_calloc((size_t)j->epochs, sizeof(double));
            for (int k = 0; k < j->epochs; k++) j->val_acc[k] = json_real_value(json_array_get(acc, (size_t)k));
        }
        json_t *cn = json_object_get(o, "counts"); /* records before it have none */
        if (json_is_array(cn) && json_array_size(cn) == COORD_N_COUNTS)
            for (int k = 0; k < COORD_N_COUNTS; k++) j->n_counts[k] = json_integer_value(json_array_get(cn, (size_t)k));
        s_history_get(j, o);
        json_decref(o);
        if (j->state == JOB_INGEST) { /* stopped mid-ingest: its documents are incomplete */
            hb_log(c->who, "warn", "job %llu was ingesting when the coordinator stopped: dropped; submit it again",
                   (unsigned long long)j->id);
            char e2[HB_ERR_LEN];
            store_job_delete(c->store, key, e2);
            j->state = JOB_FAILED;
            snprintf(j->error, sizeof j->error, "the coordinator stopped during ingest; submit the job again");
            if (coord_job_save(c, j, e2)) hb_log(c->who, "error", "job %s record: %s", key, e2);
        }
        /* an interrupted job resumes: back in the queue, TRAIN from its checkpoint */
        if (!job_state_final(j->state) && j->state != JOB_QUEUED) {
            hb_log(c->who, "info", "job %llu was %s when the coordinator stopped: resuming", (unsigned long long)j->id,
                   job_state_name(j->state));
            j->state = JOB_QUEUED;
        }
        if (s_add_job(c, j)) coord_job_free(&j);
        if (l->ids[i] >= c->next_job_id) c->next_job_id = l->ids[i] + 1;
    }
    if (l->n) hb_log(c->who, "info", "reloaded %d job records from the store", c->n_jobs);
    free(l);
    return 0;
}

/* A --model directory must fit the ingested data: refused at submit, not
 * when the job starts. */
static int s_check_model(const coord_job *j, char *err) {
    const Hierbert__Submit *s = j->submit;
    bert_config cfg;
    if (!s->model_dir[0]) return s->preset[0] ? bert_config_preset(&cfg, s->preset, err) : 0;
    char path[PROTO_MAX_STRING + 32];
    snprintf(path, sizeof path, "%s/config.json", s->model_dir);
    if (bert_config_read(&cfg, path, err)) return -1;
    if (cfg.vocab_size < j->vocab_size)
        return hb_fail(err, "%s: the model's vocabulary (%d) is smaller than the dataset's (%d)", s->model_dir,
                       cfg.vocab_size, j->vocab_size);
    if (j->corpus.L > cfg.max_position_embeddings)
        return hb_fail(err, "%s: seq_len %d exceeds the model's max_position_embeddings %d", s->model_dir, j->corpus.L,
                       cfg.max_position_embeddings);
    return 0;
}

/* what coord_on_submit reads of a --model directory before the ingest
 * (on a thread confined to the dataset roots: coord_confine_run) */
typedef struct {
    const Hierbert__Submit *s;
    char *out; /* the config.json keys hierbert does not use */
    size_t out_n;
    int lc, n_ign, rc;
    char err[HB_ERR_LEN];
} s_model_probe;

static void s_probe_model(void *arg) {
    s_model_probe *pr = arg;
    const char *dir = pr->s->model_dir;
    pr->lc = bert_dir_lowercase(dir, pr->err);
    /* weights hierbert reads (pytorch_model.bin: refused with how to convert it), before the ingest */
    pr->rc = pr->lc < 0 || hfdir_check_weights(dir, pr->err);
    if (pr->rc) return;
    char cfg[PROTO_MAX_STRING + 32];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    pr->n_ign = hfdir_config_ignored(cfg, pr->out, pr->out_n, pr->err);
}

typedef struct {
    const coord_job *j;
    int rc;
    char err[HB_ERR_LEN];
} s_check_ctx;

static void s_check_model_main(void *arg) {
    s_check_ctx *x = arg;
    x->rc = s_check_model(x->j, x->err);
}

/* s_check_model on a thread confined to the dataset roots */
static int s_check_model_confined(coord *c, const coord_job *j, char *err) {
    s_check_ctx x = {j, 0, ""};
    if (coord_confine_run(&c->confine, COORD_CONFINE_DATASETS, NULL, s_check_model_main, &x, err)) return -1;
    if (x.rc) snprintf(err, HB_ERR_LEN, "%s", x.err);
    return x.rc;
}

/* ------------------------------------------------------------------------ */
/* handlers */

static void *s_ingest_main(void *arg) {
    coord_job *j = arg;
    char dir[1100], key[32];
    snprintf(dir, sizeof dir, "%s", j->ingest_dir);
    s_job_key(j->id, key, sizeof key);
    /* this thread reads what the client named: only beneath the dataset
     * roots, whatever a path resolves to by the time it is opened; it
     * writes only the job's directory (vocab.txt, labels.json) and the
     * store (already open) */
    j->ingest_rc = coord_confine_thread(j->ingest_confine, COORD_CONFINE_DATASETS, dir, j->ingest_err);
    if (!j->ingest_rc)
        j->ingest_rc = coord_corpus_ingest(j->ingest_store, key, dir, j->submit, &j->ingest_info, j->ingest_err);
    j->vocab_size = j->ingest_info.vocab_size;
    j->pad_id = j->ingest_info.pad_id;
    void *push = zmq_socket(j->ingest_zctx, ZMQ_PUSH);
    zmq_connect(push, j->ingest_ep);
    coord_bg_done msg = {.kind = COORD_BG_INGEST, .job = j->id};
    zmq_send(push, &msg, sizeof msg, 0); /* the loop reads the results after this */
    zmq_close(push);
    return NULL;
}

static void s_remove_job(coord *c, coord_job *j) {
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i] == j) {
            memmove(&c->jobs[i], &c->jobs[i + 1], (size_t)(c->n_jobs - i - 1) * sizeof c->jobs[0]);
            c->n_jobs--;
            if (c->active > i) c->active--;
            break;
        }
    coord_job_free(&j);
}

/* drops what a refused or cancelled ingest wrote */
static void s_ingest_cleanup(coord *c, coord_job *j) {
    char dir[1100], key[32], path[1200], e2[HB_ERR_LEN];
    coord_job_dir(c, j->id, dir, sizeof dir);
    s_job_key(j->id, key, sizeof key);
    store_job_delete(c->store, key, e2);
    snprintf(path, sizeof path, "%s/labels.json", dir);
    unlink(path);
    rmdir(dir);
}

void coord_on_submit(coord *c, const coord_peer *p, const proto_msg *m) {
    const Hierbert__Submit *s = m->submit;
    char err[HB_ERR_LEN];
    if (s->model_dir[0] && s->preset[0]) {
        coord_reply_error(c, p, 0, PROTO_E_BAD_REQUEST, "Submit: give a model directory or a preset, not both");
        return;
    }
    if (s->precision[0] && strcmp(s->precision, "fp32") && strcmp(s->precision, "bf16")) {
        coord_reply_error(c, p, 0, PROTO_E_BAD_REQUEST, "Submit: precision '%s': fp32 or bf16", s->precision);
        return;
    }
    /* every path a client names lies beneath a dataset root (confine.c);
     * the threads that then read them are confined by the kernel too */
    const char *paths[][2] = {{"--train", s->train_path}, {"--val", s->val_path},     {"--test", s->test_path},
                              {"--vocab", s->vocab_path}, {"--model", s->model_dir}};
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
        if (paths[k][1] && paths[k][1][0] && coord_confine_read_ok(&c->confine, paths[k][0], paths[k][1], err)) {
            hb_log(c->who, "warn", "Submit refused: %s", err);
            coord_reply_error(c, p, 0, PROTO_E_BAD_REQUEST, "Submit: %s", err);
            return;
        }
    uint64_t id = c->next_job_id;
    coord_job *j = s_job_new(c, id, s);
    j->submitted = s_unix_now();
    j->state = JOB_INGEST;
    j->phase_t[JOB_INGEST] = j->submitted;
    if (s->model_dir[0]) { /* a Hugging Face directory says whether its vocabulary is cased */
        s_model_probe pr = {.s = s, .out = j->config_ignored, .out_n = sizeof j->config_ignored};
        if (coord_confine_run(&c->confine, COORD_CONFINE_DATASETS, NULL, s_probe_model, &pr, err) ||
            (pr.rc && snprintf(err, HB_ERR_LEN, "%s", pr.err) >= 0)) {
            coord_reply_error(c, p, 0, PROTO_E_BAD_REQUEST, "Submit: %s", err);
            coord_job_free(&j);
            return;
        }
        if (pr.lc == 0 && !s->cased) {
            j->submit->cased = 1;
            hb_log(c->who, "info", "job %llu: %s/tokenizer_config.json says do_lower_case false: cased tokenization",
                   (unsigned long long)id, s->model_dir);
        } else if (pr.lc == 1 && s->cased) {
            hb_log(c->who, "warn", "job %llu: --cased, but %s/tokenizer_config.json says do_lower_case true",
                   (unsigned long long)id, s->model_dir);
        }
        if (pr.n_ign > 0)
            hb_log(c->who, "info", "job %llu: %s/config.json: %d key(s) hierbert does not use: %s",
                   (unsigned long long)id, s->model_dir, pr.n_ign, j->config_ignored);
        else
            j->config_ignored[0] = '\0';
    }
    char dir[1100];
    coord_job_dir(c, id, dir, sizeof dir);
    if (mkdir(dir, 0750) && errno != EEXIST) {
        coord_reply_error(c, p, 0, PROTO_E_INTERNAL, "Submit: mkdir %s: %s", dir, strerror(errno));
        coord_job_free(&j);
        return;
    }
    if (s_add_job(c, j)) {
        coord_reply_error(c, p, 0, PROTO_E_STATE, "Submit: %d jobs pending: queue full", c->n_jobs);
        coord_job_free(&j);
        return;
    }
    c->next_job_id++;
    /* the record first: a coordinator stopped mid-ingest finds it and cleans up */
    if (coord_job_save(c, j, err)) hb_log(c->who, "error", "job %llu record: %s", (unsigned long long)id, err);
    hb_log(c->who, "info", "job %llu: ingesting %s", (unsigned long long)id,
           s->synthetic ? "a synthetic dataset" : s->train_path);
    j->ingest_peer = *p;
    j->ingest_zctx = c->zctx;
    j->ingest_confine = &c->confine;
    j->ingest_store = c->store;
    snprintf(j->ingest_ep, sizeof j->ingest_ep, "%s", c->ingest_ep);
    snprintf(j->ingest_dir, sizeof j->ingest_dir, "%s", dir);
    j->ingest_running = 1;
    if (pthread_create(&j->ingest_tid, NULL, s_ingest_main, j) != 0) {
        j->ingest_running = 0;
        coord_reply_error(c, p, 0, PROTO_E_INTERNAL, "Submit: cannot start the ingest thread");
        s_ingest_cleanup(c, j);
        s_remove_job(c, j);
    }
}

void coord_on_ingest_done(coord *c, uint64_t id) {
    coord_job *j = coord_job_find(c, id);
    if (!j || !j->ingest_running) return;
    pthread_join(j->ingest_tid, NULL);
    j->ingest_running = 0;
    char err[HB_ERR_LEN];
    coord_peer p = j->ingest_peer;
    if (j->state == JOB_CANCELLED) { /* cancelled while ingesting: keep the record, drop the data */
        s_ingest_cleanup(c, j);
        coord_job_save(c, j, err);
        coord_reply_error(c, &p, id, PROTO_E_STATE, "Submit: job %llu was cancelled during ingest",
                          (unsigned long long)id);
        return;
    }
    int rc = j->ingest_rc;
    if (rc) snprintf(err, sizeof err, "%s", j->ingest_err);
    if (!rc) rc = s_load_corpus(c, j, err) || s_check_model_confined(c, j, err);
    if (rc) {
        hb_log(c->who, "warn", "job %llu: submit refused: %s", (unsigned long long)id, err);
        coord_reply_error(c, &p, 0, PROTO_E_BAD_REQUEST, "Submit refused: %s", err);
        s_ingest_cleanup(c, j); /* the record goes too: nothing half-ingested remains */
        s_remove_job(c, j);
        return;
    }
    const coord_ingest_info *in = &j->ingest_info;
    char *skipped[DATASET_BAD_N];
    size_t n_skipped = 0;
    for (int b = 0; b < DATASET_BAD_N; b++)
        if (in->skipped_first[b][0]) {
            skipped[n_skipped++] = (char *)in->skipped_first[b];
            hb_log(c->who, "warn", "job %llu: skipped %s", (unsigned long long)id, in->skipped_first[b]);
        }
    coord_job_set_state(c, j, JOB_QUEUED, NULL);
    proto_msg r;
    proto_env_init(&r, id);
    Hierbert__SubmitReply sr = HIERBERT__SUBMIT_REPLY__INIT;
    sr.job_id = id;
    sr.n_train_docs = (uint32_t)j->corpus.train.n_docs;
    sr.n_train_chunks = (uint32_t)j->corpus.train.n;
    sr.n_val_docs = (uint32_t)j->corpus.val.n_docs;
    sr.n_val_chunks = (uint32_t)j->corpus.val.n;
    sr.n_test_docs = (uint32_t)j->corpus.test.n_docs;
    sr.n_test_chunks = (uint32_t)j->corpus.test.n;
    sr.num_classes = (uint32_t)j->corpus.num_classes;
    sr.skipped_docs = (uint32_t)in->skipped;
    sr.n_skipped_first = n_skipped;
    sr.skipped_first = skipped;
    sr.ignored_entries = (uint32_t)in->ignored_entries;
    sr.ignored = (char *)in->ignored;
    sr.replaced = (uint32_t)in->replaced;
    sr.replaced_files = (uint32_t)in->replaced_files;
    sr.replaced_list = (char *)in->replaced_list;
    sr.config_ignored = j->config_ignored;
    if (in->ignored_entries)
        hb_log(c->who, "info", "job %llu: ignored %ld entries beside the class folders: %s", (unsigned long long)id,
               in->ignored_entries, in->ignored);
    if (in->replaced)
        hb_log(c->who, "warn", "job %llu: %ld undecodable bytes replaced by U+FFFD in %ld files: %s",
               (unsigned long long)id, in->replaced, in->replaced_files, in->replaced_list);
    r.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT_REPLY;
    r.submit_reply = &sr;
    coord_reply(c, &p, &r);
}

void coord_jobs_join_ingest(coord *c) {
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i]->ingest_running) {
            pthread_join(c->jobs[i]->ingest_tid, NULL);
            c->jobs[i]->ingest_running = 0;
        }
}

void coord_on_cancel(coord *c, const coord_peer *p, const proto_msg *m) {
    coord_job *j = coord_job_find(c, m->job_id);
    if (!j) {
        coord_reply_error(c, p, m->job_id, PROTO_E_UNKNOWN_JOB, "Cancel: unknown job %llu",
                          (unsigned long long)m->job_id);
        return;
    }
    if (!job_state_final(j->state)) {
        /* during INGEST the thread finishes first; coord_on_ingest_done drops its data */
        if (c->active >= 0 && c->jobs[c->active] == j) coord_train_abort(c, j);
        coord_job_set_state(c, j, JOB_CANCELLED, "cancelled by request");
    }
    proto_msg r;
    proto_env_init(&r, j->id);
    Hierbert__CancelReply cr = HIERBERT__CANCEL_REPLY__INIT;
    cr.state = (char *)job_state_name(j->state);
    r.body_case = HIERBERT__ENVELOPE__BODY_CANCEL_REPLY;
    r.cancel_reply = &cr;
    coord_reply(c, p, &r);
}

void coord_on_list(coord *c, const coord_peer *p, const proto_msg *m) {
    (void)m;
    Hierbert__JobInfo *infos = hb_calloc((size_t)c->n_jobs + 1, sizeof *infos);
    Hierbert__JobInfo **ptrs = hb_calloc((size_t)c->n_jobs + 1, sizeof *ptrs);
    for (int i = 0; i < c->n_jobs; i++) {
        coord_job *j = c->jobs[i];
        hierbert__job_info__init(&infos[i]);
        infos[i].job_id = j->id;
        infos[i].state = (char *)job_state_name(j->state);
        infos[i].name = j->name;
        infos[i].progress = coord_job_progress(j);
        infos[i].loss = j->last_loss;
        infos[i].submitted = j->submitted;
        ptrs[i] = &infos[i];
    }
    proto_msg r;
    proto_env_init(&r, 0);
    Hierbert__ListReply lr = HIERBERT__LIST_REPLY__INIT;
    lr.n_jobs = (size_t)c->n_jobs;
    lr.jobs = ptrs;
    r.body_case = HIERBERT__ENVELOPE__BODY_LIST_REPLY;
    r.list_reply = &lr;
    coord_reply(c, p, &r);
    free(infos);
    free(ptrs);
}

/* ------------------------------------------------------------------------ */
/* scheduler: one job runs at a time, in submission order */

void coord_jobs_tick(coord *c) {
    char err[HB_ERR_LEN];
    if (c->active < 0) {
        for (int i = 0; i < c->n_jobs; i++)
            if (c->jobs[i]->state == JOB_QUEUED) {
                c->active = i;
                break;
            }
        if (c->active < 0) return;
        coord_job *j = c->jobs[c->active];
        if (!j->have_corpus) {
            if (s_load_corpus(c, j, err)) {
                coord_job_set_state(c, j, JOB_FAILED, err);
                return;
            }
        }
        if (coord_train_prepare(c, j, err)) {
            coord_job_set_state(c, j, JOB_FAILED, err);
            return;
        }
        coord_job_set_state(c, j, JOB_TRAIN, NULL);
    }
    coord_job *j = c->jobs[c->active];
    if (j->fatal[0]) {
        coord_train_abort(c, j);
        coord_job_set_state(c, j, JOB_FAILED, j->fatal);
        return;
    }
    switch (j->state) {
    case JOB_TRAIN:
        coord_train_tick(c, j);
        break;
    case JOB_EMBED:
        coord_embed_tick(c, j);
        break;
    case JOB_HEAD:
        coord_head_tick(c, j);
        break;
    default:
        break;
    }
}
