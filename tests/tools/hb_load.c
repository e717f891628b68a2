/*
 * hb_load.c - load on the coordinator's read-only endpoints, for
 * ops/load.sh and tests/test_load_status.sh: N clients polling the status
 * REP as fast as it answers, M clients scraping HTTP /metrics (a fresh
 * connection each), and K slow HTTP clients that open a connection, send
 * half a request (or a whole one and never read) and hold it, all for S
 * seconds. Prints one JSON line: per kind the requests, errors (no answer
 * in 2 s, a non-200), latency p50/p99/max in ms; slow connections opened.
 * With --events EP: E subscribers read every event (all topics) and check
 * each topic's "seq" runs on by one (a gap is an event PUB dropped for a
 * subscriber that kept up: a bug), and Z stalled subscribers subscribe and
 * never read, with a receive queue of one event and a small socket buffer,
 * so that what piles up for them piles up in the coordinator's PUB (bounded
 * by its send HWM, coordinator/coord.h COORD_EVENTS_HWM).
 * With --control EP: C hostile control clients (DEALER, as the CLI) send
 * in turn garbage bytes, an empty frame, a frame of 1025 KB (over the
 * default control_max_frame_kb, 1024: refused by the decoder) and a valid
 * List, each awaiting its answer (3 s): every one must be answered.
 *   hb-load [--status EP --status-clients N] [--http HOST:PORT --http-clients M]
 *           [--events EP --event-clients E --event-stalled Z] [--control EP --control-clients C]
 *           [--slow K] [--rate R] --seconds S
 * --rate R: each client makes at most R requests a second (default: as fast
 * as they are answered).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "frame.h"

static double s_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    double *lat; /* ms */
    long n, cap, errors;
} s_stats;

static void s_add(s_stats *s, double ms) {
    if (s->n == s->cap) s->lat = realloc(s->lat, (size_t)(s->cap = s->cap ? 2 * s->cap : 4096) * sizeof(double));
    s->lat[s->n++] = ms;
}

typedef struct {
    char topic[32];
    long long last; /* the topic's last seq seen */
} s_topic;

typedef struct {
    long events, gaps, bad; /* received; seq numbers missing; not "TOPIC {...\"seq\":N...}" */
    s_topic topics[64];
    int n_topics;
} s_evstats;

typedef struct {
    void *zctx;
    const char *ep;
    s_evstats ev;
    struct sockaddr_in http;
    double until, period; /* period: seconds between a client's requests (0: as fast as answered) */
    s_stats st;
} s_client;

/* waits for the client's next slot (--rate) */
static void s_pace(const s_client *c, double t0) {
    double left = c->period - (s_now() - t0);
    if (left > 0) usleep((useconds_t)(left * 1e6));
}

/* a client socket of type to c's endpoint, answers awaited timeout_ms */
static void *s_sock(const s_client *c, int type, int timeout_ms) {
    void *s = zmq_socket(c->zctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, c->ep);
    return s;
}

static void *s_status_main(void *arg) {
    s_client *c = arg;
    void *s = NULL;
    char buf[1 << 16];
    while (s_now() < c->until) {
        if (!s) s = s_sock(c, ZMQ_REQ, 2000);
        double t0 = s_now();
        if (zmq_send(s, "status", 6, 0) != 6 || zmq_recv(s, buf, sizeof buf, 0) < 2 || buf[0] != '{') {
            c->st.errors++;
            zmq_close(s); /* a REQ without its answer cannot send again */
            s = NULL;
            continue;
        }
        s_add(&c->st, (s_now() - t0) * 1e3);
        s_pace(c, t0);
    }
    if (s) zmq_close(s);
    return NULL;
}

/* one event "TOPIC {json}" into c's counts */
static void s_event(s_evstats *e, const char *m, int n) {
    const char *sp = memchr(m, ' ', (size_t)n), *seq = NULL;
    char tmp[1 << 16];
    if (sp && n < (int)sizeof tmp) {
        memcpy(tmp, m, (size_t)n);
        tmp[n] = 0;
        seq = strstr(tmp, "\"seq\":");
    }
    e->events++;
    if (!sp || sp - m >= 32 || sp[1] != '{' || m[n - 1] != '}' || !seq) {
        e->bad++;
        return;
    }
    long long v = atoll(seq + 6);
    int t = 0;
    while (t < e->n_topics && (strncmp(e->topics[t].topic, m, (size_t)(sp - m)) || e->topics[t].topic[sp - m])) t++;
    if (t == e->n_topics) {
        if (t == 64) return;
        memcpy(e->topics[t].topic, m, (size_t)(sp - m));
        e->topics[t].topic[sp - m] = 0;
        e->topics[t].last = v - 1;
        e->n_topics++;
    }
    if (v > e->topics[t].last + 1) e->gaps += v - e->topics[t].last - 1;
    if (v <= e->topics[t].last) e->bad++; /* a repeat, or back in time */
    e->topics[t].last = v;
}

static void *s_events_main(void *arg) {
    s_client *c = arg;
    void *s = zmq_socket(c->zctx, ZMQ_SUB);
    int to = 200, linger = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(s, c->ep);
    char buf[1 << 16];
    while (s_now() < c->until) {
        int n = zmq_recv(s, buf, sizeof buf, 0);
        if (n > (int)sizeof buf) {
            c->ev.events++, c->ev.bad++; /* truncated: no event is that large */
            continue;
        }
        if (n > 0) s_event(&c->ev, buf, n);
    }
    zmq_close(s);
    return NULL;
}

/* the hostile control client: kinds in turn, each answered or counted */
static void *s_control_main(void *arg) {
    s_client *c = arg;
    static const char garbage[] = "\x0a\xff\xff\xff\xff\x0f not protobuf";
    size_t big_len = (1024 + 1) << 10, list_len;
    char *big = malloc(big_len);
    memset(big, 0x5a, big_len);
    proto_msg m;
    Hierbert__List l = HIERBERT__LIST__INIT;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_LIST;
    m.list = &l;
    uint8_t *list = proto_pack(&m, &list_len);
    const void *f[] = {garbage, "", big, list};
    size_t n[] = {sizeof garbage - 1, 0, big_len, list_len};
    void *s = NULL;
    char buf[1 << 16];
    for (long k = 0; s_now() < c->until; k++) {
        if (!s) s = s_sock(c, ZMQ_DEALER, 3000);
        double t0 = s_now();
        if (zmq_send(s, f[k % 4], n[k % 4], 0) != (int)n[k % 4] || zmq_recv(s, buf, sizeof buf, 0) <= 0) {
            c->st.errors++;
            zmq_close(s); /* a late answer must not be taken for the next one's */
            s = NULL;
            continue;
        }
        s_add(&c->st, (s_now() - t0) * 1e3);
        s_pace(c, t0);
    }
    if (s) zmq_close(s);
    free(big);
    free(list);
    return NULL;
}

static int s_connect(const struct sockaddr_in *sa) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *s_http_main(void *arg) {
    s_client *c = arg;
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: load\r\n\r\n";
    char buf[1 << 16];
    while (s_now() < c->until) {
        double t0 = s_now();
        int fd = s_connect(&c->http), ok = 0;
        if (fd >= 0 && send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
            ssize_t r, n = 0;
            while ((r = recv(fd, buf + n, sizeof buf - 1 - (size_t)n, 0)) > 0 && n < (ssize_t)sizeof buf - 1) n += r;
            buf[n] = 0;
            ok = r == 0 && !strncmp(buf, "HTTP/1.", 7) && strstr(buf, " 200 ") && strstr(buf, "hierbert_up 1");
        }
        if (fd >= 0) close(fd);
        if (ok)
            s_add(&c->st, (s_now() - t0) * 1e3);
        else
            c->st.errors++;
        s_pace(c, t0);
    }
    return NULL;
}

static int s_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_report(const char *name, s_client *cs, int n, double seconds, int last) {
    s_stats all = {0};
    for (int i = 0; i < n; i++) {
        for (long k = 0; k < cs[i].st.n; k++) s_add(&all, cs[i].st.lat[k]);
        all.errors += cs[i].st.errors;
    }
    qsort(all.lat, (size_t)all.n, sizeof(double), s_cmp);
    double p50 = all.n ? all.lat[all.n / 2] : 0, p99 = all.n ? all.lat[(long)(all.n * 0.99)] : 0,
           mx = all.n ? all.lat[all.n - 1] : 0;
    printf("\"%s\": {\"clients\": %d, \"requests\": %ld, \"per_s\": %.1f, \"errors\": %ld, \"p50_ms\": %.2f, "
           "\"p99_ms\": %.2f, \"max_ms\": %.2f}%s",
           name, n, all.n, all.n / seconds, all.errors, p50, p99, mx, last ? "" : ", ");
    free(all.lat);
}

static void s_report_events(s_client *cs, int n, int stalled, double seconds) {
    long ev = 0, gaps = 0, bad = 0, lo = -1, hi = 0;
    for (int i = 0; i < n; i++) {
        ev += cs[i].ev.events, gaps += cs[i].ev.gaps, bad += cs[i].ev.bad;
        if (lo < 0 || cs[i].ev.events < lo) lo = cs[i].ev.events;
        if (cs[i].ev.events > hi) hi = cs[i].ev.events;
    }
    printf(
        "\"events\": {\"clients\": %d, \"stalled\": %d, \"received\": %ld, \"per_s\": %.1f, \"min_per_client\": %ld, "
        "\"max_per_client\": %ld, \"gaps\": %ld, \"bad\": %ld, \"topics\": %d}, ",
        n, stalled, ev, ev / seconds, lo < 0 ? 0 : lo, hi, gaps, bad, n ? cs[0].ev.n_topics : 0);
}

int main(int argc, char **argv) {
    const char *status_ep = NULL, *http = NULL, *events_ep = NULL, *control_ep = NULL;
    int n_status = 0, n_http = 0, n_slow = 0, n_events = 0, n_stalled = 0, n_control = 0;
    double seconds = 5, rate = 0;
    struct {
        const char *opt;
        const char **str;
        int *num;
        double *real;
    } opts[] = {
        {"--status", &status_ep, NULL, NULL},
        {"--status-clients", NULL, &n_status, NULL},
        {"--http", &http, NULL, NULL},
        {"--http-clients", NULL, &n_http, NULL},
        {"--slow", NULL, &n_slow, NULL},
        {"--events", &events_ep, NULL, NULL},
        {"--event-clients", NULL, &n_events, NULL},
        {"--event-stalled", NULL, &n_stalled, NULL},
        {"--control", &control_ep, NULL, NULL},
        {"--control-clients", NULL, &n_control, NULL},
        {"--seconds", NULL, NULL, &seconds},
        {"--rate", NULL, NULL, &rate},
    };
    for (int i = 1; i < argc; i += 2) {
        size_t k = 0, n_opts = sizeof opts / sizeof *opts;
        while (k < n_opts && strcmp(argv[i], opts[k].opt)) k++;
        if (k == n_opts || i + 1 == argc) {
            fprintf(stderr, "hb-load: unknown option or no value: %s\n", argv[i]);
            return 2;
        }
        if (opts[k].str) *opts[k].str = argv[i + 1];
        if (opts[k].num) *opts[k].num = atoi(argv[i + 1]);
        if (opts[k].real) *opts[k].real = atof(argv[i + 1]);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (http) {
        const char *colon = strrchr(http, ':');
        char host[64];
        if (!colon || colon - http >= (long)sizeof host) return 2;
        memcpy(host, http, (size_t)(colon - http));
        host[colon - http] = 0;
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 2;
    }
    if (!status_ep) n_status = 0;
    if (!http) n_http = n_slow = 0;
    if (!events_ep) n_events = n_stalled = 0;
    if (!control_ep) n_control = 0;
    /* the slow ones first: they hold their connections for the whole run */
    int *slow = calloc((size_t)n_slow + 1, sizeof(int)), opened = 0;
    for (int i = 0; i < n_slow; i++) {
        slow[i] = s_connect(&sa);
        if (slow[i] < 0) continue;
        opened++;
        const char *half = "GET /metrics HTTP/1.1\r\nHost: slow\r\n"; /* never ends */
        const char *full = "GET /metrics HTTP/1.1\r\nHost: slow\r\n\r\n"; /* never read */
        const char *r = i % 2 ? full : half;
        if (send(slow[i], r, strlen(r), MSG_NOSIGNAL) < 0) {
        }
    }
    void *zctx = zmq_ctx_new();
    /* stalled subscribers: one event of queue each and a small kernel
     * buffer, never read - what piles up for them piles up in the PUB */
    void **stalled = calloc((size_t)n_stalled + 1, sizeof(void *));
    for (int i = 0; i < n_stalled; i++) {
        int one = 1, small = 4096, linger = 0;
        stalled[i] = zmq_socket(zctx, ZMQ_SUB);
        zmq_setsockopt(stalled[i], ZMQ_RCVHWM, &one, sizeof one);
        zmq_setsockopt(stalled[i], ZMQ_RCVBUF, &small, sizeof small);
        zmq_setsockopt(stalled[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(stalled[i], ZMQ_SUBSCRIBE, "", 0);
        zmq_connect(stalled[i], events_ep);
    }
    /* clients in order: status, http, events, control */
    int ne0 = n_status + n_http, nc0 = ne0 + n_events, n = nc0 + n_control;
    s_client *cs = calloc((size_t)n + 1, sizeof *cs);
    pthread_t *t = calloc((size_t)n + 1, sizeof *t);
    double until = s_now() + seconds;
    for (int i = 0; i < n; i++) {
        cs[i] = (s_client){.zctx = zctx, .ep = status_ep, .http = sa, .until = until, .period = rate > 0 ? 1 / rate : 0};
        if (i >= ne0) cs[i].ep = i < nc0 ? events_ep : control_ep;
        void *(*run)(void *) = s_control_main;
        if (i < nc0) run = s_events_main;
        if (i < ne0) run = s_http_main;
        if (i < n_status) run = s_status_main;
        pthread_create(&t[i], NULL, run, &cs[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    int still = 0;
    for (int i = 0; i < n_slow; i++)
        if (slow[i] >= 0) {
            char b;
            ssize_t r = recv(slow[i], &b, 1, MSG_DONTWAIT);
            still += r != 0; /* not closed by the server (nothing to read, or an answer unread) */
            close(slow[i]);
        }
    /* what was held for the stalled ones: at most the PUB's HWM plus what
     * the kernel buffers, however many events were published */
    long held_max = 0, held_bytes = 0;
    for (int i = 0; i < n_stalled; i++) {
        int to = 100;
        long held = 0;
        char b[1 << 16];
        zmq_setsockopt(stalled[i], ZMQ_RCVTIMEO, &to, sizeof to);
        for (int r; (r = zmq_recv(stalled[i], b, sizeof b, 0)) >= 0;) held++, held_bytes += r;
        if (held > held_max) held_max = held;
        zmq_close(stalled[i]);
    }
    printf("{");
    s_report("status", cs, n_status, seconds, 0);
    s_report("http", cs + n_status, n_http, seconds, 0);
    s_report_events(cs + ne0, n_events, n_stalled, seconds);
    s_report("control", cs + nc0, n_control, seconds, 0);
    printf("\"stalled\": {\"subscribers\": %d, \"held_max\": %ld, \"held_mean_bytes\": %ld}, ", n_stalled, held_max,
           n_stalled ? held_bytes / n_stalled : 0);
    printf("\"slow\": {\"opened\": %d, \"still_open_at_end\": %d}}\n", opened, still);
    zmq_ctx_term(zctx);
    return 0;
}
