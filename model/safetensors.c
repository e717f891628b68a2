/* safetensors.c - validate-at-open reader and atomic writer of safetensors files. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hb_error.h"

static size_t s_dtype_size(const char *dt) {
    static const struct {
        const char *n;
        size_t s;
    } t[] = {{"F64", 8}, {"F32", 4},  {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},     {"I16", 2},    {"I8", 1},
             {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},  {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].n, dt) == 0) return t[i].s;
    return 0;
}

void safetensors_close(safetensors_file **fp) {
    safetensors_file *f = fp ? *fp : NULL;
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    free(f->path);
    free(f);
    *fp = NULL;
}

static int s_parse_entry(safetensors_file *f, const char *key, json_t *v, safetensors_entry *e, char *err) {
    const char *p = f->path;
    if (!json_is_object(v)) return hb_fail(err, "%s: tensor %s: header entry is not an object", p, key);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *of = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || strlen(json_string_value(dt)) >= sizeof e->dtype)
        return hb_fail(err, "%s: tensor %s: missing or bad \"dtype\"", p, key);
    snprintf(e->dtype, sizeof e->dtype, "%s", json_string_value(dt));
    if (!json_is_array(sh) || json_array_size(sh) > SAFETENSORS_MAX_DIMS)
        return hb_fail(err, "%s: tensor %s: missing or bad \"shape\"", p, key);
    e->ndim = (int)json_array_size(sh);
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        json_t *x = json_array_get(sh, (size_t)d);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > (json_int_t)1 << 40)
            return hb_fail(err, "%s: tensor %s: bad dimension %d in \"shape\"", p, key, d);
        e->shape[d] = json_integer_value(x);
        if (e->shape[d] && numel > ((size_t)1 << 50) / (size_t)e->shape[d])
            return hb_fail(err, "%s: tensor %s: shape too large", p, key);
        numel *= (size_t)e->shape[d];
    }
    if (!json_is_array(of) || json_array_size(of) != 2 || !json_is_integer(json_array_get(of, 0)) ||
        !json_is_integer(json_array_get(of, 1)))
        return hb_fail(err, "%s: tensor %s: missing or bad \"data_offsets\"", p, key);
    json_int_t b = json_integer_value(json_array_get(of, 0)), en = json_integer_value(json_array_get(of, 1));
    if (b < 0 || en < b || (size_t)en > f->data_size)
        return hb_fail(err, "%s: tensor %s: data_offsets [%lld, %lld] out of range (data section has %zu bytes)", p,
                       key, (long long)b, (long long)en, f->data_size);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    size_t ds = s_dtype_size(e->dtype);
    if (ds && numel * ds != e->end - e->begin)
        return hb_fail(err, "%s: tensor %s: %zu bytes for dtype %s and %zu elements (expected %zu)", p, key,
                       e->end - e->begin, e->dtype, numel, numel * ds);
    e->name = strdup(key);
    return 0;
}

int safetensors_open(safetensors_file **out, const char *path, char *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hb_fail(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return hb_fail(err, "%s: %s", path, strerror(errno));
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        return hb_fail(err, "%s: truncated header: file has %zu bytes, fewer than the 8-byte header length", path,
                       size);
    }
    unsigned char *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return hb_fail(err, "%s: mmap: %s", path, strerror(errno));
    safetensors_file *f = hb_calloc(1, sizeof *f);
    f->path = strdup(path);
    f->map = map;
    f->size = size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | map[i];
    json_t *root = NULL;
    int rc = -1;
    if (hlen > SAFETENSORS_MAX_HEADER) {
        hb_fail(err, "%s: oversized header: header length %llu exceeds the %u-byte limit", path,
                (unsigned long long)hlen, SAFETENSORS_MAX_HEADER);
        goto out;
    }
    if (hlen > size - 8) {
        hb_fail(err, "%s: truncated header: header length %llu but only %zu bytes follow", path,
                (unsigned long long)hlen, size - 8);
        goto out;
    }
    f->data = map + 8 + hlen;
    f->data_size = size - 8 - hlen;
    json_error_t je;
    root = json_loadb((const char *)map + 8, hlen, 0, &je);
    if (!root || !json_is_object(root)) {
        hb_fail(err, "%s: header is not a JSON object (%s)", path, root ? "wrong type" : je.text);
        goto out;
    }
    f->entries = hb_calloc(json_object_size(root) + 1, sizeof *f->entries);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (s_parse_entry(f, key, v, &f->entries[f->n], err) != 0) goto out;
        f->n++;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        safetensors_close(&f);
    else
        *out = f;
    return rc;
}

const safetensors_entry *safetensors_find(const safetensors_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->entries[i].name, name) == 0) return &f->entries[i];
    return NULL;
}

static void s_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* IEEE binary16 -> binary32, exactly (every half is a float): subnormals,
 * infinities and NaNs included */
static float s_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf, NaN (payload kept) */
    } else if (exp) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man) { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    } else {
        bits = sign;
    }
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* bfloat16 is the top half of a binary32 */
static float s_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

float safetensors_f16_to_f32(uint16_t h) {
    return s_f16_to_f32(h);
}

float safetensors_bf16_to_f32(uint16_t h) {
    return s_bf16_to_f32(h);
}

static int s_read_entry(const safetensors_file *f, const safetensors_entry *e, const char *want, int ndim,
                        const int64_t *shape, float *dst, char *err) {
    int f16 = !strcmp(e->dtype, "F16"), bf16 = !strcmp(e->dtype, "BF16");
    if (strcmp(e->dtype, "F32") != 0 && !f16 && !bf16)
        return hb_fail(err, "%s: tensor %s: dtype %s is not supported (F32, F16 and BF16 are)", f->path, e->name,
                       e->dtype);
    int same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = e->shape[d] == shape[d];
    if (!same) {
        char a[128], b[128];
        s_shape_str(a, sizeof a, e->ndim, e->shape);
        s_shape_str(b, sizeof b, ndim, shape);
        return hb_fail(err, "%s: tensor %s: wrong shape %s, expected %s for %s", f->path, e->name, a, b, want);
    }
    /* safetensors is little-endian, as is every machine we build for */
    if (f16 || bf16) { /* half precision on disk: fp32 in memory (training needs fp32 master weights) */
        const unsigned char *src = f->data + e->begin;
        size_t n = (e->end - e->begin) / 2;
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            dst[i] = f16 ? s_f16_to_f32(h) : s_bf16_to_f32(h);
        }
        return 0;
    }
    memcpy(dst, f->data + e->begin, e->end - e->begin);
    return 0;
}

int safetensors_read_f32(const safetensors_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                         char *err) {
    const safetensors_entry *e = safetensors_find(f, name);
    if (!e) return hb_fail(err, "%s: tensor %s: missing", f->path, name);
    return s_read_entry(f, e, name, ndim, shape, dst, err);
}

/* name, "bert."+name, and LayerNorm.weight/bias -> LayerNorm.gamma/beta */
static const safetensors_entry *s_lookup(const safetensors_file *f, const char *name) {
    char alt[PARAMS_NAME_LEN + 16];
    const safetensors_entry *e = safetensors_find(f, name);
    snprintf(alt, sizeof alt, "bert.%s", name);
    if (!e) e = safetensors_find(f, alt);
    size_t n = strlen(name);
    const char *legacy = NULL;
    if (n >= 16 && strcmp(name + n - 16, "LayerNorm.weight") == 0) legacy = "gamma";
    if (n >= 14 && strcmp(name + n - 14, "LayerNorm.bias") == 0) legacy = "beta";
    if (!e && legacy) {
        size_t stem = n - (legacy[0] == 'g' ? 6 : 4); /* drop "weight" / "bias" */
        for (int pre = 0; pre < 2 && !e; pre++) {
            snprintf(alt, sizeof alt, "%s%.*s%s", pre ? "bert." : "", (int)stem, name, legacy);
            e = safetensors_find(f, alt);
        }
    }
    return e;
}

int safetensors_load_params(const char *path, const params_table *t, float *buf, const char *optional_prefix,
                            int *n_absent, char *err) {
    safetensors_file *f;
    if (safetensors_open(&f, path, err) != 0) return -1;
    int absent = 0, rc = 0;
    size_t plen = optional_prefix ? strlen(optional_prefix) : 0;
    for (int i = 0; i < t->nviews && rc == 0; i++) {
        const params_view *v = &t->views[i];
        const safetensors_entry *e = s_lookup(f, v->name);
        if (!e) {
            if (plen && strncmp(v->name, optional_prefix, plen) == 0) {
                absent++;
                continue;
            }
            rc = hb_fail(err, "%s: tensor %s: missing", path, v->name);
            break;
        }
        rc = s_read_entry(f, e, v->name, v->ndim, v->shape, buf + v->offset, err);
    }
    safetensors_close(&f);
    if (n_absent) *n_absent = absent;
    return rc;
}

int safetensors_save_params(const char *path, const params_table *t, const float *buf, char *err) {
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t off = 0;
    for (int i = 0; i < t->nviews; i++) {
        const params_view *v = &t->views[i];
        json_t *shape = json_array();
        for (int d = 0; d < v->ndim; d++) json_array_append_new(shape, json_integer(v->shape[d]));
        size_t bytes = v->numel * sizeof(float);
        json_object_set_new(h, v->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t jl = strlen(js), padded = (jl + 7) / 8 * 8; /* data starts 8-aligned, padding is spaces */
    char *tmp = hb_malloc(strlen(path) + 16);
    sprintf(tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    int rc = -1;
    if (!fp) {
        hb_fail(err, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(js, 1, jl, fp) == jl;
    for (size_t i = jl; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < t->nviews; i++)
        ok = fwrite(buf + t->views[i].offset, sizeof(float), t->views[i].numel, fp) == t->views[i].numel;
    if (fclose(fp) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        hb_fail(err, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(js);
    return rc;
}
