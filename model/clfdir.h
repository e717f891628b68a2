/*
 * clfdir.h - the exported document classifier: one directory a Hugging Face
 * user recognises, and everything `hierbert predict` needs to run it.
 *
 *   config.json        BertConfig fields (bert_config_write) plus
 *                      "num_labels", "id2label", "label2id" (HF's keys) and
 *                      our own settings under "hierbert":
 *                        {"format": 1, "seq_len": L, "stride": S,
 *                         "max_chunks": M, "chunk_policy": "first"|"spread"|"head-tail",
 *                         "do_lower_case": true|false, "num_labels": C,
 *                         "head": {"type": "lstm", "input_dim": H,
 *                                  "units": U, "dense_units": D,
 *                                  "n_classes": C}}
 *                      (stride is the effective one: L - 2 when there is no
 *                      overlap.)
 *   vocab.txt          the WordPiece vocabulary the documents were cut with
 *   model.safetensors  the encoder under BertModel's names, plus the chunk
 *                      classifier (classifier.weight [C,H], classifier.bias [C])
 *   head.safetensors   the LSTM head (lstm.h's names and shapes)
 *   labels.json        {"labels": [...]}: class id -> label (labels.h)
 *
 * Writing is atomic for the directory as a whole: every file goes into a
 * fresh sibling "DIR.tmp-XXXXXX", is fsynced, and the directory is renamed
 * into place. An existing DIR is replaced only if it is empty or is itself
 * an exported model (its config.json has a "hierbert" object); anything
 * else is refused, so an export never deletes a user's unrelated files.
 *
 * Loading checks every file before the model is used, and every error names
 * the file: a missing file, a config.json without the "hierbert" object, a
 * tensor of the wrong shape, labels.json with a label count other than
 * num_labels, the classifier's or the head's class count, a vocab.txt whose
 * size is not vocab_size, a head whose input is not the encoder's hidden size.
 */
#ifndef HB_CLFDIR_H
#define HB_CLFDIR_H

#include "bert.h"
#include "chunker.h"
#include "hb_error.h"
#include "labels.h"
#include "lstm.h"
#include "wordpiece.h"

#define CLFDIR_FORMAT 1

/* How documents were cut into chunks at training time; predict must do the same. */
typedef struct {
    int seq_len;         /* L, including [CLS] and [SEP] */
    int stride;          /* S; 0 means L - 2 (no overlap) */
    int max_chunks;      /* M; 0 = unlimited */
    chunk_policy policy; /* which windows are kept when a document has more than M */
    int lowercase;       /* 1: uncased vocabulary (lowercase + strip accents) */
} clfdir_chunking;

/* A loaded classifier directory. */
typedef struct {
    char *dir;
    clfdir_chunking chunking;
    chunk_config chunk; /* chunking with the vocabulary's [CLS]/[SEP]/[PAD] ids */
    bert_model *bert;   /* num_classes = labels.n; arena max_batch x seq_len */
    lstm_model *head;   /* input_dim = hidden_size, n_classes = labels.n */
    wp_tokenizer *tok;
    label_map labels;
} clfdir;

/*
 * Writes the directory (see above). The vocabulary comes from vocab_path
 * (copied byte for byte) or, if vocab_path is NULL, from tok (one token per
 * id). Refuses, before writing anything, a label count that is not the
 * classifier's and the head's class count, a head whose input_dim is not the
 * hidden size, a vocabulary whose size is not vocab_size, and chunk settings
 * that do not fit the encoder (L > max_position_embeddings).
 */
int clfdir_write(const char *dir, const bert_model *bert, const lstm_model *head, const char *vocab_path,
                 const wp_tokenizer *tok, const label_map *labels, const clfdir_chunking *chunking, char *err);

/* Loads DIR; the encoder's arena takes batches of up to max_batch chunks
 * (>= 1). Set the OpenMP thread count before (bert_new sizes its scratch). */
int clfdir_load(clfdir **out, const char *dir, int max_batch, char *err);
void clfdir_destroy(clfdir **c);

/* Reads only config.json: the encoder's shape, the chunk settings and the
 * class count (any pointer may be NULL). */
int clfdir_read_config(const char *dir, bert_config *cfg, clfdir_chunking *chunking, int *num_labels, char *err);

#endif
