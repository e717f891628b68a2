/*
 * test_hfdir.c - Hugging Face directories as the Hub ships them
 * (model/hfdir.h), on self-made directories: weights only as
 * pytorch_model.bin / tf_model.h5 / flax_model.msgpack are refused with the
 * command that converts them, none at all is refused, model.safetensors is
 * taken; a vocabulary comes from vocab.txt, else from tokenizer.json's
 * WordPiece vocabulary (written out by id, whatever the JSON order), and a
 * tokenizer.json that is not WordPiece or has a duplicate or missing id is
 * refused; config.json's keys hierbert does not use are listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hfdir.h"
#include "test_tmpdir.h"

static char s_dir[600];

static const char *s_file(const char *sub, const char *name, const char *content) {
    static char p[1200];
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/%s", s_dir, sub);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(p, sizeof p, "%s/%s/%s", s_dir, sub, name);
    FILE *f = fopen(p, "wb");
    CHECK(f, "create %s", p);
    fputs(content, f);
    fclose(f);
    return p;
}

static const char *s_sub(const char *sub) {
    static char p[800];
    snprintf(p, sizeof p, "%s/%s", s_dir, sub);
    return p;
}

int main(void) {
    char err[HB_ERR_LEN], path[1300], out[1300];
    t_tmpdir(s_dir, sizeof s_dir, "hfdir");

    /* weights */
    s_file("bin", "pytorch_model.bin", "PK\x03\x04 not read");
    CHECK(hfdir_check_weights(s_sub("bin"), err) == -1 && strstr(err, "pytorch_model.bin but no model.safetensors") &&
              strstr(err, "safe_serialization=True") && strstr(err, s_sub("bin")) && strstr(err, "pickle"),
          "bin: %s", err);
    t_ok("pytorch_model.bin only: refused with the conversion: %s", err);
    s_file("tf", "tf_model.h5", "x");
    CHECK(hfdir_check_weights(s_sub("tf"), err) == -1 && strstr(err, "from_tf=True"), "tf: %s", err);
    s_file("flax", "flax_model.msgpack", "x");
    CHECK(hfdir_check_weights(s_sub("flax"), err) == -1 && strstr(err, "from_flax=True"), "flax: %s", err);
    s_file("none", "config.json", "{}");
    CHECK(hfdir_check_weights(s_sub("none"), err) == -1 && strstr(err, "no model.safetensors"), "none: %s", err);
    s_file("bin", "model.safetensors", "x");
    CHECK(hfdir_check_weights(s_sub("bin"), err) == 0, "safetensors beside a .bin refused: %s", err);
    t_ok("tf_model.h5 / flax_model.msgpack refused with from_tf / from_flax; no weights refused; model.safetensors "
         "taken (also beside a .bin)");

    /* vocabulary */
    int made = -1;
    s_file("tok", "tokenizer.json",
           "{\"version\": \"1.0\", \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true}, \"model\": "
           "{\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"hello\": 4, \"[PAD]\": 0, \"##s\": 5, "
           "\"[UNK]\": 1, \"[SEP]\": 3, \"[CLS]\": 2, \"caf\\u00e9\": 6}}}");
    snprintf(out, sizeof out, "%s/made-vocab.txt", s_dir);
    CHECK_OK(hfdir_vocab(s_sub("tok"), out, path, sizeof path, &made, err), err);
    CHECK(made == 1 && !strcmp(path, out), "made %d, path %s", made, path);
    FILE *f = fopen(out, "rb");
    char buf[256] = "";
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    CHECK(!strcmp(buf, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\ncaf\xc3\xa9\n"), "vocab.txt written: [%s]", buf);
    s_file("tok", "vocab.txt", "[PAD]\n");
    CHECK_OK(hfdir_vocab(s_sub("tok"), out, path, sizeof path, &made, err), err);
    CHECK(made == 0 && strstr(path, "tok/vocab.txt"), "vocab.txt not preferred: %s", path);
    t_ok("tokenizer.json's WordPiece vocabulary written as vocab.txt in id order (7 tokens, UTF-8 kept); a vocab.txt "
         "beside it is used as it is");
    s_file("bpe", "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    CHECK(hfdir_vocab(s_sub("bpe"), out, path, sizeof path, &made, err) == -1 && strstr(err, "of type BPE"), "bpe: %s",
          err);
    s_file("dup", "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 0}}}");
    CHECK(hfdir_vocab(s_sub("dup"), out, path, sizeof path, &made, err) == -1 && strstr(err, "once each"), "dup: %s",
          err);
    s_file("gap", "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 2}}}");
    CHECK(hfdir_vocab(s_sub("gap"), out, path, sizeof path, &made, err) == -1 && strstr(err, "id 2 is not one of 0..1"),
          "gap: %s", err);
    CHECK(hfdir_vocab(s_sub("none"), out, path, sizeof path, &made, err) == -1 &&
              strstr(err, "neither vocab.txt nor tokenizer.json"),
          "none: %s", err);
    t_ok("refused: a BPE tokenizer.json, a duplicate id, a gap in the ids (%s), no vocabulary at all", err);

    /* config.json */
    const char *cfg = s_file("cfg", "config.json",
                             "{\"architectures\": [\"BertForMaskedLM\"], \"model_type\": \"bert\", \"vocab_size\": 30, "
                             "\"hidden_size\": 16, \"gradient_checkpointing\": false, \"pad_token_id\": 0, "
                             "\"transformers_version\": \"4.6.0.dev0\", \"use_cache\": true}");
    char list[HB_ERR_LEN];
    int n = hfdir_config_ignored(cfg, list, sizeof list, err);
    CHECK(n == 3 && strstr(list, "gradient_checkpointing") && strstr(list, "pad_token_id") &&
              strstr(list, "use_cache") && !strstr(list, "hidden_size") && !strstr(list, "architectures"),
          "%d: %s", n, list);
    t_ok("config.json: the %d keys hierbert does not use listed (%s); used and descriptive ones not", n, list);

    snprintf(out, sizeof out, "rm -rf %s", s_dir);
    CHECK(system(out) == 0, "cleanup");
    return 0;
}
