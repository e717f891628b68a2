/* cli_events.c - `hierbert events`: the coordinator's event stream (its PUB
 * endpoint: job state changes, epochs, TRAIN progress, head epochs, workers
 * joining and lost), one JSON object per line as it happens, for scripts and
 * for `tail -f`-style watching. A job's stream starts with a snapshot of
 * that job (its status entry, "event": "snapshot", asked on the control
 * endpoint once the subscription is up), so a reader that connects late
 * still sees where the job stands; what was published before the snapshot
 * is in it, not replayed. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"
#include "hb_log.h"

#define EV_OPT_EVENTS 2000
#define EV_OPT_UNTIL 2001
#define EV_OPT_FOR 2002

/* a job's states in the order it passes them (FAILED, CANCELLED: -2, an
 * end off that road); -1 not a state */
static int s_rank(const char *s) {
    static const char *names[] = {"INGEST", "QUEUED", "TRAIN", "EMBED", "HEAD", "DONE"};
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (!strcmp(s, names[i])) return i;
    return !strcmp(s, "FAILED") || !strcmp(s, "CANCELLED") ? -2 : -1;
}

/* the job's status entry from the control endpoint, as one JSON line with
 * "event": "snapshot"; NULL if the coordinator has no such job */
static char *s_snapshot(const cli_endpoints *ep, uint64_t job, char *err) {
    proto_msg m, *r = NULL;
    proto_env_init(&m, job);
    Hierbert__Status st = HIERBERT__STATUS__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_STATUS;
    m.status = &st;
    if (cli_request(ep, &m, 0, &r, err)) return NULL;
    char *line = NULL;
    json_t *doc =
        r->body_case == HIERBERT__ENVELOPE__BODY_STATUS_REPLY ? json_loads(r->status_reply->json, 0, NULL) : NULL;
    json_t *jobs = doc ? json_object_get(doc, "jobs") : NULL;
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        json_t *x = json_array_get(jobs, i);
        if ((uint64_t)json_integer_value(json_object_get(x, "id")) != job) continue;
        json_object_set_new(x, "event", json_string("snapshot"));
        line = json_dumps(x, JSON_COMPACT);
    }
    if (!line) hb_fail(err, "the coordinator has no job %llu", (unsigned long long)job);
    json_decref(doc);
    proto_free(&r);
    return line;
}

/* 1 when the event line shows the job in `until` or past it, -1 when it
 * ended in another state, 0 not yet */
static int s_reached(const char *line, const char *until, char *state, size_t n) {
    json_t *x = json_loads(line, 0, NULL);
    const char *s = x ? json_string_value(json_object_get(x, "state")) : NULL;
    int rc = 0;
    if (s) {
        snprintf(state, n, "%s", s);
        int a = s_rank(s), b = s_rank(until);
        rc = !strcmp(s, until) || (a >= 0 && b >= 0 && a > b) ? 1 : a == -2 || (a == 5 && b == -2) ? -1 : 0;
    }
    json_decref(x);
    return rc;
}

/* prints an event line (and frees it); with `until`: 0 the job reached
 * it, 1 it ended otherwise (said on stderr), -1 go on */
static int s_emit(char *line, const char *until, uint64_t job) {
    puts(line);
    fflush(stdout);
    char state[32] = "";
    int r = until[0] ? s_reached(line, until, state, sizeof state) : 0;
    free(line);
    if (r < 0) fprintf(stderr, "hierbert events: job %llu ended %s\n", (unsigned long long)job, state);
    return r > 0 ? 0 : r < 0 ? 1 : -1;
}

int cli_events(int argc, char **argv) {
    static const struct option opts[] = {{"events", required_argument, 0, EV_OPT_EVENTS},
                                         {"until", required_argument, 0, EV_OPT_UNTIL},
                                         {"for", required_argument, 0, EV_OPT_FOR},
                                         {"help", no_argument, 0, 'h'},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};
    cli_endpoints ep;
    memset(&ep, 0, sizeof ep);
    char err[HB_ERR_LEN], until[32] = "";
    double for_s = 0;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int c = cli_common_opt(&ep, o, optarg, err);
        if (c < 0) {
            fprintf(stderr, "hierbert events: %s\n", err);
            return 2;
        }
        if (c) continue;
        switch (o) {
        case EV_OPT_EVENTS:
            if (strlen(optarg) >= sizeof ep.events) {
                fprintf(stderr, "hierbert events: --events: too long\n");
                return 2;
            }
            snprintf(ep.events, sizeof ep.events, "%s", optarg);
            break;
        case EV_OPT_UNTIL:
            if (s_rank(optarg) == -1) {
                fprintf(stderr,
                        "hierbert events: --until %s: a job state (INGEST, QUEUED, TRAIN, EMBED, HEAD, DONE, "
                        "FAILED, CANCELLED)\n",
                        optarg);
                return 2;
            }
            snprintf(until, sizeof until, "%s", optarg);
            break;
        case EV_OPT_FOR: {
            char *end;
            for_s = strtod(optarg, &end);
            if (*end || !(for_s > 0 && for_s <= 864000)) {
                fprintf(stderr, "hierbert events: --for %s: seconds in (0, 864000]\n", optarg);
                return 2;
            }
            break;
        }
        case 'h':
            printf("usage: hierbert events [JOB] [--until STATE] [--for S] [--events EP] [options]\n"
                   "Prints the coordinator's events as they happen, one JSON object per line: a job's state "
                   "changes,\n"
                   "epochs, TRAIN progress and head epochs (its status entry with \"event\"), workers joining "
                   "and lost.\n"
                   "With JOB: that job's events only, after a snapshot of it (\"event\": \"snapshot\"); events "
                   "published\n"
                   "before this connected are not replayed.\n\n"
                   "      --until STATE    with JOB: exit 0 once the job is in STATE or past it (INGEST, QUEUED, "
                   "TRAIN,\n"
                   "                       EMBED, HEAD, DONE; or FAILED, CANCELLED), 1 if it ends otherwise\n"
                   "      --for S          exit 0 after S seconds (default: run until interrupted)\n"
                   "      --events EP      the events endpoint ([endpoints] events; tcp://127.0.0.1:5558)\n"
                   "" CLI_COMMON_HELP "  -h, --help\n");
            return 0;
        default:
            fprintf(stderr, "hierbert events: see --help\n");
            return 2;
        }
    }
    uint64_t job = 0;
    if (optind < argc && cli_parse_job(argv[optind++], &job, err)) {
        fprintf(stderr, "hierbert events: %s\n", err);
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "hierbert events: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (until[0] && !job) {
        fprintf(stderr, "hierbert events: --until needs a JOB\n");
        return 2;
    }
    if (cli_endpoints_finish(&ep, err)) {
        fprintf(stderr, "hierbert events: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_DFL); /* a reader that has seen enough ends us */
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0, rc = 1, r;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    char topic[64] = "";
    if (job) snprintf(topic, sizeof topic, "job.%llu ", (unsigned long long)job);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (zmq_connect(s, ep.events) != 0) {
        fprintf(stderr,
                "hierbert events: bad events endpoint '%s': %s (expected e.g. tcp://host:5558 or ipc:///path)\n",
                ep.events, zmq_strerror(zmq_errno()));
        goto out;
    }
    long long t0 = hb_now_ms(), snap_at = t0 + 100; /* (the subscription reaches the publisher first) */
    int snapped = !job;
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    for (;;) {
        long long now = hb_now_ms(), wait = 1000;
        if (for_s > 0 && now - t0 >= (long long)(for_s * 1000)) {
            rc = 0;
            break;
        }
        if (!snapped) wait = snap_at > now ? snap_at - now : 0;
        if (zmq_poll(&it, 1, wait) < 0) break; /* (interrupted) */
        if (!snapped && hb_now_ms() >= snap_at) {
            char *line = s_snapshot(&ep, job, err);
            if (!line) {
                fprintf(stderr, "hierbert events: %s\n", err);
                goto out;
            }
            snapped = 1;
            if ((r = s_emit(line, until, job)) >= 0) {
                rc = r;
                goto out;
            }
        }
        if (!(it.revents & ZMQ_POLLIN)) continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        const char *d = zmq_msg_data(&msg), *sp = memchr(d, ' ', zmq_msg_size(&msg));
        size_t off = sp ? (size_t)(sp - d) + 1 : 0, n = zmq_msg_size(&msg) - off;
        char *line = hb_malloc(n + 1);
        memcpy(line, d + off, n);
        line[n] = 0;
        zmq_msg_close(&msg);
        if (!snapped) { /* (published before the snapshot: in it) */
            free(line);
            continue;
        }
        if ((r = s_emit(line, until, job)) >= 0) {
            rc = r;
            break;
        }
    }
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}
