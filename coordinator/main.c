/*
 * main.c - hierbert-coordinator: owns jobs, data and parameters; serves
 * workers (work), the CLI (control), monitoring (status, events).
 * Reads the config file (--config, $HIERBERT_CONF or
 * /etc/hierbert/hierbert.conf), then flags override it.
 */
#define _GNU_SOURCE /* close_range */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"

static volatile sig_atomic_t s_stop; /* the one thing a signal handler may touch */

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert-coordinator [options]\n"
               "Runs hierbert jobs over the workers that connect to it: ingest, TRAIN by rounds of\n"
               "parameter averaging, checkpoints; serves the CLI and a JSON status endpoint.\n\n"
               "  -c, --config FILE        config file (default $HIERBERT_CONF, else /etc/hierbert/hierbert.conf)\n"
               "  -d, --data-dir DIR       jobs, checkpoints, store ([coordinator] data_dir; /var/lib/hierbert)\n"
               "      --work EP            bind the work endpoint here (tcp://127.0.0.1:5555)\n"
               "      --control EP         bind the control endpoint here (tcp://127.0.0.1:5556)\n"
               "      --status EP          bind the status endpoint here (tcp://127.0.0.1:5557)\n"
               "      --events EP          bind the events endpoint here (tcp://127.0.0.1:5558)\n"
               "      --expiry-ms MS       drop a worker silent this long (5000)\n"
               "      --heartbeat-ms MS    heartbeat period (1000)\n"
               "      --checkpoint-every N rounds between checkpoints (10)\n"
               "      --curve-secret FILE  CurveZMQ on work and control with this .key (hierbert keygen)\n"
               "      --curve-allow DIR    ... letting in only the clients whose .pub is in DIR\n"
               "  -v, --verbose            log every round\n"
               "  -h, --help               this text\n");
}

int main(int argc, char **argv) {
    /* a daemon keeps no descriptor it inherited (e.g. a lock file a
     * `flock FILE cmd` parent holds): stdin/out/err only */
    close_range(3, ~0U, 0);
    coord_config cfg;
    coord_config_defaults(&cfg);
    conf_entry table[COORD_CONF_ENTRIES];
    coord_config_table(&cfg, table);
    char err[HB_ERR_LEN];
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"data-dir", required_argument, 0, 'd'},
                                         {"work", required_argument, 0, 1},
                                         {"control", required_argument, 0, 2},
                                         {"status", required_argument, 0, 3},
                                         {"events", required_argument, 0, 4},
                                         {"expiry-ms", required_argument, 0, 5},
                                         {"heartbeat-ms", required_argument, 0, 6},
                                         {"checkpoint-every", required_argument, 0, 7},
                                         {"curve-secret", required_argument, 0, 8},
                                         {"curve-allow", required_argument, 0, 9},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *path = conf_default_path();
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "c:d:vh", opts, NULL)) != -1)
        if (o == 'c') path = optarg;
    if (path && conf_load(table, path, err)) {
        fprintf(stderr, "hierbert-coordinator: %s\n", err);
        return 2;
    }
    optind = 1;
    opterr = 1;
    while ((o = getopt_long(argc, argv, "c:d:vh", opts, NULL)) != -1) {
        int rc = 0;
        switch (o) {
        case 'c':
            break;
        case 'd':
            rc = conf_set(table, "coordinator", "data_dir", optarg, "--data-dir", err);
            break;
        case 1:
            rc = conf_set(table, "endpoints", "work", optarg, "--work", err);
            break;
        case 2:
            rc = conf_set(table, "endpoints", "control", optarg, "--control", err);
            break;
        case 3:
            rc = conf_set(table, "endpoints", "status", optarg, "--status", err);
            break;
        case 4:
            rc = conf_set(table, "endpoints", "events", optarg, "--events", err);
            break;
        case 5:
            rc = conf_set(table, "coordinator", "worker_expiry_ms", optarg, "--expiry-ms", err);
            break;
        case 6:
            rc = conf_set(table, "coordinator", "heartbeat_ms", optarg, "--heartbeat-ms", err);
            break;
        case 7:
            rc = conf_set(table, "coordinator", "checkpoint_every", optarg, "--checkpoint-every", err);
            break;
        case 8:
            rc = conf_set(table, "coordinator", "curve_secret", optarg, "--curve-secret", err);
            break;
        case 9:
            rc = conf_set(table, "coordinator", "curve_allow_dir", optarg, "--curve-allow", err);
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
            fprintf(stderr, "hierbert-coordinator: %s\n", err);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hierbert-coordinator: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    coord *c = NULL;
    if (coord_new(&c, &cfg, err)) {
        fprintf(stderr, "hierbert-coordinator: %s\n", err);
        return 1;
    }
    int rc = coord_run(c, &s_stop, err);
    coord_destroy(&c);
    if (rc) {
        fprintf(stderr, "hierbert-coordinator: %s\n", err);
        return 1;
    }
    return 0;
}
