#!/usr/bin/env python3
"""notify_harness.py - the part of systemd a Type=notify service with
WatchdogSec= meets, for tests where no systemd runs: a NOTIFY_SOCKET
(a unix datagram socket, credentials on), WATCHDOG_USEC and WATCHDOG_PID
for the child, and systemd's reaction when the pings stop: after one
period without WATCHDOG=1 it sends SIGABRT, then (the process may be
stopped) SIGKILL, and starts the command again (Restart=on-failure).

  notify_harness.py --watchdog-ms MS --events FILE --pidfile FILE -- CMD ARGS...

FILE gets one line per event, times in seconds on the harness's monotonic
clock:  T READY PID | T WATCHDOG PID | T STATUS PID text | T FREEZE PID |
T TIMEOUT PID age_ms | T EXIT PID rc | T START PID.
SIGUSR1 to the harness freezes the child (SIGSTOP) and logs FREEZE on the
same clock; SIGTERM stops the child and the harness.
"""
import argparse, os, signal, socket, struct, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--watchdog-ms", type=int, required=True)
ap.add_argument("--events", required=True)
ap.add_argument("--pidfile", required=True)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
period = a.watchdog_ms / 1000.0

sdir = tempfile.mkdtemp(prefix="hbnotify.")
path = os.path.join(sdir, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.settimeout(0.02)
events = open(a.events, "a", buffering=1)
t0 = time.monotonic()


def log(*words):
    events.write("%.3f %s\n" % (time.monotonic() - t0, " ".join(str(w) for w in words)))


def start():
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=str(a.watchdog_ms * 1000))
    # WATCHDOG_PID is the main process's pid: the shell's, which exec makes the daemon's
    p = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh"] + cmd, env=env)
    with open(a.pidfile + ".tmp", "w") as f:
        f.write("%d\n" % p.pid)
    os.replace(a.pidfile + ".tmp", a.pidfile)
    log("START", p.pid)
    return p


stopping = False
freeze = False


def on_term(sig, frame):
    global stopping
    stopping = True


def on_usr1(sig, frame):
    global freeze
    freeze = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
signal.signal(signal.SIGUSR1, on_usr1)

child = start()
last_ping = None  # the watchdog runs from READY on, as in systemd
while not stopping:
    if freeze:
        freeze = False
        os.kill(child.pid, signal.SIGSTOP)
        log("FREEZE", child.pid)
    try:
        data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, typ, cd in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cd[:12])[0]
        for line in data.decode(errors="replace").splitlines():
            key, _, val = line.partition("=")
            if key == "READY":
                last_ping = time.monotonic()
                log("READY", pid)
            elif key == "WATCHDOG" and val == "1" and pid == child.pid:
                last_ping = time.monotonic()
                log("WATCHDOG", pid)
            elif key == "STATUS":
                log("STATUS", pid, val)
            elif key == "STOPPING":
                log("STOPPING", pid)
    except socket.timeout:
        pass
    rc = child.poll()
    if rc is not None:
        log("EXIT", child.pid, rc)
        if rc == 0:
            break
        time.sleep(0.2)  # RestartSec=
        child, last_ping = start(), None
        continue
    if last_ping is not None and time.monotonic() - last_ping > period:
        log("TIMEOUT", child.pid, int((time.monotonic() - last_ping) * 1000))
        os.kill(child.pid, signal.SIGABRT)  # WatchdogSignal=; pending while stopped
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        log("EXIT", child.pid, child.returncode)
        time.sleep(0.2)
        child, last_ping = start(), None

if child.poll() is None:
    child.send_signal(signal.SIGTERM)
    os.kill(child.pid, signal.SIGCONT)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    log("EXIT", child.pid, child.returncode)
os.unlink(path)
os.rmdir(sdir)
