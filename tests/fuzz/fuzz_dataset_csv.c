/*
 * fuzz_dataset_csv.c - a --train CSV file (libcsv; header row names the
 * columns): byte 0 picks the ingest options (fuzz_dataset.h), the rest is
 * the file.
 */
#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fzd_ingest(fz_write("in.csv", data + 1, size - 1), data[0]);
    return 0;
}
