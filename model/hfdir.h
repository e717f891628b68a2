/*
 * hfdir.h - a Hugging Face BERT directory as the Hub ships it, before
 * bert_load_dir reads it: what it holds and what hierbert makes of it.
 *
 *  - weights: model.safetensors (F32, F16 or BF16: safetensors.h). A
 *    directory with only pytorch_model.bin (a Python pickle; not read
 *    here: loading one runs code) or tf_model.h5 / flax_model.msgpack is
 *    refused with the one command that converts it.
 *  - vocabulary: vocab.txt, or, when there is none, the WordPiece vocabulary
 *    of tokenizer.json ("model": {"type": "WordPiece", "vocab": {token:
 *    id}}: ids 0..n-1, each once) written out as a vocab.txt.
 *  - config.json: the keys bert_config_read uses, plus those that say what
 *    the model is without changing the encoder (architectures, model_type,
 *    ...); every other key is listed by hfdir_config_ignored so a user sees
 *    once, at load, what hierbert does not honour.
 */
#ifndef HB_HFDIR_H
#define HB_HFDIR_H

#include <stddef.h>

#include "hb_error.h"

/* 0 if dir has model.safetensors; else -1 with err naming what it has
 * instead and how to convert it (or that it has no weights at all). */
int hfdir_check_weights(const char *dir, char *err);

/* The vocabulary file to use: dir/vocab.txt if it exists (*made = 0); else
 * tokenizer.json's WordPiece vocabulary written to out_vocab (*made = 1).
 * -1 (err) if neither, or tokenizer.json is not a WordPiece vocabulary. */
int hfdir_vocab(const char *dir, const char *out_vocab, char *path, size_t n, int *made, char *err);

/* config.json's keys hierbert ignores, ", "-separated into list[n] ("" if
 * none); returns how many, -1 (err) if the file cannot be read. */
int hfdir_config_ignored(const char *config_path, char *list, size_t n, char *err);

#endif
