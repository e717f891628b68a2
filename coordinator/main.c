/*
 * main.c - hierbert-coordinator: owns jobs, data and parameters; serves
 * workers (work), the CLI (control), monitoring (status, events).
 * Reads the config file (--config, $HIERBERT_CONF or
 * /etc/hierbert/hierbert.conf), then flags override it.
 */
#define _GNU_SOURCE /* close_range */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord.h"
#include "hb_log.h"

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
    (void)arg;
    (void)err;
    coord_config *cfg = ctx;
    if (!strcmp(f->flag, "verbose")) cfg->verbose = 1;
    return 0;
}

static const conf_flag s_flags[] = {{"data-dir", 'd', 1, "coordinator", "data_dir"},
                                    {"work", 0, 1, "endpoints", "work"},
                                    {"control", 0, 1, "endpoints", "control"},
                                    {"status", 0, 1, "endpoints", "status"},
                                    {"events", 0, 1, "endpoints", "events"},
                                    {"metrics", 0, 1, "endpoints", "metrics"},
                                    {"expiry-ms", 0, 1, "coordinator", "worker_expiry_ms"},
                                    {"heartbeat-ms", 0, 1, "coordinator", "heartbeat_ms"},
                                    {"checkpoint-every", 0, 1, "coordinator", "checkpoint_every"},
                                    {"checkpoint-min-s", 0, 1, "coordinator", "checkpoint_min_s"},
                                    {"rejoin-wait-s", 0, 1, "coordinator", "rejoin_wait_s"},
                                    {"curve-secret", 0, 1, "coordinator", "curve_secret"},
                                    {"curve-allow", 0, 1, "coordinator", "curve_allow_dir"},
                                    {"log-file", 0, 1, "coordinator", "log_file"},
                                    {"dataset-roots", 0, 1, "coordinator", "dataset_roots"},
                                    {"export-root", 0, 1, "coordinator", "export_root"},
                                    {"verbose", 'v', 0, NULL, NULL}};
#define S_N_FLAGS ((int)(sizeof s_flags / sizeof s_flags[0]))

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert-coordinator [options]\n"
               "Runs hierbert jobs over the workers that connect to it: ingest, TRAIN by rounds of\n"
               "gradient (or parameter) averaging, checkpoints, EMBED into LMDB, HEAD; serves the CLI,\n"
               "a JSON status endpoint, events and optionally HTTP /metrics.\n\n"
               "  -c, --config FILE        config file (default $HIERBERT_CONF, else /etc/hierbert/hierbert.conf)\n"
               "  -d, --data-dir DIR       jobs, checkpoints, store ([coordinator] data_dir; /var/lib/hierbert)\n"
               "      --work EP            bind the work endpoint here (tcp://127.0.0.1:5555)\n"
               "      --control EP         bind the control endpoint here (tcp://127.0.0.1:5556)\n"
               "      --status EP          bind the status endpoint here (tcp://127.0.0.1:5557)\n"
               "      --events EP          bind the events endpoint here (tcp://127.0.0.1:5558)\n"
               "      --metrics HOST:PORT  serve HTTP /metrics (Prometheus text) there (off)\n"
               "      --expiry-ms MS       drop a worker silent this long (5000)\n"
               "      --heartbeat-ms MS    heartbeat period (1000)\n"
               "      --checkpoint-every N rounds between checkpoints (10) ...\n"
               "      --checkpoint-min-s S ... and at least S seconds (30; 0: rounds only); every epoch's\n"
               "                           end checkpoints whatever the count\n"
               "      --rejoin-wait-s S    sharded: a job short of shard owners (one lost) waits up to S s\n"
               "                           for the set to fill again before it goes on with fewer (60):\n"
               "                           with its shard count kept, the run stays a function of its seed\n"
               "      --curve-secret FILE  CurveZMQ on work and control with this .key (hierbert keygen)\n"
               "      --curve-allow DIR    ... letting in only the clients whose .pub is in DIR\n"
               "      --log-file FILE      append the log to FILE instead of stderr (off)\n"
               "      --dataset-roots D1:D2 a Submit reads only beneath these (DATA_DIR/datasets)\n"
               "      --export-root DIR    an Export writes only beneath it (DATA_DIR/exports)\n"
               "  -v, --verbose            log every round\n"
               "  -V, --version            print the version and the protocol version\n\n"
               "SIGHUP reopens the log file and re-reads the config: heartbeat_ms, worker_expiry_ms,\n"
               "tick_ms, checkpoint_every, checkpoint_min_s, rejoin_wait_s, max_jobs, log_file and -v apply\n"
               "at once;\n"
               "the rest (endpoints, data_dir, metrics, CURVE keys, frame limits) is logged as needing\n"
               "a restart.\n"
               "  -h, --help               this text\n");
}

int main(int argc, char **argv) {
    /* a daemon keeps no descriptor it inherited (e.g. a lock file a
     * `flock FILE cmd` parent holds): stdin/out/err only */
    close_range(3, ~0U, 0);
    /* what the daemon writes (job files, exports, labels, vocabularies) is
     * its user's and group's, never world-readable: 0640 files, 0750 dirs */
    umask(027);
    coord_config cfg;
    coord_config_defaults(&cfg);
    conf_entry table[COORD_CONF_ENTRIES];
    coord_config_table(&cfg, table);
    char err[HB_ERR_LEN];
    int status;
    if (conf_args(table, s_flags, S_N_FLAGS, s_on_flag, &cfg, argc, argv, "hierbert-coordinator", s_usage, &status))
        return status;
    if (daemon_log_open(cfg.log_file, err)) {
        fprintf(stderr, "%shierbert-coordinator: %s\n", hb_log_to_journal() ? "<3>" : "", err);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    coord *c = NULL;
    if (coord_new(&c, &cfg, err)) {
        fprintf(stderr, "%shierbert-coordinator: %s\n", hb_log_to_journal() ? "<3>" : "", err);
        return 1;
    }
    daemon_ctl ctl = {&s_stop, &s_hup, argc, argv, s_flags, S_N_FLAGS, s_on_flag};
    int rc = coord_run(c, &ctl, err);
    coord_destroy(&c);
    if (rc) {
        fprintf(stderr, "%shierbert-coordinator: %s\n", hb_log_to_journal() ? "<3>" : "", err);
        return 1;
    }
    return 0;
}
