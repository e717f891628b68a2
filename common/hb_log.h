/*
 * hb_log.h - the daemons' log line: UTC time, program, level, message, to
 * stderr. Header-only; the daemon passes its name, so there is no global
 * state.
 *
 * Under systemd (stderr is the journal's stream: $JOURNAL_STREAM names its
 * device:inode) each line starts with the syslog priority journald reads,
 * "<3>" error, "<4>" warn, "<6>" info, "<7>" debug, and drops our time
 * stamp (the journal keeps its own). Elsewhere - a terminal, a log file
 * (log_file, reopened on SIGHUP), a test's capture - the line is as before.
 */
#ifndef HB_LOG_H
#define HB_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* syslog(3) priority of a level name; unknown names are notices */
static inline int hb_log_priority(const char *level) {
    if (!strcmp(level, "error")) return 3;
    if (!strcmp(level, "warn")) return 4;
    if (!strcmp(level, "info")) return 6;
    if (!strcmp(level, "debug")) return 7;
    return 5;
}

/* 1 when stderr is the stream systemd connected to the journal */
static inline int hb_log_to_journal(void) {
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st)) return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

__attribute__((format(printf, 3, 4))) static inline void hb_log(const char *who, const char *level, const char *fmt,
                                                                ...) {
    char line[1024];
    int n;
    if (hb_log_to_journal()) {
        n = snprintf(line, sizeof line, "<%d>%s %s: ", hb_log_priority(level), who, level);
    } else {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), who, level);
    }
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && n < (int)sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* monotonic milliseconds */
static inline long long hb_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* the first byte of s that a name going unescaped into a log line or a JSON
 * string must not hold (outside printable ASCII, '"', '\\'), or NULL: the
 * worker ids and hosts the coordinator takes (proto/frame.c) */
static inline const char *hb_name_bad(const char *s) {
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\') return s;
    return NULL;
}

/* a limit on one kind of line a peer can provoke (a refused frame): at most
 * burst lines a window_ms, the rest counted and said by hb_log_limit_due.
 * The caller owns the state. */
typedef struct {
    long long start_ms;
    int n;
    unsigned long long dropped, total;
} hb_log_limit;

/* 1 when this line may be logged */
static inline int hb_log_limited(hb_log_limit *l, int burst, long long window_ms) {
    long long now = hb_now_ms();
    l->total++;
    if (now - l->start_ms >= window_ms && !l->dropped) {
        l->start_ms = now;
        l->n = 0;
    }
    if (l->n < burst) {
        l->n++;
        return 1;
    }
    l->dropped++;
    return 0;
}

/* lines not logged in a window that has ended (0: none, or the window still
 * runs); the next window starts with the call that returns them */
static inline unsigned long long hb_log_limit_due(hb_log_limit *l, long long window_ms) {
    long long now = hb_now_ms();
    unsigned long long d = l->dropped;
    if (!d || now - l->start_ms < window_ms) return 0;
    l->dropped = 0;
    l->start_ms = now;
    l->n = 0;
    return d;
}

#endif
