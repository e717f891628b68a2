/*
 * confine.c - what a control client can make the coordinator read and
 * write. A Submit names files and directories (--train/--val/--test,
 * --vocab, --model) and an Export a directory to write: any client of the
 * control endpoint could otherwise have the coordinator read whatever it
 * can open (/etc/..., another job's data) or write a model anywhere.
 *
 * Two layers:
 *  1. a check by path at the request, for a clear refusal: the path must be
 *     absolute, and its real path (realpath: `..` and every symlink
 *     resolved) must lie beneath one of the dataset roots (reads) or
 *     strictly beneath the export root (writes; a path that does not exist
 *     yet is resolved from its deepest existing ancestor);
 *  2. the kernel's enforcement at every open, for what a check cannot
 *     promise (a symlink swapped in after the check, a file inside a
 *     checked --model or folder dataset that is a symlink leaving the
 *     root): the threads that read datasets (ingest, the --model probes at
 *     submit) and write exports confine themselves with Landlock
 *     (Linux >= 5.13) to exactly the directories they need, so an open
 *     outside them fails with EACCES whatever the path resolves to when it
 *     is opened. Landlock confines one thread; the loop, the store and the
 *     sockets are untouched.
 * Without Landlock (an old kernel, or the LSM not enabled) layer 1 alone
 * remains, and the coordinator says so at start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coord.h"

/* ------------------------------------------------------------ paths ---- */

/* path with "//", "." and ".." removed by text alone (no file system) */
static void s_normalize(const char *path, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/') p++;
        const char *e = p;
        while (*e && *e != '/') e++;
        size_t k = (size_t)(e - p);
        if (k == 0 || (k == 1 && p[0] == '.')) {
        } else if (k == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/') len--;
            if (len > 0) len--;
            out[len] = 0;
        } else if (len + 1 + k < n) {
            out[len++] = '/';
            memcpy(out + len, p, k);
            len += k;
            out[len] = 0;
        }
        p = e;
    }
    if (!len) snprintf(out, n, "/");
}

/* 1 if real lies beneath root (or is root, when or_equal) */
static int s_beneath(const char *real, const char *root, int or_equal) {
    size_t k = strlen(root);
    if (k == 1 && root[0] == '/') return or_equal || strcmp(real, "/") != 0;
    if (strncmp(real, root, k)) return 0;
    return real[k] == '/' || (or_equal && real[k] == 0);
}

static int s_under_roots(const coord_confine *cf, const char *real) {
    for (int i = 0; i < cf->n_roots; i++)
        if (s_beneath(real, cf->roots[i], 1)) return 1;
    return 0;
}

static void s_roots_text(const coord_confine *cf, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < cf->n_roots && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ":" : "", cf->roots[i]);
}

/* a configured root into out: its real path; must be a directory */
static int s_root(const char *what, const char *path, char *out, char *err) {
    char real[PATH_MAX];
    struct stat st;
    if (path[0] != '/') return hb_fail(err, "%s '%s': not an absolute path", what, path);
    if (!realpath(path, real) || stat(real, &st))
        return hb_fail(err, "%s '%s': %s (create it, or set another)", what, path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return hb_fail(err, "%s '%s': not a directory", what, path);
    if (strlen(real) >= COORD_PATH_MAX) return hb_fail(err, "%s '%s': path too long", what, path);
    snprintf(out, COORD_PATH_MAX, "%s", real);
    return 0;
}

/* a default root under the data directory: made if missing */
static void s_default_root(const char *data_dir, const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s", data_dir, name);
    if (mkdir(out, 0750) && errno != EEXIST) { /* s_root reports it */
    }
}

/* --------------------------------------------------------- landlock ---- */

static int s_ll_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

/* every file-system right the running kernel's Landlock knows: all handled,
 * so what a rule does not grant is denied */
static __u64 s_ll_all(int abi) {
    __u64 a = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
              LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
              LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
              LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
              LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2) a |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3) a |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
#ifdef LANDLOCK_ACCESS_FS_IOCTL_DEV
    if (abi >= 5) a |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
#endif
    return a;
}

#define S_LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_EXECUTE)

static int s_ll_rule(int rs, const char *dir, __u64 access, char *err) {
    int fd = open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0) return hb_fail(err, "confine: %s: %s", dir, strerror(errno));
    struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    return rc ? hb_fail(err, "confine: landlock rule for %s: %s", dir, strerror(e)) : 0;
}

int coord_confine_thread(const coord_confine *cf, coord_confine_mode mode, const char *rw_dir, char *err) {
    if (!cf->landlock) return 0;
    __u64 all = s_ll_all(cf->landlock);
    struct landlock_ruleset_attr ra = {.handled_access_fs = all};
    int rs = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
    if (rs < 0) return hb_fail(err, "confine: landlock ruleset: %s", strerror(errno));
    int rc = s_ll_rule(rs, "/usr", S_LL_READ, err); /* iconv's gconv modules, locales */
    if (mode == COORD_CONFINE_DATASETS)
        for (int i = 0; !rc && i < cf->n_roots; i++) rc = s_ll_rule(rs, cf->roots[i], S_LL_READ, err);
    if (!rc && mode == COORD_CONFINE_EXPORT) rc = s_ll_rule(rs, cf->data_dir, S_LL_READ, err);
    if (!rc && mode == COORD_CONFINE_EXPORT) rc = s_ll_rule(rs, cf->export_root, all, err);
    if (!rc && rw_dir) rc = s_ll_rule(rs, rw_dir, all, err);
    if (!rc && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) rc = hb_fail(err, "confine: no_new_privs: %s", strerror(errno));
    if (!rc && syscall(SYS_landlock_restrict_self, rs, 0))
        rc = hb_fail(err, "confine: landlock_restrict_self: %s", strerror(errno));
    close(rs);
    return rc;
}

typedef struct {
    const coord_confine *cf;
    coord_confine_mode mode;
    const char *rw_dir;
    void (*fn)(void *);
    void *arg;
    int rc;
    char err[HB_ERR_LEN];
} s_run_ctx;

static void *s_run_main(void *p) {
    s_run_ctx *r = p;
    r->rc = coord_confine_thread(r->cf, r->mode, r->rw_dir, r->err);
    if (!r->rc) r->fn(r->arg);
    return NULL;
}

int coord_confine_run(const coord_confine *cf, coord_confine_mode mode, const char *rw_dir, void (*fn)(void *),
                      void *arg, char *err) {
    if (!cf->landlock) {
        fn(arg);
        return 0;
    }
    s_run_ctx r = {cf, mode, rw_dir, fn, arg, 0, ""};
    pthread_t t;
    if (pthread_create(&t, NULL, s_run_main, &r)) return hb_fail(err, "confine: cannot start a thread");
    pthread_join(t, NULL);
    if (r.rc) snprintf(err, HB_ERR_LEN, "%s", r.err);
    return r.rc;
}

/* ----------------------------------------------------------- checks ---- */

int coord_confine_init(coord_confine *cf, const coord_config *cfg, char *err) {
    memset(cf, 0, sizeof *cf);
    char spec[sizeof cfg->dataset_roots], def[COORD_PATH_MAX + 16];
    if (s_root("data_dir", cfg->data_dir, cf->data_dir, err)) return -1;
    if (cfg->dataset_roots[0]) {
        snprintf(spec, sizeof spec, "%s", cfg->dataset_roots);
    } else {
        s_default_root(cf->data_dir, "datasets", def, sizeof def);
        snprintf(spec, sizeof spec, "%s", def);
    }
    char *save = NULL;
    for (char *r = strtok_r(spec, ":", &save); r; r = strtok_r(NULL, ":", &save)) {
        if (cf->n_roots == COORD_MAX_ROOTS) return hb_fail(err, "dataset_roots: more than %d roots", COORD_MAX_ROOTS);
        if (s_root("dataset_roots", r, cf->roots[cf->n_roots], err)) return -1;
        cf->n_roots++;
    }
    if (!cf->n_roots) return hb_fail(err, "dataset_roots: no directory");
    if (cfg->export_root[0]) {
        snprintf(def, sizeof def, "%s", cfg->export_root);
    } else {
        s_default_root(cf->data_dir, "exports", def, sizeof def);
    }
    if (s_root("export_root", def, cf->export_root, err)) return -1;
    cf->landlock = s_ll_abi();
    return 0;
}

void coord_confine_describe(const coord_confine *cf, char *out, size_t n) {
    char roots[2048];
    s_roots_text(cf, roots, sizeof roots);
    if (cf->landlock)
        snprintf(out, n, "datasets are read only beneath %s, exports written only beneath %s (Landlock ABI %d)", roots,
                 cf->export_root, cf->landlock);
    else
        snprintf(out, n,
                 "datasets are read only beneath %s, exports written only beneath %s (checked by path: this kernel has "
                 "no Landlock, so a symlink swapped in after the check is not stopped)",
                 roots, cf->export_root);
}

int coord_confine_read_ok(const coord_confine *cf, const char *what, const char *path, char *err) {
    char real[PATH_MAX], roots[2048];
    if (path[0] != '/') return hb_fail(err, "%s '%s': not an absolute path", what, path);
    s_roots_text(cf, roots, sizeof roots);
    if (!realpath(path, real)) {
        if (errno != ENOENT && errno != ENOTDIR)
            return hb_fail(err, "%s '%s': %s: refused", what, path, strerror(errno));
        /* missing: the reader says so, if the path is inside by its text */
        s_normalize(path, real, sizeof real);
        if (s_under_roots(cf, real)) return 0;
        return hb_fail(err, "%s '%s' is outside the dataset roots (%s): refused", what, path, roots);
    }
    if (s_under_roots(cf, real)) return 0;
    if (strcmp(real, path))
        return hb_fail(err, "%s '%s' resolves to '%s', outside the dataset roots (%s): refused", what, path, real,
                       roots);
    return hb_fail(err, "%s '%s' is outside the dataset roots (%s): refused", what, path, roots);
}

int coord_confine_write_ok(const coord_confine *cf, const char *what, const char *path, char *err) {
    if (path[0] != '/') return hb_fail(err, "%s '%s': not an absolute path", what, path);
    char norm[PATH_MAX], head[PATH_MAX], real[PATH_MAX], full[2 * PATH_MAX];
    s_normalize(path, norm, sizeof norm);
    /* the deepest existing ancestor, resolved; the rest does not exist yet */
    snprintf(head, sizeof head, "%s", norm);
    const char *rest = "";
    for (;;) {
        if (realpath(head, real)) break;
        if (errno != ENOENT) return hb_fail(err, "%s '%s': %s: refused", what, path, strerror(errno));
        char *slash = strrchr(head, '/');
        if (!slash || slash == head) {
            snprintf(real, sizeof real, "/");
            rest = norm + 1;
            break;
        }
        *slash = 0;
        rest = norm + (slash - head) + 1;
    }
    snprintf(full, sizeof full, "%s%s%s", real, (rest[0] && strcmp(real, "/")) ? "/" : "", rest);
    if (s_beneath(full, cf->export_root, 0)) return 0;
    if (strcmp(full, norm))
        return hb_fail(err, "%s '%s' resolves to '%s', not beneath the export root %s: refused", what, path, full,
                       cf->export_root);
    return hb_fail(err, "%s '%s' is not beneath the export root %s: refused", what, path, cf->export_root);
}
