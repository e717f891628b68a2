/* cli_keygen.c - `hierbert keygen BASE`: a CurveZMQ key pair for the
 * coordinator, a worker or a CLI user (BASE.key, mode 0600; BASE.pub). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "curve.h"
#include "hb_error.h"

int cli_keygen(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: hierbert keygen BASE\n"
               "Writes a CurveZMQ key pair: BASE.key (public and secret, mode 0600) and BASE.pub.\n"
               "The coordinator uses its .key (curve_secret) and lets in the clients whose .pub files are\n"
               "in its curve_allow_dir; workers and CLI users give the coordinator's .pub\n"
               "(curve_server_public) and their own .key (curve_key). Existing files are never overwritten.\n");
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "hierbert keygen: give one BASE path (see --help)\n");
        return 2;
    }
    char err[HB_ERR_LEN];
    if (curve_keygen(argv[1], err)) {
        fprintf(stderr, "hierbert keygen: %s\n", err);
        return 1;
    }
    printf("%s.key %s.pub\n", argv[1], argv[1]);
    return 0;
}
