/* cli_cancel.c - `hierbert cancel JOB`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"

int cli_cancel(int argc, char **argv) {
    cli_endpoints ep;
    int rc =
        cli_parse_common_only(argc, argv, "cancel",
                              "usage: hierbert cancel JOB [options]\nStops a queued or running job (its state becomes "
                              "CANCELLED; finished jobs are left as they are).\n",
                              &ep);
    if (rc >= 0) return rc;
    char err[HB_ERR_LEN];
    uint64_t id;
    if (optind != argc - 1) {
        fprintf(stderr, "hierbert cancel: give exactly one job id (see --help)\n");
        return 2;
    }
    if (cli_parse_job(argv[optind], &id, err) || cli_endpoints_finish(&ep, err)) {
        fprintf(stderr, "hierbert cancel: %s\n", err);
        return 2;
    }
    proto_msg m, *r = NULL;
    proto_env_init(&m, id);
    Hierbert__Cancel cm = HIERBERT__CANCEL__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_CANCEL;
    m.cancel = &cm;
    if (cli_request(&ep, &m, 0, &r, err)) {
        fprintf(stderr, "hierbert cancel: %s\n", err);
        return 1;
    }
    if (r->body_case != HIERBERT__ENVELOPE__BODY_CANCEL_REPLY) {
        fprintf(stderr, "hierbert cancel: unexpected %s reply\n", proto_type_name(r));
        proto_free(&r);
        return 1;
    }
    printf("job %llu: %s\n", (unsigned long long)id, r->cancel_reply->state);
    proto_free(&r);
    return 0;
}
