/* hfdir.c - a Hugging Face directory as the Hub ships it (hfdir.h). */
#include "hfdir.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int s_exists(const char *dir, const char *name) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int hfdir_check_weights(const char *dir, char *err) {
    if (s_exists(dir, "model.safetensors")) return 0;
    static const char *const other[] = {"pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"};
    for (int k = 0; k < 3; k++)
        if (s_exists(dir, other[k]))
            return hb_fail(err,
                           "%s: %s but no model.safetensors: hierbert reads safetensors only (%s). "
                           "Convert it once, with transformers installed: python3 -c \"from transformers import "
                           "AutoModel; AutoModel.from_pretrained('%s'%s).save_pretrained('%s', "
                           "safe_serialization=True)\"",
                           dir, other[k],
                           k == 0 ? "a .bin is a pickle, and loading a pickle runs code" : "not TF or Flax files", dir,
                           k == 1   ? ", from_tf=True"
                           : k == 2 ? ", from_flax=True"
                                    : "",
                           dir);
    return hb_fail(err,
                   "%s: no model.safetensors (a Hugging Face BERT directory: config.json, model.safetensors, "
                   "vocab.txt or tokenizer.json)",
                   dir);
}

int hfdir_vocab(const char *dir, const char *out_vocab, char *path, size_t n, int *made, char *err) {
    *made = 0;
    if (s_exists(dir, "vocab.txt")) {
        snprintf(path, n, "%s/vocab.txt", dir);
        return 0;
    }
    char tj[4200];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    if (!s_exists(dir, "tokenizer.json")) return hb_fail(err, "%s: neither vocab.txt nor tokenizer.json", dir);
    json_error_t je;
    json_t *root = json_load_file(tj, 0, &je);
    if (!root) return hb_fail(err, "%s:%d: %s", tj, je.line, je.text);
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    const char *type = json_string_value(json_object_get(model, "type"));
    int rc = 0;
    char **tok = NULL;
    size_t V = json_object_size(vocab);
    if (!type || strcmp(type, "WordPiece") || !json_is_object(vocab) || V == 0) {
        rc = hb_fail(err, "%s: \"model\" is %s%s, not a WordPiece vocabulary (BERT's)", tj,
                     type ? "of type " : "not given", type ? type : "");
    } else {
        tok = calloc(V, sizeof *tok);
        const char *key;
        json_t *v;
        json_object_foreach(vocab, key, v) {
            json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
            if (id < 0 || (size_t)id >= V || tok[id] || strchr(key, '\n')) {
                rc = hb_fail(err, "%s: vocab token '%.40s': id %lld is not one of 0..%zu, once each", tj, key,
                             (long long)id, V - 1);
                break;
            }
            tok[id] = strdup(key);
        }
    }
    if (rc == 0) {
        FILE *f = fopen(out_vocab, "wb");
        if (!f) rc = hb_fail(err, "%s: cannot create: %s", out_vocab, strerror(errno));
        for (size_t i = 0; f && i < V; i++) fprintf(f, "%s\n", tok[i]);
        if (f && (ferror(f) | (fclose(f) != 0))) rc = hb_fail(err, "%s: write error", out_vocab);
        if (rc == 0) {
            snprintf(path, n, "%s", out_vocab);
            *made = 1;
        }
    }
    for (size_t i = 0; tok && i < V; i++) free(tok[i]);
    free(tok);
    json_decref(root);
    return rc;
}

int hfdir_config_ignored(const char *config_path, char *list, size_t n, char *err) {
    /* read by bert_config_read, or what the model is without changing the encoder */
    static const char *const used[] = {"vocab_size",
                                       "hidden_size",
                                       "num_hidden_layers",
                                       "num_attention_heads",
                                       "intermediate_size",
                                       "max_position_embeddings",
                                       "type_vocab_size",
                                       "layer_norm_eps",
                                       "hidden_dropout_prob",
                                       "attention_probs_dropout_prob",
                                       "classifier_dropout",
                                       "hidden_act",
                                       "position_embedding_type",
                                       "architectures",
                                       "model_type",
                                       "transformers_version",
                                       "_name_or_path",
                                       "initializer_range",
                                       "hierbert",
                                       "torch_dtype",
                                       "id2label",
                                       "label2id",
                                       NULL};
    json_error_t je;
    json_t *root = json_load_file(config_path, 0, &je);
    if (!root) return hb_fail(err, "%s:%d: %s", config_path, je.line, je.text);
    list[0] = '\0';
    int count = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int known = 0;
        for (int k = 0; used[k] && !known; k++) known = !strcmp(key, used[k]);
        if (known) continue;
        size_t len = strlen(list);
        if (len + strlen(key) + 8 < n)
            snprintf(list + len, n - len, "%s%s", count ? ", " : "", key);
        else if (len + 6 < n && (len < 4 || strcmp(list + len - 3, "...")))
            snprintf(list + len, n - len, ", ...");
        count++;
    }
    json_decref(root);
    return count;
}
