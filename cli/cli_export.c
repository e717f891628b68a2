/* cli_export.c - `hierbert export JOB DIR`: the coordinator writes the job's
 * classifier directory (model/clfdir.h) to DIR on ITS host (the CLI sends
 * the absolute path; nothing is streamed back). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"

int cli_export(int argc, char **argv) {
    cli_endpoints ep;
    int rc = cli_parse_common_only(
        argc, argv, "export",
        "usage: hierbert export JOB DIR [options]\n"
        "Writes a DONE job's document classifier as a Hugging Face style directory: config.json,\n"
        "vocab.txt, model.safetensors (BertModel names + the chunk classifier), head.safetensors (the\n"
        "LSTM head), labels.json. The COORDINATOR writes DIR, on its own host (a relative DIR is made\n"
        "absolute here): run it where the coordinator runs, or give a shared path. DIR is replaced only\n"
        "if it is empty or an earlier export. Run it with `hierbert predict --model DIR "
        "FILE...`.\n",
        &ep);
    if (rc >= 0) return rc;
    char err[HB_ERR_LEN];
    uint64_t id;
    if (optind != argc - 2) {
        fprintf(stderr, "hierbert export: give a job id and a directory (see --help)\n");
        return 2;
    }
    if (cli_parse_job(argv[optind], &id, err) || cli_endpoints_finish(&ep, err)) {
        fprintf(stderr, "hierbert export: %s\n", err);
        return 2;
    }
    char dir[PATH_MAX + 2];
    const char *arg = argv[optind + 1];
    if (arg[0] == '/') {
        snprintf(dir, sizeof dir, "%s", arg);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) || strlen(cwd) + strlen(arg) + 2 > sizeof dir) {
            fprintf(stderr, "hierbert export: %s: path too long\n", arg);
            return 2;
        }
        size_t n = strlen(cwd);
        memcpy(dir, cwd, n);
        dir[n] = '/';
        memcpy(dir + n + 1, arg, strlen(arg) + 1);
    }
    proto_msg m, *r = NULL;
    proto_env_init(&m, id);
    Hierbert__Export ex = HIERBERT__EXPORT__INIT;
    ex.dir = dir;
    m.body_case = HIERBERT__ENVELOPE__BODY_EXPORT;
    m.export = &ex;
    if (cli_request(&ep, &m, ep.timeout_ms > 60000 ? ep.timeout_ms : 60000, &r, err)) {
        fprintf(stderr, "hierbert export: %s\n", err);
        return 1;
    }
    if (r->body_case != HIERBERT__ENVELOPE__BODY_EXPORT_REPLY) {
        fprintf(stderr, "hierbert export: unexpected %s reply\n", proto_type_name(r));
        proto_free(&r);
        return 1;
    }
    printf("%s\n", r->export_reply->dir);
    proto_free(&r);
    return 0;
}
