/*
 * cli.c - `hierbert`, the user's tool: dispatches to one subcommand per
 * cli_*.c file. The table below is the whole list; `hierbert --help` prints it.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef HB_VERSION
#define HB_VERSION "0.1.0"
#endif

/* Subcommands, each defined in its own coordinator/cli_<name>.c. */
int cli_submit(int argc, char **argv);
int cli_list(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_events(int argc, char **argv);
int cli_cancel(int argc, char **argv);
int cli_keygen(int argc, char **argv);
int cli_dataset(int argc, char **argv);
int cli_store(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_result(int argc, char **argv);
int cli_export(int argc, char **argv);

const cli_command cli_commands[] = {
    {"submit", cli_submit, "submit a fine-tuning job to the coordinator; prints its id"},
    {"list", cli_list, "list the coordinator's jobs"},
    {"status", cli_status, "progress of jobs and workers (--watch: live, --json: for scripts)"},
    {"events", cli_events, "the coordinator's events as they happen, one JSON line each (--until STATE: for scripts)"},
    {"cancel", cli_cancel, "cancel a queued or running job"},
    {"keygen", cli_keygen, "write a CurveZMQ key pair (BASE.key, BASE.pub) for encrypted, allowlisted endpoints"},
    {"dataset", cli_dataset, "inspect a dataset: documents per class, chunk counts, [UNK] rate, label map"},
    {"store", cli_store, "inspect a data directory's store: stats, dump, verify"},
    {"tokenize", cli_tokenize, "print the WordPiece token ids of each line of standard input"},
    {"result", cli_result, "a finished job's result: chunk, document and vote accuracy, per-class table"},
    {"export", cli_export,
     "write a finished job's classifier directory (Hugging Face style) on the coordinator's host"},
    {"predict", cli_predict, "classify documents with an exported model directory (label + class probabilities)"},
    {NULL, NULL, NULL},
};

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert <command> [options]   (hierbert <command> --help for its options)\n\ncommands:\n");
    for (const cli_command *c = cli_commands; c->name; c++) fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\n  --version    print the version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        s_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("hierbert %s\n", HB_VERSION);
        return 0;
    }
    for (const cli_command *c = cli_commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "hierbert: unknown command '%s' (hierbert --help lists them)\n", argv[1]);
    return 2;
}
