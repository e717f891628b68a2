/*
 * http_metrics.c - the coordinator's optional HTTP port ([endpoints]
 * metrics = HOST:PORT), served by libmicrohttpd on its own thread:
 *   GET /metrics            Prometheus text format, version 0.0.4
 *   GET /                   the dashboard (coordinator/dashboard/, compiled in)
 *   GET /api/status[?job=N] the JSON `hierbert status --json` prints
 *   GET /api/result?job=N   the JSON `hierbert result N --json` prints
 * Read-only: GET and HEAD only (405 otherwise); anything else is 404.
 *
 * The thread never touches the coordinator's state: each request asks the
 * coordinator's own status endpoint (REP: "status", "job N", "result N")
 * over a fresh REQ socket with a timeout. So a scrape or the page sees
 * exactly what the status socket says, and a coordinator busy for longer
 * than the timeout shows as hierbert_up 0 (or HTTP 503), not a hung request.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "coord.h"
#include "hb_log.h"

#define METRICS_TIMEOUT_MS 2000

struct coord_metrics {
    struct MHD_Daemon *d;
    void *zctx;
    char status_ep[300]; /* where to connect for the status JSON */
};

/* ------------------------------------------------------------ text ---- */

/* a label value, escaped as the exposition format wants (\\, \", \n) */
static void s_label(FILE *t, const char *v) {
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(t, "\\%c", *v);
        else if (*v == '\n')
            fprintf(t, "\\n");
        else
            fputc(*v, t);
    }
}

static void s_family(FILE *t, const char *name, const char *type, const char *help) {
    fprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double s_num(json_t *o, const char *key, int *ok) {
    json_t *v = json_object_get(o, key);
    *ok = json_is_number(v) || json_is_boolean(v);
    return json_is_boolean(v) ? (double)json_is_true(v) : json_number_value(v);
}

/* one family of per-worker or per-job samples: key in each object, scaled */
typedef struct {
    const char *name, *type, *key, *help;
    double scale;
} s_metric;

static const s_metric s_worker_metrics[] = {
    {"hierbert_worker_busy", "gauge", "busy", "1 while the worker has a task", 1},
    {"hierbert_worker_threads", "gauge", "threads", "compute threads the worker runs", 1},
    {"hierbert_worker_samples_per_second", "gauge", "samples_per_s", "the worker's last task's compute rate", 1},
    {"hierbert_worker_heartbeat_age_seconds", "gauge", "last_heartbeat_ms", "time since the worker was last heard",
     1e-3},
    {"hierbert_worker_tasks_done_total", "counter", "tasks_done", "tasks the worker finished", 1},
};

static const s_metric s_job_metrics[] = {
    {"hierbert_job_progress", "gauge", "progress", "fraction of the job's current phase done (0..1)", 1},
    {"hierbert_job_epoch", "gauge", "epoch", "TRAIN epoch (1-based)", 1},
    {"hierbert_job_epochs", "gauge", "epochs", "TRAIN epochs", 1},
    {"hierbert_job_step", "gauge", "step", "TRAIN optimizer steps done", 1},
    {"hierbert_job_total_steps", "gauge", "total_steps", "TRAIN optimizer steps in all", 1},
    {"hierbert_job_chunks_done", "gauge", "chunks_done", "TRAIN chunks processed", 1},
    {"hierbert_job_loss", "gauge", "loss", "TRAIN loss, mean over the running epoch", 1},
    {"hierbert_job_samples_per_second", "gauge", "samples_per_s", "TRAIN chunks per second (smoothed)", 1},
    {"hierbert_job_eta_seconds", "gauge", "eta_s", "estimated TRAIN time left (-1: unknown)", 1},
    {"hierbert_job_train_seconds", "counter", "train_s", "wall time spent in TRAIN rounds", 1},
    {"hierbert_job_train_bytes_total", "counter", "train_bytes", "bytes sent and received in TRAIN rounds", 1},
    {"hierbert_job_train_rounds_total", "counter", "train_rounds", "TRAIN rounds finished", 1},
    {"hierbert_job_train_docs", "gauge", "train_docs", "training documents", 1},
    {"hierbert_job_val_docs", "gauge", "val_docs", "validation documents", 1},
    {"hierbert_job_test_docs", "gauge", "test_docs", "test documents", 1},
};

static void s_job_labels(FILE *t, json_t *j) {
    fprintf(t, "job=\"%lld\"", (long long)json_integer_value(json_object_get(j, "id")));
}

static void s_worker_labels(FILE *t, json_t *w) {
    fprintf(t, "worker=\"");
    s_label(t, json_string_value(json_object_get(w, "id")));
    fprintf(t, "\",host=\"");
    s_label(t, json_string_value(json_object_get(w, "host")));
    fprintf(t, "\"");
}

static void s_samples(FILE *t, const s_metric *m, json_t *arr, void (*labels)(FILE *, json_t *)) {
    size_t i;
    json_t *o;
    int any = 0, ok;
    json_array_foreach(arr, i, o) {
        double v = s_num(o, m->key, &ok);
        if (!ok) continue;
        if (!any++) s_family(t, m->name, m->type, m->help);
        fprintf(t, "%s{", m->name);
        labels(t, o);
        fprintf(t, "} %.17g\n", v * m->scale);
    }
}

/* renders the status JSON; 0, or -1 when it is not the status document */
static int s_render(FILE *t, const char *json) {
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    json_t *co = root ? json_object_get(root, "coordinator") : NULL, *ws = root ? json_object_get(root, "workers") : NULL,
           *js = root ? json_object_get(root, "jobs") : NULL;
    if (!json_is_object(co) || !json_is_array(ws) || !json_is_array(js)) {
        json_decref(root);
        return -1;
    }
    int ok;
    s_family(t, "hierbert_up", "gauge", "1 when the coordinator answered its status endpoint");
    fprintf(t, "hierbert_up 1\n");
    s_family(t, "hierbert_uptime_seconds", "gauge", "seconds since the coordinator started");
    fprintf(t, "hierbert_uptime_seconds %.17g\n", s_num(co, "uptime_s", &ok));
    s_family(t, "hierbert_store_bytes", "gauge", "bytes in the coordinator's data directory");
    fprintf(t, "hierbert_store_bytes %.17g\n", s_num(co, "store_bytes", &ok));
    s_family(t, "hierbert_workers", "gauge", "live workers");
    fprintf(t, "hierbert_workers %zu\n", json_array_size(ws));
    for (size_t k = 0; k < sizeof s_worker_metrics / sizeof s_worker_metrics[0]; k++)
        s_samples(t, &s_worker_metrics[k], ws, s_worker_labels);

    /* jobs: an info series carrying name and state, then the numbers */
    size_t i;
    json_t *j;
    if (json_array_size(js)) s_family(t, "hierbert_job_info", "gauge", "1 per job; its name and state as labels");
    json_array_foreach(js, i, j) {
        fprintf(t, "hierbert_job_info{");
        s_job_labels(t, j);
        fprintf(t, ",name=\"");
        s_label(t, json_string_value(json_object_get(j, "name")));
        fprintf(t, "\",state=\"");
        s_label(t, json_string_value(json_object_get(j, "state")));
        fprintf(t, "\"} 1\n");
    }
    for (size_t k = 0; k < sizeof s_job_metrics / sizeof s_job_metrics[0]; k++)
        s_samples(t, &s_job_metrics[k], js, s_job_labels);
    int fam = 0;
    json_array_foreach(js, i, j) {
        json_t *acc = json_object_get(j, "val_chunk_accuracy"), *a;
        size_t e;
        json_array_foreach(acc, e, a) {
            if (!json_is_number(a)) continue;
            if (!fam++)
                s_family(t, "hierbert_job_val_chunk_accuracy", "gauge", "validation chunk accuracy after each epoch");
            fprintf(t, "hierbert_job_val_chunk_accuracy{");
            s_job_labels(t, j);
            fprintf(t, ",epoch=\"%zu\"} %.17g\n", e + 1, json_number_value(a));
        }
    }
    json_decref(root);
    return 0;
}

/* ---------------------------------------------------------- scrape ---- */

/* the coordinator's status endpoint's answer to req ("status", "job N",
 * "result N"), or NULL */
static char *s_ask(struct coord_metrics *m, const char *req) {
    void *s = zmq_socket(m->zctx, ZMQ_REQ);
    if (!s) return NULL;
    int linger = 0, to = METRICS_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &to, sizeof to);
    char *out = NULL;
    zmq_msg_t r;
    zmq_msg_init(&r);
    int qn = (int)strlen(req);
    if (zmq_connect(s, m->status_ep) == 0 && zmq_send(s, req, (size_t)qn, 0) == qn && zmq_msg_recv(&r, s, 0) >= 0) {
        size_t n = zmq_msg_size(&r);
        out = hb_malloc(n + 1);
        memcpy(out, zmq_msg_data(&r), n);
        out[n] = 0;
    }
    zmq_msg_close(&r);
    zmq_close(s);
    return out;
}

/* body: malloc'ed (freed here) or, with is_static, a compiled-in asset */
static enum MHD_Result s_send(struct MHD_Connection *conn, unsigned code, const char *type, void *body, size_t len,
                              int is_static) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!r) {
        if (!is_static) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* the page loads only its own files and talks only to this port */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s_reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len) {
    return s_send(conn, code, code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain", body, len, 0);
}

/* /api/status[?job=N], /api/result?job=N: the status endpoint's JSON as it is */
static enum MHD_Result s_api(struct coord_metrics *m, struct MHD_Connection *conn, const char *what) {
    const char *job = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "job");
    char req[64], *end = NULL;
    unsigned long long id = job ? strtoull(job, &end, 10) : 0;
    if (job && (!*job || *end || id == 0)) {
        static const char msg[] = "{\"error\":\"job: a job id (1, 2, ...)\"}";
        return s_send(conn, MHD_HTTP_BAD_REQUEST, "application/json", strdup(msg), sizeof msg - 1, 0);
    }
    if (!strcmp(what, "result") && !job) {
        static const char msg[] = "{\"error\":\"/api/result?job=N\"}";
        return s_send(conn, MHD_HTTP_BAD_REQUEST, "application/json", strdup(msg), sizeof msg - 1, 0);
    }
    if (!strcmp(what, "result"))
        snprintf(req, sizeof req, "result %llu", id);
    else if (job)
        snprintf(req, sizeof req, "job %llu", id);
    else
        snprintf(req, sizeof req, "status");
    char *json = s_ask(m, req);
    if (!json) {
        static const char msg[] = "{\"error\":\"the coordinator's status endpoint did not answer\"}";
        return s_send(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", strdup(msg), sizeof msg - 1, 0);
    }
    return s_send(conn, 200, "application/json", json, strlen(json), 0);
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                const char *version, const char *upload, size_t *upload_len, void **req) {
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)req;
    struct coord_metrics *m = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        static const char msg[] = "read-only: GET only\n";
        return s_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, strdup(msg), sizeof msg - 1);
    }
    if (!strcmp(url, "/api/status")) return s_api(m, conn, "status");
    if (!strcmp(url, "/api/result")) return s_api(m, conn, "result");
    for (const coord_http_asset *a = coord_dashboard_assets; a->path; a++)
        if (!strcmp(url, a->path) || (!strcmp(a->path, "/") && !strcmp(url, "/index.html")))
            return s_send(conn, 200, a->type, (void *)a->data, a->len, 1);
    if (strcmp(url, "/metrics")) {
        static const char msg[] = "not found: this endpoint serves /, /api/status, /api/result?job=N, /metrics\n";
        return s_reply(conn, MHD_HTTP_NOT_FOUND, strdup(msg), sizeof msg - 1);
    }
    char *json = s_ask(m, "status"), *body = NULL;
    size_t len = 0;
    FILE *t = open_memstream(&body, &len);
    if (!t) {
        free(json);
        return MHD_NO;
    }
    if (!json || s_render(t, json)) { /* start again: only "down" */
        fclose(t);
        free(body);
        t = open_memstream(&body, &len);
        if (!t) {
            free(json);
            return MHD_NO;
        }
        s_family(t, "hierbert_up", "gauge", "1 when the coordinator answered its status endpoint");
        fprintf(t, "hierbert_up 0\n");
    }
    free(json);
    fclose(t);
    return s_reply(conn, 200, body, len);
}

/* ------------------------------------------------------------ setup ---- */

/* HOST:PORT (an IPv4 address; port 1..65535) into sa */
static int s_parse_addr(const char *spec, struct sockaddr_in *sa, char *err) {
    const char *colon = strrchr(spec, ':');
    char host[64];
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || (size_t)(colon - spec) >= sizeof host || colon == spec || *end || port < 1 || port > 65535)
        return hb_fail(err, "metrics '%s': expected HOST:PORT, e.g. 127.0.0.1:9464", spec);
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (!strcmp(host, "*")) snprintf(host, sizeof host, "0.0.0.0");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return hb_fail(err, "metrics '%s': '%s' is not an IPv4 address", spec, host);
    return 0;
}

int coord_metrics_start(coord_metrics **out, const char *spec, void *zctx, const char *status_ep, char *err) {
    *out = NULL;
    struct sockaddr_in sa;
    if (s_parse_addr(spec, &sa, err)) return -1;
    struct coord_metrics *m = hb_calloc(1, sizeof *m);
    m->zctx = zctx;
    /* a wildcard bind is reached on loopback */
    const char *star = strstr(status_ep, "://*:"), *any = strstr(status_ep, "://0.0.0.0:");
    if (star)
        snprintf(m->status_ep, sizeof m->status_ep, "%.*s://127.0.0.1%s", (int)(star - status_ep), status_ep,
                 star + 4);
    else if (any)
        snprintf(m->status_ep, sizeof m->status_ep, "%.*s://127.0.0.1%s", (int)(any - status_ep), status_ep,
                 any + 10);
    else
        snprintf(m->status_ep, sizeof m->status_ep, "%s", status_ep);
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, ntohs(sa.sin_port), NULL, NULL, s_handle, m,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)10, MHD_OPTION_END);
    if (!m->d) {
        free(m);
        return hb_fail(err, "metrics: cannot serve HTTP on %s (address in use or not local?)", spec);
    }
    *out = m;
    return 0;
}

void coord_metrics_stop(coord_metrics **mp) {
    if (!*mp) return;
    MHD_stop_daemon((*mp)->d);
    free(*mp);
    *mp = NULL;
}
