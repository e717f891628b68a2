/* corpus.c - a job's documents: ingest into the store (dataset_ingest), the
 * in-memory chunk index TRAIN and EMBED use (lengths, labels, documents),
 * loaded back from the store, and the rows' token ids read from the store
 * on demand (see coord.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "hfdir.h"
#include "dataset.h"
#include "wordpiece.h"

static void s_split_free(coord_split *s) {
    free(s->lengths);
    free(s->labels);
    free(s->doc_start);
    free(s->doc_count);
    for (size_t i = 0; i < s->n_docs; i++) free(s->doc_ids[i]);
    free(s->doc_ids);
    memset(s, 0, sizeof *s);
}

void coord_corpus_free(coord_corpus *c) {
    s_split_free(&c->train);
    s_split_free(&c->val);
    s_split_free(&c->test);
    labels_free(&c->labels);
    store_doc_free(&c->doc);
    free(c->doc_off);
    memset(c, 0, sizeof *c);
}

/* the document of chunk `row`: the last one whose first chunk is <= row */
static size_t s_doc_of(const coord_split *sp, size_t row) {
    size_t lo = 0, hi = sp->n_docs; /* doc_start[lo] <= row < doc_start[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp->doc_start[mid] <= row)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int coord_corpus_rows(coord_corpus *c, const coord_split *sp, const uint32_t *rows, size_t n, int32_t *out,
                      char *err) {
    const int L = c->L;
    for (size_t i = 0; i < n; i++) {
        if (rows[i] >= sp->n) return hb_fail(err, "corpus: chunk %u of a split of %zu", rows[i], sp->n);
        size_t di = s_doc_of(sp, rows[i]);
        const char *doc = sp->doc_ids[di];
        if (c->doc_sp != sp || c->doc_di != di) {
            c->doc_sp = NULL;
            int rc = store_doc_get(c->st, c->job, doc, &c->doc, err);
            if (rc == 1) return hb_fail(err, "store: job %s: document %s is gone from the docs database", c->job, doc);
            if (rc) return -1;
            if (c->doc.n_chunks != sp->doc_count[di])
                return hb_fail(err, "store: job %s: document %s has %u chunks, %u when the job loaded it", c->job, doc,
                               c->doc.n_chunks, sp->doc_count[di]);
            for (uint32_t q = 0; q < c->doc.n_tokens; q++)
                if (c->doc.token_ids[q] < 0 || c->doc.token_ids[q] >= c->vocab_size)
                    return hb_fail(err, "store: job %s: document %s: token id %d outside the vocabulary of %d", c->job,
                                   doc, c->doc.token_ids[q], c->vocab_size);
            free(c->doc_off);
            c->doc_off = hb_malloc(((size_t)c->doc.n_chunks + 1) * sizeof *c->doc_off);
            c->doc_off[0] = 0;
            for (uint32_t q = 0; q < c->doc.n_chunks; q++) c->doc_off[q + 1] = c->doc_off[q] + c->doc.chunk_len[q];
            c->doc_sp = sp;
            c->doc_di = di;
        }
        uint32_t k = rows[i] - sp->doc_start[di];
        const int32_t *t = c->doc.token_ids + c->doc_off[k];
        int32_t *row = out + i * (size_t)L;
        uint32_t len = (uint32_t)sp->lengths[rows[i]];
        memcpy(row, t, len * sizeof(int32_t));
        for (size_t q = len; q < (size_t)L; q++) row[q] = c->pad_id;
    }
    return 0;
}

static uint64_t s_mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------------ */
/* ingest */

typedef struct {
    store_writer *w;
    const char *job;
} s_emit_ctx;

static int s_emit(void *ctx, const dataset_doc *d, char *err) {
    s_emit_ctx *e = ctx;
    return store_writer_put_doc(e->w, e->job, d->id, d->label, d->split, (uint32_t)d->n_chunks, d->chunk_len, d->packed,
                                err);
}

/* synthetic: label carried by 30% class tokens (5 + 10*label + 0..9) */
static int s_synthetic(store_writer *w, const char *job, label_map *labels, const Hierbert__Submit *s, char *err) {
    const int C = 3, V = 256, L = s->seq_len ? (int)s->seq_len : 128;
    int n_docs = (int)s->synthetic;
    float vf = s->val_fraction > 0 ? s->val_fraction : 0.2f;
    int n_val = (int)(n_docs * vf + 0.5f);
    if (n_val < 1) n_val = 1;
    for (int k = 0; k < C; k++) {
        char name[16];
        snprintf(name, sizeof name, "class%d", k);
        if (labels_add(labels, name, err)) return -1;
    }
    labels_finalize(labels);
    uint64_t st = s->seed ^ 0x5eed5eedull;
    int32_t *tok = hb_malloc((size_t)3 * L * sizeof(int32_t));
    uint32_t len[3];
    for (int d = 0; d < n_docs; d++) {
        int label = d % C, nch = 1 + (int)(s_mix(&st) % 3), n = 0;
        for (int k = 0; k < nch; k++) {
            int l = L / 2 + (int)(s_mix(&st) % (uint64_t)(L / 2 + 1));
            len[k] = (uint32_t)l;
            tok[n++] = 2; /* a [CLS]-like first token */
            for (int t = 1; t < l; t++) {
                uint64_t x = s_mix(&st);
                tok[n++] = (x % 10 < 3) ? 5 + 10 * label + (int)((x >> 8) % 10)
                                        : 5 + 10 * C + (int)((x >> 8) % (uint64_t)(V - 5 - 10 * C));
            }
        }
        char id[32];
        snprintf(id, sizeof id, "doc%06d", d);
        if (store_writer_put_doc(w, job, id, label, d >= n_docs - n_val ? STORE_SPLIT_VAL : STORE_SPLIT_TRAIN,
                                 (uint32_t)nch, len, tok, err)) {
            free(tok);
            return -1;
        }
    }
    free(tok);
    return 0;
}

int coord_submit_vocab(const Hierbert__Submit *s, const char *job_dir, char *path, size_t n, char *err) {
    if (s->vocab_path[0]) {
        snprintf(path, n, "%s", s->vocab_path);
        return 0;
    }
    if (!s->model_dir[0]) return hb_fail(err, "no vocabulary: give --vocab FILE (or --model DIR with a vocab.txt)");
    char made_path[1300];
    int made;
    snprintf(made_path, sizeof made_path, "%s/vocab.txt", job_dir);
    return hfdir_vocab(s->model_dir, made_path, path, n, &made, err);
}

int coord_corpus_ingest(store_env *st, const char *job, const char *job_dir, const Hierbert__Submit *s,
                        coord_ingest_info *info, char *err) {
    memset(info, 0, sizeof *info);
    label_map labels;
    labels_init(&labels);
    store_writer *w = store_writer_new(st, 256);
    int rc;
    if (s->synthetic) {
        rc = s_synthetic(w, job, &labels, s, err);
        info->vocab_size = 256; /* ids 0 and 1 unused: 0 pads */
    } else {
        char vocab[PROTO_MAX_STRING + 32];
        if (coord_submit_vocab(s, job_dir, vocab, sizeof vocab, err)) {
            store_writer_destroy(&w);
            labels_free(&labels);
            return -1;
        }
        wp_tokenizer *tok = NULL;
        if (wp_load(&tok, vocab, !s->cased, err)) {
            store_writer_destroy(&w);
            labels_free(&labels);
            return -1;
        }
        info->vocab_size = tok->n_tokens;
        info->pad_id = tok->pad_id;
        dataset_input in[3];
        int n_in = 0;
        in[n_in++] = (dataset_input){s->train_path, DATASET_AUTO, DATASET_TRAIN};
        if (s->val_path[0]) in[n_in++] = (dataset_input){s->val_path, DATASET_AUTO, DATASET_VAL};
        if (s->test_path[0]) in[n_in++] = (dataset_input){s->test_path, DATASET_AUTO, DATASET_TEST};
        dataset_options o;
        memset(&o, 0, sizeof o);
        o.chunk.seq_len = s->seq_len ? (int)s->seq_len : 128;
        o.chunk.stride = (int)s->stride;
        o.chunk.max_chunks = (int)s->max_chunks;
        o.val_fraction = s->val_fraction;
        o.seed = s->seed;
        o.skip_bad = s->skip_bad;
        o.encoding = s->encoding;
        o.decode_replace = !strcmp(s->decode_errors, "replace");
        rc = s->chunk_policy[0] && chunk_policy_parse(s->chunk_policy, &o.chunk.policy, err) ? -1 : 0;
        s_emit_ctx e = {w, job};
        dataset_report rep;
        if (rc == 0) rc = dataset_ingest(in, n_in, tok, &o, &labels, s_emit, &e, &rep, err);
        wp_destroy(&tok);
        if (rc == 0) {
            info->ignored_entries = rep.ignored_entries;
            info->replaced = rep.replaced;
            info->replaced_files = rep.replaced_files;
            snprintf(info->ignored, HB_ERR_LEN, "%s", rep.ignored);
            snprintf(info->replaced_list, HB_ERR_LEN, "%s", rep.replaced_list);
        }
        for (int b = 0; rc == 0 && b < DATASET_BAD_N; b++) {
            info->skipped += rep.bad[b];
            if (rep.bad[b])
                snprintf(info->skipped_first[b], HB_ERR_LEN, "%s (%ld): %.400s", dataset_bad_name((dataset_bad)b),
                         rep.bad[b], rep.first_bad[b]);
        }
    }
    if (rc == 0) rc = store_writer_commit(w, err);
    if (rc == 0) {
        char path[1200];
        snprintf(path, sizeof path, "%s/labels.json", job_dir);
        rc = labels_save(&labels, path, err);
    }
    if (rc) { /* nothing half-ingested: drop what an automatic commit wrote */
        char e2[HB_ERR_LEN];
        store_writer_discard(w);
        store_job_delete(st, job, e2);
    }
    store_writer_destroy(&w);
    labels_free(&labels);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* load */

static void s_append(coord_split *sp, int L, const char *id, const store_doc *d, size_t *cap_ch, size_t *cap_doc) {
    if (sp->n_docs == *cap_doc) {
        *cap_doc = *cap_doc ? 2 * *cap_doc : 64;
        sp->doc_start = hb_realloc(sp->doc_start, *cap_doc * sizeof *sp->doc_start);
        sp->doc_count = hb_realloc(sp->doc_count, *cap_doc * sizeof *sp->doc_count);
        sp->doc_ids = hb_realloc(sp->doc_ids, *cap_doc * sizeof *sp->doc_ids);
    }
    while (sp->n + d->n_chunks > *cap_ch) {
        *cap_ch = *cap_ch ? 2 * *cap_ch : 256;
        sp->lengths = hb_realloc(sp->lengths, *cap_ch * sizeof(int32_t));
        sp->labels = hb_realloc(sp->labels, *cap_ch * sizeof(int32_t));
    }
    sp->doc_start[sp->n_docs] = (uint32_t)sp->n;
    sp->doc_count[sp->n_docs] = d->n_chunks;
    sp->doc_ids[sp->n_docs] = strdup(id);
    sp->n_docs++;
    for (uint32_t k = 0; k < d->n_chunks; k++) {
        uint32_t len = d->chunk_len[k] < (uint32_t)L ? d->chunk_len[k] : (uint32_t)L;
        sp->lengths[sp->n] = (int32_t)len;
        sp->labels[sp->n] = d->label;
        sp->n++;
    }
}

int coord_corpus_load(coord_corpus *c, store_env *st, const char *job, const char *job_dir, int L, int vocab_size,
                      int pad_id, char *err) {
    memset(c, 0, sizeof *c);
    c->L = L;
    c->vocab_size = vocab_size;
    c->pad_id = pad_id;
    c->st = st;
    snprintf(c->job, sizeof c->job, "%s", job);
    char path[1200];
    snprintf(path, sizeof path, "%s/labels.json", job_dir);
    if (labels_load(&c->labels, path, err)) return -1;
    c->num_classes = c->labels.n;
    store_iter *it = NULL;
    if (store_iter_open(&it, st, STORE_DB_DOCS, job, err)) {
        labels_free(&c->labels);
        return -1;
    }
    store_doc d;
    memset(&d, 0, sizeof d);
    coord_split *sp[3] = {&c->train, &c->val, &c->test}; /* indexed by STORE_SPLIT_* */
    size_t cap_ch[3] = {0, 0, 0}, cap_doc[3] = {0, 0, 0};
    int rc;
    while ((rc = store_iter_next(it, err)) == 1) {
        if (store_iter_doc(it, &d, err)) {
            rc = -1;
            break;
        }
        if (d.split < STORE_SPLIT_TRAIN || d.split > STORE_SPLIT_TEST) {
            rc = hb_fail(err, "store: %s/%s: split %d is not train, val or test", job, store_iter_doc_id(it), d.split);
            break;
        }
        /* an unlabelled test document is fine (-1): it is predicted, not scored */
        if (d.label < (d.split == STORE_SPLIT_TEST ? -1 : 0) || d.label >= c->num_classes) {
            rc = hb_fail(err, "store: %s/%s: label %d outside the job's %d classes", job, store_iter_doc_id(it),
                         d.label, c->num_classes);
            break;
        }
        for (uint32_t q = 0; q < d.n_tokens; q++)
            if (d.token_ids[q] < 0 || d.token_ids[q] >= vocab_size) {
                rc = hb_fail(err, "store: %s/%s: token id %d outside the vocabulary of %d", job, store_iter_doc_id(it),
                             d.token_ids[q], vocab_size);
                break;
            }
        if (rc < 0) break;
        s_append(sp[d.split], L, store_iter_doc_id(it), &d, &cap_ch[d.split], &cap_doc[d.split]);
    }
    store_doc_free(&d);
    store_iter_destroy(&it);
    if (rc < 0) {
        coord_corpus_free(c);
        return -1;
    }
    return 0;
}
