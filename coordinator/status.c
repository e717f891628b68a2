/* status.c - the status document (JSON, served by the status endpoint and
 * the control endpoint's Status) and the PUB progress events. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "coord.h"
#include "optim.h"
#include "hb_log.h"

/* bytes under dir (the data directory: job records, checkpoints, store) */
static long long s_du(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st)) continue;
        if (S_ISDIR(st.st_mode) && depth < 4)
            sum += s_du(p, depth + 1);
        else if (S_ISREG(st.st_mode))
            sum += (long long)st.st_blocks * 512;
    }
    closedir(d);
    return sum;
}

void *coord_job_optim_json(const coord_job *j) {
    const Hierbert__Submit *s = j->submit;
    int adamw = strcmp(s->optimizer, "sgd") != 0;
    optim_config oc = optim_default_config();
    optim_job_settings(&oc, s->schedule, s->clip_norm_given ? s->clip_norm : -1.0f,
                       s->weight_decay_given ? s->weight_decay : -1.0f, adamw, NULL); /* checked at Submit */
    return json_pack("{s:s, s:s, s:f, s:f, s:f}", "optimizer", adamw ? "adamw" : "sgd", "schedule",
                     optim_schedule_name(oc.schedule), "clip_norm", oc.clip_norm, "weight_decay", oc.weight_decay, "lr",
                     s->lr > 0 ? s->lr : (adamw ? 2e-5 : 0.1));
}

/* the store's documents and embeddings (LMDB's own counts: cheap) and the
 * data directory's free disk */
static void s_store_json(coord *c, json_t *co) {
    store_stats st;
    char err[HB_ERR_LEN];
    if (store_get_stats(c->store, &st, err) == 0) {
        json_object_set_new(co, "store_docs", json_integer((json_int_t)st.entries[STORE_DB_DOCS]));
        json_object_set_new(co, "store_embeddings", json_integer((json_int_t)st.entries[STORE_DB_EMB]));
        json_object_set_new(co, "store_map_used", json_integer((json_int_t)st.map_used));
    }
    struct statvfs vf;
    if (statvfs(c->cfg.data_dir, &vf) == 0) {
        json_object_set_new(co, "disk_free_bytes", json_integer((json_int_t)vf.f_bavail * (json_int_t)vf.f_frsize));
        json_object_set_new(co, "disk_total_bytes", json_integer((json_int_t)vf.f_blocks * (json_int_t)vf.f_frsize));
    }
}

static json_t *s_job_json(coord *c, coord_job *j) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)j->id));
    json_object_set_new(o, "name", json_string(j->name));
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    json_object_set_new(o, "phase", json_string(job_state_name(j->state)));
    json_object_set_new(o, "progress", json_real(coord_job_progress(j)));
    json_object_set_new(o, "submitted", json_real(j->submitted));
    if (j->error[0]) json_object_set_new(o, "error", json_string(j->error));
    if (j->skip_note[0]) json_object_set_new(o, "note", json_string(j->skip_note));
    json_object_set_new(o, "precision", json_string(j->submit->precision[0] ? j->submit->precision : "fp32"));
    json_object_set_new(o, "wire", json_string(j->submit->wire[0] ? j->submit->wire : "fp32"));
    json_object_set_new(o, "epoch", json_integer(j->epoch < j->epochs ? j->epoch + 1 : j->epochs));
    json_object_set_new(o, "epochs", json_integer(j->epochs));
    json_object_set_new(o, "step", json_integer(j->step));
    json_object_set_new(o, "total_steps", json_integer(j->total_steps));
    json_object_set_new(o, "round", json_integer((json_int_t)j->round));
    long long total = (long long)j->total_steps * j->G;
    if (j->have_corpus && total > (long long)j->corpus.train.n * j->epochs)
        total = (long long)j->corpus.train.n * j->epochs;
    json_object_set_new(o, "chunks_done", json_integer(j->samples_done));
    json_object_set_new(o, "chunks_total", json_integer(total));
    if (j->n_counts[0] >= 0) { /* the corpus's sizes, also once it is freed */
        static const char *const names[COORD_N_COUNTS] = {"train_docs", "train_chunks", "val_docs",   "val_chunks",
                                                          "test_docs",  "test_chunks",  "num_classes"};
        for (int k = 0; k < COORD_N_COUNTS; k++)
            json_object_set_new(o, names[k], json_integer((json_int_t)j->n_counts[k]));
    }
    if (j->numel) {
        json_object_set_new(o, "average", json_string(j->avg_grads ? "grads" : "params"));
        json_object_set_new(o, "reduce", json_string(j->sharded ? "sharded" : "coordinator"));
        if (j->reduce_note[0]) json_object_set_new(o, "reduce_note", json_string(j->reduce_note));
        json_object_set_new(o, "train_rollbacks", json_integer(j->train_rollbacks));
        if (j->n_shards) json_object_set_new(o, "shards", json_integer(j->n_shards));
        if (j->rejoin_since_ms) /* sharded, short of shard owners: waiting for them (rejoin_wait_s) */
            json_object_set_new(o, "waiting_for_owners_s", json_real((hb_now_ms() - j->rejoin_since_ms) / 1000.0));
        if (j->degraded) json_object_set_new(o, "degraded_round", json_integer((json_int_t)j->degraded_round));
        if (j->avg_grads) { /* before clipping (clipping starts at the job's clip norm) */
            json_object_set_new(o, "grad_norm", json_real(j->last_grad_norm));
            json_object_set_new(o, "grad_norm_max", json_real(j->max_grad_norm));
        }
    }
    json_object_set_new(o, "parameters", json_integer((json_int_t)j->numel));
    if (j->submit) json_object_set_new(o, "optim", coord_job_optim_json(j));
    /* loss: the mean over the epoch so far (one round's batch is too noisy
     * to read); last_round_loss: that one round */
    json_object_set_new(o, "loss", json_real(j->epoch_loss_n > 0 ? j->epoch_loss_sum / j->epoch_loss_n : j->last_loss));
    json_object_set_new(o, "last_round_loss", json_real(j->last_loss));
    json_object_set_new(o, "train_accuracy", json_real(j->last_train_acc));
    json_object_set_new(o, "samples_per_s", json_real(j->samples_per_s));
    json_object_set_new(o, "train_s", json_real((double)j->train_ms / 1000.0));
    json_object_set_new(o, "train_compute_s", json_real(j->train_compute_s));
    json_object_set_new(o, "train_bytes", json_real(j->train_bytes));
    /* the coordinator's own TRAIN bytes each way; the workers' are under "workers" */
    json_object_set_new(o, "train_bytes_down", json_real(j->train_bytes_down));
    json_object_set_new(o, "train_bytes_up", json_real(j->train_bytes_up));
    json_object_set_new(o, "train_wait_s", json_real(j->train_wait_s));
    json_object_set_new(o, "train_rounds", json_integer(j->train_rounds));
    json_object_set_new(o, "rounds_per_epoch",
                        json_integer(j->sync_every ? (j->steps_per_epoch + j->sync_every - 1) / j->sync_every : 0));
    double eta = -1;
    if (j->state == JOB_TRAIN && j->samples_per_s > 0) {
        long long left = total - j->samples_done;
        eta = left > 0 ? (double)left / j->samples_per_s : 0;
    }
    json_object_set_new(o, "eta_s", json_real(eta));
    json_t *acc = json_array();
    for (int e = 0; j->val_acc && e < j->epochs; e++)
        json_array_append_new(acc, j->val_acc[e] >= 0 ? json_real(j->val_acc[e]) : json_null());
    json_object_set_new(o, "val_chunk_accuracy", acc);
    json_t *rd = json_object();
    json_object_set_new(rd, "seconds", json_real(j->last_round_s));
    json_object_set_new(rd, "compute_s", json_real(j->last_round_compute_s));
    json_object_set_new(
        rd, "comm_s",
        json_real(j->last_round_s > j->last_round_compute_s ? j->last_round_s - j->last_round_compute_s : 0));
    json_object_set_new(rd, "bytes", json_integer((json_int_t)j->last_round_bytes));
    json_object_set_new(o, "last_round", rd);
    coord_phases_json(j, o);
    coord_job_history_json(j, o);
    (void)c;
    return o;
}

char *coord_status_json(coord *c, uint64_t job_id) {
    json_t *o = json_object();
    long long now = hb_now_ms();
    json_t *co = json_object();
    json_object_set_new(co, "protocol", json_integer(PROTO_VERSION));
    json_object_set_new(co, "uptime_s", json_real((double)(now - c->started_ms) / 1000.0));
    json_object_set_new(co, "work", json_string(c->cfg.work));
    json_object_set_new(co, "control", json_string(c->cfg.control));
    json_object_set_new(co, "data_dir", json_string(c->cfg.data_dir));
    json_object_set_new(co, "store_bytes", json_integer(s_du(c->cfg.data_dir, 0)));
    s_store_json(c, co);
    json_object_set_new(o, "coordinator", co);
    json_t *ws = json_array();
    for (int i = 0; i < COORD_MAX_WORKERS; i++) {
        coord_worker *k = &c->workers[i];
        if (!k->in_use) continue;
        json_t *w = json_object();
        json_object_set_new(w, "id", json_string(k->id));
        json_object_set_new(w, "host", json_string(k->host));
        json_object_set_new(w, "threads", json_integer(k->threads));
        json_object_set_new(w, "cores", json_integer(k->cores));
        json_object_set_new(w, "last_heartbeat_ms", json_integer(now - k->last_seen_ms));
        json_object_set_new(w, "busy", json_boolean(k->busy || k->task >= 0));
        json_object_set_new(w, "samples_per_s", json_real(k->rate));
        json_object_set_new(w, "tasks_done", json_integer((json_int_t)k->tasks_done));
        json_object_set_new(w, "peer", json_string(k->peer));
        /* bytes since it joined: from/to the coordinator, to/from its peers */
        json_object_set_new(w, "bytes_from_coordinator", json_real(k->bytes_down));
        json_object_set_new(w, "bytes_to_coordinator", json_real(k->bytes_up));
        json_object_set_new(w, "peer_bytes_out", json_real(k->peer_bytes_out));
        json_object_set_new(w, "peer_bytes_in", json_real(k->peer_bytes_in));
        json_object_set_new(w, "last_wait_s", json_real(k->last_wait_s));
        json_array_append_new(ws, w);
    }
    json_object_set_new(o, "workers", ws);
    json_t *js = json_array();
    for (int i = 0; i < c->n_jobs; i++)
        if (!job_id || c->jobs[i]->id == job_id) json_array_append_new(js, s_job_json(c, c->jobs[i]));
    json_object_set_new(o, "jobs", js);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

void coord_publish_job(coord *c, coord_job *j, const char *event) {
    json_t *o = s_job_json(c, j);
    json_object_set_new(o, "event", json_string(event));
    /* per topic, from 1 at the coordinator's start: a subscriber sees a
     * gap when PUB dropped events for it (COORD_EVENTS_HWM) */
    json_object_set_new(o, "seq", json_integer((json_int_t)++j->event_seq));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char topic[64];
    snprintf(topic, sizeof topic, "job.%llu", (unsigned long long)j->id);
    coord_publish(c, topic, s);
    free(s);
}
