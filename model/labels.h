/*
 * labels.h - the label map: whatever labels a dataset uses (strings, or
 * integers such as 1..10) -> class ids 0..C-1, in a stated, stable order,
 * saved as labels.json ({"labels": [...]}, index = class id) with the job
 * and with every exported model.
 *
 * A label is known by its text: a JSON string as is, a JSON integer in
 * decimal (so 7 and "7" are the same label), a CSV field or a folder name as
 * is. Order: if every label is a canonical decimal integer (-?(0|[1-9][0-9]*),
 * within int64), numerically ascending ("numeric" map, saved as JSON
 * integers); otherwise by the bytes of the UTF-8 text (strcmp order, saved as
 * strings). So labels 1..10 become 0..9 and never feed a 0-based loss as 1..10.
 *
 * Life cycle: labels_init, labels_add for every training label,
 * labels_finalize (sorts, assigns ids, freezes), then labels_id / labels_name.
 * labels_load / labels_parse give a finalized map in the file's order.
 */
#ifndef HB_LABELS_H
#define HB_LABELS_H

#include <stddef.h>

#include "strmap.h"

typedef struct {
    strmap map;   /* text -> class id (after finalize) */
    char **names; /* class id -> text, n entries */
    int n;
    int numeric; /* all labels are canonical integers */
    int final;
} label_map;

void labels_init(label_map *m);
void labels_free(label_map *m);

/* 1 if text is a canonical decimal integer within int64. */
int labels_is_integer(const char *text);

/* Adds a label (no-op if present); only before labels_finalize. Fails on an
 * empty label or a finalized map. */
int labels_add(label_map *m, const char *text, char *err);
void labels_finalize(label_map *m);

/* Class id of a label, or -1 if it is not in the map. */
int labels_id(const label_map *m, const char *text);
const char *labels_name(const label_map *m, int id);

/* {"labels": [...]} as a malloc'd string (integers for numeric maps). */
char *labels_to_json(const label_map *m);
/* Parses {"labels": [...]}: a non-empty list of distinct strings or of
 * distinct integers (not mixed). `what` names the source in messages. */
int labels_parse(label_map *m, const char *json, size_t len, const char *what, char *err);
/* Writes path atomically (path.tmp then rename). */
int labels_save(const label_map *m, const char *path, char *err);
int labels_load(label_map *m, const char *path, char *err);

#endif
