/* cli_client.c - endpoints and one deadline-bounded request for the CLI. */
#include "cli_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "conf.h"
#include "curve.h"
#include "hb_error.h"

static int s_set_flag(char *dst, size_t n, const char *v, const char *what, char *err) {
    if (strlen(v) >= n) return hb_fail(err, "%s: too long", what);
    snprintf(dst, n, "%s", v);
    return 0;
}

int cli_common_opt(cli_endpoints *e, int o, const char *arg, char *err) {
    switch (o) {
    case CLI_OPT_CONTROL:
        return s_set_flag(e->control, sizeof e->control, arg, "--control", err) ? -1 : 1;
    case CLI_OPT_CONFIG:
        return s_set_flag(e->config, sizeof e->config, arg, "--config", err) ? -1 : 1;
    case CLI_OPT_CURVE_PUB:
        return s_set_flag(e->curve_server_public, sizeof e->curve_server_public, arg, "--curve-server-public", err) ? -1
                                                                                                                    : 1;
    case CLI_OPT_CURVE_KEY:
        return s_set_flag(e->curve_key, sizeof e->curve_key, arg, "--curve-key", err) ? -1 : 1;
    case CLI_OPT_TIMEOUT: {
        char *end;
        double s = strtod(arg, &end);
        if (*end || !(s > 0 && s <= 86400)) return hb_fail(err, "--timeout %s: seconds in (0, 86400]", arg);
        e->timeout_ms = (int)(s * 1000);
        return 1;
    }
    default:
        return 0;
    }
}

int cli_endpoints_finish(cli_endpoints *e, char *err) {
    char control[256] = "tcp://127.0.0.1:5556", status[256] = "tcp://127.0.0.1:5557",
         events[256] = "tcp://127.0.0.1:5558";
    double timeout_s = 5;
    char cpub[1024] = "", ckey[1024] = "";
    conf_entry t[] = {
        {"endpoints", "curve_server_public", CONF_STR, cpub, sizeof cpub, 0, 0, "coordinator's .pub"},
        {"cli", "curve_key", CONF_STR, ckey, sizeof ckey, 0, 0, "our .key"},
        {"endpoints", "control", CONF_STR, control, sizeof control, 0, 0, "control endpoint"},
        {"endpoints", "status", CONF_STR, status, sizeof status, 0, 0, "status endpoint"},
        {"endpoints", "events", CONF_STR, events, sizeof events, 0, 0, "events endpoint"},
        {"cli", "timeout_s", CONF_DOUBLE, &timeout_s, 0, 0.1, 86400, "seconds to wait"},
        {NULL, NULL, 0, NULL, 0, 0, 0, NULL},
    };
    const char *path = e->config[0] ? e->config : conf_default_path();
    if (path && conf_load(t, path, err)) return -1;
    if (!e->control[0]) snprintf(e->control, sizeof e->control, "%s", control);
    if (!e->status[0]) snprintf(e->status, sizeof e->status, "%s", status);
    if (!e->events[0]) snprintf(e->events, sizeof e->events, "%s", events);
    if (!e->timeout_ms) e->timeout_ms = (int)(timeout_s * 1000);
    if (!e->curve_server_public[0]) snprintf(e->curve_server_public, sizeof e->curve_server_public, "%s", cpub);
    if (!e->curve_key[0]) snprintf(e->curve_key, sizeof e->curve_key, "%s", ckey);
    return 0;
}

int cli_request(const cli_endpoints *e, const proto_msg *req, int timeout_ms, proto_msg **reply, char *err) {
    *reply = NULL;
    if (timeout_ms <= 0) timeout_ms = e->timeout_ms;
    int connect_ms = e->timeout_ms; /* reaching the coordinator: the short deadline */
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, immediate = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &connect_ms, sizeof connect_ms);
    int rc = -1;
    if (e->curve_server_public[0] && curve_client_setup(s, e->curve_server_public, e->curve_key, err)) goto out;
    if (zmq_connect(s, e->control) != 0) {
        hb_fail(err, "bad control endpoint '%s': %s (expected e.g. tcp://host:5556 or ipc:///path)", e->control,
                zmq_strerror(zmq_errno()));
        goto out;
    }
    char serr[HB_ERR_LEN];
    if (proto_send(s, NULL, 0, req, 0, serr)) {
        hb_fail(err,
                "cannot reach the coordinator at %s (not connected after %.1f s): is hierbert-coordinator "
                "running there%s? (--control, or [endpoints] control in the config)",
                e->control, connect_ms / 1000.0,
                e->curve_server_public[0] ? " and is your CurveZMQ key in its allow directory" : "");
        goto out;
    }
    /* the connection dropping before the answer - the coordinator stopped
     * or restarted (a submit's ingest takes a while) - is said at once, not
     * after the timeout: a reply can no longer come on it */
    void *mon = NULL;
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://hierbert-cli-monitor-%p", s);
    if (zmq_socket_monitor(s, mon_ep, ZMQ_EVENT_DISCONNECTED) == 0) {
        mon = zmq_socket(ctx, ZMQ_PAIR);
        zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(mon, mon_ep) != 0) {
            zmq_close(mon);
            mon = NULL;
        }
    }
    zmq_pollitem_t it[2] = {{s, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
    int n;
    do n = zmq_poll(it, mon ? 2 : 1, timeout_ms);
    while (n < 0 && zmq_errno() == EINTR);
    if (n > 0 && !(it[0].revents & ZMQ_POLLIN)) { /* (the monitor: DISCONNECTED is all it reports) */
        hb_fail(err,
                "the coordinator at %s closed the connection before answering (stopped or restarted?): "
                "`hierbert list` shows whether the request was taken",
                e->control);
        zmq_close(mon);
        goto out;
    }
    if (mon) zmq_close(mon);
    if (n <= 0) {
        hb_fail(err,
                "no answer from the coordinator at %s within %.1f s: is hierbert-coordinator running there? "
                "(--control, --timeout)",
                e->control, timeout_ms / 1000.0);
        goto out;
    }
    zmq_msg_t f;
    zmq_msg_init(&f);
    zmq_msg_recv(&f, s, 0);
    proto_msg *m = NULL;
    int code = 0;
    if (proto_decode(zmq_msg_data(&f), zmq_msg_size(&f), NULL, &m, &code, serr)) {
        zmq_msg_close(&f);
        hb_fail(err, "unreadable reply from %s: %s", e->control, serr);
        goto out;
    }
    zmq_msg_close(&f);
    if (m->body_case == HIERBERT__ENVELOPE__BODY_ERROR) {
        hb_fail(err, "%s", m->error->message);
        proto_free(&m);
        goto out;
    }
    *reply = m;
    rc = 0;
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}

int cli_parse_job(const char *s, uint64_t *id, char *err) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0) return hb_fail(err, "'%s' is not a job id (a positive number)", s);
    *id = v;
    return 0;
}

int cli_parse_common_only(int argc, char **argv, const char *name, const char *usage, cli_endpoints *e) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    memset(e, 0, sizeof *e);
    char err[HB_ERR_LEN];
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int c = cli_common_opt(e, o, optarg, err);
        if (c < 0) {
            fprintf(stderr, "hierbert %s: %s\n", name, err);
            return 2;
        }
        if (c) continue;
        if (o == 'h') {
            printf("%s\n" CLI_COMMON_HELP "  -h, --help\n", usage);
            return 0;
        }
        fprintf(stderr, "hierbert %s: see --help\n", name);
        return 2;
    }
    return -1;
}
