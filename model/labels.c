/*
 * labels.c - label map: stable order, JSON round trip (see labels.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hb_error.h"
#include "labels.h"

void labels_init(label_map *m) {
    memset(m, 0, sizeof *m);
    strmap_init(&m->map);
}

void labels_free(label_map *m) {
    for (int i = 0; i < m->n; i++) free(m->names[i]);
    free(m->names);
    strmap_free(&m->map);
    memset(m, 0, sizeof *m);
}

int labels_is_integer(const char *s) {
    const char *p = s;
    if (*p == '-') p++;
    if (*p < '0' || *p > '9') return 0;
    if (*p == '0' && p[1] != '\0') return 0; /* no leading zeros */
    if (*p == '0' && p != s) return 0;       /* no "-0" */
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return 0;
    errno = 0;
    char *end;
    (void)strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

int labels_add(label_map *m, const char *text, char *err) {
    if (m->final) return hb_fail(err, "label map is final: cannot add label '%s'", text);
    size_t len = strlen(text);
    if (len == 0) return hb_fail(err, "empty label");
    if (strmap_put(&m->map, text, len, m->n)) {
        m->names = hb_realloc(m->names, (size_t)(m->n + 1) * sizeof *m->names);
        m->names[m->n++] = strdup(text);
    }
    return 0;
}

static int s_cmp_num(const void *a, const void *b) {
    long long x = strtoll(*(char *const *)a, NULL, 10), y = strtoll(*(char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

static int s_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void labels_finalize(label_map *m) {
    m->numeric = m->n > 0;
    for (int i = 0; i < m->n && m->numeric; i++) m->numeric = labels_is_integer(m->names[i]);
    if (m->n > 1) /* names is NULL with no label: qsort(NULL, 0) is UB */
        qsort(m->names, (size_t)m->n, sizeof *m->names, m->numeric ? s_cmp_num : s_cmp_str);
    for (int i = 0; i < m->n; i++) strmap_put(&m->map, m->names[i], strlen(m->names[i]), i);
    m->final = 1;
}

int labels_id(const label_map *m, const char *text) {
    int32_t id;
    return strmap_get(&m->map, text, strlen(text), &id) ? id : -1;
}

const char *labels_name(const label_map *m, int id) {
    return id >= 0 && id < m->n ? m->names[id] : NULL;
}

char *labels_to_json(const label_map *m) {
    json_t *a = json_array();
    for (int i = 0; i < m->n; i++)
        json_array_append_new(a, m->numeric ? json_integer(strtoll(m->names[i], NULL, 10)) : json_string(m->names[i]));
    json_t *o = json_object();
    json_object_set_new(o, "labels", a);
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) {
        fprintf(stderr, "hierbert: out of memory serializing labels\n");
        abort();
    }
    return s;
}

int labels_parse(label_map *m, const char *json, size_t len, const char *what, char *err) {
    labels_init(m);
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return hb_fail(err, "%s:%d: malformed JSON: %s", what, je.line, je.text);
    json_t *a = json_object_get(o, "labels");
    int rc = 0, n_int = 0, n_str = 0;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        rc = hb_fail(err, "%s: needs {\"labels\": [...]} with at least one label", what);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char buf[32];
        const char *text;
        if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            text = buf;
            n_int++;
        } else if (json_is_string(v)) {
            text = json_string_value(v);
            if (strlen(text) != json_string_length(v)) {
                rc = hb_fail(err, "%s: label %zu contains NUL", what, i);
                goto out;
            }
            n_str++;
        } else {
            rc = hb_fail(err, "%s: label %zu is neither a string nor an integer", what, i);
            goto out;
        }
        if (n_int && n_str) {
            rc = hb_fail(err, "%s: labels mix strings and integers", what);
            goto out;
        }
        if (!*text) {
            rc = hb_fail(err, "%s: label %zu is empty", what, i);
            goto out;
        }
        if (!strmap_put(&m->map, text, strlen(text), m->n)) {
            rc = hb_fail(err, "%s: label '%s' appears twice", what, text);
            goto out;
        }
        m->names = hb_realloc(m->names, (size_t)(m->n + 1) * sizeof *m->names);
        m->names[m->n++] = strdup(text);
    }
    m->numeric = n_int > 0;
    m->final = 1;
out:
    json_decref(o);
    if (rc) labels_free(m);
    return rc;
}

int labels_save(const label_map *m, const char *path, char *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return hb_fail(err, "%s: path too long", path);
    char *s = labels_to_json(m);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(s);
        return hb_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    }
    int ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    ok &= fclose(f) == 0;
    free(s);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return hb_fail(err, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

int labels_load(label_map *m, const char *path, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hb_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0, got;
    char *buf = hb_malloc(cap);
    while ((got = fread(buf + len, 1, cap - len, f)) > 0)
        if ((len += got) == cap) buf = hb_realloc(buf, cap *= 2);
    fclose(f);
    int rc = labels_parse(m, buf, len, path, err);
    free(buf);
    return rc;
}
