/* bert_config.c - BERT shapes: presets and HF config.json read/write. */
#include "bert_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "hb_error.h"

static const struct {
    const char *name;
    int layers, hidden, heads, ffn;
} s_presets[] = {
    {"tiny", 2, 128, 2, 512},    {"mini", 4, 256, 4, 1024},   {"small", 4, 512, 8, 2048},
    {"medium", 8, 512, 8, 2048}, {"base", 12, 768, 12, 3072},
};

int bert_config_preset(bert_config *c, const char *name, char *err) {
    for (size_t i = 0; i < sizeof s_presets / sizeof s_presets[0]; i++) {
        if (strcmp(s_presets[i].name, name) != 0) continue;
        memset(c, 0, sizeof *c);
        c->vocab_size = 30522;
        c->hidden_size = s_presets[i].hidden;
        c->num_hidden_layers = s_presets[i].layers;
        c->num_attention_heads = s_presets[i].heads;
        c->intermediate_size = s_presets[i].ffn;
        c->max_position_embeddings = 512;
        c->type_vocab_size = 2;
        c->layer_norm_eps = 1e-12f;
        c->hidden_dropout_prob = 0.1f;
        c->attention_probs_dropout_prob = 0.1f;
        c->classifier_dropout = 0.2f;
        return 0;
    }
    return hb_fail(err, "unknown BERT preset '%s' (tiny, mini, small, medium, base)", name);
}

int bert_config_validate(const bert_config *c, const char *what, char *err) {
    if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->num_hidden_layers <= 0 || c->num_attention_heads <= 0 ||
        c->intermediate_size <= 0 || c->max_position_embeddings <= 0 || c->type_vocab_size <= 0)
        return hb_fail(err, "%s: sizes must be positive", what);
    if (c->hidden_size % c->num_attention_heads != 0)
        return hb_fail(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d", what, c->hidden_size,
                       c->num_attention_heads);
    if (!(c->layer_norm_eps > 0)) return hb_fail(err, "%s: layer_norm_eps must be > 0", what);
    const float p[3] = {c->hidden_dropout_prob, c->attention_probs_dropout_prob, c->classifier_dropout};
    for (int i = 0; i < 3; i++)
        if (!(p[i] >= 0 && p[i] < 1)) return hb_fail(err, "%s: dropout probabilities must be in [0, 1)", what);
    return 0;
}

static int s_get_int(json_t *root, const char *key, int *out, const char *path, char *err) {
    json_t *v = json_object_get(root, key);
    if (!v) return 0;
    if (!json_is_integer(v)) return hb_fail(err, "%s: key \"%s\": expected an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x <= 0 || x > (1 << 30)) return hb_fail(err, "%s: key \"%s\": %lld out of range", path, key, (long long)x);
    *out = (int)x;
    return 0;
}

static int s_get_float(json_t *root, const char *key, float *out, int null_ok, const char *path, char *err) {
    json_t *v = json_object_get(root, key);
    if (!v || (null_ok && json_is_null(v))) return 0;
    if (!json_is_number(v)) return hb_fail(err, "%s: key \"%s\": expected a number", path, key);
    *out = (float)json_number_value(v);
    return 0;
}

int bert_config_read(bert_config *c, const char *path, char *err) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return hb_fail(err, "%s:%d: %s", path, je.line, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        hb_fail(err, "%s: expected a JSON object", path);
        goto out;
    }
    bert_config_preset(c, "base", NULL);
    if (s_get_int(root, "vocab_size", &c->vocab_size, path, err) ||
        s_get_int(root, "hidden_size", &c->hidden_size, path, err) ||
        s_get_int(root, "num_hidden_layers", &c->num_hidden_layers, path, err) ||
        s_get_int(root, "num_attention_heads", &c->num_attention_heads, path, err) ||
        s_get_int(root, "intermediate_size", &c->intermediate_size, path, err) ||
        s_get_int(root, "max_position_embeddings", &c->max_position_embeddings, path, err) ||
        s_get_int(root, "type_vocab_size", &c->type_vocab_size, path, err) ||
        s_get_float(root, "layer_norm_eps", &c->layer_norm_eps, 0, path, err) ||
        s_get_float(root, "hidden_dropout_prob", &c->hidden_dropout_prob, 0, path, err) ||
        s_get_float(root, "attention_probs_dropout_prob", &c->attention_probs_dropout_prob, 0, path, err) ||
        s_get_float(root, "classifier_dropout", &c->classifier_dropout, 1, path, err))
        goto out;
    json_t *act = json_object_get(root, "hidden_act");
    if (act && (!json_is_string(act) || strcmp(json_string_value(act), "gelu") != 0)) {
        hb_fail(err, "%s: key \"hidden_act\": only \"gelu\" (exact erf GELU) is supported", path);
        goto out;
    }
    json_t *pet = json_object_get(root, "position_embedding_type");
    if (pet && (!json_is_string(pet) || strcmp(json_string_value(pet), "absolute") != 0)) {
        hb_fail(err, "%s: key \"position_embedding_type\": only \"absolute\" is supported", path);
        goto out;
    }
    rc = bert_config_validate(c, path, err);
out:
    json_decref(root);
    return rc;
}

int bert_config_write(const bert_config *c, const char *path, char *err) {
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", "BertModel"));
    json_object_set_new(o, "model_type", json_string("bert"));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->num_hidden_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_attention_heads));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(o, "type_vocab_size", json_integer(c->type_vocab_size));
    json_object_set_new(o, "layer_norm_eps", json_real(c->layer_norm_eps));
    json_object_set_new(o, "hidden_dropout_prob", json_real(c->hidden_dropout_prob));
    json_object_set_new(o, "attention_probs_dropout_prob", json_real(c->attention_probs_dropout_prob));
    json_object_set_new(o, "classifier_dropout", json_real(c->classifier_dropout));
    json_object_set_new(o, "hidden_act", json_string("gelu"));
    json_object_set_new(o, "initializer_range", json_real(0.02));
    json_object_set_new(o, "position_embedding_type", json_string("absolute"));
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    json_decref(o);
    return rc == 0 ? 0 : hb_fail(err, "%s: cannot write config.json", path);
}

int bert_dir_lowercase(const char *dir, char *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) /* absent: the directory does not say; there but unreadable (or confined away): an error */
        return errno == ENOENT ? 2 : hb_fail(err, "%s: cannot open: %s", path, strerror(errno));
    json_error_t je;
    json_t *root = json_loadf(f, 0, &je);
    fclose(f);
    if (!root) return hb_fail(err, "%s:%d: %s", path, je.line, je.text);
    json_t *v = json_is_object(root) ? json_object_get(root, "do_lower_case") : NULL;
    int rc = 2;
    if (!json_is_object(root))
        rc = hb_fail(err, "%s: not a JSON object", path);
    else if (v && !json_is_boolean(v))
        rc = hb_fail(err, "%s: \"do_lower_case\": expected true or false", path);
    else if (v)
        rc = json_is_true(v);
    json_decref(root);
    return rc;
}
