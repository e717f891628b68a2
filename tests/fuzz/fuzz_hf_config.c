/*
 * fuzz_hf_config.c - the JSON files of a --model directory: config.json
 * (bert_config_read, hfdir_config_ignored), tokenizer_config.json
 * (bert_dir_lowercase) and tokenizer.json (hfdir_vocab: its WordPiece
 * vocabulary written out as a vocab.txt, which must then load). Input:
 * "CONFIG\n%%\nTOKENIZER_CONFIG\n%%\nTOKENIZER_JSON". A read config is
 * valid (bert_config_validate) or refused with a reason.
 */
#include "bert_config.h"
#include "fuzz_util.h"
#include "hfdir.h"
#include "wordpiece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n1, rest, n2, n3;
    const uint8_t *p2 = fz_split(data, size, "\n%%\n", &n1, &rest);
    const uint8_t *p3 = fz_split(p2, rest, "\n%%\n", &n2, &n3);
    char dir[600], cfg[700], tc[700], tj[700], out[700], path[800], list[512], err[HB_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "%s", fz_dir());
    snprintf(cfg, sizeof cfg, "%s", fz_write("config.json", data, n1));
    snprintf(tc, sizeof tc, "%s/tokenizer_config.json", dir);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    snprintf(out, sizeof out, "%s/made_vocab.txt", dir);
    unlink(tc);
    unlink(tj);
    if (rest) fz_write("tokenizer_config.json", p2, n2);
    if (n3) fz_write("tokenizer.json", p3, n3);
    bert_config c;
    if (bert_config_read(&c, cfg, err) == 0) {
        if (bert_config_validate(&c, "fuzz", err)) abort();
    } else if (!err[0]) {
        abort();
    }
    int n_ign = hfdir_config_ignored(cfg, list, sizeof list, err);
    if (n_ign < -1 || strlen(list) >= sizeof list) abort();
    int lc = bert_dir_lowercase(dir, err);
    if (lc < -1 || lc > 2) abort(); /* 2: the directory does not say */
    int made = 0;
    if (hfdir_vocab(dir, out, path, sizeof path, &made, err) == 0 && made) {
        wp_tokenizer *tok = NULL;
        if (wp_load(&tok, path, 1, err) == 0) wp_destroy(&tok);
    }
    return 0;
}
