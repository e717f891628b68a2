/*
 * test_safetensors.c - our safetensors reader/writer: a round trip is exact;
 * every malformed file (missing tensor, wrong shape, truncated header,
 * oversized header length, wrong dtype, offsets out of range) is refused
 * with a message naming the file and, where there is one, the tensor; never
 * a crash. pooler.* / cls.* / position_ids and a "bert." prefix (HF
 * BertFor* checkpoints, legacy LayerNorm gamma/beta) load as they are.
 */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bert.h"
#include "check.h"
#include "hb_error.h"
#include "safetensors.h"

static char s_dir[256];

/* writes a raw safetensors file: header text as given, then `data` bytes */
static void s_write_raw(const char *path, const char *header, uint64_t hlen_override, size_t data_bytes) {
    FILE *f = fopen(path, "wb");
    CHECK(f, "open %s", path);
    uint64_t hl = hlen_override ? hlen_override : strlen(header);
    for (int i = 0; i < 8; i++) fputc((int)(hl >> (8 * i)) & 0xff, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
}

static void s_expect_fail(const char *label, const char *path, const params_table *t, float *buf, const char *want1,
                          const char *want2) {
    char err[HB_ERR_LEN] = "";
    int rc = safetensors_load_params(path, t, buf, NULL, NULL, err);
    CHECK(rc == -1, "%s: load must fail", label);
    CHECK(strstr(err, path) != NULL, "%s: message names the file: %s", label, err);
    CHECK(strstr(err, want1) != NULL, "%s: message has '%s': %s", label, want1, err);
    CHECK(!want2 || strstr(err, want2) != NULL, "%s: message has '%s': %s", label, want2, err);
    t_ok("%s refused: %s", label, err);
}

int main(void) {
    char err[HB_ERR_LEN], path[512];
    snprintf(s_dir, sizeof s_dir, "%s/st_test_XXXXXX", HB_BUILD_DIR);
    CHECK(mkdtemp(s_dir), "mkdtemp");

    /* a small table: a matrix and a vector */
    params_table t;
    params_init(&t);
    int64_t sw[2] = {3, 2}, sb[1] = {2};
    params_add(&t, "encoder.layer.0.output.dense.weight", 2, sw, 1);
    params_add(&t, "encoder.layer.0.output.LayerNorm.weight", 1, sb, 0);
    params_alloc(&t);
    for (size_t i = 0; i < t.numel; i++) t.data[i] = (float)i * 0.25f - 1.0f;
    snprintf(path, sizeof path, "%s/a.safetensors", s_dir);
    CHECK_OK(safetensors_save_params(path, &t, t.data, err), err);
    float *back = params_new_buffer(&t);
    CHECK_OK(safetensors_load_params(path, &t, back, NULL, NULL, err), err);
    for (int v = 0; v < t.nviews; v++)
        CHECK(memcmp(back + t.views[v].offset, t.data + t.views[v].offset, t.views[v].numel * 4) == 0, "round trip");
    safetensors_file *f;
    CHECK_OK(safetensors_open(&f, path, err), err);
    CHECK(f->n == 2 && (size_t)(f->data - f->map) % 8 == 0, "2 entries, data 8-aligned");
    safetensors_close(&f);
    CHECK(f == NULL, "close nulls");
    t_ok("round trip: 2 tensors saved and read back bit-exact, data section 8-byte aligned");

    /* half precision as the Hub ships it: every F16 value against its definition, then a file of F16 and BF16 */
    {
        long checked = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            uint32_t e = (h >> 10) & 31, m = h & 1023;
            float got = safetensors_f16_to_f32((uint16_t)h);
            double want = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, (int)e - 25);
            if (h & 0x8000) want = -want;
            CHECK(isnan(want) ? isnan(got) : (got == (float)want && !signbit(got) == !signbit(want)),
                  "F16 0x%04x: %.9g, want %.9g", h, got, want);
            checked++;
        }
        CHECK(safetensors_bf16_to_f32(0x3f80) == 1.0f && safetensors_bf16_to_f32(0xc049) == -3.140625f &&
                  isinf(safetensors_bf16_to_f32(0x7f80)),
              "BF16");
        const uint16_t w16[6] = {0x3c00, 0xba00, 0x3800, 0x7bff, 0x0001, 0x0200}, b16[2] = {0x3f80, 0xc049};
        const float want[8] = {1.0f, -0.75f,    0.5f, 65504.0f, 5.9604644775390625e-8f, 3.0517578125e-05f,
                               1.0f, -3.140625f};
        const char *hdr = "{\"encoder.layer.0.output.dense.weight\":{\"dtype\":\"F16\",\"shape\":[3,2],"
                          "\"data_offsets\":[0,12]},\"encoder.layer.0.output.LayerNorm.weight\":{\"dtype\":\"BF16\","
                          "\"shape\":[2],\"data_offsets\":[12,16]}}";
        snprintf(path, sizeof path, "%s/half.safetensors", s_dir);
        FILE *hf = fopen(path, "wb");
        CHECK(hf, "open %s", path);
        uint64_t hl = strlen(hdr);
        for (int i = 0; i < 8; i++) fputc((int)(hl >> (8 * i)) & 0xff, hf);
        fputs(hdr, hf);
        for (int i = 0; i < 6; i++) fputc(w16[i] & 0xff, hf), fputc(w16[i] >> 8, hf);
        for (int i = 0; i < 2; i++) fputc(b16[i] & 0xff, hf), fputc(b16[i] >> 8, hf);
        fclose(hf);
        CHECK_OK(safetensors_load_params(path, &t, back, NULL, NULL, err), err);
        for (int i = 0; i < 6; i++)
            CHECK(back[t.views[0].offset + i] == want[i], "F16 element %d: %g", i, back[t.views[0].offset + i]);
        for (int i = 0; i < 2; i++)
            CHECK(back[t.views[1].offset + i] == want[6 + i], "BF16 element %d: %g", i, back[t.views[1].offset + i]);
        t_ok("F16 -> fp32 exact for all %ld halves (subnormals, inf, NaN, -0); a file of F16 and BF16 tensors loads as "
             "fp32 (65504, 2^-24, -3.140625 included)",
             checked);
    }

    /* HF-style file: bert. prefix, legacy gamma, pooler/cls/position_ids extra (I64 too) */
    const char *hf = "{\"bert.encoder.layer.0.output.dense.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                     "\"data_offsets\":[0,24]},"
                     "\"bert.encoder.layer.0.output.LayerNorm.gamma\":{\"dtype\":\"F32\",\"shape\":[2],"
                     "\"data_offsets\":[24,32]},"
                     "\"bert.pooler.dense.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[32,48]},"
                     "\"cls.predictions.bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[48,52]},"
                     "\"bert.embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[52,68]},"
                     "\"__metadata__\":{\"format\":\"pt\"}}";
    snprintf(path, sizeof path, "%s/hf.safetensors", s_dir);
    s_write_raw(path, hf, 0, 68);
    CHECK_OK(safetensors_load_params(path, &t, back, NULL, NULL, err), err);
    t_ok("HF naming: bert. prefix and LayerNorm.gamma accepted; pooler.*, cls.* (F16), position_ids (I64) ignored");

    /* missing tensor */
    const char *miss = "{\"encoder.layer.0.output.dense.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                       "\"data_offsets\":[0,24]}}";
    snprintf(path, sizeof path, "%s/missing.safetensors", s_dir);
    s_write_raw(path, miss, 0, 24);
    s_expect_fail("missing tensor", path, &t, back, "encoder.layer.0.output.LayerNorm.weight", "missing");

    /* wrong shape */
    const char *shape = "{\"encoder.layer.0.output.dense.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                        "\"data_offsets\":[0,24]},\"encoder.layer.0.output.LayerNorm.weight\":{\"dtype\":\"F32\","
                        "\"shape\":[2],\"data_offsets\":[24,32]}}";
    snprintf(path, sizeof path, "%s/shape.safetensors", s_dir);
    s_write_raw(path, shape, 0, 32);
    s_expect_fail("wrong shape", path, &t, back, "encoder.layer.0.output.dense.weight", "wrong shape [2, 3]");

    /* wrong dtype */
    const char *dtype = "{\"encoder.layer.0.output.dense.weight\":{\"dtype\":\"I16\",\"shape\":[3,2],"
                        "\"data_offsets\":[0,12]},\"encoder.layer.0.output.LayerNorm.weight\":{\"dtype\":\"F32\","
                        "\"shape\":[2],\"data_offsets\":[12,20]}}";
    snprintf(path, sizeof path, "%s/dtype.safetensors", s_dir);
    s_write_raw(path, dtype, 0, 20);
    s_expect_fail("wrong dtype", path, &t, back, "encoder.layer.0.output.dense.weight", "dtype I16");

    /* offsets beyond the data section */
    const char *range = "{\"encoder.layer.0.output.dense.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                        "\"data_offsets\":[0,24]},\"encoder.layer.0.output.LayerNorm.weight\":{\"dtype\":\"F32\","
                        "\"shape\":[2],\"data_offsets\":[24,32]}}";
    snprintf(path, sizeof path, "%s/range.safetensors", s_dir);
    s_write_raw(path, range, 0, 28); /* 4 bytes short */
    s_expect_fail("offsets out of range", path, &t, back, "encoder.layer.0.output.LayerNorm.weight", "out of range");

    /* offsets that disagree with dtype x shape */
    const char *size = "{\"encoder.layer.0.output.dense.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                       "\"data_offsets\":[0,20]}}";
    snprintf(path, sizeof path, "%s/size.safetensors", s_dir);
    s_write_raw(path, size, 0, 24);
    s_expect_fail("byte size != dtype x shape", path, &t, back, "encoder.layer.0.output.dense.weight", "expected 24");

    /* truncated: header length beyond the file; and a file shorter than 8 bytes */
    snprintf(path, sizeof path, "%s/trunc.safetensors", s_dir);
    s_write_raw(path, range, strlen(range) + 100, 0);
    s_expect_fail("truncated header", path, &t, back, "truncated header", NULL);
    FILE *fp = fopen(path, "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    s_expect_fail("3-byte file", path, &t, back, "truncated header", NULL);

    /* oversized header length (a garbage length field) */
    snprintf(path, sizeof path, "%s/huge.safetensors", s_dir);
    s_write_raw(path, range, (uint64_t)1 << 62, 32);
    s_expect_fail("oversized header length", path, &t, back, "oversized header", NULL);

    /* header that is not JSON */
    snprintf(path, sizeof path, "%s/json.safetensors", s_dir);
    s_write_raw(path, "{\"a\": [1, 2", 0, 0);
    s_expect_fail("malformed JSON header", path, &t, back, "not a JSON object", NULL);

    /* corrupted headers: flip bytes of a valid file's header 2000 times; every
     * load either succeeds or fails with a message naming the file, and
     * nothing crashes (the ASan build checks the reads) */
    snprintf(path, sizeof path, "%s/a.safetensors", s_dir);
    FILE *src = fopen(path, "rb");
    CHECK(src, "open");
    unsigned char orig[4096];
    size_t flen = fread(orig, 1, sizeof orig, src);
    fclose(src);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | orig[i];
    char fuzz[600];
    snprintf(fuzz, sizeof fuzz, "%s/fuzz.safetensors", s_dir);
    unsigned rs = 2024;
    int n_ok = 0, n_fail = 0;
    for (int it = 0; it < 2000; it++) {
        unsigned char buf[4096];
        memcpy(buf, orig, flen);
        int flips = 1 + it % 3;
        for (int k = 0; k < flips; k++) {
            rs = rs * 1103515245u + 12345u;
            size_t pos = (size_t)(rs >> 8) % (size_t)(8 + hlen);
            rs = rs * 1103515245u + 12345u;
            buf[pos] = it % 2 ? (unsigned char)(rs >> 16) : (unsigned char)"0123456789[]{}\",:-e"[(rs >> 16) % 20];
        }
        size_t len = it % 7 == 0 ? (size_t)(rs >> 4) % flen : flen; /* sometimes truncated too */
        FILE *o = fopen(fuzz, "wb");
        fwrite(buf, 1, len, o);
        fclose(o);
        err[0] = 0;
        if (safetensors_load_params(fuzz, &t, back, NULL, NULL, err) == 0)
            n_ok++;
        else {
            CHECK(strstr(err, fuzz) != NULL, "fuzz %d: message names the file: %s", it, err);
            n_fail++;
        }
    }
    t_ok("2000 corrupted copies (header bytes flipped, some truncated): %d refused with a message naming the file, "
         "%d still valid, no crash",
         n_fail, n_ok);

    /* a whole model directory: save, load into a fresh model, identical */
    bert_config c = {.vocab_size = 50,
                     .hidden_size = 16,
                     .num_hidden_layers = 1,
                     .num_attention_heads = 2,
                     .intermediate_size = 24,
                     .max_position_embeddings = 8,
                     .type_vocab_size = 2,
                     .layer_norm_eps = 1e-12f,
                     .classifier_dropout = 0.2f};
    bert_model *m1, *m2;
    CHECK_OK(bert_new(&m1, &c, 3, 2, 8, err), err);
    CHECK_OK(bert_new(&m2, &c, 3, 2, 8, err), err);
    bert_init_random(m1, 42);
    CHECK_OK(bert_save_dir(m1, s_dir, err), err);
    int has_head = 0;
    CHECK_OK(bert_load_dir_ex(m2, s_dir, &has_head, err), err);
    CHECK(has_head && memcmp(m1->params.data, m2->params.data, m1->params.numel * 4) == 0, "dir round trip");
    bert_config c2;
    snprintf(path, sizeof path, "%s/config.json", s_dir);
    CHECK_OK(bert_config_read(&c2, path, err), err);
    CHECK(c2.hidden_size == 16 && c2.intermediate_size == 24 && c2.num_attention_heads == 2 && c2.vocab_size == 50,
          "config round trip");
    t_ok("model directory: config.json + model.safetensors written and read back identical");

    /* config.json with a wrong type names file and key */
    fp = fopen(path, "w");
    fputs("{\"hidden_size\": \"768\", \"some_unknown\": 1}", fp);
    fclose(fp);
    CHECK(bert_config_read(&c2, path, err) == -1 && strstr(err, path) && strstr(err, "hidden_size"), "%s", err);
    t_ok("config.json wrong type refused: %s", err);
    /* mismatched shapes */
    bert_config c3 = c;
    c3.hidden_size = 32;
    CHECK_OK(bert_config_write(&c3, path, err), err);
    CHECK(bert_load_dir(m2, s_dir, err) == -1 && strstr(err, "shapes differ"), "%s", err);
    t_ok("config.json of another shape refused: %s", err);

    /* an HF-style directory as bert-base-uncased ships it: BertForMaskedLM
     * names ("bert." prefix, LayerNorm gamma/beta), pooler and cls.* heads, no
     * classifier, HF's config.json keys; it loads as is, classifier random */
    params_table hft;
    params_init(&hft);
    for (int i = 0; i < m1->params.nviews; i++) {
        const params_view *v = &m1->params.views[i];
        if (strncmp(v->name, "classifier.", 11) == 0) continue;
        char nm[PARAMS_NAME_LEN + 8];
        snprintf(nm, sizeof nm, "bert.%s", v->name);
        size_t len = strlen(nm);
        if (strstr(nm, "LayerNorm.weight")) strcpy(nm + len - 6, "gamma");
        if (strstr(nm, "LayerNorm.bias")) strcpy(nm + len - 4, "beta");
        params_add(&hft, nm, v->ndim, v->shape, v->decay);
    }
    int64_t ps[2] = {16, 16}, cs[1] = {50};
    params_add(&hft, "bert.pooler.dense.weight", 2, ps, 1);
    params_add(&hft, "cls.predictions.bias", 1, cs, 0);
    params_alloc(&hft);
    for (int i = 0, j = 0; i < m1->params.nviews; i++) {
        const params_view *v = &m1->params.views[i];
        if (strncmp(v->name, "classifier.", 11) == 0) continue;
        memcpy(hft.data + hft.views[j].offset, m1->params.data + v->offset, v->numel * 4);
        j++;
    }
    char hfdir[300];
    snprintf(hfdir, sizeof hfdir, "%s/hf", s_dir);
    CHECK(mkdir(hfdir, 0755) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/model.safetensors", hfdir);
    CHECK_OK(safetensors_save_params(path, &hft, hft.data, err), err);
    snprintf(path, sizeof path, "%s/config.json", hfdir);
    fp = fopen(path, "w");
    fputs("{\"architectures\": [\"BertForMaskedLM\"], \"attention_probs_dropout_prob\": 0.1, "
          "\"gradient_checkpointing\": false, \"hidden_act\": \"gelu\", \"hidden_dropout_prob\": 0.1, "
          "\"hidden_size\": 16, \"initializer_range\": 0.02, \"intermediate_size\": 24, \"layer_norm_eps\": 1e-12, "
          "\"max_position_embeddings\": 8, \"model_type\": \"bert\", \"num_attention_heads\": 2, "
          "\"num_hidden_layers\": 1, \"pad_token_id\": 0, \"position_embedding_type\": \"absolute\", "
          "\"transformers_version\": \"4.6.0.dev0\", \"type_vocab_size\": 2, \"use_cache\": true, \"vocab_size\": 50}",
          fp);
    fclose(fp);
    bert_model *m3;
    CHECK_OK(bert_new_from_dir(&m3, hfdir, 4, 2, 8, 9, err), err);
    int same = 1;
    for (int i = 0; i < m1->params.nviews; i++) {
        const params_view *v = &m1->params.views[i];
        if (strncmp(v->name, "classifier.", 11) == 0) continue;
        same &= memcmp(m1->params.data + v->offset, m3->params.data + v->offset, v->numel * 4) == 0;
    }
    int cw = params_find(&m3->params, "classifier.weight");
    float cmax = 0;
    for (size_t i = 0; i < m3->params.views[cw].numel; i++)
        cmax = fmaxf(cmax, fabsf(m3->params.data[m3->params.views[cw].offset + i]));
    CHECK(same && m3->num_classes == 4 && cmax > 0 && cmax <= 0.04f + 1e-6f, "HF dir: same encoder, head init");
    CHECK(fabsf(m3->cfg.hidden_dropout_prob - 0.1f) < 1e-7f && fabsf(m3->cfg.classifier_dropout - 0.2f) < 1e-7f,
          "HF dropouts, our classifier default");
    t_ok("HF bert-base-style directory (bert. prefix, gamma/beta, pooler, cls.*, HF config keys) loads as is; "
         "4-class head TruncatedNormal(0.02) within 2 std (max |w| %.3f)",
         cmax);
    bert_destroy(&m3);
    params_free(&hft);

    bert_destroy(&m1);
    bert_destroy(&m2);
    params_free_buffer(back);
    params_free(&t);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    CHECK(system(cmd) == 0, "cleanup");
    return 0;
}
