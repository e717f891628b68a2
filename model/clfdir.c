/*
 * clfdir.c - the exported classifier directory: write it atomically, load it
 * back with every cross-file check (see clfdir.h).
 */
#include "clfdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#define CLFDIR_PATH 4096

static const char *const s_files[] = {"config.json", "vocab.txt", "model.safetensors", "head.safetensors",
                                      "labels.json"};
enum { S_NFILES = 5 };

/* ---- small file helpers -------------------------------------------------- */

static int s_fsync_path(const char *path, char *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return hb_fail(err, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : hb_fail(err, "%s: fsync: %s", path, strerror(e));
}

/* Removes dir and the regular files in it (our directories are flat). */
static void s_remove_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[CLFDIR_PATH];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* 1 if dir exists and has no entries. */
static int s_is_empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

/* 1 if dir/config.json is a JSON object with a "hierbert" object: an export. */
static int s_is_clfdir(const char *dir) {
    char p[CLFDIR_PATH + 32];
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *root = json_load_file(p, 0, NULL);
    int yes = root && json_is_object(json_object_get(root, "hierbert"));
    json_decref(root);
    return yes;
}

static int s_copy_file(const char *src, const char *dst, char *err) {
    FILE *in = fopen(src, "rb");
    if (!in) return hb_fail(err, "%s: cannot read: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return hb_fail(err, "%s: cannot create: %s", dst, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) {
            rc = hb_fail(err, "%s: write error: %s", dst, strerror(errno));
            break;
        }
    if (rc == 0 && ferror(in)) rc = hb_fail(err, "%s: read error", src);
    fclose(in);
    if (fclose(out) != 0 && rc == 0) rc = hb_fail(err, "%s: write error: %s", dst, strerror(errno));
    return rc;
}

static int s_write_vocab(const wp_tokenizer *t, const char *dst, char *err) {
    FILE *out = fopen(dst, "wb");
    if (!out) return hb_fail(err, "%s: cannot create: %s", dst, strerror(errno));
    for (int i = 0; i < t->n_tokens; i++) fprintf(out, "%s\n", t->tokens[i]);
    if (ferror(out) | (fclose(out) != 0)) return hb_fail(err, "%s: write error", dst);
    return 0;
}

/* config.json: bert_config_write's HF fields, then HF's label keys and ours. */
static int s_write_config(const char *path, const bert_config *c, const lstm_model *head, const label_map *labels,
                          const clfdir_chunking *ch, char *err) {
    if (bert_config_write(c, path, err) != 0) return -1;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return hb_fail(err, "%s:%d: %s", path, je.line, je.text);
    json_object_set_new(root, "num_labels", json_integer(labels->n));
    json_t *id2label = json_object(), *label2id = json_object();
    for (int i = 0; i < labels->n; i++) {
        char k[32];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(id2label, k, json_string(labels_name(labels, i)));
        json_object_set_new(label2id, labels_name(labels, i), json_integer(i));
    }
    json_object_set_new(root, "id2label", id2label);
    json_object_set_new(root, "label2id", label2id);
    json_t *h = json_object();
    json_object_set_new(h, "format", json_integer(CLFDIR_FORMAT));
    json_object_set_new(h, "seq_len", json_integer(ch->seq_len));
    json_object_set_new(h, "stride", json_integer(ch->stride ? ch->stride : ch->seq_len - 2));
    json_object_set_new(h, "max_chunks", json_integer(ch->max_chunks));
    json_object_set_new(h, "chunk_policy", json_string(chunk_policy_name(ch->policy)));
    json_object_set_new(h, "do_lower_case", json_boolean(ch->lowercase));
    json_object_set_new(h, "num_labels", json_integer(labels->n));
    json_object_set_new(h, "head",
                        json_pack("{s:s, s:i, s:i, s:i, s:i}", "type", "lstm", "input_dim", head->cfg.input_dim,
                                  "units", head->cfg.units, "dense_units", head->cfg.dense_units, "n_classes",
                                  head->cfg.n_classes));
    json_object_set_new(root, "hierbert", h);
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    json_decref(root);
    return rc == 0 ? 0 : hb_fail(err, "%s: cannot write", path);
}

/* ---- write --------------------------------------------------------------- */

static int s_check_chunking(const clfdir_chunking *ch, const bert_config *c, const char *what, char *err) {
    if (ch->seq_len < 3) return hb_fail(err, "%s: seq_len %d: at least 3 ([CLS] token [SEP])", what, ch->seq_len);
    if (ch->seq_len > c->max_position_embeddings)
        return hb_fail(err, "%s: seq_len %d exceeds max_position_embeddings %d", what, ch->seq_len,
                       c->max_position_embeddings);
    if (ch->stride < 0 || ch->stride > ch->seq_len - 2)
        return hb_fail(err, "%s: stride %d: must be in 1..L-2 = %d (0: no overlap)", what, ch->stride, ch->seq_len - 2);
    if (ch->max_chunks < 0) return hb_fail(err, "%s: max_chunks %d: must be >= 0 (0: unlimited)", what, ch->max_chunks);
    if ((unsigned)ch->policy > CHUNK_KEEP_HEAD_TAIL)
        return hb_fail(err, "%s: unknown chunk policy %d", what, (int)ch->policy);
    return 0;
}

/* the mode mkdir gives a new directory in dir (0777 less the umask), learnt
 * by making one: umask(2) cannot be read without setting it for every
 * thread at once, and /proc may be out of a confined thread's reach */
static mode_t s_mkdir_mode(const char *dir) {
    char probe[CLFDIR_PATH + 48];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/.mode-probe", dir);
    mode_t m = 0755;
    if (mkdir(probe, 0777) == 0) {
        if (stat(probe, &st) == 0) m = st.st_mode & 0777;
        rmdir(probe);
    }
    return m;
}

int clfdir_write(const char *dir, const bert_model *bert, const lstm_model *head, const char *vocab_path,
                 const wp_tokenizer *tok, const label_map *labels, const clfdir_chunking *chunking, char *err) {
    /* everything that can be checked is checked before a byte is written */
    if (!bert || !head || !labels || !chunking || (!vocab_path && !tok))
        return hb_fail(err, "%s: export needs an encoder, a head, a vocabulary, a label map and chunk settings", dir);
    if (!labels->final || labels->n < 1) return hb_fail(err, "%s: the label map is empty or not finalized", dir);
    if (labels->n != bert->num_classes)
        return hb_fail(err, "%s: %d labels but the chunk classifier has %d classes", dir, labels->n, bert->num_classes);
    if (labels->n != head->cfg.n_classes)
        return hb_fail(err, "%s: %d labels but the LSTM head has %d classes", dir, labels->n, head->cfg.n_classes);
    if (head->cfg.input_dim != bert->cfg.hidden_size)
        return hb_fail(err, "%s: the head reads %d-dim vectors but the encoder's hidden size is %d", dir,
                       head->cfg.input_dim, bert->cfg.hidden_size);
    if (s_check_chunking(chunking, &bert->cfg, dir, err)) return -1;
    int n_vocab = tok ? tok->n_tokens : 0;
    if (vocab_path) {
        wp_tokenizer *t;
        if (wp_load(&t, vocab_path, chunking->lowercase, err)) return -1;
        n_vocab = t->n_tokens;
        wp_destroy(&t);
    }
    if (n_vocab != bert->cfg.vocab_size)
        return hb_fail(err, "%s: vocabulary %s has %d tokens but the encoder's vocab_size is %d", dir,
                       vocab_path ? vocab_path : "(tokenizer)", n_vocab, bert->cfg.vocab_size);

    /* the sibling temporary directory */
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl + 64 > CLFDIR_PATH) return hb_fail(err, "%.64s...: path too long", dir);
    char target[CLFDIR_PATH], tmp[CLFDIR_PATH + 32], old[CLFDIR_PATH + 32], path[CLFDIR_PATH + 64];
    snprintf(target, sizeof target, "%.*s", (int)dl, dir);
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", target);
    if (!mkdtemp(tmp))
        return hb_fail(err, "%s: cannot create a temporary directory beside it: %s", target, strerror(errno));
    /* mkdtemp's 0700 -> what mkdir would make: 0755 under umask 022, 0750
     * under the coordinator's 027 (a job's model is not world-readable) */
    chmod(tmp, s_mkdir_mode(tmp));
    int rc = 0;
    snprintf(path, sizeof path, "%s/config.json", tmp);
    rc = s_write_config(path, &bert->cfg, head, labels, chunking, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s/vocab.txt", tmp);
        rc = vocab_path ? s_copy_file(vocab_path, path, err) : s_write_vocab(tok, path, err);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.safetensors", tmp);
        rc = bert_save_safetensors(bert, path, err);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/head.safetensors", tmp);
        rc = lstm_save(head, path, err);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/labels.json", tmp);
        rc = labels_save(labels, path, err);
    }
    for (int i = 0; !rc && i < S_NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, s_files[i]);
        rc = s_fsync_path(path, err);
    }
    if (!rc) rc = s_fsync_path(tmp, err);
    if (rc) {
        s_remove_flat(tmp);
        return -1;
    }

    /* into place */
    struct stat st;
    old[0] = 0;
    if (stat(target, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            s_remove_flat(tmp);
            return hb_fail(err, "%s: exists and is not a directory", target);
        }
        if (s_is_empty_dir(target)) {
            rmdir(target);
        } else if (s_is_clfdir(target)) {
            snprintf(old, sizeof old, "%s.old-XXXXXX", target);
            if (!mkdtemp(old) || rename(target, old) != 0) {
                int e = errno;
                if (old[0] && strstr(old, "XXXXXX") == NULL) rmdir(old);
                s_remove_flat(tmp);
                return hb_fail(err, "%s: cannot move the previous export aside: %s", target, strerror(e));
            }
        } else {
            s_remove_flat(tmp);
            return hb_fail(err,
                           "%s: exists, is not empty and is not an exported model (no \"hierbert\" in its "
                           "config.json): refusing to replace it",
                           target);
        }
    }
    if (rename(tmp, target) != 0) {
        int e = errno;
        if (old[0]) rename(old, target);
        s_remove_flat(tmp);
        return hb_fail(err, "%s: cannot rename %s into place: %s", target, tmp, strerror(e));
    }
    if (old[0]) s_remove_flat(old);
    char parent[CLFDIR_PATH];
    snprintf(parent, sizeof parent, "%s", target);
    return s_fsync_path(dirname(parent), err);
}

/* ---- read ---------------------------------------------------------------- */

static int s_json_int(json_t *o, const char *key, int lo, int *out, const char *path, char *err) {
    json_t *v = json_object_get(o, key);
    if (!v) return hb_fail(err, "%s: \"hierbert\" has no \"%s\"", path, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > (1 << 30))
        return hb_fail(err, "%s: \"hierbert\".\"%s\": expected an integer >= %d", path, key, lo);
    *out = (int)json_integer_value(v);
    return 0;
}

int clfdir_read_config(const char *dir, bert_config *cfg_out, clfdir_chunking *ch_out, int *num_labels, char *err) {
    char path[CLFDIR_PATH + 32];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (access(path, R_OK) != 0)
        return hb_fail(err,
                       "%s: %s (an exported model directory holds config.json, vocab.txt, model.safetensors, "
                       "head.safetensors, labels.json)",
                       path, strerror(errno));
    bert_config c;
    if (bert_config_read(&c, path, err) != 0) return -1;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return hb_fail(err, "%s:%d: %s", path, je.line, je.text);
    json_t *h = json_object_get(root, "hierbert");
    int rc = -1, nl = 0, fmt = 0;
    clfdir_chunking ch = {0};
    if (!json_is_object(h)) {
        hb_fail(err, "%s: no \"hierbert\" object: an encoder directory, not an exported document classifier", path);
        goto out;
    }
    if (s_json_int(h, "format", 1, &fmt, path, err)) goto out;
    if (fmt != CLFDIR_FORMAT) {
        hb_fail(err, "%s: \"hierbert\".\"format\" %d: this hierbert reads format %d (export the model again)", path,
                fmt, CLFDIR_FORMAT);
        goto out;
    }
    if (s_json_int(h, "seq_len", 3, &ch.seq_len, path, err) || s_json_int(h, "stride", 1, &ch.stride, path, err) ||
        s_json_int(h, "max_chunks", 0, &ch.max_chunks, path, err) || s_json_int(h, "num_labels", 1, &nl, path, err))
        goto out;
    json_t *pol = json_object_get(h, "chunk_policy"), *lc = json_object_get(h, "do_lower_case");
    if (!json_is_string(pol) || chunk_policy_parse(json_string_value(pol), &ch.policy, NULL)) {
        hb_fail(err, "%s: \"hierbert\".\"chunk_policy\": expected \"first\", \"head-tail\" or \"spread\"", path);
        goto out;
    }
    if (!json_is_boolean(lc)) {
        hb_fail(err, "%s: \"hierbert\".\"do_lower_case\": expected true or false", path);
        goto out;
    }
    ch.lowercase = json_is_true(lc);
    if (s_check_chunking(&ch, &c, path, err)) goto out;
    if (cfg_out) *cfg_out = c;
    if (ch_out) *ch_out = ch;
    if (num_labels) *num_labels = nl;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The head sizes config.json states, to compare with head.safetensors. */
static int s_config_head(const char *dir, lstm_config *hc, char *err) {
    char path[CLFDIR_PATH + 32];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *root = json_load_file(path, 0, NULL);
    json_t *h = root ? json_object_get(json_object_get(root, "hierbert"), "head") : NULL;
    int rc = -1;
    if (!json_is_object(h)) {
        hb_fail(err, "%s: \"hierbert\" has no \"head\" object", path);
    } else if (!json_is_string(json_object_get(h, "type")) ||
               strcmp(json_string_value(json_object_get(h, "type")), "lstm") != 0) {
        hb_fail(err, "%s: \"hierbert\".\"head\".\"type\": only \"lstm\" is known", path);
    } else if (!s_json_int(h, "input_dim", 1, &hc->input_dim, path, err) &&
               !s_json_int(h, "units", 1, &hc->units, path, err) &&
               !s_json_int(h, "dense_units", 1, &hc->dense_units, path, err) &&
               !s_json_int(h, "n_classes", 1, &hc->n_classes, path, err)) {
        rc = 0;
    }
    json_decref(root);
    return rc;
}

void clfdir_destroy(clfdir **cp) {
    clfdir *c = cp ? *cp : NULL;
    if (!c) return;
    bert_destroy(&c->bert);
    lstm_destroy(&c->head);
    wp_destroy(&c->tok);
    labels_free(&c->labels);
    free(c->dir);
    free(c);
    *cp = NULL;
}

int clfdir_load(clfdir **out, const char *dir, int max_batch, char *err) {
    *out = NULL;
    if (max_batch < 1) return hb_fail(err, "%s: max_batch %d: must be >= 1", dir, max_batch);
    char path[CLFDIR_PATH + 32];
    for (int i = 0; i < S_NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s_files[i]);
        if (access(path, R_OK) != 0)
            return hb_fail(err,
                           "%s: %s (an exported model directory holds config.json, vocab.txt, "
                           "model.safetensors, head.safetensors, labels.json)",
                           path, strerror(errno));
    }
    bert_config cfg;
    lstm_config hc = {0};
    int nl;
    clfdir *c = hb_calloc(1, sizeof *c);
    c->dir = strdup(dir);
    labels_init(&c->labels);
    if (clfdir_read_config(dir, &cfg, &c->chunking, &nl, err) || s_config_head(dir, &hc, err)) goto fail;

    snprintf(path, sizeof path, "%s/labels.json", dir);
    if (labels_load(&c->labels, path, err)) goto fail;
    if (c->labels.n != nl) {
        hb_fail(err, "%s: %d labels but config.json says num_labels %d", path, c->labels.n, nl);
        goto fail;
    }

    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (wp_load(&c->tok, path, c->chunking.lowercase, err)) goto fail;
    if (c->tok->n_tokens != cfg.vocab_size) {
        hb_fail(err, "%s: %d tokens but config.json says vocab_size %d", path, c->tok->n_tokens, cfg.vocab_size);
        goto fail;
    }
    c->chunk = (chunk_config){c->chunking.seq_len, c->chunking.stride, c->chunking.max_chunks, c->chunking.policy,
                              c->tok->cls_id,      c->tok->sep_id,     c->tok->pad_id};
    if (chunk_config_check(&c->chunk, err)) goto fail;

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (bert_new(&c->bert, &cfg, nl, max_batch, c->chunking.seq_len, err)) goto fail;
    int has_head = 0;
    if (bert_load_safetensors(c->bert, path, &has_head, err)) goto fail;
    if (!has_head) {
        hb_fail(err, "%s: no classifier.weight / classifier.bias: the chunk classifier is part of an export", path);
        goto fail;
    }

    snprintf(path, sizeof path, "%s/head.safetensors", dir);
    if (lstm_load(&c->head, path, err)) goto fail;
    const lstm_config *lc = &c->head->cfg;
    if (lc->n_classes != nl) {
        hb_fail(err, "%s: the head has %d classes but labels.json has %d labels", path, lc->n_classes, nl);
        goto fail;
    }
    if (lc->input_dim != cfg.hidden_size) {
        hb_fail(err, "%s: the head reads %d-dim vectors but the encoder's hidden_size is %d", path, lc->input_dim,
                cfg.hidden_size);
        goto fail;
    }
    if (lc->units != hc.units || lc->dense_units != hc.dense_units || hc.input_dim != lc->input_dim ||
        hc.n_classes != lc->n_classes) {
        hb_fail(err, "%s: head sizes %d -> %d -> %d -> %d differ from config.json's %d -> %d -> %d -> %d", path,
                lc->input_dim, lc->units, lc->dense_units, lc->n_classes, hc.input_dim, hc.units, hc.dense_units,
                hc.n_classes);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    clfdir_destroy(&c);
    return -1;
}
