/*
 * curve.h - CurveZMQ for hierbert's work and control endpoints: keys on
 * disk, server and client socket setup, and the coordinator's allowlist (a
 * ZAP handler: only clients whose public key is in the allow directory get
 * in). Off unless keys are configured; ipc endpoints may rely on file
 * permissions instead.
 *
 * Key files (Z85 text, as zmq_curve_keypair makes them):
 *   NAME.key  "public=<40 chars>\nsecret=<40 chars>\n", mode 0600 - a party's own pair
 *   NAME.pub  "public=<40 chars>\n" - what others may know (the server's, for
 *             clients; each client's, in the server's allow directory)
 * `hierbert keygen DIR/NAME` writes both.
 *
 * Caveat: libzmq asks the ZAP handler over inproc://zeromq.zap.01 in the
 * socket's own context, so curve_zap_new must be called with the context of
 * the server sockets, before they bind.
 */
#ifndef HB_PROTO_CURVE_H
#define HB_PROTO_CURVE_H

#define CURVE_KEY_CHARS 40

/* Writes base.key (0600) and base.pub; refuses to overwrite. */
int curve_keygen(const char *base, char *err);
/* Reads a .key or .pub file: pub always, sec if present (else ""). */
int curve_load(const char *path, char pub[CURVE_KEY_CHARS + 1], char sec[CURVE_KEY_CHARS + 1], char *err);

/* A CURVE server socket (before bind) with the secret key of key_path. */
int curve_server_setup(void *sock, const char *key_path, char *err);
/* A CURVE client socket (before connect): the server's public key and the
 * client's own pair. */
int curve_client_setup(void *sock, const char *server_pub_path, const char *client_key_path, char *err);

typedef struct curve_zap curve_zap;
/* Loads every *.pub of allow_dir and binds the ZAP handler in zctx. */
int curve_zap_new(curve_zap **out, void *zctx, const char *allow_dir, char *err);
/* A ZAP handler in zctx letting in no one until curve_zap_set_keys (a
 * worker's peer endpoint: exactly the plan's members, plan by plan). */
int curve_zap_new_empty(curve_zap **out, void *zctx, char *err);
void curve_zap_set_keys(curve_zap *z, char (*const keys)[CURVE_KEY_CHARS + 1], int n);
void curve_zap_destroy(curve_zap **z);
/* The REP socket to poll; curve_zap_handle answers one request and returns
 * 1 if it let the client in, 0 if it refused (key_out: the client's Z85
 * public key, for the log), -1 on a malformed request. */
void *curve_zap_socket(curve_zap *z);
int curve_zap_handle(curve_zap *z, char key_out[CURVE_KEY_CHARS + 1]);
int curve_zap_count(const curve_zap *z);

#endif
