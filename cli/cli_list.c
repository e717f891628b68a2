/* cli_list.c - `hierbert list`: the coordinator's jobs, one line each. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"

int cli_list(int argc, char **argv) {
    cli_endpoints ep;
    int rc = cli_parse_common_only(
        argc, argv, "list",
        "usage: hierbert list [options]\nLists the coordinator's jobs: id, state, progress of the "
        "current phase, last loss, submitted, name.\n",
        &ep);
    if (rc >= 0) return rc;
    char err[HB_ERR_LEN];
    if (optind < argc) {
        fprintf(stderr, "hierbert list: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cli_endpoints_finish(&ep, err)) {
        fprintf(stderr, "hierbert list: %s\n", err);
        return 2;
    }
    proto_msg m, *r = NULL;
    proto_env_init(&m, 0);
    Hierbert__List l = HIERBERT__LIST__INIT;
    m.body_case = HIERBERT__ENVELOPE__BODY_LIST;
    m.list = &l;
    if (cli_request(&ep, &m, 0, &r, err)) {
        fprintf(stderr, "hierbert list: %s\n", err);
        return 1;
    }
    if (r->body_case != HIERBERT__ENVELOPE__BODY_LIST_REPLY) {
        fprintf(stderr, "hierbert list: unexpected %s reply\n", proto_type_name(r));
        proto_free(&r);
        return 1;
    }
    printf("%-6s %-10s %8s %10s  %-19s %s\n", "ID", "STATE", "PROGRESS", "LOSS", "SUBMITTED", "NAME");
    for (size_t i = 0; i < r->list_reply->n_jobs; i++) {
        const Hierbert__JobInfo *j = r->list_reply->jobs[i];
        char when[32] = "-";
        time_t t = (time_t)j->submitted;
        struct tm tm;
        if (t > 0 && localtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-6llu %-10s %7.1f%% %10.4f  %-19s %s\n", (unsigned long long)j->job_id, j->state, 100 * j->progress,
               j->loss, when, j->name);
    }
    proto_free(&r);
    return 0;
}
