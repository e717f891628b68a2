/*
 * main.c - hierbert-worker: computes for a hierbert coordinator.
 * Reads the config file (--config, $HIERBERT_CONF or /etc/hierbert/hierbert.conf),
 * then flags override it; runs until SIGINT/SIGTERM.
 */
#define _GNU_SOURCE /* close_range */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hb_error.h"
#include "worker.h"

static volatile sig_atomic_t s_stop; /* the one thing a signal handler may touch */

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

/* the flags that set no config entry (conf_args) */
static int s_on_flag(void *ctx, const conf_flag *f, const char *arg, char *err) {
    worker_config *cfg = ctx;
    if (!strcmp(f->flag, "verbose")) {
        cfg->verbose = 1;
    } else if (!strcmp(f->flag, "x-protocol-version")) {
        char *end;
        unsigned long v = strtoul(arg, &end, 10);
        if (*arg == 0 || *end || v > 0xffffffffu)
            return hb_fail(err, "--x-protocol-version: '%s' is not a version", arg);
        cfg->proto_version = (unsigned)v;
    }
    return 0;
}

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert-worker [options]\n"
               "Connects to a hierbert coordinator's work endpoint and computes what it assigns:\n"
               "training steps on its shard of a job (OpenMP), with heartbeats while it computes;\n"
               "reconnects with back-off when the coordinator goes away.\n\n"
               "  -c, --config FILE          config file (default $HIERBERT_CONF, else /etc/hierbert/hierbert.conf)\n"
               "  -w, --work ENDPOINT        coordinator's work endpoint ([endpoints] work; tcp://127.0.0.1:5555)\n"
               "  -i, --id NAME              worker name (default host:pid)\n"
               "  -t, --threads N            OpenMP threads (default: all CPUs)\n"
               "      --heartbeat-ms MS      heartbeat period (1000)\n"
               "      --timeout-ms MS        coordinator silence before reconnecting (5000)\n"
               "      --reconnect-max-ms MS  back-off cap (8000)\n"
               "      --curve-server-public FILE  CurveZMQ: the coordinator's .pub (hierbert keygen)\n"
               "      --curve-key FILE       ... and this worker's own .key\n"
               "      --peer ENDPOINT        where other workers push gradient/parameter shards (sharded\n"
               "                             reduction; default: beside the work endpoint - ipc: a socket\n"
               "                             file, tcp: an ephemeral port; 'none': off)\n"
               "  -v, --verbose              more logging\n"
               "  -h, --help                 this text\n");
}

int main(int argc, char **argv) {
    /* a daemon keeps no descriptor it inherited (e.g. a lock file a
     * `flock FILE cmd` parent holds): stdin/out/err only */
    close_range(3, ~0U, 0);
    worker_config cfg;
    worker_config_defaults(&cfg);
    conf_entry table[WORKER_CONF_ENTRIES];
    worker_config_table(&cfg, table);
    char err[HB_ERR_LEN];
    static const conf_flag flags[] = {{"work", 'w', 1, "endpoints", "work"},
                                      {"id", 'i', 1, "worker", "id"},
                                      {"threads", 't', 1, "worker", "threads"},
                                      {"heartbeat-ms", 0, 1, "worker", "heartbeat_ms"},
                                      {"timeout-ms", 0, 1, "worker", "coordinator_timeout_ms"},
                                      {"reconnect-max-ms", 0, 1, "worker", "reconnect_max_ms"},
                                      {"x-protocol-version", 0, 1, NULL, NULL}, /* testing: speak another version */
                                      {"curve-server-public", 0, 1, "endpoints", "curve_server_public"},
                                      {"curve-key", 0, 1, "worker", "curve_key"},
                                      {"peer", 0, 1, "worker", "peer"},
                                      {"verbose", 'v', 0, NULL, NULL}};
    int status;
    if (conf_args(table, flags, (int)(sizeof flags / sizeof flags[0]), s_on_flag, &cfg, argc, argv, "hierbert-worker",
                  s_usage, &status))
        return status;
    if (cfg.reconnect_min_ms > cfg.reconnect_max_ms) {
        fprintf(stderr, "hierbert-worker: reconnect_min_ms %d above reconnect_max_ms %d\n", cfg.reconnect_min_ms,
                cfg.reconnect_max_ms);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (worker_run(&cfg, &s_stop, err)) {
        fprintf(stderr, "hierbert-worker: %s\n", err);
        return 1;
    }
    return 0;
}
