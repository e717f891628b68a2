/* cli_submit.c - `hierbert submit`: sends a job to the coordinator and
 * prints its id. Paths are made absolute here: the coordinator reads them. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_client.h"
#include "hb_error.h"

static void s_usage(FILE *f) {
    fprintf(f, "usage: hierbert submit --train FILE [--val FILE | --val-fraction F] [--test FILE] [options]\n"
               "Submits a fine-tuning job; prints its id. Datasets: JSONL, CSV or one folder per class\n"
               "(as the coordinator's host sees them).\n\n"
               "  -t, --train PATH       training documents\n"
               "  -V, --val PATH         validation documents\n"
               "      --val-fraction F   or hold out a stratified fraction of --train (0..1)\n"
               "      --test PATH        test documents: embedded and scored at the end (`hierbert result`),\n"
               "                         never used for a choice; labels optional (training labels only)\n"
               "  -m, --model DIR        start from a Hugging Face BERT directory (config.json, model.safetensors)\n"
               "  -p, --preset NAME      or a random-init preset: tiny, mini, small, medium, base (default tiny)\n"
               "      --vocab FILE       vocab.txt (default: the model directory's)\n"
               "      --cased            cased vocabulary: no lowercasing, no accent stripping (default: uncased)\n"
               "      --skip-bad         skip bad documents (invalid UTF-8, empty, duplicate id, a val/test label\n"
               "                         outside the training labels) instead of refusing the job; reported\n"
               "  -L, --seq L            chunk length in tokens incl. [CLS]/[SEP] (128)\n"
               "      --stride S         overlap between chunks (0)\n"
               "  -e, --epochs N         (1)\n"
               "  -b, --batch N          global batch per optimizer step, over all workers (32)\n"
               "      --lr X             peak learning rate (adamw 2e-5, sgd 0.1)\n"
               "      --warmup F         warm-up, fraction of the steps (0.1)\n"
               "      --schedule NAME    the rate after the warm-up: constant, linear (to 0 at the end) or cosine\n"
               "                         (to 0; Hugging Face's names) (constant)\n"
               "      --clip-norm X      cap on the global gradient norm, 0: no clipping (0)\n"
               "      --weight-decay X   AdamW's decoupled weight decay, 0..1 (0)\n"
               "      --sync-every K     optimizer steps per averaging round (1)\n"
               "      --average WHAT     grads: workers send gradients, the coordinator takes the step - the\n"
               "                         same step as one worker with the whole batch (sync-every 1 only);\n"
               "                         params: each worker steps, the coordinator averages parameters\n"
               "                         (grads when --sync-every is 1, else params)\n"
               "      --reduce HOW       with grads: sharded - the workers sum and step one shard of the\n"
               "                         parameters each and send it to each other (traffic per host\n"
               "                         ~2P(W-1)/W, whatever W); coordinator - every gradient to the\n"
               "                         coordinator, which steps and sends the parameters (sharded)\n"
               "      --wire W           sharded: fp32 | bf16 - gradients (with error feedback) and updated\n"
               "                         shards cross in bfloat16, half the bytes; weights stay fp32 (fp32)\n"
               "      --seed N           data order, init and dropout seed (1)\n"
               "      --optimizer NAME   adamw | sgd (adamw)\n"
               "      --precision P      fp32 | bf16: the encoder's matrix products in TRAIN and EMBED (fp32);\n"
               "                         bf16 runs only on workers with native bf16 (AVX512_BF16, AMX-BF16)\n"
               "      --dropout P        every dropout of the model set to P (default: the model's)\n"
               "      --min-workers N    wait for N workers before training (1)\n"
               "      --max-steps N      stop TRAIN after N steps (testing)\n"
               "      --name TEXT        a label for list/status\n"
               "      --max-chunks M     keep at most M chunks of each document (0: all)\n"
               "      --chunk-policy P   which M: first, head-tail (the first ceil(M/2) and the last floor(M/2))\n"
               "                         or spread (evenly spaced) (first); kept with the model for predict\n"
               "      --encoding NAME    the dataset files' encoding, any iconv knows: latin1, cp1252, UTF-16 (with\n"
               "                         a BOM), ... (UTF-8)\n"
               "      --decode-errors E  strict: a byte the encoding cannot decode refuses the job (file:line);\n"
               "                         replace: U+FFFD in its place, counted per file and reported (strict)\n"
               "      --head-epochs N    LSTM head epochs (20)\n"
               "      --head-batch N     LSTM head documents per batch (32)\n"
               "      --synthetic N      a seeded synthetic dataset of N documents instead of --train "
               "(testing)\n" CLI_COMMON_HELP "  -h, --help\n");
}

static int s_abs(const char *in, char *out, size_t n, const char *what, char *err) {
    char buf[PATH_MAX];
    if (!realpath(in, buf)) return hb_fail(err, "%s %s: no such file or directory", what, in);
    if (strlen(buf) >= n) return hb_fail(err, "%s %s: path too long", what, in);
    snprintf(out, n, "%s", buf);
    return 0;
}

static int s_num(const char *arg, const char *what, double lo, double hi, double *out, char *err) {
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v >= lo && v <= hi))
        return hb_fail(err, "%s %s: expected a number in %g..%g", what, arg, lo, hi);
    *out = v;
    return 0;
}

/* arg must be one of choices (NULL-terminated): copied to out[n] */
static int s_choice(const char *arg, const char *what, const char *const *choices, char *out, size_t n, char *err) {
    for (int k = 0; choices[k]; k++)
        if (!strcmp(arg, choices[k])) {
            snprintf(out, n, "%s", arg);
            return 0;
        }
    char list[256] = "";
    for (int k = 0; choices[k]; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? (choices[k + 1] ? ", " : " or ") : "",
                 choices[k]);
    return hb_fail(err, "%s %s: %s", what, arg, list);
}

int cli_submit(int argc, char **argv) {
    static const char *const schedules[] = {"constant", "linear", "cosine", NULL};
    static const char *const decodes[] = {"strict", "replace", NULL};
    static const char *const policies[] = {"first", "head-tail", "spread", NULL};
    static const struct option opts[] = {{"train", required_argument, 0, 't'},
                                         {"val", required_argument, 0, 'V'},
                                         {"val-fraction", required_argument, 0, 1},
                                         {"model", required_argument, 0, 'm'},
                                         {"preset", required_argument, 0, 'p'},
                                         {"vocab", required_argument, 0, 2},
                                         {"seq", required_argument, 0, 'L'},
                                         {"stride", required_argument, 0, 3},
                                         {"epochs", required_argument, 0, 'e'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"lr", required_argument, 0, 4},
                                         {"warmup", required_argument, 0, 5},
                                         {"sync-every", required_argument, 0, 6},
                                         {"seed", required_argument, 0, 7},
                                         {"optimizer", required_argument, 0, 8},
                                         {"dropout", required_argument, 0, 9},
                                         {"min-workers", required_argument, 0, 10},
                                         {"max-steps", required_argument, 0, 11},
                                         {"name", required_argument, 0, 12},
                                         {"synthetic", required_argument, 0, 14},
                                         {"max-chunks", required_argument, 0, 15},
                                         {"head-epochs", required_argument, 0, 16},
                                         {"head-batch", required_argument, 0, 17},
                                         {"test", required_argument, 0, 18},
                                         {"cased", no_argument, 0, 19},
                                         {"skip-bad", no_argument, 0, 20},
                                         {"average", required_argument, 0, 21},
                                         {"reduce", required_argument, 0, 28},
                                         {"precision", required_argument, 0, 29},
                                         {"wire", required_argument, 0, 30},
                                         {"schedule", required_argument, 0, 22},
                                         {"clip-norm", required_argument, 0, 23},
                                         {"weight-decay", required_argument, 0, 24},
                                         {"encoding", required_argument, 0, 25},
                                         {"decode-errors", required_argument, 0, 26},
                                         {"chunk-policy", required_argument, 0, 27},

                                         {"help", no_argument, 0, 'h'},
                                         CLI_COMMON_LONGOPTS,
                                         {0, 0, 0, 0}};
    char train[PATH_MAX] = "", val[PATH_MAX] = "", test[PATH_MAX] = "", model[PATH_MAX] = "", vocab[PATH_MAX] = "";
    int cased = 0, skip_bad = 0;
    char preset[64] = "", optimizer[16] = "adamw", name[256] = "", average[16] = "", schedule[16] = "";
    char reduce[16] = "", precision[8] = "fp32", wire[8] = "";
    double clip_norm = -1, weight_decay = -1; /* < 0: unset (the coordinator's defaults) */
    char encoding[65] = "", decode_errors[16] = "", chunk_policy[16] = "";

    double val_fraction = 0, seq = 128, stride = 0, epochs = 1, batch = 32, lr = 0, warmup = 0.1, sync = 1, seed = 1,
           dropout = -1, min_workers = 1, max_steps = 0, synthetic = 0;
    double max_chunks = 0, head_epochs = 0, head_batch = 0;
    cli_endpoints ep;
    memset(&ep, 0, sizeof ep);
    char err[HB_ERR_LEN];
    int o, rc = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "t:V:m:p:L:e:b:h", opts, NULL)) != -1) {
        int c = cli_common_opt(&ep, o, optarg, err);
        if (c < 0) goto bad;
        if (c) continue;
        switch (o) {
        case 't':
            rc = s_abs(optarg, train, sizeof train, "--train", err);
            break;
        case 'V':
            rc = s_abs(optarg, val, sizeof val, "--val", err);
            break;
        case 1:
            rc = s_num(optarg, "--val-fraction", 0, 0.99, &val_fraction, err);
            break;
        case 'm':
            rc = s_abs(optarg, model, sizeof model, "--model", err);
            break;
        case 'p':
            snprintf(preset, sizeof preset, "%s", optarg);
            break;
        case 2:
            rc = s_abs(optarg, vocab, sizeof vocab, "--vocab", err);
            break;
        case 'L':
            rc = s_num(optarg, "--seq", 8, 8192, &seq, err);
            break;
        case 3:
            rc = s_num(optarg, "--stride", 0, 8191, &stride, err);
            break;
        case 'e':
            rc = s_num(optarg, "--epochs", 1, 10000, &epochs, err);
            break;
        case 'b':
            rc = s_num(optarg, "--batch", 1, 1 << 20, &batch, err);
            break;
        case 4:
            rc = s_num(optarg, "--lr", 0, 10, &lr, err);
            break;
        case 5:
            rc = s_num(optarg, "--warmup", 0, 1, &warmup, err);
            break;
        case 6:
            rc = s_num(optarg, "--sync-every", 1, 100000, &sync, err);
            break;
        case 7:
            rc = s_num(optarg, "--seed", 0, 1e15, &seed, err);
            break;
        case 8:
            if (strcmp(optarg, "adamw") && strcmp(optarg, "sgd"))
                rc = hb_fail(err, "--optimizer %s: adamw or sgd", optarg);
            snprintf(optimizer, sizeof optimizer, "%s", optarg);
            break;
        case 21:
            if (strcmp(optarg, "grads") && strcmp(optarg, "params"))
                rc = hb_fail(err, "--average %s: grads or params", optarg);
            snprintf(average, sizeof average, "%s", optarg);
            break;
        case 22:
            rc = s_choice(optarg, "--schedule", schedules, schedule, sizeof schedule, err);
            break;
        case 23:
            rc = s_num(optarg, "--clip-norm", 0, 1e5, &clip_norm, err);
            break;
        case 24:
            rc = s_num(optarg, "--weight-decay", 0, 0.999, &weight_decay, err);
            break;
        case 25:
            if (!optarg[0] || strlen(optarg) >= sizeof encoding)
                rc = hb_fail(err, "--encoding '%.80s': an iconv encoding name (latin1, cp1252, UTF-16, ...)", optarg);
            snprintf(encoding, sizeof encoding, "%s", optarg);
            break;
        case 26:
            rc = s_choice(optarg, "--decode-errors", decodes, decode_errors, sizeof decode_errors, err);
            break;
        case 27:
            rc = s_choice(optarg, "--chunk-policy", policies, chunk_policy, sizeof chunk_policy, err);
            break;
        case 28:
            if (strcmp(optarg, "sharded") && strcmp(optarg, "coordinator"))
                rc = hb_fail(err, "--reduce %s: sharded or coordinator", optarg);
            snprintf(reduce, sizeof reduce, "%s", optarg);
            break;
        case 30:
            if (strcmp(optarg, "fp32") && strcmp(optarg, "bf16"))
                rc = hb_fail(err, "--wire %s: fp32 or bf16", optarg);
            snprintf(wire, sizeof wire, "%s", optarg);
            break;
        case 29:
            if (strcmp(optarg, "fp32") && strcmp(optarg, "bf16"))
                rc = hb_fail(err, "--precision %s: fp32 or bf16", optarg);
            snprintf(precision, sizeof precision, "%s", optarg);
            break;
        case 9:
            rc = s_num(optarg, "--dropout", 0, 0.99, &dropout, err);
            break;
        case 10:
            rc = s_num(optarg, "--min-workers", 1, 256, &min_workers, err);
            break;
        case 11:
            rc = s_num(optarg, "--max-steps", 0, 1e9, &max_steps, err);
            break;
        case 12:
            snprintf(name, sizeof name, "%s", optarg);
            break;
        case 14:
            rc = s_num(optarg, "--synthetic", 2, 1000000, &synthetic, err);
            break;
        case 15:
            rc = s_num(optarg, "--max-chunks", 0, 1e6, &max_chunks, err);
            break;
        case 16:
            rc = s_num(optarg, "--head-epochs", 1, 100000, &head_epochs, err);
            break;
        case 17:
            rc = s_num(optarg, "--head-batch", 1, 1 << 20, &head_batch, err);
            break;
        case 18:
            rc = s_abs(optarg, test, sizeof test, "--test", err);
            break;
        case 19:
            cased = 1;
            break;
        case 20:
            skip_bad = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
        if (rc) goto bad;
    }
    if (optind < argc) {
        fprintf(stderr, "hierbert submit: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!train[0] && !synthetic) {
        fprintf(stderr, "hierbert submit: --train is required (see --help)\n");
        return 2;
    }
    if (val[0] && val_fraction > 0) {
        fprintf(stderr, "hierbert submit: give --val or --val-fraction, not both\n");
        return 2;
    }
    if (model[0] && preset[0]) {
        fprintf(stderr, "hierbert submit: give --model or --preset, not both\n");
        return 2;
    }
    if (stride >= seq) {
        fprintf(stderr, "hierbert submit: --stride %g must be below --seq %g\n", stride, seq);
        return 2;
    }
    if (cli_endpoints_finish(&ep, err)) goto bad;
    Hierbert__Submit s = HIERBERT__SUBMIT__INIT;
    s.train_path = train;
    s.val_path = val;
    s.test_path = test;
    s.cased = cased;
    s.skip_bad = skip_bad;
    s.val_fraction = (float)val_fraction;
    s.model_dir = model;
    s.preset = preset[0] || model[0] ? preset : "tiny";
    s.vocab_path = vocab;
    s.seq_len = (uint32_t)seq;
    s.stride = (uint32_t)stride;
    s.epochs = (uint32_t)epochs;
    s.batch = (uint32_t)batch;
    s.lr = (float)lr;
    s.warmup = (float)warmup;
    s.sync_every = (uint32_t)sync;
    s.seed = (uint64_t)seed;
    s.optimizer = optimizer;
    s.average = average;
    s.reduce = reduce;
    s.precision = precision;
    s.wire = wire;
    s.schedule = schedule;
    s.encoding = encoding;
    s.decode_errors = decode_errors;
    s.chunk_policy = chunk_policy;
    s.clip_norm_given = clip_norm >= 0;
    s.clip_norm = (float)clip_norm;
    s.weight_decay_given = weight_decay >= 0;
    s.weight_decay = (float)weight_decay;

    s.dropout = (float)dropout;
    s.synthetic = (uint32_t)synthetic;
    s.max_steps = (uint32_t)max_steps;
    s.min_workers = (uint32_t)min_workers;
    s.name = name;
    s.max_chunks = (uint32_t)max_chunks;
    s.head_epochs = (uint32_t)head_epochs;
    s.head_batch = (uint32_t)head_batch;
    proto_msg m;
    proto_env_init(&m, 0);
    m.body_case = HIERBERT__ENVELOPE__BODY_SUBMIT;
    m.submit = &s;
    proto_msg *r = NULL;
    /* ingest happens before the reply: give it time, bounded */
    int wait = ep.timeout_ms > 120000 ? ep.timeout_ms : 120000;
    if (cli_request(&ep, &m, wait, &r, err)) goto fail;
    if (r->body_case != HIERBERT__ENVELOPE__BODY_SUBMIT_REPLY) {
        hb_fail(err, "unexpected %s reply to Submit", proto_type_name(r));
        proto_free(&r);
        goto fail;
    }
    const Hierbert__SubmitReply *sr = r->submit_reply;
    fprintf(stderr,
            "hierbert submit: job %llu queued: %u train documents (%u chunks), %u validation documents (%u chunks), ",
            (unsigned long long)sr->job_id, sr->n_train_docs, sr->n_train_chunks, sr->n_val_docs, sr->n_val_chunks);
    if (sr->n_test_docs) fprintf(stderr, "%u test documents (%u chunks), ", sr->n_test_docs, sr->n_test_chunks);
    fprintf(stderr, "%u classes\n", sr->num_classes);
    if (sr->skipped_docs) {
        fprintf(stderr, "hierbert submit: skipped %u bad document(s) (--skip-bad):\n", sr->skipped_docs);
        for (size_t k = 0; k < sr->n_skipped_first; k++) fprintf(stderr, "  %s\n", sr->skipped_first[k]);
    }
    if (sr->ignored_entries)
        fprintf(stderr, "hierbert submit: ignored %u entries beside the class folders (top-level files, hidden): %s\n",
                sr->ignored_entries, sr->ignored);
    if (sr->config_ignored[0])
        fprintf(stderr, "hierbert submit: config.json keys hierbert does not use: %s\n", sr->config_ignored);
    if (sr->replaced)
        fprintf(stderr,
                "hierbert submit: replaced %u undecodable byte(s) with U+FFFD in %u file(s) (--decode-errors "
                "replace): %s\n",
                sr->replaced, sr->replaced_files, sr->replaced_list);
    printf("%llu\n", (unsigned long long)sr->job_id);
    proto_free(&r);
    return 0;
bad:
    fprintf(stderr, "hierbert submit: %s\n", err);
    return 2;
fail:
    fprintf(stderr, "hierbert submit: %s\n", err);
    return 1;
}
