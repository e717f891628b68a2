/*
 * daemon.h - what both hierbert daemons owe their supervisor (systemd, or
 * any that speaks its NOTIFY_SOCKET protocol): the watchdog, a log file that
 * SIGHUP reopens, and the re-reading of the config entries that may change
 * while running. The daemon's main() owns the signal flags; the event loop
 * acts on them between messages, never inside a handler.
 *
 * Watchdog contract: systemd sets WATCHDOG_USEC (the unit's WatchdogSec=);
 * the loop calls daemon_watchdog_ping once a turn and WATCHDOG=1 goes out at
 * most every period/4. A loop that stops turning (stuck in a call, a
 * deadlock, SIGSTOP) stops pinging, and systemd restarts the service once
 * the period has passed without a ping (tests/test_daemon_watchdog.sh).
 * Only the event loop pings: a compute thread busy for minutes is healthy,
 * a loop that cannot answer a heartbeat is not.
 */
#ifndef HB_PROTO_DAEMON_H
#define HB_PROTO_DAEMON_H

#include <signal.h>
#include <stddef.h>

#include "conf.h"

typedef struct {
    long long period_ms; /* WATCHDOG_USEC / 1000; 0: no watchdog asked for */
    long long last_ms;   /* when WATCHDOG=1 last went out (monotonic) */
} daemon_watchdog;

/* Reads WATCHDOG_USEC (and WATCHDOG_PID, which must be ours if set). */
void daemon_watchdog_init(daemon_watchdog *w);
/* Called by a healthy loop each turn; sends WATCHDOG=1 when period/4 passed. */
void daemon_watchdog_ping(daemon_watchdog *w);

/* What main() hands the event loop: its signal flags and its command line,
 * so that a SIGHUP re-reads the config as at start (defaults, the file,
 * then the flags: conf_read). */
typedef struct {
    volatile sig_atomic_t *stop; /* SIGINT, SIGTERM: stop cleanly */
    volatile sig_atomic_t *hup;  /* SIGHUP: reopen the log, re-read the config; the loop clears it */
    int argc;
    char **argv;
    const conf_flag *flags;
    int n_flags;
    conf_flag_fn on_flag;
} daemon_ctl;

/* Points stderr at path (appending, created 0640), so hb_log's lines go
 * there; "" leaves stderr as it is. Called at start and on SIGHUP (after
 * logrotate moved the file, the new lines go to a new file). 0, or -1 with
 * err (stderr is then unchanged). */
int daemon_log_open(const char *path, char *err);

/* After a SIGHUP: cur_t and next_t are the same daemon's table over the
 * running config and over a defaults-filled one (next_cfg, for the flags'
 * on_flag). Re-reads the config into next_t as at start; copies into the
 * running config each entry named in live ("section.name", NULL-terminated)
 * whose value changed; reopens the running log_file entry; logs one line
 * naming what was applied and what changed but needs a restart (ignored).
 * 0; -1 when the config did not parse: nothing applied, the log reopened,
 * the reason (file:line) logged. */
int daemon_on_hup(const daemon_ctl *ctl, const char *who, const conf_entry *cur_t, const conf_entry *next_t,
                  void *next_cfg, const char *const *live);

#endif
