/*
 * test_clfdir.c - the exported classifier directory (model/clfdir.h) and the
 * predict API (model/predict.h):
 *  - write -> load round trip is bit-exact (encoder + classifier, head,
 *    labels, vocabulary, chunk settings, encoder config);
 *  - predict_text equals the pipeline composed by hand on the writer's own
 *    model (tokenize, chunk, bert_embed_cls, lstm_predict, softmax vote),
 *    bit for bit; probabilities sum to 1; batching documents together gives
 *    the answers of one at a time;
 *  - re-exporting over an export replaces it; a foreign non-empty directory
 *    is refused and left alone; inconsistent inputs are refused before a
 *    byte is written;
 *  - every bad directory is refused with an error naming the file.
 *
 * The same program is the helper of tests/test_predict_cli.sh:
 *   test_clfdir make DIR FILE       writes a tiny model (vocab_small, L=32) trained a few
 *                                   steps on FILE's labelled documents
 *   test_clfdir predict DIR FILE    predicts FILE's documents one at a time through
 *                                   the C API: "id<TAB>label<TAB>p0 p1 ..." (%.9g)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "clfdir.h"
#include "dataset.h"
#include "metrics.h"
#include "predict.h"
#include "safetensors.h"
#include "test_tmpdir.h"

#define VOCAB HB_SOURCE_DIR "/tests/data/vocab_small.txt"

typedef struct {
    bert_model *bert;
    lstm_model *head;
    label_map labels;
    clfdir_chunking ch;
} s_model;

/* tiny preset shrunk to the small vocabulary: 2 layers, hidden 128, L 32 */
static void s_make(s_model *m, const char *const *labels, int n_labels, uint64_t seed) {
    char err[HB_ERR_LEN];
    wp_tokenizer *t;
    CHECK_OK(wp_load(&t, VOCAB, 1, err), err);
    bert_config c;
    CHECK_OK(bert_config_preset(&c, "tiny", err), err);
    c.vocab_size = t->n_tokens;
    c.max_position_embeddings = 64;
    wp_destroy(&t);
    labels_init(&m->labels);
    for (int i = 0; i < n_labels; i++) CHECK_OK(labels_add(&m->labels, labels[i], err), err);
    labels_finalize(&m->labels);
    CHECK_OK(bert_new(&m->bert, &c, m->labels.n, 8, 32, err), err);
    bert_init_random(m->bert, seed);
    lstm_config lc = {c.hidden_size, 16, 8, m->labels.n};
    CHECK_OK(lstm_new(&m->head, &lc, seed + 1, err), err);
    m->ch = (clfdir_chunking){32, 0, 4, CHUNK_KEEP_SPREAD, 1};
}

static void s_free(s_model *m) {
    bert_destroy(&m->bert);
    lstm_destroy(&m->head);
    labels_free(&m->labels);
}

/* ---- helper modes for test_predict_cli.sh -------------------------------- */

/* the labelled chunks of a file, as the coordinator's ingest cuts them */
typedef struct {
    int L, n_docs, n_rows, cap_rows;
    int32_t *ids;
    uint8_t *mask;
    int *row_label, *doc_label, *doc_rows;
} s_chunks;

static int s_collect(void *ctx, const dataset_doc *d, char *err) {
    (void)err;
    s_chunks *s = ctx;
    if (d->label < 0) return 0;
    if (s->n_rows + d->n_chunks > s->cap_rows) {
        s->cap_rows = 2 * (s->n_rows + d->n_chunks);
        s->ids = realloc(s->ids, sizeof(int32_t) * s->cap_rows * s->L);
        s->mask = realloc(s->mask, (size_t)s->cap_rows * s->L);
        s->row_label = realloc(s->row_label, sizeof(int) * s->cap_rows);
    }
    memcpy(s->ids + (size_t)s->n_rows * s->L, d->ids, sizeof(int32_t) * d->n_chunks * s->L);
    memcpy(s->mask + (size_t)s->n_rows * s->L, d->mask, (size_t)d->n_chunks * s->L);
    for (int k = 0; k < d->n_chunks; k++) s->row_label[s->n_rows + k] = d->label;
    s->doc_label = realloc(s->doc_label, sizeof(int) * (s->n_docs + 1));
    s->doc_rows = realloc(s->doc_rows, sizeof(int) * (s->n_docs + 1));
    s->doc_label[s->n_docs] = d->label;
    s->doc_rows[s->n_docs++] = d->n_chunks;
    s->n_rows += d->n_chunks;
    return 0;
}

/* make DIR FILE: a tiny model trained for a few steps on FILE's labelled
 * documents (labels from all of them), so its answers differ by document */
static int s_mode_make(const char *dir, const char *file) {
    char err[HB_ERR_LEN];
    wp_tokenizer *t;
    CHECK_OK(wp_load(&t, VOCAB, 1, err), err);
    s_chunks s = {.L = 32};
    dataset_input in = {file, DATASET_AUTO, DATASET_TEST};
    dataset_options o = {0};
    o.chunk = (chunk_config){32, 0, 4, CHUNK_KEEP_SPREAD, 0, 0, 0};
    o.labels_from_all = 1;
    label_map lm;
    CHECK_OK(dataset_ingest(&in, 1, t, &o, &lm, s_collect, &s, NULL, err), err);
    wp_destroy(&t);
    s_model m;
    s_make(&m, (const char *const *)lm.names, lm.n, 7);
    labels_free(&lm);
    optim_config oc = optim_default_config();
    oc.lr = 1e-3f;
    adamw_state opt;
    adamw_init(&opt, &m.bert->params, oc);
    for (int step = 0; step < 30; step++) {
        int b0 = (step * 8) % s.n_rows, B = s.n_rows - b0 < 8 ? s.n_rows - b0 : 8;
        float loss = bert_train_step(m.bert, &opt, s.ids + (size_t)b0 * 32, NULL, s.mask + (size_t)b0 * 32,
                                     s.row_label + b0, B, 32);
        CHECK(!isnan(loss), "training step %d", step);
    }
    adamw_free(&opt);
    const int H = m.bert->cfg.hidden_size;
    float *cls = malloc(sizeof(float) * s.n_rows * H);
    for (int b0 = 0; b0 < s.n_rows; b0 += 8) {
        int B = s.n_rows - b0 < 8 ? s.n_rows - b0 : 8;
        CHECK(bert_embed_cls(m.bert, s.ids + (size_t)b0 * 32, s.mask + (size_t)b0 * 32, B, 32, cls + (size_t)b0 * H,
                             NULL) == 0,
              "embed");
    }
    const float **xs = malloc(sizeof *xs * s.n_docs);
    for (int d = 0, r = 0; d < s.n_docs; r += s.doc_rows[d++]) xs[d] = cls + (size_t)r * H;
    lstm_batch b = {s.n_docs, s.doc_rows, (const float *const *)xs, s.doc_label};
    adamw_init(&opt, &m.head->params, lstm_default_optim());
    for (int e = 0; e < 30; e++) CHECK_OK(lstm_train_epoch(m.head, &opt, &b, 1, NULL, NULL, err), err);
    adamw_free(&opt);
    CHECK_OK(clfdir_write(dir, m.bert, m.head, VOCAB, NULL, &m.labels, &m.ch, err), err);
    free(xs);
    free(cls);
    free(s.ids);
    free(s.mask);
    free(s.row_label);
    free(s.doc_label);
    free(s.doc_rows);
    s_free(&m);
    return 0;
}

static int s_mode_predict(const char *dir, const char *file) {
    char err[HB_ERR_LEN];
    clfdir *c;
    CHECK_OK(clfdir_load(&c, dir, 8, err), err);
    dataset_reader *r;
    CHECK_OK(dataset_open(&r, file, DATASET_AUTO, NULL, err), err);
    dataset_record rec;
    int rc;
    while ((rc = dataset_next(r, &rec, err)) == 1) {
        predict_result p;
        if (rec.n_chunks < 0)
            CHECK_OK(predict_text(c, rec.text, rec.text_len, &p, err), err);
        else
            CHECK_OK(predict_presplit(c, rec.chunks, rec.chunk_lens, rec.n_chunks, &p, err), err);
        printf("%s\t%s\t", rec.id, labels_name(&c->labels, p.label));
        for (int k = 0; k < p.n_classes; k++) printf("%s%.9g", k ? " " : "", p.probs[k]);
        putchar('\n');
        predict_result_free(&p);
    }
    CHECK(rc == 0, "%s", err);
    dataset_close(&r);
    clfdir_destroy(&c);
    return 0;
}

/* ---- the test ------------------------------------------------------------ */

static void s_cp(const char *src, const char *dst) {
    char err[HB_ERR_LEN];
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    CHECK(in && out, "copy %s -> %s", src, dst);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) CHECK(fwrite(buf, 1, n, out) == n, "write %s", dst);
    fclose(in);
    fclose(out);
    (void)err;
}

static const char *const s_names[] = {"config.json", "vocab.txt", "model.safetensors", "head.safetensors",
                                      "labels.json"};

/* a fresh copy of the good export in bad/ */
static void s_fresh_copy(const char *good, const char *bad) {
    t_rmtree(bad);
    CHECK(mkdir(bad, 0755) == 0, "mkdir %s", bad);
    char a[512], b[512];
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "%s/%s", good, s_names[i]);
        snprintf(b, sizeof b, "%s/%s", bad, s_names[i]);
        s_cp(a, b);
    }
}

/* loading bad/ fails and the message names bad/<file> (and `also`, if set) */
static void s_expect_bad(const char *bad, const char *file, const char *also, const char *what) {
    char err[HB_ERR_LEN] = "", path[512];
    clfdir *c = NULL;
    snprintf(path, sizeof path, "%s/%s", bad, file);
    CHECK(clfdir_load(&c, bad, 4, err) == -1 && !c, "%s: loaded", what);
    CHECK(strstr(err, path), "%s: error does not name %s: %s", what, path, err);
    if (also) CHECK(strstr(err, also), "%s: error does not say '%s': %s", what, also, err);
    t_ok("%s: refused naming %s: %s", what, file, err + strlen(bad) + 1);
}

static void s_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f, "open %s", path);
    fputs(text, f);
    fclose(f);
}

/* the whole pipeline composed by hand on the writer's model */
static void s_by_hand(s_model *m, const char *text, float *probs, float *vote, int *K_out) {
    char err[HB_ERR_LEN];
    wp_tokenizer *t;
    CHECK_OK(wp_load(&t, VOCAB, 1, err), err);
    wp_ids ids = {0};
    CHECK_OK(wp_tokenize(t, text, strlen(text), &ids, NULL, err), err);
    chunk_config cc = {m->ch.seq_len, m->ch.stride, m->ch.max_chunks, m->ch.policy, t->cls_id, t->sep_id, t->pad_id};
    chunk_set s = {0};
    chunk_text(&cc, ids.v, ids.n, &s);
    const int K = s.n_chunks, H = m->bert->cfg.hidden_size, C = m->labels.n;
    CHECK(K <= m->bert->max_batch, "test text too long for one batch");
    float *cls = malloc(sizeof(float) * K * H), *lg = malloc(sizeof(float) * K * C),
          *cp = malloc(sizeof(float) * K * C);
    CHECK(bert_embed_cls(m->bert, s.ids, s.mask, K, s.seq_len, cls, lg) == 0, "embed");
    lstm_batch b = {1, &K, (const float *const *)&cls, NULL};
    CHECK_OK(lstm_predict(m->head, &b, probs, err), err);
    for (int k = 0; k < K; k++) {
        float mx = lg[k * C];
        for (int c = 1; c < C; c++) mx = fmaxf(mx, lg[k * C + c]);
        double z = 0;
        for (int c = 0; c < C; c++) z += exp((double)lg[k * C + c] - mx);
        for (int c = 0; c < C; c++) cp[k * C + c] = (float)(exp((double)lg[k * C + c] - mx) / z);
    }
    metrics_vote_mean(cp, K, C, vote);
    *K_out = K;
    free(cls);
    free(lg);
    free(cp);
    chunk_set_free(&s);
    wp_ids_free(&ids);
    wp_destroy(&t);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "make")) return s_mode_make(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "predict")) return s_mode_predict(argv[2], argv[3]);
    if (argc > 1) {
        fprintf(stderr, "usage: test_clfdir [make DIR FILE | predict DIR FILE]\n");
        return 2;
    }
    char err[HB_ERR_LEN] = "", root[256], dir[320], path[512], bad[320];
    t_tmpdir(root, sizeof root, "clfdir");
    snprintf(dir, sizeof dir, "%s/model", root);
    snprintf(bad, sizeof bad, "%s/bad", root);

    /* ---- round trip ---- */
    static const char *const labs[] = {"spam", "ham", "hard_ham"};
    s_model m;
    s_make(&m, labs, 3, 42);
    CHECK_OK(clfdir_write(dir, m.bert, m.head, VOCAB, NULL, &m.labels, &m.ch, err), err);
    clfdir *c;
    CHECK_OK(clfdir_load(&c, dir, 8, err), err);
    CHECK(c->bert->params.numel == m.bert->params.numel &&
              !memcmp(c->bert->params.data, m.bert->params.data, sizeof(float) * m.bert->params.numel),
          "encoder parameters differ after the round trip");
    CHECK(!memcmp(&c->bert->cfg, &m.bert->cfg, sizeof m.bert->cfg), "encoder config differs");
    CHECK(c->head->params.numel == m.head->params.numel &&
              !memcmp(c->head->params.data, m.head->params.data, sizeof(float) * m.head->params.numel),
          "head parameters differ");
    CHECK(!memcmp(&c->head->cfg, &m.head->cfg, sizeof m.head->cfg), "head sizes differ");
    CHECK(c->labels.n == 3, "labels %d", c->labels.n);
    for (int i = 0; i < 3; i++)
        CHECK(!strcmp(labels_name(&c->labels, i), labels_name(&m.labels, i)), "label %d: %s vs %s", i,
              labels_name(&c->labels, i), labels_name(&m.labels, i));
    CHECK(c->chunking.seq_len == 32 && c->chunking.stride == 30 && c->chunking.max_chunks == 4 &&
              c->chunking.policy == CHUNK_KEEP_SPREAD && c->chunking.lowercase == 1,
          "chunking %d %d %d %d %d", c->chunking.seq_len, c->chunking.stride, c->chunking.max_chunks,
          (int)c->chunking.policy, c->chunking.lowercase);
    {
        wp_tokenizer *t;
        CHECK_OK(wp_load(&t, VOCAB, 1, err), err);
        CHECK(t->n_tokens == c->tok->n_tokens, "vocab size");
        for (int i = 0; i < t->n_tokens; i++)
            CHECK(!strcmp(t->tokens[i], c->tok->tokens[i]), "vocab token %d: %s vs %s", i, t->tokens[i],
                  c->tok->tokens[i]);
        wp_destroy(&t);
    }
    t_ok("write -> load: encoder + classifier (%zu floats), head (%zu floats), config, 3 labels in order, %d-token "
         "vocabulary, chunking (L 32, stride 30 = L-2, max 4, spread, uncased) all bit-exact",
         params_count(&m.bert->params), params_count(&m.head->params), c->tok->n_tokens);

    /* HF's view of config.json */
    {
        snprintf(path, sizeof path, "%s/config.json", dir);
        json_t *j = json_load_file(path, 0, NULL);
        CHECK(j && json_integer_value(json_object_get(j, "num_labels")) == 3 &&
                  !strcmp(json_string_value(json_object_get(json_object_get(j, "id2label"), "0")),
                          labels_name(&m.labels, 0)) &&
                  !strcmp(json_string_value(json_object_get(j, "model_type")), "bert"),
              "config.json lacks HF's num_labels/id2label/model_type");
        json_decref(j);
        bert_config bc;
        CHECK_OK(bert_config_read(&bc, path, err), err);
        CHECK(bc.hidden_size == 128 && bc.vocab_size == c->tok->n_tokens, "plain BertConfig read");
        t_ok("config.json reads as a plain BertConfig and carries HF's model_type, num_labels, id2label");
    }

    /* ---- predict vs the pipeline by hand ---- */
    const char *texts[3] = {
        "Subject: free money!!! click here now to claim your prize, user.",
        "the mail from the user was about the meeting on monday; nothing more. the user said the mail was fine and "
        "the meeting will be on tuesday instead, with the same people as before and a new room for everyone.",
        "hello",
    };
    predict_result r[3], rb[3];
    for (int d = 0; d < 3; d++) {
        CHECK_OK(predict_text(c, texts[d], strlen(texts[d]), &r[d], err), err);
        float probs[3], vote[3];
        int K;
        s_by_hand(&m, texts[d], probs, vote, &K);
        CHECK(r[d].n_chunks == K && r[d].n_classes == 3, "doc %d: %d chunks vs %d", d, r[d].n_chunks, K);
        CHECK(!memcmp(r[d].probs, probs, sizeof probs), "doc %d: head probabilities differ from the hand pipeline", d);
        CHECK(!memcmp(r[d].vote_probs, vote, sizeof vote), "doc %d: vote differs from the hand pipeline", d);
        CHECK(r[d].label == metrics_argmax(probs, 3) && r[d].vote_label == metrics_argmax(vote, 3), "doc %d labels", d);
        double s = 0, sv = 0;
        for (int k = 0; k < 3; k++) s += r[d].probs[k], sv += r[d].vote_probs[k];
        CHECK(fabs(s - 1) < 1e-5 && fabs(sv - 1) < 1e-5, "doc %d: probabilities sum to %g / %g", d, s, sv);
    }
    CHECK(r[1].n_chunks > 1, "the long text should make several chunks (%d)", r[1].n_chunks);
    t_ok("predict_text on the loaded directory == tokenize+chunk+bert_embed_cls+lstm_predict+vote on the writer's "
         "model, bit for bit (%d, %d, %d chunks); probabilities sum to 1",
         r[0].n_chunks, r[1].n_chunks, r[2].n_chunks);

    /* batched: three documents in one call, 2 chunks per encoder batch */
    {
        clfdir *c2;
        CHECK_OK(clfdir_load(&c2, dir, 2, err), err);
        wp_ids ids[3] = {{0}};
        chunk_set s[3] = {{0}};
        predict_doc docs[3];
        for (int d = 0; d < 3; d++) {
            CHECK_OK(wp_tokenize(c2->tok, texts[d], strlen(texts[d]), &ids[d], NULL, err), err);
            chunk_text(&c2->chunk, ids[d].v, ids[d].n, &s[d]);
            docs[d] = (predict_doc){s[d].n_chunks, s[d].ids, s[d].mask};
        }
        CHECK_OK(predict_docs(c2, docs, 3, rb, err), err);
        double worst = 0;
        for (int d = 0; d < 3; d++) {
            CHECK(rb[d].label == r[d].label && rb[d].vote_label == r[d].vote_label, "doc %d: batched label differs", d);
            for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(rb[d].probs[k] - r[d].probs[k]));
            for (int k = 0; k < 3 * r[d].n_chunks; k++)
                worst = fmax(worst, fabs(rb[d].chunk_logits[k] - r[d].chunk_logits[k]));
            predict_result_free(&rb[d]);
            chunk_set_free(&s[d]);
            wp_ids_free(&ids[d]);
        }
        CHECK(worst < 1e-5, "batched vs one at a time: max diff %g", worst);
        t_ok("three documents in one predict_docs call (encoder batches of 2 chunks mixing documents) give the "
             "labels of one at a time; probabilities and chunk logits within %.2g",
             worst);
        /* a bad token id is refused naming the document */
        int32_t badids[32];
        for (int i = 0; i < 32; i++) badids[i] = c2->tok->pad_id;
        badids[0] = c2->tok->cls_id;
        badids[1] = c2->tok->n_tokens;
        badids[2] = c2->tok->sep_id;
        predict_doc bd = {1, badids, NULL};
        CHECK(predict_docs(c2, &bd, 1, rb, err) == -1 && strstr(err, "document 0"), "bad id: %s", err);
        t_ok("a token id outside the vocabulary is refused: %s", err);
        clfdir_destroy(&c2);
    }
    for (int d = 0; d < 3; d++) predict_result_free(&r[d]);
    CHECK(predict_text(c, "", 0, &r[0], err) == -1 && strstr(err, "empty"), "empty text: %s", err);
    t_ok("an empty document is refused: %s", err);
    clfdir_destroy(&c);

    /* ---- replacing ---- */
    {
        s_model m2;
        s_make(&m2, labs, 3, 43);
        CHECK_OK(clfdir_write(dir, m2.bert, m2.head, VOCAB, NULL, &m2.labels, &m2.ch, err), err);
        CHECK_OK(clfdir_load(&c, dir, 8, err), err);
        CHECK(!memcmp(c->bert->params.data, m2.bert->params.data, sizeof(float) * m2.bert->params.numel),
              "the second export did not replace the first");
        clfdir_destroy(&c);
        s_free(&m2);
        /* no temporary or old directories left beside it */
        DIR *dd = opendir(root);
        struct dirent *e;
        int n = 0;
        while ((e = readdir(dd)))
            if (e->d_name[0] != '.') n++;
        closedir(dd);
        CHECK(n == 1, "%d entries beside the export (temporaries left?)", n);
        t_ok("exporting over an export replaces it; no temporary directory left behind");

        char foreign[320], keep[400];
        snprintf(foreign, sizeof foreign, "%s/foreign", root);
        mkdir(foreign, 0755);
        snprintf(keep, sizeof keep, "%s/notes.txt", foreign);
        s_write_text(keep, "mine\n");
        CHECK(clfdir_write(foreign, m.bert, m.head, VOCAB, NULL, &m.labels, &m.ch, err) == -1 &&
                  strstr(err, "refusing") && access(keep, R_OK) == 0,
              "foreign dir: %s", err);
        t_ok("a non-empty directory that is not an export is refused and left alone: %s", err);
        unlink(keep);
        rmdir(foreign);

        /* inconsistent inputs: nothing written */
        char nodir[320];
        snprintf(nodir, sizeof nodir, "%s/never", root);
        label_map two;
        labels_init(&two);
        labels_add(&two, "a", err);
        labels_add(&two, "b", err);
        labels_finalize(&two);
        CHECK(clfdir_write(nodir, m.bert, m.head, VOCAB, NULL, &two, &m.ch, err) == -1 && strstr(err, "2 labels") &&
                  access(nodir, F_OK) != 0,
              "label count: %s", err);
        t_ok("2 labels for a 3-class model are refused before writing: %s", err);
        labels_free(&two);
        char bigvocab[400];
        snprintf(bigvocab, sizeof bigvocab, "%s/vocab_plus_one.txt", root);
        s_cp(VOCAB, bigvocab);
        FILE *f = fopen(bigvocab, "ab");
        fputs("extratoken\n", f);
        fclose(f);
        CHECK(clfdir_write(nodir, m.bert, m.head, bigvocab, NULL, &m.labels, &m.ch, err) == -1 &&
                  strstr(err, "vocab_size") && access(nodir, F_OK) != 0,
              "vocab size: %s", err);
        unlink(bigvocab);
        t_ok("a vocabulary of another size is refused before writing: %s", err);
        clfdir_chunking big = m.ch;
        big.seq_len = 65;
        CHECK(clfdir_write(nodir, m.bert, m.head, VOCAB, NULL, &m.labels, &big, err) == -1 &&
                  strstr(err, "max_position_embeddings"),
              "L too long: %s", err);
        t_ok("L beyond max_position_embeddings is refused: %s", err);
    }
    /* the model is the first export again */
    CHECK_OK(clfdir_write(dir, m.bert, m.head, VOCAB, NULL, &m.labels, &m.ch, err), err);

    /* ---- bad directories: each error names the file ---- */
    for (int i = 0; i < 5; i++) {
        s_fresh_copy(dir, bad);
        snprintf(path, sizeof path, "%s/%s", bad, s_names[i]);
        unlink(path);
        char what[64];
        snprintf(what, sizeof what, "missing %s", s_names[i]);
        s_expect_bad(bad, s_names[i], NULL, what);
    }
    s_fresh_copy(dir, bad);
    snprintf(path, sizeof path, "%s/config.json", bad);
    CHECK_OK(bert_config_write(&m.bert->cfg, path, err), err);
    s_expect_bad(bad, "config.json", "hierbert", "a plain encoder config.json");

    s_fresh_copy(dir, bad);
    snprintf(path, sizeof path, "%s/config.json", bad);
    s_write_text(path, "{\"hidden_size\": 128,");
    s_expect_bad(bad, "config.json", NULL, "truncated config.json");

    s_fresh_copy(dir, bad);
    snprintf(path, sizeof path, "%s/labels.json", bad);
    s_write_text(path, "{\"labels\": [\"ham\", \"spam\"]}\n");
    s_expect_bad(bad, "labels.json", "num_labels", "2 labels in labels.json for 3 classes");

    s_fresh_copy(dir, bad);
    snprintf(path, sizeof path, "%s/vocab.txt", bad);
    {
        FILE *f = fopen(path, "ab");
        fputs("extratoken\n", f);
        fclose(f);
    }
    s_expect_bad(bad, "vocab.txt", "vocab_size", "a vocab.txt one token longer than vocab_size");

    /* model.safetensors of another shape (intermediate size 256) */
    {
        s_fresh_copy(dir, bad);
        bert_config c2 = m.bert->cfg;
        c2.intermediate_size = 256;
        bert_model *o;
        CHECK_OK(bert_new(&o, &c2, 3, 1, 8, err), err);
        snprintf(path, sizeof path, "%s/model.safetensors", bad);
        CHECK_OK(bert_save_safetensors(o, path, err), err);
        bert_destroy(&o);
        s_expect_bad(bad, "model.safetensors", "intermediate", "an encoder of another intermediate size");

        /* a 4-class classifier */
        s_fresh_copy(dir, bad);
        CHECK_OK(bert_new(&o, &m.bert->cfg, 4, 1, 8, err), err);
        CHECK_OK(bert_save_safetensors(o, path, err), err);
        bert_destroy(&o);
        s_expect_bad(bad, "model.safetensors", "classifier", "a 4-class chunk classifier for 3 labels");

        /* no classifier at all: the encoder's views only */
        s_fresh_copy(dir, bad);
        params_table t;
        params_init(&t);
        const params_table *p = &m.bert->params;
        for (int i = 0; i < p->nviews; i++)
            if (strncmp(p->views[i].name, "classifier.", 11) != 0)
                params_add(&t, p->views[i].name, p->views[i].ndim, p->views[i].shape, p->views[i].decay);
        params_alloc(&t);
        CHECK_OK(safetensors_save_params(path, &t, t.data, err), err);
        params_free(&t);
        s_expect_bad(bad, "model.safetensors", "classifier", "an encoder without the chunk classifier");

        /* truncated */
        s_fresh_copy(dir, bad);
        struct stat st;
        stat(path, &st);
        CHECK(truncate(path, st.st_size / 2) == 0, "truncate");
        s_expect_bad(bad, "model.safetensors", NULL, "a truncated model.safetensors");
    }
    /* head.safetensors with 4 classes, or reading 64-dim vectors */
    {
        s_fresh_copy(dir, bad);
        snprintf(path, sizeof path, "%s/head.safetensors", bad);
        lstm_model *h;
        lstm_config lc = m.head->cfg;
        lc.n_classes = 4;
        CHECK_OK(lstm_new(&h, &lc, 1, err), err);
        CHECK_OK(lstm_save(h, path, err), err);
        lstm_destroy(&h);
        s_expect_bad(bad, "head.safetensors", "classes", "a 4-class head for 3 labels");
        lc = m.head->cfg;
        lc.input_dim = 64;
        CHECK_OK(lstm_new(&h, &lc, 1, err), err);
        CHECK_OK(lstm_save(h, path, err), err);
        lstm_destroy(&h);
        s_expect_bad(bad, "head.safetensors", "hidden", "a head over 64-dim vectors for a 128-dim encoder");
        lc = m.head->cfg;
        lc.units = 12;
        CHECK_OK(lstm_new(&h, &lc, 1, err), err);
        CHECK_OK(lstm_save(h, path, err), err);
        lstm_destroy(&h);
        s_expect_bad(bad, "head.safetensors", "config.json", "a head of 12 units where config.json says 16");
        s_write_text(path, "not a safetensors file");
        s_expect_bad(bad, "head.safetensors", NULL, "a garbage head.safetensors");
    }
    t_rmtree(bad);
    t_rmtree(dir);
    t_rmtree(root);
    s_free(&m);
    return 0;
}
