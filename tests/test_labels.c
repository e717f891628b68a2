/*
 * test_labels.c - the label map's stated order (integers numerically, else
 * by bytes), 7 and "7" as one label, the labels.json round trip and its
 * parse errors; and the stratified split rule of split.h.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hb_error.h"
#include "labels.h"
#include "split.h"

int main(void) {
    char err[HB_ERR_LEN];
    label_map m;
    labels_init(&m);
    const char *in[] = {"10", "2", "1", "9", "-3", "2"};
    for (int i = 0; i < 6; i++) CHECK_OK(labels_add(&m, in[i], err), err);
    labels_finalize(&m);
    CHECK(m.n == 5 && m.numeric, "n %d numeric %d", m.n, m.numeric);
    const char *want[] = {"-3", "1", "2", "9", "10"};
    for (int i = 0; i < 5; i++)
        CHECK(!strcmp(labels_name(&m, i), want[i]) && labels_id(&m, want[i]) == i, "id %d: %s", i, labels_name(&m, i));
    CHECK(labels_id(&m, "11") == -1 && labels_add(&m, "x", err) == -1, "unseen / final");
    t_ok("integer labels sort numerically: -3 1 2 9 10 -> 0..4 (10 after 9); unseen -> -1; final map refuses adds");

    char path[] = "/tmp/hb-labels-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK_OK(labels_save(&m, path, err), err);
    label_map r;
    CHECK_OK(labels_load(&r, path, err), err);
    CHECK(r.n == m.n && r.numeric, "round trip n");
    for (int i = 0; i < m.n; i++) CHECK(!strcmp(labels_name(&r, i), labels_name(&m, i)), "round trip %d", i);
    char *js = labels_to_json(&m);
    CHECK(!strcmp(js, "{\"labels\":[-3,1,2,9,10]}"), "json %s", js);
    free(js);
    labels_free(&r);
    labels_free(&m);
    t_ok("labels.json round trip keeps order; numeric maps are saved as integers");

    labels_init(&m);
    const char *s[] = {"sports", "Zebra", "10", "2", "éclair", "apple"};
    for (int i = 0; i < 6; i++) CHECK_OK(labels_add(&m, s[i], err), err);
    labels_finalize(&m);
    const char *sw[] = {"10", "2", "Zebra", "apple", "sports", "éclair"};
    CHECK(!m.numeric, "mixed is not numeric");
    for (int i = 0; i < 6; i++) CHECK(!strcmp(labels_name(&m, i), sw[i]), "byte order %d: %s", i, labels_name(&m, i));
    CHECK_OK(labels_save(&m, path, err), err);
    CHECK_OK(labels_load(&r, path, err), err);
    for (int i = 0; i < 6; i++) CHECK(!strcmp(labels_name(&r, i), sw[i]), "string round trip %d", i);
    labels_free(&r);
    labels_free(&m);
    labels_init(&m);
    CHECK(labels_add(&m, "", err) == -1, "empty label refused");
    CHECK(!labels_is_integer("01") && !labels_is_integer("-0") && !labels_is_integer("+1") &&
              !labels_is_integer("99999999999999999999") && labels_is_integer("-12"),
          "canonical integers");
    labels_free(&m);
    t_ok("any non-integer label -> byte order (\"10\" < \"2\" < \"Zebra\" < \"apple\" < \"sports\" < \"éclair\"); "
         "round trip as strings");

    const char *badjs[][2] = {{"{\"labels\": []}", "at least one"},
                              {"{\"labels\": [\"a\", \"a\"]}", "twice"},
                              {"{\"labels\": [1, \"a\"]}", "mix"},
                              {"{\"labels\": [1.5]}", "neither"},
                              {"{\"labels\": [\"a\"", "malformed"}};
    for (int i = 0; i < 5; i++) {
        CHECK(labels_parse(&r, badjs[i][0], strlen(badjs[i][0]), "x.json", err) == -1 && strstr(err, badjs[i][1]) &&
                  strstr(err, "x.json"),
              "%s -> %s", badjs[i][0], err);
    }
    CHECK_OK(labels_parse(&r, "{\"labels\": [7, 3]}", 18, "y", err), err);
    CHECK(labels_id(&r, "7") == 0 && labels_id(&r, "3") == 1, "file order is the id order");
    labels_free(&r);
    unlink(path);
    t_ok("labels.json errors named: empty list, duplicate, mixed types, float, malformed; loaded order = ids");

    /* split: 3 classes of 10, 5 and 1 documents */
    const char *ids[16];
    int lab[16];
    char names[16][16];
    for (int i = 0; i < 16; i++) {
        snprintf(names[i], sizeof names[i], "doc%02d", i);
        ids[i] = names[i];
        lab[i] = i < 10 ? 0 : i < 15 ? 1 : 2;
    }
    uint8_t v1[16], v2[16], v3[16];
    CHECK_OK(split_stratified(16, ids, lab, 3, 0.2, 1, v1, err), err);
    int nv[3] = {0, 0, 0};
    for (int i = 0; i < 16; i++) nv[lab[i]] += v1[i];
    CHECK(nv[0] == 2 && nv[1] == 1 && nv[2] == 0, "per class val %d %d %d", nv[0], nv[1], nv[2]);
    /* reversed input order: same decisions */
    const char *rid[16];
    int rlab[16];
    for (int i = 0; i < 16; i++) rid[i] = ids[15 - i], rlab[i] = lab[15 - i];
    CHECK_OK(split_stratified(16, rid, rlab, 3, 0.2, 1, v2, err), err);
    for (int i = 0; i < 16; i++) CHECK(v2[15 - i] == v1[i], "order independent at %d", i);
    /* the val documents are those with the smallest keys in their class */
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            if (v1[i] && !v1[j]) CHECK(split_key(1, ids[i]) < split_key(1, ids[j]), "key order %d %d", i, j);
    /* FNV-1a-64 of "1:doc00", computed here byte by byte */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = "1:doc00"; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    CHECK(split_key(1, "doc00") == h, "key is FNV-1a-64 of seed:id");
    int differs = 0;
    for (uint64_t seed = 2; seed < 6 && !differs; seed++) {
        CHECK_OK(split_stratified(16, ids, lab, 3, 0.2, seed, v3, err), err);
        differs = memcmp(v1, v3, 16) != 0;
    }
    CHECK(differs, "another seed picks other documents");
    CHECK_OK(split_stratified(16, ids, lab, 3, 0.9, 1, v3, err), err);
    CHECK(!v3[15], "a class of one document keeps it in train even at 0.9");
    CHECK(split_stratified(16, ids, lab, 3, 1.0, 1, v3, err) == -1, "fraction 1 refused");
    t_ok("stratified split: 10/5/1 docs at 0.2 -> 2/1/0 val, order independent, smallest FNV keys, seed-dependent, "
         ">=1 train per class");
    return 0;
}
