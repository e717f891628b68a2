/* embed.c - the worker's EMBED task: every chunk of a list of documents
 * through the fine-tuned encoder in eval mode (bert_embed_cls), in batches
 * that run across document boundaries (full batches: the forward-only
 * benchmark's shape), and one DocEmbeddings message per document - its
 * final-layer [CLS] vectors and the chunk classifier's logits - sent as soon
 * as its last chunk is computed, so the wire and the coordinator's LMDB
 * commits overlap the next batch's compute. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "frame.h"
#include "hb_error.h"
#include "hb_log.h"
#include "worker.h"

int worker_embed_run(bert_model *m, uint8_t *mask, int batch, const proto_msg *task, void *pipe, double *rate,
                     char *err) {
    const Hierbert__EmbedTask *t = task->assign->embed;
    const int T = (int)task->assign->model->seq_len, H = m->cfg.hidden_size, C = m->num_classes;
    const int n = (int)t->n_samples;
    const int32_t *ids = (const int32_t *)t->ids.data, *lens = (const int32_t *)t->lengths.data,
                  *counts = (const int32_t *)t->chunk_counts.data;
    float *cls = hb_malloc((size_t)n * H * sizeof(float)), *logits = hb_malloc((size_t)n * C * sizeof(float));
    long long t0 = hb_now_ms();
    size_t next_doc = 0;
    int doc_first = 0; /* first chunk of document next_doc */
    for (int off = 0; off < n; off += batch) {
        int b = n - off < batch ? n - off : batch;
        for (int i = 0; i < b; i++)
            for (int k = 0; k < T; k++) mask[(size_t)i * T + k] = k < lens[off + i];
        if (bert_embed_cls(m, ids + (size_t)off * T, mask, b, T, cls + (size_t)off * H, logits + (size_t)off * C)) {
            free(cls);
            free(logits);
            return hb_fail(err, "job %llu: embed task %u: the encoder refused chunks %d..%d",
                           (unsigned long long)task->job_id, t->task_id, off, off + b - 1);
        }
        /* every document whose chunks are all done goes out now */
        while (next_doc < t->n_doc_ids && doc_first + counts[next_doc] <= off + b) {
            int k = counts[next_doc];
            proto_msg out;
            proto_env_init(&out, task->job_id);
            Hierbert__DocEmbeddings d = HIERBERT__DOC_EMBEDDINGS__INIT;
            d.task_id = t->task_id;
            d.doc_id = t->doc_ids[next_doc];
            d.n_chunks = (uint32_t)k;
            d.dim = (uint32_t)H;
            d.data = proto_bytes(cls + (size_t)doc_first * H, (size_t)k * H * sizeof(float));
            d.logits = proto_bytes(logits + (size_t)doc_first * C, (size_t)k * C * sizeof(float));
            out.body_case = HIERBERT__ENVELOPE__BODY_DOC_EMBEDDINGS;
            out.doc_embeddings = &d;
            if (proto_send(pipe, NULL, 0, &out, 0, err)) {
                free(cls);
                free(logits);
                return -1;
            }
            doc_first += k;
            next_doc++;
        }
    }
    double dt = (double)(hb_now_ms() - t0) / 1000.0;
    if (rate && dt > 0) *rate = n / dt;
    free(cls);
    free(logits);
    return 0;
}
