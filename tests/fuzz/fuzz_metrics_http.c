/*
 * fuzz_metrics_http.c - the HTTP request path of /metrics: the real
 * endpoint (coord_metrics_start: libmicrohttpd on its thread, our handler)
 * on a loopback port, asking a status REP socket of this harness (a fixed,
 * realistic status document) as it asks the coordinator's. Each input is
 * sent as raw bytes on a fresh TCP connection, the write side shut, and the
 * answer read to the end: the endpoint must answer or close, never hang
 * (SO_RCVTIMEO 5 s: a hang aborts) or crash.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <zmq.h>

#include "coord.h"
#include "fuzz_util.h"

static const char s_status[] =
    "{\"coordinator\": {\"uptime_s\": 12.5, \"store_bytes\": 4096, \"workers\": 1},"
    " \"workers\": [{\"id\": \"w\\\"1\\n\", \"host\": \"h\\\\\", \"busy\": true, \"threads\": 2,"
    " \"samples_per_s\": 10.5, \"last_heartbeat_ms\": 100, \"tasks_done\": 3}],"
    " \"jobs\": [{\"id\": 1, \"state\": \"TRAIN\", \"progress\": 0.5, \"epoch\": 1, \"epochs\": 2, \"step\": 3,"
    " \"total_steps\": 10, \"loss\": 0.7, \"eta_s\": -1}]}";

static int s_port;

static void *s_rep_main(void *ctx) {
    void *rep = zmq_socket(ctx, ZMQ_REP);
    if (zmq_bind(rep, "inproc://fuzz-status")) abort();
    char buf[64];
    for (;;) {
        if (zmq_recv(rep, buf, sizeof buf, 0) < 0) break;
        zmq_send(rep, s_status, sizeof s_status - 1, 0);
    }
    return NULL;
}

static void s_start(void) {
    static void *zctx;
    static coord_metrics *m;
    static pthread_t tid;
    zctx = zmq_ctx_new();
    pthread_create(&tid, NULL, s_rep_main, zctx);
    char spec[64], err[HB_ERR_LEN];
    for (int tries = 0; tries < 50 && !m; tries++) {
        s_port = 20000 + (int)((getpid() * 7 + tries * 131) % 30000);
        snprintf(spec, sizeof spec, "127.0.0.1:%d", s_port);
        if (coord_metrics_start(&m, spec, zctx, "inproc://fuzz-status", err)) m = NULL;
    }
    if (!m) {
        fprintf(stderr, "fuzz-metrics-http: no free port: %s\n", err);
        abort();
    }
}

static int s_open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n - 3; /* ., .. and the DIR's own */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!s_port) s_start();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* libFuzzer's SIGALRM (its -timeout watchdog, every timeout/2 + 1 s)
     * can interrupt connect(): EINTR, retried on a fresh socket. Any other
     * failure is the endpoint's (the listener gone, the backlog refusing):
     * abort, saying why. */
    for (int tries = 0; connect(fd, (struct sockaddr *)&sa, sizeof sa); tries++) {
        int e = errno;
        if (e != EINTR || tries == 100) {
            fprintf(stderr, "fuzz-metrics-http: connect to 127.0.0.1:%d: %s (%d tries, %d fds open)\n", s_port,
                    strerror(e), tries + 1, s_open_fds());
            abort();
        }
        close(fd);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may close early on a bad request */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char buf[8192];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                fprintf(stderr, "fuzz-metrics-http: no answer and no close in 5 s\n");
                abort();
            }
            break; /* reset */
        }
    }
    close(fd);
    return 0;
}
