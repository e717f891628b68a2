/*
 * hb_log.h - the daemons' log line: UTC time, program, level, message, to
 * stderr (journald adds its own stamp under systemd, and keeps ours).
 * Header-only; the daemon passes its name, so there is no global state.
 */
#ifndef HB_LOG_H
#define HB_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

__attribute__((format(printf, 3, 4))) static inline void hb_log(const char *who, const char *level, const char *fmt,
                                                                ...) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), who, level);
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

#endif
