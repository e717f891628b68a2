/*
 * dataset.c - streaming readers (JSONL via jansson, CSV via libcsv, folder
 * per class) and the two-pass dataset_ingest (contract in dataset.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <csv.h>

#include "dataset.h"
#include "split.h"

const char *dataset_split_name(dataset_split s) {
    switch (s) {
    case DATASET_TRAIN:
        return "train";
    case DATASET_VAL:
        return "val";
    case DATASET_TEST:
        return "test";
    default:
        return "none";
    }
}

const char *dataset_bad_name(dataset_bad b) {
    static const char *n[DATASET_BAD_N] = {"invalid UTF-8", "empty document", "duplicate id", "unseen label"};
    return (unsigned)b < DATASET_BAD_N ? n[b] : "?";
}

static int s_parse_split(const char *s, dataset_split *out) {
    if (!strcmp(s, "train"))
        *out = DATASET_TRAIN;
    else if (!strcmp(s, "val"))
        *out = DATASET_VAL;
    else if (!strcmp(s, "test"))
        *out = DATASET_TEST;
    else
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* reader state */

typedef struct {
    char **f;
    size_t *len;
    int n;
    long line;
} s_csv_rec;

struct dataset_reader {
    dataset_format fmt;
    char *path;
    /* JSONL and CSV: the file, read one line at a time */
    FILE *f;
    char *line;
    size_t line_cap;
    long lineno;
    /* JSONL */
    json_t *cur;
    const char **chunks;
    size_t *chunk_lens;
    size_t chunks_cap;
    char idbuf[32];
    /* CSV */
    struct csv_parser p;
    int csv_init;
    dataset_csv_options csv;
    s_csv_rec rec;    /* record being built */
    s_csv_rec *ready; /* completed records, consumed from ready_i */
    int n_ready, ready_i, ready_cap;
    s_csv_rec out; /* the record handed out last (freed at the next call) */
    long rec_start, rec_no;
    int header_done, ncols, c_id, c_text, c_label, c_split, eof;
    /* folder */
    char **labels;
    int n_labels, label_i;
    char **files;
    int n_files, file_i;
    char *text, *id;
    size_t text_cap;
    /* decoding (dataset_decode): cd is (iconv_t)-1 for plain UTF-8 */
    iconv_t cd;
    char *enc_name;
    int replace;
    dataset_report *rep;
    char *dec;
    size_t dec_len, dec_cap;
};

dataset_format dataset_detect(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return DATASET_FOLDER;
    size_t n = strlen(path);
    if (n >= 4 && !strcasecmp(path + n - 4, ".csv")) return DATASET_CSV;
    return DATASET_JSONL;
}

static void s_rec_clear(s_csv_rec *r) {
    for (int i = 0; i < r->n; i++) free(r->f[i]);
    free(r->f);
    free(r->len);
    memset(r, 0, sizeof *r);
}

/* line where byte `off` of a buffer lies (1-based) */
static long s_line_of(const char *s, size_t off) {
    long l = 1;
    for (size_t i = 0; i < off; i++) l += s[i] == '\n';
    return l;
}

/* ------------------------------------------------------------------------ */
/* JSONL */

static int s_jsonl_next(dataset_reader *r, dataset_record *rec, char *err) {
    for (;;) {
        ssize_t len = getline(&r->line, &r->line_cap, r->f);
        if (len < 0) {
            if (ferror(r->f)) return hb_fail(err, "%s:%ld: read error: %s", r->path, r->lineno + 1, strerror(errno));
            return 0;
        }
        r->lineno++;
        char *s = r->line;
        if (len > 0 && s[len - 1] == '\n') len--;
        if (len > 0 && s[len - 1] == '\r') len--;
        if (r->lineno == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3, len -= 3; /* UTF-8 BOM */
        ssize_t k = 0;
        while (k < len && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == len) continue;
        memset(rec, 0, sizeof *rec);
        rec->file = r->path;
        rec->line = r->lineno;
        rec->n_chunks = -1;
        rec->split = DATASET_SPLIT_NONE;
        size_t bad;
        if (wp_utf8_check(s, (size_t)len, &bad)) {
            rec->bad_utf8 = 1;
            snprintf(rec->msg, sizeof rec->msg, "%s:%ld: invalid UTF-8 at byte %zu of the line", r->path, r->lineno,
                     bad);
            return 1;
        }
        json_decref(r->cur);
        json_error_t je;
        r->cur = json_loadb(s, (size_t)len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
        if (!r->cur)
            return hb_fail(err, "%s:%ld: malformed JSON at column %d: %s", r->path, r->lineno, je.column, je.text);
        json_t *o = r->cur;
        if (!json_is_object(o)) return hb_fail(err, "%s:%ld: expected a JSON object", r->path, r->lineno);
        json_t *id = json_object_get(o, "id");
        if (!id) return hb_fail(err, "%s:%ld: missing field \"id\"", r->path, r->lineno);
        if (json_is_integer(id)) {
            snprintf(r->idbuf, sizeof r->idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            rec->id = r->idbuf;
        } else if (json_is_string(id)) {
            rec->id = json_string_value(id);
            if (!*rec->id || strlen(rec->id) != json_string_length(id))
                return hb_fail(err, "%s:%ld: field \"id\" is empty or contains NUL", r->path, r->lineno);
        } else {
            return hb_fail(err, "%s:%ld: field \"id\" must be a string or an integer", r->path, r->lineno);
        }
        json_t *text = json_object_get(o, "text"), *chunks = json_object_get(o, "chunks");
        if (json_is_null(text)) text = NULL; /* "text": null is no text */
        if (json_is_null(chunks)) chunks = NULL;
        if (text && chunks)
            return hb_fail(err, "%s:%ld: document '%s' has both \"text\" and \"chunks\"", r->path, r->lineno, rec->id);
        if (text) {
            if (!json_is_string(text))
                return hb_fail(err, "%s:%ld: field \"text\" must be a string", r->path, r->lineno);
            rec->text = json_string_value(text);
            rec->text_len = json_string_length(text);
        } else if (chunks) {
            if (!json_is_array(chunks))
                return hb_fail(err, "%s:%ld: field \"chunks\" must be a list of strings", r->path, r->lineno);
            size_t n = json_array_size(chunks);
            if (n > r->chunks_cap) {
                r->chunks_cap = n * 2;
                r->chunks = hb_realloc(r->chunks, r->chunks_cap * sizeof *r->chunks);
                r->chunk_lens = hb_realloc(r->chunk_lens, r->chunks_cap * sizeof *r->chunk_lens);
            }
            for (size_t i = 0; i < n; i++) {
                json_t *c = json_array_get(chunks, i);
                if (!json_is_string(c))
                    return hb_fail(err, "%s:%ld: chunk %zu of \"chunks\" is not a string", r->path, r->lineno, i);
                r->chunks[i] = json_string_value(c);
                r->chunk_lens[i] = json_string_length(c);
            }
            rec->n_chunks = (int)n;
            rec->chunks = r->chunks;
            rec->chunk_lens = r->chunk_lens;
        } else {
            return hb_fail(err, "%s:%ld: missing field \"text\" (or \"chunks\")", r->path, r->lineno);
        }
        json_t *label = json_object_get(o, "label");
        if (label && !json_is_null(label)) {
            if (json_is_integer(label)) {
                json_object_set_new(o, "label", json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(label)));
                label = json_object_get(o, "label");
            }
            if (!json_is_string(label))
                return hb_fail(err, "%s:%ld: field \"label\" must be a string or an integer", r->path, r->lineno);
            rec->label = json_string_value(label);
            if (!*rec->label || strlen(rec->label) != json_string_length(label))
                return hb_fail(err, "%s:%ld: field \"label\" is empty or contains NUL", r->path, r->lineno);
        }
        json_t *split = json_object_get(o, "split");
        if (split && !json_is_null(split)) {
            if (!json_is_string(split) || s_parse_split(json_string_value(split), &rec->split))
                return hb_fail(err, "%s:%ld: field \"split\" must be \"train\", \"val\" or \"test\"", r->path,
                               r->lineno);
        }
        return 1;
    }
}

/* ------------------------------------------------------------------------ */
/* CSV */

static int s_no_space(unsigned char c) {
    (void)c;
    return 0; /* RFC 4180: spaces are part of a field */
}

static void s_csv_field(void *data, size_t len, void *ctx) {
    dataset_reader *r = ctx;
    s_csv_rec *c = &r->rec;
    c->f = hb_realloc(c->f, (size_t)(c->n + 1) * sizeof *c->f);
    c->len = hb_realloc(c->len, (size_t)(c->n + 1) * sizeof *c->len);
    c->f[c->n] = hb_malloc(len + 1);
    if (len) memcpy(c->f[c->n], data, len);
    c->f[c->n][len] = '\0';
    c->len[c->n++] = len;
}

static void s_csv_row(int term, void *ctx) {
    (void)term;
    dataset_reader *r = ctx;
    if (r->n_ready == r->ready_cap) {
        r->ready_cap = r->ready_cap ? r->ready_cap * 2 : 4;
        r->ready = hb_realloc(r->ready, (size_t)r->ready_cap * sizeof *r->ready);
    }
    r->rec.line = r->rec_start;
    r->ready[r->n_ready++] = r->rec;
    memset(&r->rec, 0, sizeof r->rec);
    r->rec_start = 0;
}

/* Feeds lines to libcsv until a record is complete or the file ends. */
static int s_csv_fill(dataset_reader *r, char *err) {
    while (r->ready_i == r->n_ready && !r->eof) {
        r->ready_i = r->n_ready = 0;
        ssize_t len = getline(&r->line, &r->line_cap, r->f);
        if (len < 0) {
            if (ferror(r->f)) return hb_fail(err, "%s:%ld: read error: %s", r->path, r->lineno + 1, strerror(errno));
            r->eof = 1;
            if (csv_fini(&r->p, s_csv_field, s_csv_row, r) != 0)
                return hb_fail(err, "%s:%ld: CSV: unterminated quoted field (record starting at line %ld)", r->path,
                               r->lineno, r->rec_start);
            break;
        }
        r->lineno++;
        char *s = r->line;
        if (r->lineno == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3, len -= 3;
        if (!r->rec_start && r->rec.n == 0 && r->p.pstate == 0 && r->p.entry_pos == 0 && !(len == 1 && s[0] == '\n') &&
            !(len == 2 && s[0] == '\r' && s[1] == '\n'))
            r->rec_start = r->lineno;
        if (csv_parse(&r->p, s, (size_t)len, s_csv_field, s_csv_row, r) != (size_t)len)
            return hb_fail(err, "%s:%ld: CSV: malformed quoting (%s) in the record starting at line %ld", r->path,
                           r->lineno, csv_strerror(csv_error(&r->p)), r->rec_start ? r->rec_start : r->lineno);
    }
    return 0;
}

static int s_col(dataset_reader *r, const s_csv_rec *h, const char *name) {
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->f[i], name)) return i;
    (void)r;
    return -1;
}

static int s_csv_next(dataset_reader *r, dataset_record *rec, char *err) {
    for (;;) {
        s_rec_clear(&r->out);
        if (s_csv_fill(r, err)) return -1;
        if (r->ready_i == r->n_ready) return 0;
        r->out = r->ready[r->ready_i++];
        s_csv_rec *c = &r->out;
        if (!r->header_done) {
            const dataset_csv_options *o = &r->csv;
            const char *nid = o->id_column ? o->id_column : "id", *ntext = o->text_column ? o->text_column : "text";
            const char *nlabel = o->label_column ? o->label_column : "label";
            const char *nsplit = o->split_column ? o->split_column : "split";
            r->ncols = c->n;
            r->c_text = s_col(r, c, ntext);
            r->c_id = strcmp(nid, "-") ? s_col(r, c, nid) : -2;
            r->c_label = s_col(r, c, nlabel);
            r->c_split = s_col(r, c, nsplit);
            if (r->c_text < 0)
                return hb_fail(err, "%s:%ld: no column '%s' in the header (set the text column)", r->path, c->line,
                               ntext);
            if (r->c_id == -1)
                return hb_fail(err,
                               "%s:%ld: no column '%s' in the header (set the id column, or '-' to number records)",
                               r->path, c->line, nid);
            if (o->label_column && r->c_label < 0)
                return hb_fail(err, "%s:%ld: no column '%s' in the header", r->path, c->line, nlabel);
            if (o->split_column && r->c_split < 0)
                return hb_fail(err, "%s:%ld: no column '%s' in the header", r->path, c->line, nsplit);
            r->header_done = 1;
            continue;
        }
        r->rec_no++;
        memset(rec, 0, sizeof *rec);
        rec->file = r->path;
        rec->line = c->line;
        rec->n_chunks = -1;
        rec->split = DATASET_SPLIT_NONE;
        if (c->n != r->ncols)
            return hb_fail(err, "%s:%ld: record has %d fields, the header has %d", r->path, c->line, c->n, r->ncols);
        for (int i = 0; i < c->n; i++) {
            size_t bad;
            if (wp_utf8_check(c->f[i], c->len[i], &bad)) {
                rec->bad_utf8 = 1;
                snprintf(rec->msg, sizeof rec->msg, "%s:%ld: invalid UTF-8 in field %d at byte %zu", r->path,
                         c->line + s_line_of(c->f[i], bad) - 1, i + 1, bad);
                return 1;
            }
        }
        if (r->c_id == -2) {
            snprintf(r->idbuf, sizeof r->idbuf, "%ld", r->rec_no);
            rec->id = r->idbuf;
        } else {
            rec->id = c->f[r->c_id];
            if (!*rec->id || strlen(rec->id) != c->len[r->c_id])
                return hb_fail(err, "%s:%ld: id is empty or contains NUL", r->path, c->line);
        }
        rec->text = c->f[r->c_text];
        rec->text_len = c->len[r->c_text];
        if (r->c_label >= 0 && c->len[r->c_label]) {
            rec->label = c->f[r->c_label];
            if (strlen(rec->label) != c->len[r->c_label])
                return hb_fail(err, "%s:%ld: label contains NUL", r->path, c->line);
        }
        if (r->c_split >= 0 && c->len[r->c_split] && s_parse_split(c->f[r->c_split], &rec->split))
            return hb_fail(err, "%s:%ld: split must be train, val or test, not '%s'", r->path, c->line,
                           c->f[r->c_split]);
        return 1;
    }
}

/* ------------------------------------------------------------------------ */
/* decoding: iconv to UTF-8 */

int dataset_encoding_check(const char *encoding, char *err) {
    if (!encoding || !encoding[0]) return 0;
    iconv_t cd = iconv_open("UTF-8", encoding);
    if (cd == (iconv_t)-1)
        return hb_fail(err,
                       "encoding '%.64s': not one iconv converts to UTF-8 (`iconv -l` lists them: latin1, cp1252, "
                       "UTF-16, ...)",
                       encoding);
    iconv_close(cd);
    return 0;
}

/* Appends an item to a bounded ", "-separated list. */
static void s_list_add(char *list, const char *item) {
    size_t n = strlen(list);
    if (n + 8 >= HB_ERR_LEN) return;
    if (n && n + 2 + strlen(item) + 4 >= HB_ERR_LEN) {
        snprintf(list + n, HB_ERR_LEN - n, ", ...");
        return;
    }
    snprintf(list + n, HB_ERR_LEN - n, "%s%s", n ? ", " : "", item);
}

/* in[0..*n) -> UTF-8 appended to r->dec. An incomplete sequence at the end
 * is left in *n (unless final). Strict: -1 at the first undecodable byte,
 * *bad its offset in in; replace: U+FFFD for each, counted in *replaced. */
static int s_conv(dataset_reader *r, const char *in, size_t *n, int final, long *replaced, size_t *bad) {
    char *ip = (char *)in;
    size_t il = *n;
    while (il) {
        if (r->dec_cap - r->dec_len < 4 * il + 16) {
            r->dec_cap = r->dec_len + 4 * il + 4096;
            r->dec = hb_realloc(r->dec, r->dec_cap);
        }
        char *op = r->dec + r->dec_len;
        size_t ol = r->dec_cap - r->dec_len - 1;
        size_t rc = iconv(r->cd, &ip, &il, &op, &ol);
        r->dec_len = (size_t)(op - r->dec);
        if (rc != (size_t)-1) break;
        if (errno == E2BIG) continue;
        if (errno == EINVAL && !final) break;
        if (!r->replace) {
            *bad = (size_t)(ip - in);
            return -1;
        }
        memcpy(r->dec + r->dec_len, "\xEF\xBF\xBD", 3); /* U+FFFD */
        r->dec_len += 3;
        ip++;
        il--;
        (*replaced)++;
    }
    *n = il;
    return 0;
}

static long s_count_nl(const char *s, size_t n) {
    long k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

static void s_note_replaced(dataset_reader *r, const char *path, long n) {
    if (!r->rep || !n) return;
    char item[600];
    snprintf(item, sizeof item, "%.500s (%ld)", path, n);
    r->rep->replaced += n;
    r->rep->replaced_files++;
    s_list_add(r->rep->replaced_list, item);
}

static const char *s_enc(const dataset_reader *r) {
    return r->enc_name ? r->enc_name : "UTF-8";
}

/* JSONL / CSV in another encoding (or with replace): the whole file to
 * UTF-8 into an unlinked temporary file, read from then on like any. */
static int s_convert_file(dataset_reader *r, char *err) {
    FILE *out = tmpfile();
    if (!out) return hb_fail(err, "%s: cannot make a temporary file to decode it: %s", r->path, strerror(errno));
    char blk[65536];
    size_t carry = 0, off = 0;
    long lines = 0, replaced = 0;
    int rc = 0;
    for (;;) {
        size_t got = fread(blk + carry, 1, sizeof blk - carry, r->f);
        if (ferror(r->f)) {
            rc = hb_fail(err, "%s: read error: %s", r->path, strerror(errno));
            break;
        }
        size_t n = carry + got, bad = 0;
        int final = got == 0;
        r->dec_len = 0;
        if (s_conv(r, blk, &n, final, &replaced, &bad)) {
            rc = hb_fail(err,
                         "%s:%ld: byte %zu (0x%02x) is not valid %s (--decode-errors replace puts U+FFFD in its "
                         "place)",
                         r->path, lines + s_count_nl(r->dec, r->dec_len) + 1, off + bad,
                         (unsigned)(unsigned char)blk[bad], s_enc(r));
            break;
        }
        lines += s_count_nl(r->dec, r->dec_len);
        if (r->dec_len && fwrite(r->dec, 1, r->dec_len, out) != r->dec_len) {
            rc = hb_fail(err, "%s: cannot write the decoded copy: %s", r->path, strerror(errno));
            break;
        }
        size_t used = carry + got - n;
        off += used;
        memmove(blk, blk + used, n);
        carry = n;
        if (final) break;
    }
    fclose(r->f);
    r->f = out;
    if (rc) return -1;
    s_note_replaced(r, r->path, replaced);
    rewind(out);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* folder per class */

static int s_cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted non-hidden entries of dir; want_dir: 1 only directories (the
 * top level: other entries are ignored), 0 only regular files (a class
 * folder: anything else is an error). Hidden and ignored entries are
 * counted in r's report. */
static int s_list(dataset_reader *r, const char *dir, int want_dir, char ***out, int *n_out, char *err) {
    DIR *d = opendir(dir);
    if (!d) return hb_fail(err, "%s: cannot open directory: %s", dir, strerror(errno));
    char **v = NULL;
    int n = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        int hidden = e->d_name[0] == '.';
        if (!hidden && fstatat(dirfd(d), e->d_name, &st, 0) != 0) {
            rc = hb_fail(err, "%s/%s: %s", dir, e->d_name, strerror(errno));
            break;
        }
        if (hidden || (want_dir && !S_ISDIR(st.st_mode))) {
            if (r->rep) {
                char item[600];
                snprintf(item, sizeof item, "%.300s/%.250s", dir, e->d_name);
                r->rep->ignored_entries++;
                s_list_add(r->rep->ignored, item);
            }
            continue;
        }
        if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
            rc = hb_fail(err, "%s/%s: expected %s (layout DIR/<label>/<file>)", dir, e->d_name,
                         want_dir ? "a label directory" : "a regular file");
            break;
        }
        v = hb_realloc(v, (size_t)(n + 1) * sizeof *v);
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (rc) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return rc;
    }
    if (n > 1) qsort(v, (size_t)n, sizeof *v, s_cmp_names); /* v is NULL when n is 0: qsort(NULL) is UB */
    *out = v;
    *n_out = n;
    return 0;
}

static void s_free_list(char ***v, int *n) {
    for (int i = 0; i < *n; i++) free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

static int s_folder_next(dataset_reader *r, dataset_record *rec, char *err) {
    while (r->file_i >= r->n_files) {
        s_free_list(&r->files, &r->n_files);
        r->file_i = 0;
        if (r->label_i >= r->n_labels) return 0;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", r->path, r->labels[r->label_i++]);
        if (s_list(r, sub, 0, &r->files, &r->n_files, err)) return -1;
        if (r->n_files == 0)
            return hb_fail(err, "%s: an empty class folder (no document for label '%s')", sub,
                           r->labels[r->label_i - 1]);
    }
    const char *label = r->labels[r->label_i - 1], *name = r->files[r->file_i++];
    free(r->id);
    size_t idn = strlen(label) + strlen(name) + 2;
    r->id = hb_malloc(idn);
    snprintf(r->id, idn, "%s/%s", label, name);
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", r->path, r->id);
    memset(rec, 0, sizeof *rec);
    rec->file = r->path;
    rec->line = 0;
    rec->n_chunks = -1;
    rec->split = DATASET_SPLIT_NONE;
    FILE *f = fopen(path, "rb");
    if (!f) return hb_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t len = 0, got;
    if (!r->text_cap) r->text = hb_malloc(r->text_cap = 1 << 16);
    while ((got = fread(r->text + len, 1, r->text_cap - len - 1, f)) > 0)
        if ((len += got) == r->text_cap - 1) r->text = hb_realloc(r->text, r->text_cap *= 2);
    int bad_read = ferror(f);
    fclose(f);
    if (bad_read) return hb_fail(err, "%s: read error", path);
    r->text[len] = '\0';
    size_t bad;
    if (r->cd != (iconv_t)-1) { /* to UTF-8, in memory: r->text becomes the decoded text */
        long replaced = 0;
        size_t n = len;
        iconv(r->cd, NULL, NULL, NULL, NULL); /* a new document: initial shift state, BOM expected again */
        r->dec_len = 0;
        if (s_conv(r, r->text, &n, 1, &replaced, &bad))
            return hb_fail(err,
                           "%s:%ld: byte %zu (0x%02x) is not valid %s (--decode-errors replace puts U+FFFD in "
                           "its place)",
                           path, s_line_of(r->text, bad), bad, (unsigned)(unsigned char)r->text[bad], s_enc(r));
        s_note_replaced(r, path, replaced);
        if (r->dec_len + 1 > r->text_cap) r->text = hb_realloc(r->text, r->text_cap = r->dec_len + 1);
        if (r->dec_len) memcpy(r->text, r->dec, r->dec_len); /* r->dec is NULL for an empty file */
        len = r->dec_len;
        r->text[len] = '\0';
    }
    if (wp_utf8_check(r->id, strlen(r->id), &bad)) {
        rec->bad_utf8 = 1;
        hb_fail(rec->msg, "%s: file or folder name is not valid UTF-8", path);
        return 1;
    }
    if (wp_utf8_check(r->text, len, &bad)) {
        rec->bad_utf8 = 1;
        hb_fail(rec->msg, "%s:%ld: invalid UTF-8 at byte %zu", path, s_line_of(r->text, bad), bad);
        return 1;
    }
    rec->id = r->id;
    rec->label = label;
    rec->text = r->text;
    rec->text_len = len;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* reader API */

int dataset_open(dataset_reader **out, const char *path, dataset_format fmt, const dataset_csv_options *csv,
                 char *err) {
    return dataset_open_decoded(out, path, fmt, csv, NULL, err);
}

int dataset_open_decoded(dataset_reader **out, const char *path, dataset_format fmt, const dataset_csv_options *csv,
                         const dataset_decode *dec, char *err) {
    *out = NULL;
    if (fmt == DATASET_AUTO) fmt = dataset_detect(path);
    dataset_reader *r = hb_calloc(1, sizeof *r);
    r->fmt = fmt;
    r->path = strdup(path);
    r->cd = (iconv_t)-1;
    if (dec) {
        r->replace = dec->replace;
        r->rep = dec->rep;
        int other = dec->encoding && dec->encoding[0];
        if (other) r->enc_name = strdup(dec->encoding);
        /* plain strict UTF-8 needs no conversion (a bad byte is a bad document: skip_bad applies) */
        if ((other || dec->replace) && (r->cd = iconv_open("UTF-8", other ? dec->encoding : "UTF-8")) == (iconv_t)-1) {
            dataset_encoding_check(dec->encoding, err);
            dataset_close(&r);
            return -1;
        }
    }
    if (fmt == DATASET_FOLDER) {
        if (s_list(r, path, 1, &r->labels, &r->n_labels, err)) {
            dataset_close(&r);
            return -1;
        }
        if (r->n_labels == 0) {
            hb_fail(err, "%s: no class folder (layout DIR/<label>/<file>)", path);
            dataset_close(&r);
            return -1;
        }
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) {
            hb_fail(err, "%s: cannot open: %s", path, strerror(errno));
            dataset_close(&r);
            return -1;
        }
        if (r->cd != (iconv_t)-1 && s_convert_file(r, err)) {
            dataset_close(&r);
            return -1;
        }
        if (fmt == DATASET_CSV) {
            if (csv) r->csv = *csv;
            csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
            r->csv_init = 1;
            csv_set_space_func(&r->p, s_no_space);
            if (r->csv.delimiter) csv_set_delim(&r->p, (unsigned char)r->csv.delimiter);
        }
    }
    *out = r;
    return 0;
}

int dataset_next(dataset_reader *r, dataset_record *rec, char *err) {
    switch (r->fmt) {
    case DATASET_CSV:
        return s_csv_next(r, rec, err);
    case DATASET_FOLDER:
        return s_folder_next(r, rec, err);
    default:
        return s_jsonl_next(r, rec, err);
    }
}

void dataset_close(dataset_reader **rp) {
    dataset_reader *r = *rp;
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r->line);
    json_decref(r->cur);
    free(r->chunks);
    free(r->chunk_lens);
    if (r->csv_init) csv_free(&r->p);
    s_rec_clear(&r->rec);
    s_rec_clear(&r->out);
    for (int i = r->ready_i; i < r->n_ready; i++) s_rec_clear(&r->ready[i]);
    free(r->ready);
    s_free_list(&r->labels, &r->n_labels);
    s_free_list(&r->files, &r->n_files);
    free(r->text);
    free(r->id);
    free(r->path);
    if (r->cd != (iconv_t)-1) iconv_close(r->cd);
    free(r->enc_name);
    free(r->dec);
    free(r);
    *rp = NULL;
}

/* ------------------------------------------------------------------------ */
/* ingest */

typedef struct {
    int file;
    long line;
} s_loc;

typedef struct {
    const dataset_input *in;
    const dataset_options *o;
    wp_tokenizer *tok;
    label_map *labels;
    dataset_report *rep;
    int pass;
    strmap ids; /* document id -> ordinal in loc (first occurrence) */
    s_loc *loc;
    size_t n_loc, loc_cap;
    strmap other; /* pass 1: distinct labels of non-training documents -> index in other_loc */
    s_loc *other_loc;
    size_t n_other;
    char **cand_id, **cand_label; /* pass 1: val_fraction candidates */
    size_t n_cand, cand_cap;
    strmap val_ids; /* val_fraction: ids moved to val */
    wp_ids toks;
    wp_ids packed; /* emitted chunks, unpadded */
    size_t *offs;
    size_t offs_cap;
    chunk_set cs;
    chunk_config cc;
    uint64_t *fp; /* per input: fingerprint of its records, pass 1 */
    long *fp_n;
    s_loc cur;                    /* the record being decided */
    int have_first;               /* strict, pass 1: a bad document was seen ... */
    s_loc first_loc;              /* ... here, the earliest ... */
    char first_msg[HB_ERR_LEN];   /* ... with this reason (reported after pass 1 if nothing is earlier) */
} s_ingest;

/* A bad document: error (strict) or skip (counted and reported in pass 2). */
static int s_bad(s_ingest *g, dataset_bad why, const char *msg, char *err) {
    if (!g->o->skip_bad && g->pass == 1) {
        /* strict: the refusal names the EARLIEST bad document, and an unseen
         * label is known only after pass 1 - note the first one, go on */
        if (!g->have_first) {
            g->have_first = 1;
            g->first_loc = g->cur;
            snprintf(g->first_msg, sizeof g->first_msg, "%s (--skip-bad counts and skips such documents)", msg);
        }
        return 1;
    }
    if (!g->o->skip_bad) return hb_fail(err, "%s (--skip-bad counts and skips such documents)", msg);
    if (g->pass == 2 && g->rep) {
        if (!g->rep->bad[why]++) snprintf(g->rep->first_bad[why], HB_ERR_LEN, "%s", msg);
    }
    return 1;
}

static uint64_t s_fp(uint64_t h, const dataset_record *rec) {
    h = strmap_hash(h, &rec->line, sizeof rec->line);
    if (!rec->bad_utf8) h = strmap_hash(h, rec->id, strlen(rec->id) + 1);
    if (!rec->bad_utf8 && rec->label) h = strmap_hash(h, rec->label, strlen(rec->label) + 1);
    return h;
}

/* Decides one record, the same way in both passes: UTF-8, split, label
 * presence, tokens (empty), duplicate id, label known. Returns 0 keep,
 * 1 skip, -1 error. On keep, g->toks (and g->offs for chunks) hold tokens. */
static int s_doc(s_ingest *g, int input, const dataset_record *rec, dataset_split *split, int *label, char *err) {
    char msg[HB_ERR_LEN];
    g->cur = (s_loc){input, rec->line};
    if (rec->bad_utf8) return s_bad(g, DATASET_BAD_UTF8, rec->msg, err);
    if (strlen(rec->id) > DATASET_ID_MAX)
        return hb_fail(err, "%s:%ld: document id '%.40s...' is %zu bytes, at most %d", rec->file, rec->line, rec->id,
                       strlen(rec->id), DATASET_ID_MAX);
    const dataset_input *in = &g->in[input];
    int cand = 0;
    *split = rec->split != DATASET_SPLIT_NONE ? rec->split : in->role;
    if (rec->split == DATASET_SPLIT_NONE && in->role == DATASET_TRAIN && g->o->val_fraction > 0) {
        cand = 1;
        if (g->pass == 2 && strmap_get(&g->val_ids, rec->id, strlen(rec->id), NULL)) *split = DATASET_VAL;
    }
    if (!rec->label && *split != DATASET_TEST)
        return hb_fail(err, "%s:%ld: %s document '%s' has no label", rec->file, rec->line, dataset_split_name(*split),
                       rec->id);
    /* tokens */
    g->toks.n = 0;
    if (rec->n_chunks < 0) {
        if (wp_tokenize(g->tok, rec->text, rec->text_len, &g->toks, NULL, msg))
            return hb_fail(err, "%s:%ld: %s", rec->file, rec->line, msg);
        if (g->toks.n == 0) {
            snprintf(msg, sizeof msg, "%s:%ld: document '%s' is empty (no tokens)", rec->file, rec->line, rec->id);
            return s_bad(g, DATASET_BAD_EMPTY, msg, err);
        }
    } else {
        if ((size_t)rec->n_chunks + 1 > g->offs_cap) {
            g->offs_cap = (size_t)rec->n_chunks * 2 + 2;
            g->offs = hb_realloc(g->offs, g->offs_cap * sizeof *g->offs);
        }
        if (rec->n_chunks == 0) {
            snprintf(msg, sizeof msg, "%s:%ld: document '%s' has an empty \"chunks\" list", rec->file, rec->line,
                     rec->id);
            return s_bad(g, DATASET_BAD_EMPTY, msg, err);
        }
        for (int k = 0; k < rec->n_chunks; k++) {
            g->offs[k] = g->toks.n;
            char m2[HB_ERR_LEN];
            if (wp_tokenize(g->tok, rec->chunks[k], rec->chunk_lens[k], &g->toks, NULL, m2))
                return hb_fail(err, "%s:%ld: chunk %d: %s", rec->file, rec->line, k, m2);
            if (g->toks.n == g->offs[k]) {
                snprintf(msg, sizeof msg, "%s:%ld: chunk %d of document '%s' is empty (no tokens)", rec->file,
                         rec->line, k, rec->id);
                return s_bad(g, DATASET_BAD_EMPTY, msg, err);
            }
        }
        g->offs[rec->n_chunks] = g->toks.n;
    }
    /* duplicate id */
    size_t idlen = strlen(rec->id);
    int32_t first;
    if (strmap_get(&g->ids, rec->id, idlen, &first)) {
        s_loc l = g->loc[first];
        snprintf(msg, sizeof msg, "%s:%ld: duplicate document id '%s' (first at %s:%ld)", rec->file, rec->line, rec->id,
                 g->in[l.file].path, l.line);
        return s_bad(g, DATASET_BAD_DUPLICATE, msg, err);
    }
    if (g->n_loc == g->loc_cap) {
        g->loc_cap = g->loc_cap ? g->loc_cap * 2 : 1024;
        g->loc = hb_realloc(g->loc, g->loc_cap * sizeof *g->loc);
    }
    g->loc[g->n_loc] = (s_loc){input, rec->line};
    strmap_put(&g->ids, rec->id, idlen, (int32_t)g->n_loc++);
    /* label */
    *label = -1;
    if (!rec->label) return 0;
    if (g->pass == 1) {
        int builds = !g->o->fixed && (*split == DATASET_TRAIN || g->o->labels_from_all);
        if (builds) {
            if (labels_add(g->labels, rec->label, msg)) return hb_fail(err, "%s:%ld: %s", rec->file, rec->line, msg);
        } else if (!strmap_get(&g->other, rec->label, strlen(rec->label), NULL)) {
            /* first occurrence only: strmap_put overwrites, and other_loc keeps the first line */
            strmap_put(&g->other, rec->label, strlen(rec->label), (int32_t)g->n_other);
            g->other_loc = hb_realloc(g->other_loc, (g->n_other + 1) * sizeof *g->other_loc);
            g->other_loc[g->n_other++] = (s_loc){input, rec->line};
        }
        if (cand) {
            if (g->n_cand == g->cand_cap) {
                g->cand_cap = g->cand_cap ? g->cand_cap * 2 : 1024;
                g->cand_id = hb_realloc(g->cand_id, g->cand_cap * sizeof *g->cand_id);
                g->cand_label = hb_realloc(g->cand_label, g->cand_cap * sizeof *g->cand_label);
            }
            g->cand_id[g->n_cand] = strdup(rec->id);
            g->cand_label[g->n_cand++] = strdup(rec->label);
        }
        return 0;
    }
    *label = labels_id(g->labels, rec->label);
    if (*label < 0) {
        snprintf(msg, sizeof msg, "%s:%ld: label '%s' of %s document '%s' is not among the %d %s labels", rec->file,
                 rec->line, rec->label, dataset_split_name(*split), rec->id, g->labels->n,
                 g->o->fixed ? "label-map" : "training");
        return s_bad(g, DATASET_BAD_UNSEEN_LABEL, msg, err);
    }
    return 0;
}

/* After pass 1: the label map, unseen labels (strict), the val_fraction split. */
static int s_between(s_ingest *g, long n_docs, char *err) {
    if (n_docs == 0 && g->have_first) return hb_fail(err, "%s", g->first_msg);
    if (n_docs == 0) return hb_fail(err, "%s: no documents in the input", g->in[0].path);
    if (!g->o->fixed) {
        if (g->labels->n == 0 && g->o->labels_from_all == 2)
            for (size_t i = 0; i < g->other.cap; i++)
                if (g->other.slots[i].used && labels_add(g->labels, g->other.arena + g->other.slots[i].off, err))
                    return -1;
        if (g->labels->n == 0 && g->n_other && g->have_first) return hb_fail(err, "%s", g->first_msg);
        if (g->labels->n == 0 && g->n_other)
            return hb_fail(err, "%s: no labelled training documents: the label map comes from the train split",
                           g->in[0].path);
        labels_finalize(g->labels);
    }
    /* strict: the earliest document whose label is unseen */
    const char *worst = NULL;
    s_loc wl = {0, 0};
    for (size_t i = 0; i < g->other.cap && !g->o->skip_bad; i++) {
        const strmap_slot *s = &g->other.slots[i];
        if (!s->used) continue;
        const char *lab = g->other.arena + s->off;
        s_loc l = g->other_loc[s->val];
        if (labels_id(g->labels, lab) < 0 && (!worst || l.file < wl.file || (l.file == wl.file && l.line < wl.line))) {
            worst = lab;
            wl = l;
        }
    }
    if (g->have_first && (!worst || g->first_loc.file < wl.file ||
                          (g->first_loc.file == wl.file && g->first_loc.line <= wl.line)))
        return hb_fail(err, "%s", g->first_msg);
    if (worst)
        return hb_fail(err,
                       "%s:%ld: label '%s' is not among the %d %s labels (--skip-bad counts and skips such documents)",
                       g->in[wl.file].path, wl.line, worst, g->labels->n, g->o->fixed ? "label-map" : "training");
    if (g->n_cand) {
        int *lab = hb_malloc(g->n_cand * sizeof *lab);
        uint8_t *is_val = hb_malloc(g->n_cand);
        for (size_t i = 0; i < g->n_cand; i++) lab[i] = labels_id(g->labels, g->cand_label[i]);
        int rc = split_stratified(g->n_cand, (const char *const *)g->cand_id, lab, g->labels->n, g->o->val_fraction,
                                  g->o->seed, is_val, err);
        for (size_t i = 0; rc == 0 && i < g->n_cand; i++)
            if (is_val[i]) strmap_put(&g->val_ids, g->cand_id[i], strlen(g->cand_id[i]), 1);
        free(lab);
        free(is_val);
        if (rc) return -1;
    }
    return 0;
}

static int s_pass(s_ingest *g, int n_inputs, dataset_emit_fn emit, void *ctx, long *n_docs, char *err) {
    dataset_record rec;
    for (int i = 0; i < n_inputs; i++) {
        dataset_reader *r;
        /* ignored entries and replacements are counted once: in pass 1 */
        dataset_decode dec = {g->o->encoding, g->o->decode_replace, g->pass == 1 ? g->rep : NULL};
        if (dataset_open_decoded(&r, g->in[i].path, g->in[i].format, &g->o->csv, &dec, err)) return -1;
        uint64_t fp = STRMAP_FNV_OFFSET;
        long n = 0;
        int rc;
        while ((rc = dataset_next(r, &rec, err)) == 1) {
            fp = s_fp(fp, &rec);
            n++;
            dataset_split split = DATASET_SPLIT_NONE;
            int label = -1;
            int d = s_doc(g, i, &rec, &split, &label, err);
            if (d < 0) {
                rc = -1;
                break;
            }
            if (d > 0) continue;
            (*n_docs)++;
            if (g->pass == 1) continue;
            if (rec.n_chunks < 0)
                chunk_text(&g->cc, g->toks.v, g->toks.n, &g->cs);
            else
                chunk_presplit(&g->cc, g->toks.v, g->offs, (size_t)rec.n_chunks, &g->cs);
            g->packed.n = 0;
            for (int k = 0; k < g->cs.n_chunks; k++)
                for (uint32_t j = 0; j < g->cs.len[k]; j++)
                    wp_ids_push(&g->packed, g->cs.ids[(size_t)k * (size_t)g->cs.seq_len + j]);
            size_t unk = 0;
            for (size_t k = 0; k < g->toks.n; k++) unk += g->toks.v[k] == g->tok->unk_id;
            dataset_doc doc = {.id = rec.id,
                               .label = label,
                               .split = split,
                               .file = rec.file,
                               .line = rec.line,
                               .n_chunks = g->cs.n_chunks,
                               .seq_len = g->cs.seq_len,
                               .ids = g->cs.ids,
                               .mask = g->cs.mask,
                               .start = g->cs.start,
                               .chunk_len = g->cs.len,
                               .packed = g->packed.v,
                               .n_packed = g->packed.n,
                               .n_tokens = g->toks.n,
                               .n_unk = unk,
                               .n_dropped = g->cs.n_dropped};
            if (g->rep) {
                g->rep->docs[split]++;
                g->rep->chunks[split] += doc.n_chunks;
                g->rep->tokens += (long)doc.n_tokens;
                g->rep->unk += (long)unk;
                g->rep->truncated_docs += doc.n_dropped > 0;
                g->rep->dropped_chunks += doc.n_dropped;
            }
            if (emit && emit(ctx, &doc, err)) {
                rc = -1;
                break;
            }
        }
        dataset_close(&r);
        if (rc < 0) {
            /* a bad document noted earlier in this pass comes first */
            if (g->have_first) snprintf(err, HB_ERR_LEN, "%s", g->first_msg);
            return -1;
        }
        if (g->pass == 1) {
            g->fp[i] = fp;
            g->fp_n[i] = n;
        } else if (g->fp[i] != fp || g->fp_n[i] != n) {
            return hb_fail(err, "%s: changed while being ingested (%ld records, %ld before): discard this ingest",
                           g->in[i].path, n, g->fp_n[i]);
        }
    }
    return 0;
}

int dataset_ingest(const dataset_input *inputs, int n_inputs, wp_tokenizer *tok, const dataset_options *o,
                   label_map *labels, dataset_emit_fn emit, void *ctx, dataset_report *rep, char *err) {
    labels_init(labels);
    if (rep) memset(rep, 0, sizeof *rep);
    if (n_inputs < 1) return hb_fail(err, "no input files");
    s_ingest g = {.in = inputs, .o = o, .tok = tok, .labels = labels, .rep = rep};
    g.cc = o->chunk;
    g.cc.cls_id = tok->cls_id;
    g.cc.sep_id = tok->sep_id;
    g.cc.pad_id = tok->pad_id;
    if (chunk_config_check(&g.cc, err)) return -1;
    if (dataset_encoding_check(o->encoding, err)) return -1;
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return hb_fail(err, "val fraction %g: must be in [0, 1)", o->val_fraction);
    if (o->fixed) {
        char *js = labels_to_json(o->fixed);
        int rc = labels_parse(labels, js, strlen(js), "fixed label map", err);
        free(js);
        if (rc) return -1;
    }
    strmap_init(&g.ids);
    strmap_init(&g.other);
    strmap_init(&g.val_ids);
    g.fp = hb_calloc((size_t)n_inputs, sizeof *g.fp);
    g.fp_n = hb_calloc((size_t)n_inputs, sizeof *g.fp_n);
    long n1 = 0, n2 = 0;
    g.pass = 1;
    int rc = s_pass(&g, n_inputs, NULL, NULL, &n1, err);
    if (!rc) rc = s_between(&g, n1, err);
    if (!rc) {
        strmap_free(&g.ids);
        strmap_init(&g.ids);
        g.n_loc = 0;
        g.pass = 2;
        rc = s_pass(&g, n_inputs, emit, ctx, &n2, err);
    }
    strmap_free(&g.ids);
    strmap_free(&g.other);
    strmap_free(&g.val_ids);
    free(g.loc);
    free(g.other_loc);
    for (size_t i = 0; i < g.n_cand; i++) free(g.cand_id[i]), free(g.cand_label[i]);
    free(g.cand_id);
    free(g.cand_label);
    wp_ids_free(&g.toks);
    wp_ids_free(&g.packed);
    free(g.offs);
    chunk_set_free(&g.cs);
    free(g.fp);
    free(g.fp_n);
    if (rc) {
        labels_free(labels);
        labels_init(labels);
    }
    return rc;
}
