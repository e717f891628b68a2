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
#include "hb_log.h"
#include "worker.h"

/* the only things a signal handler may touch */
static volatile sig_atomic_t s_stop, s_hup;

static void s_on_signal(int sig) {
    if (sig == SIGHUP)
        s_hup = 1;
    else
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

static const conf_flag s_flags[] = {{"work", 'w', 1, "endpoints", "work"},
                                    {"id", 'i', 1, "worker", "id"},
                                    {"threads", 't', 1, "worker", "threads"},
                                    {"heartbeat-ms", 0, 1, "worker", "heartbeat_ms"},
                                    {"timeout-ms", 0, 1, "worker", "coordinator_timeout_ms"},
                                    {"reconnect-max-ms", 0, 1, "worker", "reconnect_max_ms"},
                                    {"x-protocol-version", 0, 1, NULL, NULL}, /* testing: speak another version */
                                    {"curve-server-public", 0, 1, "endpoints", "curve_server_public"},
                                    {"curve-key", 0, 1, "worker", "curve_key"},
                                    {"peer", 0, 1, "worker", "peer"},
                                    {"log-file", 0, 1, "worker", "log_file"},
                                    {"verbose", 'v', 0, NULL, NULL}};
#define S_N_FLAGS ((int)(sizeof s_flags / sizeof s_flags[0]))

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert-worker [options]\n"
               "Connects to a hierbert coordinator's work endpoint and computes what it assigns:\n"
               "training steps on its shard of a job (OpenMP), with heartbeats while it computes;\n"
               "reconnects with back-off when the coordinator goes away.\n\n"
               "  -c, --config FILE          config file (default $HIERBERT_CONF, else /etc/hierbert/hierbert.conf)\n"
               "  -w, --work ENDPOINT        coordinator's work endpoint ([endpoints] work; tcp://127.0.0.1:5555)\n"
               "  -i, --id NAME              worker name: printable ASCII, no quote or backslash (default host:pid)\n"
               "  -t, --threads N            OpenMP threads (default: all CPUs)\n"
               "      --heartbeat-ms MS      heartbeat period (1000)\n"
               "      --timeout-ms MS        coordinator silence before reconnecting (5000)\n"
               "      --reconnect-max-ms MS  back-off cap (8000)\n"
               "      --curve-server-public FILE  CurveZMQ: the coordinator's .pub (hierbert keygen)\n"
               "      --curve-key FILE       ... and this worker's own .key\n"
               "      --peer ENDPOINT        where other workers push gradient/parameter shards (sharded\n"
               "                             reduction; default: beside the work endpoint - ipc: a socket\n"
               "                             file, tcp: an ephemeral port; 'none': off)\n"
               "      --log-file FILE        append the log to FILE instead of stderr (off)\n"
               "  -v, --verbose              more logging\n"
               "  -V, --version              print the version and the protocol version\n\n"
               "SIGHUP reopens the log file and re-reads the config: heartbeat_ms, coordinator_timeout_ms,\n"
               "reconnect_min_ms, reconnect_max_ms, log_file and -v apply at once; the rest (endpoints,\n"
               "id, threads, CURVE keys, peer, frame limit) is logged as needing a restart.\n"
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
    int status;
    if (conf_args(table, s_flags, S_N_FLAGS, s_on_flag, &cfg, argc, argv, "hierbert-worker", s_usage, &status))
        return status;
    if (daemon_log_open(cfg.log_file, err)) {
        fprintf(stderr, "%shierbert-worker: %s\n", hb_log_to_journal() ? "<3>" : "", err);
        return 1;
    }
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
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    daemon_ctl ctl = {&s_stop, &s_hup, argc, argv, s_flags, S_N_FLAGS, s_on_flag};
    if (worker_run(&cfg, &ctl, err)) {
        fprintf(stderr, "%shierbert-worker: %s\n", hb_log_to_journal() ? "<3>" : "", err);
        return 1;
    }
    return 0;
}
