/*
 * bert_config.h - the shape of a BERT encoder: Hugging Face's config.json
 * fields, the named presets, and config.json read/write (jansson).
 *
 * Presets (layers/hidden/heads/ffn): tiny 2/128/2/512, mini 4/256/4/1024,
 * small 4/512/8/2048, medium 8/512/8/2048, base 12/768/12/3072; all with
 * vocab 30522, 512 positions, 2 token types, eps 1e-12, dropout 0.1, and a
 * classifier dropout of 0.2 (the recipe's).
 */
#ifndef HB_BERT_CONFIG_H
#define HB_BERT_CONFIG_H

typedef struct {
    int vocab_size;
    int hidden_size;
    int num_hidden_layers;
    int num_attention_heads;
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    float layer_norm_eps;
    float hidden_dropout_prob;
    float attention_probs_dropout_prob;
    /* Dropout before the chunk classifier. HF's `classifier_dropout`; when
     * config.json has null or no such key we keep our default 0.2. */
    float classifier_dropout;
} bert_config;

/* Fills c with preset `name` (tiny, mini, small, medium, base). */
int bert_config_preset(bert_config *c, const char *name, char *err);

/* Checks sizes are positive, heads divide hidden, dropouts in [0,1). */
int bert_config_validate(const bert_config *c, const char *what, char *err);

/* Reads an HF config.json. Unknown keys are ignored; a missing key keeps the
 * base preset's value; a key of the wrong JSON type is an error naming the
 * file and the key. */
int bert_config_read(bert_config *c, const char *path, char *err);

/* What a Hugging Face model directory says about lowercasing: its
 * tokenizer_config.json's "do_lower_case". Returns 1 (true), 0 (false),
 * 2 when the directory does not say (no such file or key), -1 with err
 * naming the file when the file is not JSON or the key not a boolean. */
int bert_dir_lowercase(const char *dir, char *err);

/* Writes config.json in HF's format (model_type "bert", BertModel). */
int bert_config_write(const bert_config *c, const char *path, char *err);

#endif
