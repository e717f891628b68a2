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

#endif
