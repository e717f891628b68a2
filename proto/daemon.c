/* daemon.c - watchdog, log file and live config re-read for both daemons
 * (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "hb_error.h"
#include "hb_log.h"

void daemon_watchdog_init(daemon_watchdog *w) {
    uint64_t usec = 0;
    w->period_ms = sd_watchdog_enabled(0, &usec) > 0 ? (long long)(usec / 1000) : 0;
    w->last_ms = 0;
}

void daemon_watchdog_ping(daemon_watchdog *w) {
    if (w->period_ms <= 0) return;
    long long now = hb_now_ms();
    if (w->last_ms && now - w->last_ms < w->period_ms / 4) return;
    w->last_ms = now;
    sd_notify(0, "WATCHDOG=1");
}

int daemon_log_open(const char *path, char *err) {
    if (!path || !path[0]) return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return hb_fail(err, "log file %s: %s", path, strerror(errno));
    fflush(stderr);
    int rc = dup2(fd, STDERR_FILENO) < 0 ? hb_fail(err, "log file %s: dup2: %s", path, strerror(errno)) : 0;
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------ */

static int s_same(const conf_entry *a, const conf_entry *b) {
    switch (a->type) {
    case CONF_STR:
        return strcmp(a->ptr, b->ptr) == 0;
    case CONF_INT:
        return *(const int *)a->ptr == *(const int *)b->ptr;
    case CONF_DOUBLE:
        return *(const double *)a->ptr == *(const double *)b->ptr;
    }
    return 1;
}

static void s_format(const conf_entry *e, char *out, size_t n) {
    switch (e->type) {
    case CONF_STR:
        snprintf(out, n, "%s", (const char *)e->ptr);
        break;
    case CONF_INT:
        snprintf(out, n, "%d", *(const int *)e->ptr);
        break;
    case CONF_DOUBLE:
        snprintf(out, n, "%g", *(const double *)e->ptr);
        break;
    }
}

static void s_append(char *list, size_t n, const char *item) {
    size_t l = strlen(list);
    if (l + 1 < n) snprintf(list + l, n - l, "%s%s", l ? ", " : "", item);
}

static int s_is_live(const conf_entry *e, const char *const *live) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", e->section, e->name);
    for (; *live; live++)
        if (!strcmp(*live, key)) return 1;
    return 0;
}

static int s_apply_live(const conf_entry *cur, const conf_entry *next, const char *const *live, char *applied,
                        size_t applied_len, char *restart, size_t restart_len) {
    int n = 0;
    applied[0] = restart[0] = 0;
    for (int i = 0; cur[i].name; i++) {
        if (s_same(&cur[i], &next[i])) continue;
        if (!s_is_live(&cur[i], live)) {
            s_append(restart, restart_len, cur[i].name);
            continue;
        }
        if (cur[i].type == CONF_STR)
            snprintf(cur[i].ptr, cur[i].size, "%s", (const char *)next[i].ptr);
        else if (cur[i].type == CONF_INT)
            *(int *)cur[i].ptr = *(const int *)next[i].ptr;
        else
            *(double *)cur[i].ptr = *(const double *)next[i].ptr;
        char item[400], val[300];
        s_format(&cur[i], val, sizeof val);
        snprintf(item, sizeof item, "%s=%s", cur[i].name, val);
        s_append(applied, applied_len, item);
        n++;
    }
    return n;
}

static const char *s_log_file(const conf_entry *t) {
    for (int i = 0; t[i].name; i++)
        if (!strcmp(t[i].name, "log_file") && t[i].type == CONF_STR) return t[i].ptr;
    return "";
}

int daemon_on_hup(const daemon_ctl *ctl, const char *who, const conf_entry *cur_t, const conf_entry *next_t,
                  void *next_cfg, const char *const *live) {
    char err[HB_ERR_LEN], err2[HB_ERR_LEN];
    if (conf_read(next_t, ctl->flags, ctl->n_flags, ctl->on_flag, next_cfg, ctl->argc, ctl->argv, err)) {
        if (daemon_log_open(s_log_file(cur_t), err2)) hb_log(who, "error", "SIGHUP: %s", err2);
        hb_log(who, "warn", "SIGHUP: log reopened; config not re-read (%s): the running one stays", err);
        return -1;
    }
    char applied[1024], restart[512];
    s_apply_live(cur_t, next_t, live, applied, sizeof applied, restart, sizeof restart);
    if (daemon_log_open(s_log_file(cur_t), err)) hb_log(who, "error", "SIGHUP: %s", err);
    hb_log(who, "info", "SIGHUP: log reopened, config re-read; applied: %s%s%s", applied[0] ? applied : "nothing",
           restart[0] ? "; changed but needing a restart (ignored): " : "", restart);
    return 0;
}
