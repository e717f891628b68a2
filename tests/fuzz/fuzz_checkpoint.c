/*
 * fuzz_checkpoint.c - a TRAIN checkpoint file (coordinator/checkpoint.c:
 * magic, version, header, params and moments, the per-epoch accuracies):
 * coord_checkpoint_read either refuses it with a reason or returns arrays
 * of the sizes its header declares (read here end to end: ASan sees a
 * short one).
 */
#include "coord.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("ck.bin", data, size);
    coord_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    char err[HB_ERR_LEN] = "";
    if (coord_checkpoint_read(path, &ck, err)) {
        if (!err[0]) abort();
        return 0;
    }
    volatile float s = 0;
    for (size_t i = 0; i < ck.numel; i++) {
        s += ck.params[i];
        if (ck.m) s += ck.m[i];
        if (ck.v) s += ck.v[i];
    }
    for (int e = 0; e < ck.epochs && ck.val_acc; e++) s += (float)ck.val_acc[e];
    (void)s;
    coord_checkpoint_free(&ck);
    return 0;
}
