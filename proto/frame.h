/*
 * frame.h - one ZeroMQ frame = one hierbert.proto Envelope.
 *
 * Encoding: proto_env_init() stamps the protocol version and job id, the
 * caller sets one body, proto_send() packs it into a zmq_msg and sends it
 * (after the peer's routing id on a ROUTER socket).
 *
 * Decoding: proto_decode() is the ONE entry point for bytes from a socket.
 * It refuses, with a one-line reason naming the message type, anything a
 * handler must not see:
 *   - frames above the size cap (checked before unpacking),
 *   - bytes that are not an Envelope, an Envelope without a body,
 *   - another protocol version,
 *   - bulk fields (float32 / int32 little-endian `bytes`) whose length is not
 *     exactly the product of the shape the message declares,
 *   - shapes and counts beyond the caps below or different from what the
 *     receiver expects for the job (proto_expect: parameter count, L, classes,
 *     vocabulary, embedding dimension), token ids outside the vocabulary,
 *     labels outside 0..C-1, lengths outside 1..L,
 *   - request fields out of range (Submit's L, batch, fractions, strings).
 * A refused frame produces no message, only err; the daemon answers it with
 * proto_send_error() and keeps serving.
 *
 * Caveats: protobuf-c copies `bytes` fields on unpack, so a decoded Params
 * holds its own copy; proto_free() releases it. All multi-byte numbers on the
 * wire are little-endian; hierbert refuses to build on a big-endian host.
 */
#ifndef HB_PROTO_FRAME_H
#define HB_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "hierbert.pb-c.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hierbert's wire format is little-endian raw floats; big-endian hosts are not supported"
#endif

/* 2: gradient averaging (TrainTask.send_grad, Update.grads/grad_rows): a
 * version-1 worker would ignore send_grad and send parameters.
 * 3: sharded reduction (ShardPlan, TrainTask.shard_gen, PeerShard): a
 * version-2 worker would ignore shard_gen and send its whole gradient
 * 4: the gather of a checkpoint round in ShardState, not in the Update: a
 * version-3 worker would send its shard's state where nobody reads it */
#define PROTO_VERSION 4u

/* Caps that hold whatever the receiver expects (sanity, not policy). */
#define PROTO_DEFAULT_MAX_FRAME ((size_t)1 << 30) /* 1 GiB */
#define PROTO_MAX_NUMEL ((uint64_t)1 << 28)       /* 256 M floats: > bert-large */
#define PROTO_MAX_SEQ 8192u
#define PROTO_MAX_SAMPLES (1u << 20)
#define PROTO_MAX_CLASSES 100000u
#define PROTO_MAX_DIM 65536u
#define PROTO_MAX_STRING 4096u
#define PROTO_MAX_PEERS 256u /* workers in one sharded reduction (COORD_MAX_WORKERS) */

typedef Hierbert__Envelope proto_msg;

/* Error codes carried by the Error reply. */
enum proto_error_code {
    PROTO_E_MALFORMED = 1,   /* not an Envelope, or a field out of range */
    PROTO_E_VERSION = 2,     /* another protocol version */
    PROTO_E_TOO_BIG = 3,     /* frame above the cap */
    PROTO_E_SHAPE = 4,       /* bulk bytes do not match the declared/expected shape */
    PROTO_E_UNKNOWN_JOB = 5, /* job id the coordinator does not know */
    PROTO_E_BAD_REQUEST = 6, /* well-formed but refused (bad dataset, bad option) */
    PROTO_E_STATE = 7,       /* not possible in the job's current state */
    PROTO_E_UNEXPECTED = 8,  /* a message type this endpoint does not take */
    PROTO_E_INTERNAL = 9,
};

/* What the receiver knows about the job; 0 in a field means "not known":
 * the message's own declaration is then checked against the caps only. */
typedef struct {
    size_t max_frame; /* bytes; 0: PROTO_DEFAULT_MAX_FRAME */
    uint64_t numel;   /* parameter floats */
    uint32_t seq_len; /* L of token-id tasks */
    uint32_t num_classes;
    uint32_t vocab_size;
    uint32_t dim; /* embedding dimension (DocEmbeddings, HeadBatch) */
} proto_expect;

/* Decodes and validates one frame. On success *out owns the message (free
 * with proto_free) and 0 is returned; on failure *out is NULL, err holds the
 * reason, *code (if non-NULL) a proto_error_code, and -1 is returned. */
int proto_decode(const void *buf, size_t len, const proto_expect *ex, proto_msg **out, int *code, char *err);
void proto_free(proto_msg **m);

/* "Hello", "Params", ...; "none" for an Envelope without a body. */
const char *proto_type_name(const proto_msg *m);
const char *proto_case_name(Hierbert__Envelope__BodyCase c);

/* A fresh Envelope with version and job id set. */
void proto_env_init(proto_msg *m, uint64_t job_id);

/* Packs m; returns a malloc'ed buffer of *len bytes (caller frees). */
uint8_t *proto_pack(const proto_msg *m, size_t *len);

/* Sends m as one frame on sock; if routing_id is non-NULL (ROUTER sockets)
 * the id frame goes first. flags: e.g. ZMQ_DONTWAIT. 0 ok, -1 (err set). */
int proto_send(void *sock, const void *routing_id, size_t id_len, const proto_msg *m, int flags, char *err);

/* Sends an Error body (code + formatted message) for job_id. */
__attribute__((format(printf, 7, 8))) int proto_send_error(void *sock, const void *routing_id, size_t id_len,
                                                           uint64_t job_id, int code, char *err, const char *fmt, ...);

/* Sends a Goodbye (reason) without blocking. 0 ok, -1 (err set). */
int proto_send_goodbye(void *sock, const void *routing_id, size_t id_len, const char *reason, char *err);

/* Little-endian helpers for bulk bytes (hosts are little-endian: see above). */
static inline ProtobufCBinaryData proto_bytes(const void *p, size_t n) {
    ProtobufCBinaryData b;
    b.data = (uint8_t *)p;
    b.len = n;
    return b;
}

#endif
