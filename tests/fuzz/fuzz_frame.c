/*
 * fuzz_frame.c - every frame from a socket goes through proto_decode (the
 * one decode + validate door, proto/frame.h): any bytes either decode to a
 * message that repacks, or are refused with a reason and no message. Each
 * input is decoded twice: against nothing known about the job (caps only)
 * and against a small job's expectations (numel, L, classes, vocabulary,
 * dimension), as a coordinator or worker in mid-job decodes it. Seeds: one
 * valid frame per message type (seed_frames.c).
 */
#include "frame.h"
#include "fuzz_util.h"
#include "hb_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const proto_expect ex[2] = {
        {0}, {.numel = 64, .seq_len = 16, .num_classes = 3, .vocab_size = 50, .dim = 8, .max_frame = 1 << 20}};
    for (int k = 0; k < 2; k++) {
        proto_msg *m = (proto_msg *)1;
        char err[HB_ERR_LEN] = "";
        int code = 0;
        int rc = proto_decode(data, size, &ex[k], &m, &code, err);
        if (rc != 0) {
            if (m != NULL || !err[0] || code <= 0) abort(); /* refused: no message, a reason, a code */
            continue;
        }
        if (!m || !proto_type_name(m)) abort();
        size_t len;
        uint8_t *b = proto_pack(m, &len);
        free(b);
        proto_free(&m);
        if (m) abort();
    }
    return 0;
}
