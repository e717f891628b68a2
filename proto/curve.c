/* curve.c - CurveZMQ keys, socket setup and the allowlist ZAP handler. */
#include "curve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "hb_error.h"

int curve_keygen(const char *base, char *err) {
    char pub[CURVE_KEY_CHARS + 1], sec[CURVE_KEY_CHARS + 1], path[1100];
    if (zmq_curve_keypair(pub, sec) != 0) return hb_fail(err, "keygen: %s", zmq_strerror(zmq_errno()));
    snprintf(path, sizeof path, "%s.key", base);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return hb_fail(err, "%s: %s", path, strerror(errno));
    char text[128];
    int n = snprintf(text, sizeof text, "public=%s\nsecret=%s\n", pub, sec);
    int bad = write(fd, text, (size_t)n) != n || fsync(fd) != 0;
    close(fd);
    if (bad) return hb_fail(err, "%s: write failed", path);
    snprintf(path, sizeof path, "%s.pub", base);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return hb_fail(err, "%s: %s", path, strerror(errno));
    n = snprintf(text, sizeof text, "public=%s\n", pub);
    bad = write(fd, text, (size_t)n) != n;
    close(fd);
    return bad ? hb_fail(err, "%s: write failed", path) : 0;
}

int curve_load(const char *path, char pub[CURVE_KEY_CHARS + 1], char sec[CURVE_KEY_CHARS + 1], char *err) {
    FILE *f = fopen(path, "r");
    if (!f) return hb_fail(err, "curve key %s: %s", path, strerror(errno));
    pub[0] = sec[0] = 0;
    char line[256];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        char *v = strchr(line, '=');
        if (!line[0] || line[0] == '#') continue;
        if (!v || strlen(v + 1) != CURVE_KEY_CHARS) {
            fclose(f);
            return hb_fail(err, "%s:%d: expected public=<40 Z85 chars> or secret=<40 Z85 chars>", path, ln);
        }
        *v = 0;
        uint8_t raw[32];
        if (!zmq_z85_decode(raw, v + 1)) {
            fclose(f);
            return hb_fail(err, "%s:%d: not a Z85 key", path, ln);
        }
        if (!strcmp(line, "public"))
            snprintf(pub, CURVE_KEY_CHARS + 1, "%s", v + 1);
        else if (!strcmp(line, "secret"))
            snprintf(sec, CURVE_KEY_CHARS + 1, "%s", v + 1);
        else {
            fclose(f);
            return hb_fail(err, "%s:%d: unknown field '%s'", path, ln, line);
        }
    }
    fclose(f);
    if (!pub[0]) return hb_fail(err, "%s: no public key", path);
    return 0;
}

int curve_server_setup(void *sock, const char *key_path, char *err) {
    char pub[CURVE_KEY_CHARS + 1], sec[CURVE_KEY_CHARS + 1];
    if (curve_load(key_path, pub, sec, err)) return -1;
    if (!sec[0]) return hb_fail(err, "%s: no secret key (the server needs its .key file, not a .pub)", key_path);
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, CURVE_KEY_CHARS) ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "hierbert", 8))
        return hb_fail(err, "CURVE server setup: %s", zmq_strerror(zmq_errno()));
    return 0;
}

int curve_client_setup(void *sock, const char *server_pub_path, const char *client_key_path, char *err) {
    char spub[CURVE_KEY_CHARS + 1], ssec[CURVE_KEY_CHARS + 1], pub[CURVE_KEY_CHARS + 1], sec[CURVE_KEY_CHARS + 1];
    if (curve_load(server_pub_path, spub, ssec, err)) return -1;
    if (!client_key_path || !client_key_path[0])
        return hb_fail(err, "the coordinator's public key is configured but no key of our own (curve_key)");
    if (curve_load(client_key_path, pub, sec, err)) return -1;
    if (!sec[0]) return hb_fail(err, "%s: no secret key (a client needs its own .key file)", client_key_path);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spub, CURVE_KEY_CHARS) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, CURVE_KEY_CHARS) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, CURVE_KEY_CHARS))
        return hb_fail(err, "CURVE client setup: %s", zmq_strerror(zmq_errno()));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* ZAP (RFC 27): REQ from libzmq, one reply per request */


struct curve_zap {
    void *rep;
    char (*keys)[CURVE_KEY_CHARS + 1];
    int n;
};

/* z (its keys loaded) bound as zctx's ZAP handler: *out, or -1 (z freed) */
static int s_zap_bind(curve_zap **out, curve_zap *z, void *zctx, char *err) {
    z->rep = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->rep, "inproc://zeromq.zap.01") != 0) {
        hb_fail(err, "ZAP handler: %s", zmq_strerror(zmq_errno()));
        zmq_close(z->rep);
        free(z->keys);
        free(z);
        return -1;
    }
    *out = z;
    return 0;
}

int curve_zap_new(curve_zap **out, void *zctx, const char *allow_dir, char *err) {
    *out = NULL;
    DIR *d = opendir(allow_dir);
    if (!d) return hb_fail(err, "curve allow directory %s: %s", allow_dir, strerror(errno));
    curve_zap *z = hb_calloc(1, sizeof *z);
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".pub")) continue;
        char path[1400], pub[CURVE_KEY_CHARS + 1], sec[CURVE_KEY_CHARS + 1];
        snprintf(path, sizeof path, "%s/%s", allow_dir, e->d_name);
        if (curve_load(path, pub, sec, err)) {
            closedir(d);
            free(z->keys);
            free(z);
            return -1;
        }
        if (z->n == cap) {
            cap = cap ? 2 * cap : 16;
            z->keys = hb_realloc(z->keys, (size_t)cap * sizeof *z->keys);
        }
        memcpy(z->keys[z->n++], pub, CURVE_KEY_CHARS + 1);
    }
    closedir(d);
    return s_zap_bind(out, z, zctx, err);
}

int curve_zap_new_empty(curve_zap **out, void *zctx, char *err) {
    *out = NULL;
    return s_zap_bind(out, hb_calloc(1, sizeof(curve_zap)), zctx, err);
}

void curve_zap_set_keys(curve_zap *z, char (*const keys)[CURVE_KEY_CHARS + 1], int n) {
    free(z->keys);
    z->keys = n > 0 ? hb_malloc((size_t)n * sizeof *z->keys) : NULL;
    if (n > 0) memcpy(z->keys, keys, (size_t)n * sizeof *z->keys);
    z->n = n;
}

void curve_zap_destroy(curve_zap **zp) {
    curve_zap *z = *zp;
    if (!z) return;
    zmq_close(z->rep);
    free(z->keys);
    free(z);
    *zp = NULL;
}

void *curve_zap_socket(curve_zap *z) {
    return z->rep;
}
int curve_zap_count(const curve_zap *z) {
    return z->n;
}

int curve_zap_handle(curve_zap *z, char key_out[CURVE_KEY_CHARS + 1]) {
    /* version, request id, domain, address, identity, mechanism, credentials... */
    char part[7][256];
    size_t len[7];
    int n = 0, more = 1;
    size_t ms = sizeof more;
    key_out[0] = 0;
    while (more) {
        char buf[256];
        int r = zmq_recv(z->rep, buf, sizeof buf, 0);
        if (r < 0) return -1;
        if (n < 7) {
            len[n] = (size_t)r > sizeof buf ? sizeof buf : (size_t)r;
            memcpy(part[n], buf, len[n]);
            n++;
        }
        zmq_getsockopt(z->rep, ZMQ_RCVMORE, &more, &ms);
    }
    int ok = 0;
    if (n >= 7 && len[5] == 5 && !memcmp(part[5], "CURVE", 5) && len[6] == 32) {
        zmq_z85_encode(key_out, (const uint8_t *)part[6], 32);
        for (int i = 0; i < z->n && !ok; i++) ok = !strcmp(z->keys[i], key_out);
    }
    /* reply: version, request id, status code, status text, user id, metadata */
    zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(z->rep, n > 1 ? part[1] : "", n > 1 ? len[1] : 0, ZMQ_SNDMORE);
    zmq_send(z->rep, ok ? "200" : "400", 3, ZMQ_SNDMORE);
    zmq_send(z->rep, ok ? "OK" : "key not allowed", ok ? 2 : 15, ZMQ_SNDMORE);
    zmq_send(z->rep, ok ? key_out : "", ok ? strlen(key_out) : 0, ZMQ_SNDMORE);
    zmq_send(z->rep, "", 0, 0);
    if (n < 7) return -1;
    return ok;
}
