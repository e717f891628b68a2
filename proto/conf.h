/*
 * conf.h - hierbert.conf: one INI file for the whole cluster (Redis style:
 * each program declares a table of entries - section, name, type, bounds,
 * default - and loads the file against it; ops/hierbert.conf.example
 * documents every entry).
 *
 * Sections: [endpoints] (read by every program), [coordinator], [worker],
 * [cli]. A program ignores the sections of the others, but an unknown
 * section, an unknown key in a known section, a value that does not parse
 * or is out of bounds is an error naming file:line. Command-line flags are
 * applied after the file with conf_set, so flags override the file.
 *
 * Parsing is libinih's; this file only maps names to typed fields.
 */
#ifndef HB_PROTO_CONF_H
#define HB_PROTO_CONF_H

#include <stddef.h>
#include <stdio.h>

typedef enum { CONF_STR, CONF_INT, CONF_DOUBLE } conf_type;

typedef struct {
    const char *section;
    const char *name;
    conf_type type;
    void *ptr;        /* char[size] for CONF_STR, int* or double* */
    size_t size;      /* CONF_STR buffer size */
    double min, max;  /* bounds for numbers */
    const char *help; /* one line, for --help */
} conf_entry;

/* Loads path (must exist) into the table's fields. 0 ok; -1 with
 * "path:line: reason" in err. */
int conf_load(const conf_entry *table, const char *path, char *err);

/* Sets one entry from text (a flag's value); where names the origin for
 * the message, e.g. "--threads". */
int conf_set(const conf_entry *table, const char *section, const char *name, const char *value, const char *where,
             char *err);

/* The config file to read when none is given: $HIERBERT_CONF, else
 * /etc/hierbert/hierbert.conf if readable, else NULL (built-in defaults). */
const char *conf_default_path(void);

/* A daemon's command line: every flag either sets a config entry (section
 * and name given: applied with conf_set after the file, so flags win) or is
 * the caller's (section NULL: handed to on_flag with its argument, NULL for
 * a flag without one). -c/--config FILE and -h/--help are built in. */
typedef struct {
    const char *flag;           /* long name, e.g. "data-dir" */
    int short_opt;              /* e.g. 'd', or 0 */
    int has_arg;                /* 1: takes a value */
    const char *section, *name; /* the entry it sets, or NULL */
} conf_flag;

typedef int (*conf_flag_fn)(void *ctx, const conf_flag *f, const char *arg, char *err);

/* Reads the config file (--config, else conf_default_path()) into table,
 * then applies the flags (n_flags of them) in order. Returns 0: run the
 * program. Returns 1: the program ends now with exit status *status - 0
 * after --help (usage(stdout) printed) or -V/--version ("prog VERSION
 * (protocol N)" printed), 2 after a bad file, flag or value
 * ("prog: reason" printed on stderr: unknown option, a missing value, a
 * stray argument, the file's path:line). */
/* conf_args without the printing, for a daemon re-reading its config on
 * SIGHUP with its own command line: 0 ok, 1 --help, 2 --version, -1 with
 * err. */
int conf_read(const conf_entry *table, const conf_flag *flags, int n_flags, conf_flag_fn on_flag, void *ctx, int argc,
              char **argv, char *err);

int conf_args(const conf_entry *table, const conf_flag *flags, int n_flags, conf_flag_fn on_flag, void *ctx, int argc,
              char **argv, const char *prog, void (*usage)(FILE *), int *status);

#endif
