/*
 * fuzz_conf.c - hierbert.conf (libinih through conf_load) against the
 * coordinator's real table of entries (coord_config_table): a file either
 * loads, every string entry NUL-terminated within its buffer, or is refused
 * with "path:line: reason".
 */
#include "coord.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("hierbert.conf", data, size);
    coord_config cfg;
    coord_config_defaults(&cfg);
    conf_entry table[COORD_CONF_ENTRIES];
    coord_config_table(&cfg, table);
    char err[HB_ERR_LEN] = "";
    if (conf_load(table, path, err)) {
        if (!strstr(err, path)) abort();
        return 0;
    }
    for (const conf_entry *e = table; e->name; e++)
        if (e->type == CONF_STR && strnlen(e->ptr, e->size) >= e->size) abort();
    return 0;
}
