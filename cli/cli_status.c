/* cli_status.c - `hierbert status [JOB] [--watch] [--json]`: the progress of
 * jobs (phase, epoch/step, chunks, loss, sequences/s, ETA) and the workers. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"

static double s_num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}
static const char *s_str(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void s_eta(double s, char *out, size_t n) {
    if (s < 0)
        snprintf(out, n, "--:--:--");
    else
        snprintf(out, n, "%d:%02d:%02d", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
}

/* one job, one or two lines */
static void s_print_job(FILE *f, json_t *j) {
    const char *state = s_str(j, "state");
    double p = s_num(j, "progress");
    int width = 24, fill = (int)(p * width + 0.5);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    char eta[32];
    s_eta(s_num(j, "eta_s"), eta, sizeof eta);
    fprintf(
        f,
        "job %-4lld %-10s epoch %d/%d  step %lld/%lld  [%s] %5.1f%%  chunks %lld/%lld  loss %.4f  %.1f seq/s  ETA %s\n",
        (long long)s_num(j, "id"), state, (int)s_num(j, "epoch"), (int)s_num(j, "epochs"), (long long)s_num(j, "step"),
        (long long)s_num(j, "total_steps"), bar, 100 * p, (long long)s_num(j, "chunks_done"),
        (long long)s_num(j, "chunks_total"), s_num(j, "loss"), s_num(j, "samples_per_s"), eta);
    json_t *acc = json_object_get(j, "val_chunk_accuracy");
    if (json_is_array(acc) && json_array_size(acc) && json_is_number(json_array_get(acc, 0))) {
        fprintf(f, "         validation chunk accuracy by epoch:");
        for (size_t e = 0; e < json_array_size(acc); e++) {
            json_t *v = json_array_get(acc, e);
            if (json_is_number(v)) fprintf(f, " %zu: %.4f", e + 1, json_number_value(v));
        }
        fputc('\n', f);
    }
    if (s_str(j, "error")[0]) fprintf(f, "         error: %s\n", s_str(j, "error"));
    if (s_str(j, "note")[0]) fprintf(f, "         note: %s\n", s_str(j, "note"));
}

static void s_print(FILE *f, json_t *doc) {
    json_t *jobs = json_object_get(doc, "jobs"), *ws = json_object_get(doc, "workers");
    for (size_t i = 0; i < json_array_size(jobs); i++) s_print_job(f, json_array_get(jobs, i));
    if (!json_array_size(jobs)) fprintf(f, "no jobs\n");
    fprintf(f, "workers: %zu live", json_array_size(ws));
    for (size_t i = 0; i < json_array_size(ws); i++) {
        json_t *w = json_array_get(ws, i);
        fprintf(f, "%s %s@%s (%d thr, %.1fs ago, %.1f seq/s%s)", i ? "," : ":", s_str(w, "id"), s_str(w, "host"),
                (int)s_num(w, "threads"), s_num(w, "last_heartbeat_ms") / 1000, s_num(w, "samples_per_s"),
                json_is_true(json_object_get(w, "busy")) ? ", busy" : "");
    }
    fputc('\n', f);
}

static int s_final(const char *state) {
    return !strcmp(state, "DONE") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELLED");
}

int cli_status(int argc, char **argv) {
    static const struct option opts[] = {
        {"watch", no_argument, 0, 'w'}, {"json", no_argument, 0, 'j'}, {"interval", required_argument, 0, 'i'},
        {"help", no_argument, 0, 'h'},  CLI_COMMON_LONGOPTS,           {0, 0, 0, 0}};
    cli_endpoints ep;
    memset(&ep, 0, sizeof ep);
    char err[HB_ERR_LEN];
    int o, watch = 0, as_json = 0;
    double interval = 1;
    optind = 1;
    while ((o = getopt_long(argc, argv, "wji:h", opts, NULL)) != -1) {
        int c = cli_common_opt(&ep, o, optarg, err);
        if (c < 0) {
            fprintf(stderr, "hierbert status: %s\n", err);
            return 2;
        }
        if (c) continue;
        switch (o) {
        case 'w':
            watch = 1;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'i':
            interval = atof(optarg);
            if (!(interval >= 0.1 && interval <= 3600)) {
                fprintf(stderr, "hierbert status: --interval %s: seconds in 0.1..3600\n", optarg);
                return 2;
            }
            break;
        case 'h':
            printf("usage: hierbert status [JOB] [--watch] [--json] [options]\n"
                   "Progress of the jobs (or one): phase, epoch and step, chunks done of total, loss (mean over the "
                   "epoch so far),\n"
                   "sequences/s, ETA, validation chunk accuracy; the live workers.\n\n"
                   "  -w, --watch          refresh until the job ends (Ctrl-C to leave)\n"
                   "  -i, --interval S     refresh period (1)\n"
                   "  -j, --json           the coordinator's status document, for scripts\n" CLI_COMMON_HELP
                   "  -h, --help\n");
            return 0;
        default:
            fprintf(stderr, "hierbert status: see --help\n");
            return 2;
        }
    }
    uint64_t job = 0;
    if (optind < argc && cli_parse_job(argv[optind++], &job, err)) {
        fprintf(stderr, "hierbert status: %s\n", err);
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "hierbert status: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cli_endpoints_finish(&ep, err)) {
        fprintf(stderr, "hierbert status: %s\n", err);
        return 2;
    }
    int tty = isatty(1), first = 1;
    for (;;) {
        proto_msg m, *r = NULL;
        proto_env_init(&m, job);
        Hierbert__Status st = HIERBERT__STATUS__INIT;
        m.body_case = HIERBERT__ENVELOPE__BODY_STATUS;
        m.status = &st;
        if (cli_request(&ep, &m, 0, &r, err)) {
            fprintf(stderr, "hierbert status: %s\n", err);
            return 1;
        }
        if (r->body_case != HIERBERT__ENVELOPE__BODY_STATUS_REPLY) {
            fprintf(stderr, "hierbert status: unexpected %s reply\n", proto_type_name(r));
            proto_free(&r);
            return 1;
        }
        json_error_t je;
        json_t *doc = json_loads(r->status_reply->json, 0, &je);
        if (!doc) {
            fprintf(stderr, "hierbert status: unreadable status document: %s\n", je.text);
            proto_free(&r);
            return 1;
        }
        if (as_json) {
            puts(r->status_reply->json);
        } else {
            if (watch && tty && !first) fputs("\033[H\033[J", stdout);
            s_print(stdout, doc);
        }
        fflush(stdout);
        first = 0;
        int done = 1;
        json_t *jobs = json_object_get(doc, "jobs");
        for (size_t i = 0; i < json_array_size(jobs); i++)
            if (!s_final(s_str(json_array_get(jobs, i), "state"))) done = 0;
        json_decref(doc);
        proto_free(&r);
        if (!watch || (job && done)) break;
        usleep((useconds_t)(interval * 1e6));
    }
    return 0;
}
