/* conf.c - hierbert.conf through libinih against a program's entry table. */
#include "conf.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h" /* PROTO_VERSION, for --version */
#include "hb_error.h"

static const char *s_sections[] = {"endpoints", "coordinator", "worker", "cli", NULL};

/* Every key of every section, whichever program reads it: a program skips
 * the keys it does not use, but a key no program knows is a typo. Keep in
 * step with ops/hierbert.conf.example. */
static const char *s_keys[] = {"endpoints.work",
                               "endpoints.control",
                               "endpoints.status",
                               "endpoints.events",
                               "endpoints.metrics",
                               "coordinator.data_dir",
                               "coordinator.heartbeat_ms",
                               "coordinator.worker_expiry_ms",
                               "coordinator.tick_ms",
                               "coordinator.checkpoint_every",
                               "coordinator.checkpoint_min_s",
                               "coordinator.rejoin_wait_s",
                               "coordinator.max_frame_mb",
                               "coordinator.control_max_frame_kb",
                               "coordinator.max_jobs",
                               "coordinator.dataset_roots",
                               "coordinator.export_root",
                               "worker.id",
                               "worker.threads",
                               "worker.heartbeat_ms",
                               "worker.coordinator_timeout_ms",
                               "worker.reconnect_min_ms",
                               "worker.reconnect_max_ms",
                               "worker.max_frame_mb",
                               "cli.timeout_s",
                               NULL};

static int s_known_key(const char *section, const char *name) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s", section, name);
    for (int i = 0; s_keys[i]; i++)
        if (!strcmp(s_keys[i], k)) return 1;
    return 0;
}

static int s_known_section(const char *section) {
    for (int i = 0; s_sections[i]; i++)
        if (!strcmp(s_sections[i], section)) return 1;
    return 0;
}

static const conf_entry *s_find(const conf_entry *table, const char *section, const char *name, int *section_used) {
    *section_used = 0;
    for (const conf_entry *e = table; e->name; e++) {
        if (strcmp(e->section, section)) continue;
        *section_used = 1;
        if (!strcmp(e->name, name)) return e;
    }
    return NULL;
}

static int s_assign(const conf_entry *e, const char *value, const char *where, char *err) {
    if (e->type == CONF_STR) {
        if (strlen(value) >= e->size)
            return hb_fail(err, "%s: %s.%s longer than %zu characters", where, e->section, e->name, e->size - 1);
        snprintf((char *)e->ptr, e->size, "%s", value);
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(v))
        return hb_fail(err, "%s: %s.%s = '%s' is not a number", where, e->section, e->name, value);
    if (v < e->min || v > e->max)
        return hb_fail(err, "%s: %s.%s = %s outside %g..%g", where, e->section, e->name, value, e->min, e->max);
    if (e->type == CONF_INT) {
        if (v != floor(v)) return hb_fail(err, "%s: %s.%s = %s is not an integer", where, e->section, e->name, value);
        *(int *)e->ptr = (int)v;
    } else {
        *(double *)e->ptr = v;
    }
    return 0;
}

/* Debian's libinih is built without INI_HANDLER_LINENO: count the lines
 * ourselves in the stream reader (inih calls the handler right after
 * reading the line it parsed). */
typedef struct {
    const conf_entry *table;
    const char *path;
    char *err;
    int failed;
    FILE *f;
    int line;
} s_ctx;

static char *s_reader(char *str, int num, void *stream) {
    s_ctx *c = stream;
    char *r = fgets(str, num, c->f);
    if (r) c->line++;
    return r;
}

static int s_handler(void *user, const char *section, const char *name, const char *value) {
    s_ctx *c = user;
    char where[HB_ERR_LEN / 2];
    snprintf(where, sizeof where, "%.200s:%d", c->path, c->line);
    if (!s_known_section(section)) {
        hb_fail(c->err, "%s: unknown section [%s] (endpoints, coordinator, worker, cli)", where, section);
        c->failed = 1;
        return 0;
    }
    int used;
    const conf_entry *e = s_find(c->table, section, name, &used);
    (void)used;
    if (!e) {
        if (s_known_key(section, name)) return 1; /* another program's setting */
        hb_fail(c->err, "%s: unknown key '%s' in [%s]", where, name, section);
        c->failed = 1;
        return 0;
    }
    /* "key = value   # comment": inih only knows ';' inline comments */
    char v[1024];
    snprintf(v, sizeof v, "%s", value);
    for (char *h = v; *h; h++)
        if (*h == '#' && (h == v || h[-1] == ' ' || h[-1] == '\t')) {
            *h = 0;
            break;
        }
    for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--) v[n - 1] = 0;
    if (s_assign(e, v, where, c->err)) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

int conf_load(const conf_entry *table, const char *path, char *err) {
    FILE *f = fopen(path, "r");
    if (!f) return hb_fail(err, "%s: cannot open config file: %s", path, strerror(errno));
    s_ctx c = {table, path, err, 0, f, 0};
    int rc = ini_parse_stream(s_reader, &c, s_handler, &c);
    fclose(f);
    if (c.failed) return -1;
    if (rc > 0) return hb_fail(err, "%s:%d: cannot parse this line (expected 'key = value' or [section])", path, rc);
    if (rc < 0) return hb_fail(err, "%s: cannot read config file", path);
    return 0;
}

int conf_set(const conf_entry *table, const char *section, const char *name, const char *value, const char *where,
             char *err) {
    int used;
    const conf_entry *e = s_find(table, section, name, &used);
    if (!e) return hb_fail(err, "%s: no setting %s.%s", where, section, name);
    return s_assign(e, value, where, err);
}

const char *conf_default_path(void) {
    const char *env = getenv("HIERBERT_CONF");
    if (env && *env) return env;
    if (access("/etc/hierbert/hierbert.conf", R_OK) == 0) return "/etc/hierbert/hierbert.conf";
    return NULL;
}

#define CONF_MAX_FLAGS 40

int conf_read(const conf_entry *table, const conf_flag *flags, int n_flags, conf_flag_fn on_flag, void *ctx, int argc,
              char **argv, char *err) {
    if (n_flags > CONF_MAX_FLAGS - 4)
        return hb_fail(err, "conf_args: %d flags, at most %d", n_flags, CONF_MAX_FLAGS - 4);
    /* getopt tables: long options return 256 + index; short letters map back through the flags */
    struct option opts[CONF_MAX_FLAGS];
    char shorts[3 * CONF_MAX_FLAGS + 8] = ":c:hV";
    size_t ns = strlen(shorts);
    int n = 0;
    opts[n++] = (struct option){"config", required_argument, 0, 'c'};
    opts[n++] = (struct option){"help", no_argument, 0, 'h'};
    opts[n++] = (struct option){"version", no_argument, 0, 'V'};
    for (int i = 0; i < n_flags; i++) {
        opts[n++] = (struct option){flags[i].flag, flags[i].has_arg ? required_argument : no_argument, 0, 256 + i};
        if (flags[i].short_opt) {
            shorts[ns++] = (char)flags[i].short_opt;
            if (flags[i].has_arg) shorts[ns++] = ':';
        }
    }
    shorts[ns] = 0;
    opts[n] = (struct option){0, 0, 0, 0};
    /* pass 1: the config file (and --help), so the flags of pass 2 override the file */
    const char *path = conf_default_path();
    int o;
    opterr = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (o == 'h') return 1;
        if (o == 'V') return 2;
        if (o == 'c') path = optarg;
    }
    if (path && conf_load(table, path, err)) return -1;
    optind = 1;
    while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (o == 'c') continue;
        if (o == '?') {
            if (optopt) return hb_fail(err, "unknown option -%c (see --help)", optopt);
            return hb_fail(err, "unknown option %s (see --help)", argv[optind - 1]);
        }
        if (o == ':') return hb_fail(err, "%s needs a value (see --help)", argv[optind - 1]);
        const conf_flag *f = NULL;
        if (o >= 256)
            f = &flags[o - 256];
        else
            for (int i = 0; i < n_flags && !f; i++)
                if (flags[i].short_opt == o) f = &flags[i];
        if (!f) return hb_fail(err, "unknown option -%c (see --help)", o);
        char where[80];
        snprintf(where, sizeof where, "--%s", f->flag);
        int rc = f->section ? conf_set(table, f->section, f->name, optarg, where, err)
                            : on_flag(ctx, f, f->has_arg ? optarg : NULL, err);
        if (rc) return -1;
    }
    if (optind < argc) return hb_fail(err, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

int conf_args(const conf_entry *table, const conf_flag *flags, int n_flags, conf_flag_fn on_flag, void *ctx, int argc,
              char **argv, const char *prog, void (*usage)(FILE *), int *status) {
    char err[HB_ERR_LEN];
    int rc = conf_read(table, flags, n_flags, on_flag, ctx, argc, argv, err);
    if (rc == 0) return 0;
    if (rc == 1) {
        usage(stdout);
        *status = 0;
    } else if (rc == 2) {
        printf("%s %s (protocol %u)\n", prog, HB_VERSION, PROTO_VERSION);
        *status = 0;
    } else {
        fprintf(stderr, "%s: %s\n", prog, err);
        *status = 2;
    }
    return 1;
}
