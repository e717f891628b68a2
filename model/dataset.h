/*
 * dataset.h - documents in, labelled chunks out: streaming readers for
 * JSONL, CSV and one-folder-per-class, and dataset_ingest(), the one call the
 * coordinator makes to validate, label, tokenize and chunk a job's inputs.
 *
 * Formats (every reader streams one record at a time; a file larger than
 * memory is fine):
 *  - JSONL (jansson): one JSON object per line:
 *      {"id": "a1" | 17, "text": "..." | "chunks": ["...", ...],
 *       "label": "sports" | 3, "split": "train" | "val" | "test"}
 *    id and one of text/chunks are required; label is required for train and
 *    val documents; split is optional. Blank lines are skipped.
 *  - CSV (libcsv, RFC 4180: quoted fields may hold commas, quotes as "" and
 *    newlines; spaces are kept): a header row names the columns; the id,
 *    text, label and split columns are chosen by name (dataset_csv_options).
 *    id column "-" numbers the records instead (id = record number, 1-based).
 *  - folder: DIR/<label>/<file>, one document per file, label = the
 *    sub-folder's name, id = "<label>/<file>"; files and folders in byte
 *    order. As a corpus is distributed (scikit-learn's load_files,
 *    torchvision's ImageFolder): files at the top level (a README, a
 *    LICENSE) and hidden entries (".x", at either level) are ignored and
 *    counted (dataset_report.ignored_entries, the first names in
 *    .ignored); a class folder with no document is an error naming it;
 *    anything else that is not a regular file inside a class folder is an
 *    error.
 * Text encoding (dataset_decode): UTF-8 by default; any encoding iconv
 * knows (latin-1, cp1252, UTF-16 with a BOM, ...) is converted to UTF-8 as
 * the file is read. An undecodable byte is, as Python's errors= says:
 * strict (the default) an error naming file:line and byte, or for UTF-8 a
 * bad document (DATASET_BAD_UTF8, skip_bad applies); replace: U+FFFD in
 * its place, counted per file (dataset_report.replaced, .replaced_files,
 * the first files in .replaced_list).
 * Messages name file:line (JSONL, CSV: the line where the record starts) or
 * the file path (folder).
 */
#ifndef HB_DATASET_H
#define HB_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "chunker.h"
#include "hb_error.h"
#include "labels.h"
#include "wordpiece.h"

/* Longest document id accepted (bytes): store.h's STORE_DOC_ID_MAX, so an
 * id the store would refuse is refused at validation, not halfway through. */
#define DATASET_ID_MAX 255

/* Values equal store.h's STORE_SPLIT_TRAIN/VAL/TEST. */
typedef enum { DATASET_SPLIT_NONE = -1, DATASET_TRAIN = 0, DATASET_VAL = 1, DATASET_TEST = 2 } dataset_split;
typedef enum { DATASET_AUTO = 0, DATASET_JSONL, DATASET_CSV, DATASET_FOLDER } dataset_format;

/* Document-level problems. Each is an error naming file:line, or, with
 * skip_bad, counted, skipped and reported. Malformed records (bad JSON, bad
 * CSV quoting, a missing or mistyped field) are always errors. */
typedef enum {
    DATASET_BAD_UTF8 = 0,     /* text, chunk, id or label is not valid UTF-8 */
    DATASET_BAD_EMPTY,        /* no token after tokenization (or an empty chunk) */
    DATASET_BAD_DUPLICATE,    /* id seen before (the first one is kept) */
    DATASET_BAD_UNSEEN_LABEL, /* val/test label not among the training labels */
    DATASET_BAD_N
} dataset_bad;

const char *dataset_split_name(dataset_split s);
const char *dataset_bad_name(dataset_bad b);

typedef struct {
    const char *id_column, *text_column, *label_column, *split_column; /* NULL: "id" "text" "label" "split" */
    char delimiter;                                                    /* 0: ',' */
} dataset_csv_options;

/* ------------------------------------------------------------------------ */
/* readers */

typedef struct {
    long docs[3], chunks[3]; /* emitted, per split (train, val, test) */
    long tokens, unk;        /* content tokens emitted, of which [UNK] */
    long truncated_docs, dropped_chunks;
    long bad[DATASET_BAD_N];                   /* skipped documents per reason (skip_bad) */
    char first_bad[DATASET_BAD_N][HB_ERR_LEN]; /* "file:line: reason" of the first one */
    long ignored_entries;                      /* folder: top-level files and hidden entries ignored */
    char ignored[HB_ERR_LEN];                  /* "DIR/README, DIR/.git, ..." (the first ones) */
    long replaced, replaced_files;             /* decode replace: bytes turned into U+FFFD; files with any */
    char replaced_list[HB_ERR_LEN];            /* "FILE (N), ..." (the first ones) */
} dataset_report;

/* How the readers decode bytes (NULL: UTF-8, strict, nothing counted). */
typedef struct {
    const char *encoding; /* NULL or "": UTF-8; else an iconv name ("latin1", "cp1252", "UTF-16") */
    int replace;          /* 1: undecodable bytes -> U+FFFD (counted); 0: strict */
    dataset_report *rep;  /* if set: ignored entries and replacements are counted here */
} dataset_decode;

/* 0 if iconv converts `encoding` to UTF-8; else -1, err naming it. */
int dataset_encoding_check(const char *encoding, char *err);

/* One record as read; pointers valid until the next dataset_next/close. */
typedef struct {
    const char *file;
    long line;         /* first line of the record (1-based); 0 for folder files */
    const char *id;    /* NUL-terminated; JSON integers in decimal */
    const char *label; /* NULL if the record has none */
    const char *text;  /* text document (n_chunks == -1) */
    size_t text_len;   /* may contain NUL bytes (dropped by the tokenizer) */
    int n_chunks;      /* -1 for text; >= 0 for a pre-split `chunks` list */
    const char **chunks;
    const size_t *chunk_lens;
    dataset_split split; /* the record's split field, or DATASET_SPLIT_NONE */
    int bad_utf8;        /* 1: invalid UTF-8 (then only file, line and msg are valid) */
    char msg[HB_ERR_LEN];
} dataset_record;

typedef struct dataset_reader dataset_reader;

/* Format AUTO: a directory is a folder layout, *.csv is CSV, else JSONL. */
dataset_format dataset_detect(const char *path);
int dataset_open(dataset_reader **r, const char *path, dataset_format fmt, const dataset_csv_options *csv, char *err);
/* The same with a decoding (dec may be NULL). A strict decoding error of a
 * JSONL/CSV file in another encoding is found here (the file is converted
 * to UTF-8 as it is opened, into an unlinked temporary file). */
int dataset_open_decoded(dataset_reader **r, const char *path, dataset_format fmt, const dataset_csv_options *csv,
                         const dataset_decode *dec, char *err);
/* 1: a record; 0: end of input; -1: error (err = "file:line: reason"). */
int dataset_next(dataset_reader *r, dataset_record *rec, char *err);
void dataset_close(dataset_reader **r);

/* ------------------------------------------------------------------------ */
/* ingest */

typedef struct {
    const char *path;
    dataset_format format;
    dataset_split role; /* split of records with no split field (TRAIN for --train files, ...) */
} dataset_input;

typedef struct {
    chunk_config chunk; /* L, stride, max chunks, policy; special ids are set from the tokenizer */
    dataset_csv_options csv;
    int skip_bad;           /* 0: the first bad document fails; 1: count, skip, report */
    double val_fraction;    /* > 0: train-role records without a split field are split per split.h */
    uint64_t seed;          /* for val_fraction */
    int labels_from_all;    /* 0: label map from training documents; 1: from every labelled document;
                               2: from training documents, or every one if there are none (inspection) */
    const label_map *fixed; /* if set: use this (final) map; labels outside it are unseen */
    const char *encoding;   /* NULL/"": UTF-8 (dataset_decode) */
    int decode_replace;     /* 1: --decode-errors replace */
} dataset_options;

/* What emit receives: one whole document (pointers valid during the call). */
typedef struct {
    const char *id;
    int label; /* 0..C-1; -1 only for an unlabelled test document */
    dataset_split split;
    const char *file;
    long line;
    int n_chunks, seq_len;
    const int32_t *ids;   /* n_chunks x seq_len, [CLS] .. [SEP] [PAD].. */
    const uint8_t *mask;  /* n_chunks x seq_len, 1 real / 0 pad */
    const int32_t *start; /* per chunk: first content-token offset (text) or chunk-list index */
    /* the same chunks unpadded, as store_writer_put_doc takes them: */
    const uint32_t *chunk_len; /* n_chunks: real tokens per chunk ([CLS] .. [SEP]) */
    const int32_t *packed;     /* sum(chunk_len) ids, chunk after chunk */
    size_t n_packed;
    size_t n_tokens; /* content tokens of the document before chunking */
    size_t n_unk;    /* of which [UNK] */
    int n_dropped;   /* chunks dropped by max_chunks */
} dataset_doc;

/* Returns 0 to go on, -1 (with err) to stop the ingest. */
typedef int (*dataset_emit_fn)(void *ctx, const dataset_doc *doc, char *err);

/*
 * dataset_ingest - validate, label, tokenize and chunk inputs[0..n).
 *
 * Contract (two passes over the inputs):
 *  1. validate: every record is read, checked and tokenized; the label map
 *     is built (from training documents, sorted as labels.h states) and every
 *     val/test label checked against it. Any error -> returns -1 with
 *     "file:line: reason" and emit has NOT been called: nothing was handed
 *     out, nothing needs undoing.
 *  2. emit: the inputs are read again and each kept document is handed to
 *     emit, whole (all its chunks), in input order. A -1 from emit stops the
 *     ingest and is returned with emit's message. Pass 2 checks that each
 *     input yields the same documents as in pass 1 (a file changed in
 *     between fails with a message).
 *  If dataset_ingest returns -1 after emit was called (emit failed, or an
 *  input changed between the passes), the caller discards what it wrote
 *  (e.g. aborts its LMDB transaction): so "bad input is refused with
 *  file:line and nothing half-ingested remains" holds when the caller
 *  commits only after a 0 return. emit may be NULL (validation only).
 *
 *  labels (out): initialised and filled here (the caller labels_free()s it;
 *  a copy of o->fixed if given). rep (out, may be NULL): counts and skips.
 *  tok: the vocabulary (not shared with another thread during the call).
 */
int dataset_ingest(const dataset_input *inputs, int n_inputs, wp_tokenizer *tok, const dataset_options *o,
                   label_map *labels, dataset_emit_fn emit, void *ctx, dataset_report *rep, char *err);

#endif
