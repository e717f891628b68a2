/*
 * main.c - hierbert-worker: computes for a hierbert coordinator.
 * Reads the config file (--config, $HIERBERT_CONF or /etc/hierbert/hierbert.conf),
 * then flags override it; runs until SIGINT/SIGTERM.
 */
#define _GNU_SOURCE /* close_range */
#include <getopt.h>
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
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"work", required_argument, 0, 'w'},
                                         {"id", required_argument, 0, 'i'},
                                         {"threads", required_argument, 0, 't'},
                                         {"heartbeat-ms", required_argument, 0, 1},
                                         {"timeout-ms", required_argument, 0, 2},
                                         {"reconnect-max-ms", required_argument, 0, 3},
                                         {"x-protocol-version", required_argument, 0, 4},
                                         {"curve-server-public", required_argument, 0, 5},
                                         {"curve-key", required_argument, 0, 6},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    /* pass 1: the config file, so flags (pass 2) override it */
    const char *path = conf_default_path();
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "c:w:i:t:vh", opts, NULL)) != -1)
        if (o == 'c') path = optarg;
    if (path && conf_load(table, path, err)) {
        fprintf(stderr, "hierbert-worker: %s\n", err);
        return 2;
    }
    optind = 1;
    opterr = 1;
    while ((o = getopt_long(argc, argv, "c:w:i:t:vh", opts, NULL)) != -1) {
        int rc = 0;
        switch (o) {
        case 'c':
            break;
        case 'w':
            rc = conf_set(table, "endpoints", "work", optarg, "--work", err);
            break;
        case 'i':
            rc = conf_set(table, "worker", "id", optarg, "--id", err);
            break;
        case 't':
            rc = conf_set(table, "worker", "threads", optarg, "--threads", err);
            break;
        case 1:
            rc = conf_set(table, "worker", "heartbeat_ms", optarg, "--heartbeat-ms", err);
            break;
        case 2:
            rc = conf_set(table, "worker", "coordinator_timeout_ms", optarg, "--timeout-ms", err);
            break;
        case 3:
            rc = conf_set(table, "worker", "reconnect_max_ms", optarg, "--reconnect-max-ms", err);
            break;
        case 4:
            cfg.proto_version = (unsigned)atoi(optarg);
            break; /* testing: speak another version */
        case 5:
            rc = conf_set(table, "endpoints", "curve_server_public", optarg, "--curve-server-public", err);
            break;
        case 6:
            rc = conf_set(table, "worker", "curve_key", optarg, "--curve-key", err);
            break;
        case 'v':
            cfg.verbose = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
        if (rc) {
            fprintf(stderr, "hierbert-worker: %s\n", err);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hierbert-worker: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
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
    signal(SIGPIPE, SIG_IGN);
    if (worker_run(&cfg, &s_stop, err)) {
        fprintf(stderr, "hierbert-worker: %s\n", err);
        return 1;
    }
    return 0;
}
