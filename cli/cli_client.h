/*
 * cli_client.h - what every job subcommand of `hierbert` shares: where the
 * coordinator is (flags, else the config file's [endpoints], else defaults)
 * and one request/reply on its control endpoint with a deadline, so the CLI
 * never hangs on a coordinator that is not there.
 */
#ifndef HB_CLI_CLIENT_H
#define HB_CLI_CLIENT_H

#include <getopt.h>

#include "frame.h"

typedef struct {
    char control[256];
    char status[256];
    char events[256]; /* the PUB endpoint (hierbert events) */
    int timeout_ms;
    char config[1024];                               /* "" : conf_default_path() */
    char curve_server_public[1024], curve_key[1024]; /* CurveZMQ (both or none) */
} cli_endpoints;

/* long options every job subcommand takes; values handled by cli_common_opt */
#define CLI_OPT_CONTROL 1000
#define CLI_OPT_CONFIG 1001
#define CLI_OPT_TIMEOUT 1002
#define CLI_OPT_CURVE_PUB 1003
#define CLI_OPT_CURVE_KEY 1004
/* clang-format off */
#define CLI_COMMON_LONGOPTS \
    {"control", required_argument, 0, CLI_OPT_CONTROL}, \
    {"config", required_argument, 0, CLI_OPT_CONFIG}, \
    {"timeout", required_argument, 0, CLI_OPT_TIMEOUT}, \
    {"curve-server-public", required_argument, 0, CLI_OPT_CURVE_PUB}, \
    {"curve-key", required_argument, 0, CLI_OPT_CURVE_KEY}
/* clang-format on */
#define CLI_COMMON_HELP                                                                                                \
    "      --control EP     coordinator's control endpoint ([endpoints] control; tcp://127.0.0.1:5556)\n"              \
    "      --config FILE    config file (default $HIERBERT_CONF, else /etc/hierbert/hierbert.conf)\n"                  \
    "      --timeout S      seconds to wait for the coordinator (5)\n"                                                 \
    "      --curve-server-public FILE, --curve-key FILE   CurveZMQ keys ([endpoints] curve_server_public, [cli] "      \
    "curve_key)\n"

/* Records a common option (o is the getopt code); 1 if it was one, 0 if
 * not, -1 on a bad value (err set). */
int cli_common_opt(cli_endpoints *e, int o, const char *arg, char *err);

/* Parses the options of a subcommand that takes only --help and the common
 * options (list, cancel, export): fills *e and leaves optind at the first
 * operand. `usage` is printed for --help, followed by CLI_COMMON_HELP.
 * Returns -1 to go on, else the exit code to return (0 after --help, 2 on a
 * bad option, with its one-line reason on stderr). */
int cli_parse_common_only(int argc, char **argv, const char *name, const char *usage, cli_endpoints *e);
/* Applies the config file under the flags: call after option parsing. */
int cli_endpoints_finish(cli_endpoints *e, char *err);

/* Sends req to the control endpoint (connecting within e->timeout_ms), then
 * waits up to timeout_ms (if > 0, else e->timeout_ms) for the reply. An Error reply becomes -1 with its text
 * in err; so does no answer ("cannot reach the coordinator at ..."). */
int cli_request(const cli_endpoints *e, const proto_msg *req, int timeout_ms, proto_msg **reply, char *err);

/* Parses a job id argument ("12"); -1 with err on anything else. */
int cli_parse_job(const char *s, uint64_t *id, char *err);

#endif
